"""The shipped recipes on the real shared data, checked against counts made independently here."""

from __future__ import annotations

import csv
import json
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from mlsimcse import shipped
from mlsimcse.data.build import build_dataset
from mlsimcse.data.pipeline import load_recipe_examples
from mlsimcse.data.recipe import load_recipe
from mlsimcse.errors import InputError
from mlsimcse.paths import data_root

RECIPES = shipped.shipped_folder(shipped.RECIPES)
DATA = data_root()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (DATA / "xnli").is_dir(), reason=f"shared data not found at {DATA}"),
]


def key(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def lines(path: Path) -> list[str]:
    """Lines split at newlines only (str.splitlines would also split at U+2028 and U+0085 inside sentences)."""
    return path.read_bytes().decode("utf-8").replace("\r\n", "\n").removesuffix("\n").split("\n")


def triplet_count(premises: list[str], labels: list[str]) -> int:
    """Complete (premise, entailment, contradiction) triplets: per premise, min(#entailment, #contradiction)."""
    per_premise: dict[str, Counter] = defaultdict(Counter)
    for premise, label in zip(premises, labels):
        per_premise[premise.strip()][label] += 1
    return sum(min(c["entailment"], c["contradiction"]) for c in per_premise.values())


def accounted(report: dict) -> int:
    return report["examples"] + sum(report["dropped"].values()) + sum(report["decontaminated_by_language"].values())


def test_snli_yields_every_complete_triplet_without_ptb_tokens():
    examples, manifest = load_recipe_examples(RECIPES / "sup-snli.yaml")
    snli = DATA / "snli_esnli"
    expected = sum(triplet_count(lines(snli / f"s1.{split}"), lines(snli / f"labels.{split}")) for split in ("dev", "test"))
    report = manifest["sources"]["snli-dev-test"]
    assert report["rows_read"] == 3 * (9842 + 9824)
    assert report["candidates"] == expected
    assert accounted(report) == expected == 5883
    assert len(examples) == report["examples"]
    for example in examples:
        for text in example.texts:
            assert " n't" not in text and not text.endswith(" .") and "``" not in text, text


def test_xnli_dev_rows_align_across_15_languages_into_crosslingual_triplets():
    examples, manifest = load_recipe_examples(RECIPES / "sup-xnli-crosslingual.yaml")
    report = manifest["sources"]["xnli-dev-crosslingual"]
    languages = load_recipe(RECIPES / "sup-xnli-crosslingual.yaml").sources[0].languages
    rows = {lang: [line.split("\t") for line in lines(DATA / "xnli" / f"dev-{lang}.tsv")] for lang in languages}
    assert {lang: len(r) for lang, r in rows.items()} == {lang: 2490 for lang in languages}
    english = rows["en"]
    per_language = triplet_count([r[0] for r in english], [r[2] for r in english])
    assert per_language == 830
    assert report["rows_read"] == 2490 * 15 and report["candidates"] == 830 * 15 == accounted(report)
    # Each positive is an entailed and each negative a contradicted hypothesis of the anchor's own premise row.
    rows_with = defaultdict(set)
    for lang, lang_rows in rows.items():
        for index, (premise, hypothesis, label) in enumerate(lang_rows):
            rows_with[(lang, hypothesis.strip())].add((key(rows["en"][index][0]), label))
    crosslingual = 0
    for example in examples:
        anchor_lang, positive_lang, negative_lang = example.langs
        entailed = {premise for premise, label in rows_with[(positive_lang, example.texts[1])] if label == "entailment"}
        contradicted = {premise for premise, label in rows_with[(negative_lang, example.texts[2])] if label == "contradiction"}
        assert entailed & contradicted, example
        crosslingual += len(set(example.langs)) > 1
    assert crosslingual > 0.8 * len(examples)


def test_tatoeba_challenge_pairs_that_are_tatoeba_eval_pairs_are_all_removed():
    codes = {"ara": "ar", "deu": "de", "fra": "fr", "ita": "it", "jpn": "ja", "kor": "ko", "nld": "nl", "pol": "pl",
             "por": "pt", "rus": "ru", "spa": "es", "tur": "tr", "zho": "zh"}
    laser_code = {"zho": "cmn"}
    # Exact pair overlaps with the LASER eval set, as stated in the data MANIFEST.md.
    stated = {"ara": 295, "kor": 475, "pol": 150, "zho": 146, "nld": 100, "jpn": 48, "spa": 44, "deu": 35, "por": 35,
              "fra": 27, "ita": 20, "rus": 15, "tur": 11}
    examples, manifest = load_recipe_examples(RECIPES / "parallel-tatoeba-challenge.yaml")
    kept = {(ex.langs[1], key(ex.texts[0]), key(ex.texts[1])) for ex in examples}
    removed = manifest["sources"]["tatoeba-challenge-pairs"]["decontaminated_by_language"]
    for code, lang in codes.items():
        laser = DATA / "tatoeba_laser" / f"tatoeba.{laser_code.get(code, code)}-eng"
        folder = next((DATA / "tatoeba_challenge_test").glob(f"*{code}*"))
        eval_pairs = list(zip(lines(Path(f"{laser}.eng")), lines(Path(f"{laser}.{laser_code.get(code, code)}"))))
        pairs = list(zip(lines(folder / "tatoeba-test-v2021-08-07.eng"), lines(folder / f"tatoeba-test-v2021-08-07.{code}")))
        assert len(set(pairs) & set(eval_pairs)) == stated[code], code
        normalised = {(key(en), key(xx)) for en, xx in pairs} & {(key(en), key(xx)) for en, xx in eval_pairs}
        assert len(normalised) >= stated[code]
        assert not {(lang, en, xx) for en, xx in normalised} & kept, f"{code}: an eval pair survived"
        assert removed[f"en-{lang}"] >= len(normalised)
    report = manifest["sources"]["tatoeba-challenge-pairs"]
    assert report["candidates"] == accounted(report)


def test_stsb_pairs_stay_row_aligned():
    examples, manifest = load_recipe_examples(RECIPES / "parallel-stsb-de.yaml")
    def rows(lang):
        with open(DATA / "stsb_multi_mt" / f"stsb-{lang}-train.csv", encoding="utf-8", newline="") as handle:
            return list(csv.reader(handle))
    aligned = {(en[c].strip(), de[c].strip()) for en, de in zip(rows("en"), rows("de")) for c in (0, 1)}
    assert examples and all(ex.texts in aligned for ex in examples)
    assert {ex.langs for ex in examples} == {("en", "de")}
    assert manifest["sources"]["stsb-train-pairs"]["rows_read"] == 2 * 5749


EVALUATION_ONLY = {"parallel-ntrex.yaml"}
"""Recipes whose local data is all evaluation data now (NTREX-128 is news:LANG), so decontamination leaves none."""
LEAF_RECIPES = sorted(p.name for p in RECIPES.glob("*.yaml") if "include:" not in p.read_text(encoding="utf-8"))


def test_held_out_sets_are_removed_from_the_recipes_that_read_them():
    """NTREX-128 (news:LANG) and the UN testset (un-bucc:LANG) are evaluation sets; the UN devset stays."""
    un = DATA / "un_parallel_v1"
    languages = ("en", "ar", "es", "fr", "ru", "zh")
    testset = {key(text) for lang in languages for text in lines(un / "testset" / f"UNv1.0.testset.{lang}")}
    devset = {key(text) for lang in languages for text in lines(un / "devset" / f"UNv1.0.devset.{lang}")}
    ntrex = {key(text) for path in (DATA / "ntrex128").glob("newstest2019-ref.*.txt") for text in lines(path)}
    examples, manifest = load_recipe_examples(RECIPES / "unsup-un-ntrex.yaml")
    kept = {key(example.texts[0]) for example in examples}
    assert not kept & (testset | ntrex)
    assert kept == devset - testset - ntrex, "every devset sentence the held-out sets lack is kept"
    sources = manifest["sources"]
    assert sources["ntrex128-sentences"]["examples"] == 0
    assert sum(sources["ntrex128-sentences"]["decontaminated_by_language"].values()) == 27 * 1997
    # Measured when the two sets were added: 47,275 UN sentences were kept before, 23,385 after.
    assert sources["un-v1-sentences"]["examples"] == 23385
    assert sum(sources["un-v1-sentences"]["decontaminated_by_language"].values()) == 24522
    _, pairs = load_recipe_examples(RECIPES / "parallel-un.yaml")
    # 20,000 testset pairs, and 510 devset pairs with a side that is also a testset sentence (39,488 kept before).
    assert (pairs["examples"], pairs["decontamination"]["removed"]) == (19433, 20510)


def test_a_recipe_of_evaluation_data_only_says_so_when_built(tmp_path):
    with pytest.raises(InputError, match="no examples: of 51922 candidates, 51922 are sentences of evaluation sets"):
        build_dataset(RECIPES / "parallel-ntrex.yaml", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("recipe", sorted(set(LEAF_RECIPES) - EVALUATION_ONLY))
def test_every_shipped_recipe_builds_offline_with_a_consistent_manifest(recipe, tmp_path):
    manifest = build_dataset(RECIPES / recipe, tmp_path / "out")
    written = lines(tmp_path / "out" / "examples.jsonl")
    assert len(written) == manifest["output"]["rows"] == manifest["examples"] > 0
    assert sum(manifest["examples_by_language"].values()) == manifest["examples"]
    for name, report in manifest["sources"].items():
        assert report["inputs_sha256"], name
        if report["shape"] != "parallel" and report["shape"] != "sup":
            assert report["candidates"] == accounted(report), name
    on_disk = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk["output"]["sha256"] == manifest["output"]["sha256"]
    objectives = [json.loads(line)["objective"] for line in written]
    assert objectives == sorted(objectives), "examples must be grouped for streaming"


def test_composite_recipes_resolve_to_their_parts():
    parallel = load_recipe(RECIPES / "parallel-all.yaml")
    assert [s.name for s in parallel.sources] == [
        "stsb-train-pairs", "ntrex128-pairs", "ted-talks-pairs", "un-v1-pairs", "wmt-newstest-pairs",
        "news-commentary-pairs", "tatoeba-challenge-pairs", "tatoeba-hub-pairs",
    ]
    unsup = load_recipe(RECIPES / "unsup-multilingual.yaml")
    assert {s.shape for s in unsup.sources} == {"unsup"} and len(unsup.sources) == 6
