"""The Hub form of a recipe, exercised offline through the `datasets` "json" builder on local files.

``load_dataset`` is called exactly as for a Hub dataset (name, config, split, data_files, streaming),
so this covers the column mapping, per-language configs, sentence splitting and streaming iterables.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from mlsimcse.data.pipeline import load_recipe_examples

pytestmark = pytest.mark.slow  # importing `datasets` alone takes seconds


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def test_hub_form_maps_columns_per_language_and_skips_local_only_sources(tmp_path):
    write_jsonl(tmp_path / "en-de.jsonl", [{"english": "Hello.", "non_english": "Hallo."}, {"english": "Yes.", "non_english": "Ja."}])
    write_jsonl(tmp_path / "en-fr.jsonl", [{"english": "Hello.", "non_english": "Bonjour."}])
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(textwrap.dedent(f"""
        name: hub-pairs
        decontaminate: false
        sources:
          - name: talks
            kind: aligned_text
            shape: parallel
            languages: [en, de, fr]
            hub: {{dataset: json, data_files: "{tmp_path}/en-{{lang}}.jsonl", split: train,
                   columns: {{source: english, translation: non_english}}}}
          - name: local-only
            kind: aligned_text
            shape: unsup
            languages: [en]
            local: {{format: lines, sets: ["x/{{lang}}.txt"]}}
    """), encoding="utf-8")
    examples, manifest = load_recipe_examples(recipe, data_root=tmp_path, form="hub")
    assert [(ex.texts, ex.langs) for ex in examples] == [
        (("Hello.", "Hallo."), ("en", "de")), (("Yes.", "Ja."), ("en", "de")), (("Hello.", "Bonjour."), ("en", "fr")),
    ]
    assert manifest["skipped_sources"] == {"local-only": "no hub form"}
    assert manifest["sources"]["talks"]["rows_read"] == 3


def test_streaming_hub_source_splits_paragraphs_and_fills_the_manifest_when_consumed(tmp_path):
    write_jsonl(tmp_path / "wiki-en.jsonl", [
        {"text": "Paris is the capital of France. It lies on the Seine!"},
        {"text": "Short."},
        {"text": "   "},
    ])
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(textwrap.dedent(f"""
        name: wiki
        decontaminate: false
        sources:
          - name: wiki
            kind: aligned_text
            shape: unsup
            languages: [en]
            min_chars: 10
            on_bad_row: skip
            hub: {{dataset: json, data_files: "{tmp_path}/wiki-{{lang}}.jsonl", split: train, streaming: true,
                   split_sentences: true, columns: {{sentence: text}}}}
    """), encoding="utf-8")
    examples, manifest = load_recipe_examples(recipe, data_root=tmp_path, form="hub")
    assert not isinstance(examples, list) and manifest == {}
    assert [ex.texts[0] for ex in examples] == ["Paris is the capital of France.", "It lies on the Seine!"]
    assert manifest["sources"]["wiki"]["dropped"] == {"empty_text": 1, "too_short": 1}


def test_hub_nli_rows_aligned_across_language_configs_become_crosslingual_triplets(tmp_path):
    english = [("A man waits.", "A person waits.", 0), ("A man waits.", "He is tall.", 1), ("A man waits.", "Nobody waits.", 2)]
    german = [("Ein Mann wartet.", "Eine Person wartet.", 0), ("Ein Mann wartet.", "Er ist groß.", 1),
              ("Ein Mann wartet.", "Niemand wartet.", 2)]
    for lang, rows in (("en", english), ("de", german)):
        write_jsonl(tmp_path / f"xnli-{lang}.jsonl", [{"premise": p, "hypothesis": h, "label": l} for p, h, l in rows])
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(textwrap.dedent(f"""
        name: xnli-hub
        decontaminate: false
        seed: 1
        sources:
          - name: xnli
            kind: nli
            shape: sup
            cross_lingual: true
            languages: [en, de]
            hub: {{dataset: json, data_files: "{tmp_path}/xnli-{{lang}}.jsonl", split: train,
                   columns: {{premise: premise, hypothesis: hypothesis, label: label}},
                   label_names: [entailment, neutral, contradiction]}}
    """), encoding="utf-8")
    examples, manifest = load_recipe_examples(recipe, data_root=tmp_path, form="hub")
    positives = {"en": "A person waits.", "de": "Eine Person wartet."}
    negatives = {"en": "Nobody waits.", "de": "Niemand wartet."}
    assert [ex.texts[0] for ex in examples] == ["A man waits.", "Ein Mann wartet."]
    for example in examples:
        assert example.texts[1] == positives[example.langs[1]] and example.texts[2] == negatives[example.langs[2]]
    assert manifest["sources"]["xnli"]["rows_read"] == 6


def test_hub_scored_pairs_aligned_across_language_configs_are_crossed_with_the_pivot(tmp_path):
    rows = {"en": [("A cat sits.", "A cat is sitting.", 4.8), ("Rain.", "Sun.", 0.2)],
            "de": [("Eine Katze sitzt.", "Eine Katze sitzt da.", 4.8), ("Regen.", "Sonne.", "n/a")]}
    for lang, lang_rows in rows.items():
        write_jsonl(tmp_path / f"sts-{lang}.jsonl",
                    [{"sentence1": a, "sentence2": b, "similarity_score": score} for a, b, score in lang_rows])
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(textwrap.dedent(f"""
        name: sts-hub
        decontaminate: false
        sources:
          - name: sts
            kind: aligned_text
            shape: scored
            cross_lingual: true
            on_bad_row: skip
            languages: [en, de]
            hub: {{dataset: json, data_files: "{tmp_path}/sts-{{lang}}.jsonl", split: train,
                   columns: {{sentence1: sentence1, sentence2: sentence2, score: similarity_score}}}}
    """), encoding="utf-8")
    examples, manifest = load_recipe_examples(recipe, data_root=tmp_path, form="hub")
    assert [(ex.texts, ex.langs, ex.score) for ex in examples] == [
        (("A cat sits.", "A cat is sitting."), ("en", "en"), 4.8),
        (("Eine Katze sitzt.", "Eine Katze sitzt da."), ("de", "de"), 4.8),
        (("A cat sits.", "Eine Katze sitzt da."), ("en", "de"), 4.8),
        (("Eine Katze sitzt.", "A cat is sitting."), ("de", "en"), 4.8),
        (("Rain.", "Sun."), ("en", "en"), 0.2),  # German row 2 has no score: only English is left of that row
    ]
    assert manifest["sources"]["sts"]["rows_read"] == 4
