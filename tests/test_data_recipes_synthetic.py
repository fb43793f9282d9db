"""Recipes on a small synthetic data root: shapes, groups, decontamination, composition and bad input."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from mlsimcse.data import MixtureBatchSampler, MixtureConfig, SourceSpec
from mlsimcse.data.build import build_dataset
from mlsimcse.data.dataset_files import examples_file, read_arrow
from mlsimcse.data.pipeline import load_recipe_examples
from mlsimcse.data.recipe import load_recipe
from mlsimcse.errors import InputError
from mlsimcse.records import Example, read_examples_jsonl

EVAL_FILES = {
    "tatoeba_laser/tatoeba.deu-eng.deu": "Ich bin ein Testsatz.\n",
    "tatoeba_laser/tatoeba.deu-eng.eng": "I am a test sentence.\n",
    "stsb_multi_mt/stsb-en-test.csv": "A held-out STS pair.,Another held-out one.,2.5\r\n",
    "sts2017/STS2017.eval.v1.1/STS.input.track5.en-en.txt": "sts one\tsts two\n",
    "semeval_sts_en_2012-2016/2012/x.test.tsv": "\tsemeval one\tsemeval two\n",
    "sick2014/SICK_test_annotated.txt": "pair_ID\tsentence_A\tsentence_B\tscore\tlabel\r\n1\tsick a\tsick b\t3\tNEUTRAL\r\n",
    "kornlu/KorSTS/sts-test.tsv": "genre\tfilename\tyear\tid\tscore\ts1\ts2\n-\t-\t-\t1\t3\t한국어 하나\t한국어 둘\n",
    "xnli/test-en.tsv": "xnli test premise\txnli test hypothesis\r\n",
    "kornlu/KorNLI/xnli.test.ko.tsv": "sentence1\tsentence2\tgold_label\n전제\t가설\tneutral\n",
    "ntrex128/newstest2019-ref.eng-US.txt": "A held-out news sentence.\n",
    "ntrex128/newstest2019-ref.deu.txt": "Ein zurückgehaltener Nachrichtensatz.\n",
    "un_parallel_v1/testset/UNv1.0.testset.en": "A held-out UN sentence.\n",
    "un_parallel_v1/testset/UNv1.0.testset.ids": "A/RES/1\n",  # document ids, not sentences
}


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")


def write_recipe(folder: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    write_files(data, EVAL_FILES)
    write_files(
        data,
        {
            "sts/en.csv": 'A cat sits.,"A dog, barking.",4.0\r\nI am a test sentence.,Birds fly.,1.0\r\nRain.,Sun.,0.5\r\n',
            "sts/de.csv": 'Eine Katze sitzt.,"Ein Hund, bellend.",4.0\r\nIch bin ein Testsatz.,Vögel fliegen.,1.0\r\nRegen.,Sonne.,0.5\r\n',
            "lines/en.txt": "One.\nTwo.\nOne.\n",
            "lines/fr.txt": "Un.\nDeux.\nUn.\n",
            "nli/s1": "A man is here . \nA man is here . \nA man is here . \nKids play . \nKids play . \n",
            "nli/s2": "A person is here . \nNobody is here . \nHe is tall . \nChildren play . \nKids sleep . \n",
            "nli/labels": "entailment\ncontradiction\nneutral\nentailment\ncontradiction\n",
            "xnli/dev-en.tsv": "A man waits.\tA person waits.\tentailment\r\nA man waits.\tNobody waits.\tcontradiction\r\n",
            "xnli/dev-de.tsv": "Ein Mann wartet.\tEine Person wartet.\tentailment\r\nEin Mann wartet.\tNiemand wartet.\tcontradiction\r\n",
        },
    )
    return data


PARALLEL = """
    name: pairs
    sources:
      - name: sts-pairs
        kind: aligned_text
        shape: parallel
        languages: [en, de]
        local: {format: csv, sets: ["sts/{lang}.csv"], width: 3, columns: [0, 1], score_column: 2}
"""


def test_parallel_rows_pair_up_and_eval_sentences_are_removed(root, tmp_path):
    examples, manifest = load_recipe_examples(write_recipe(tmp_path, PARALLEL), data_root=root)
    pairs = {ex.texts: ex for ex in examples}
    assert set(pairs) == {
        ("A cat sits.", "Eine Katze sitzt."),
        ("A dog, barking.", "Ein Hund, bellend."),
        ("Birds fly.", "Vögel fliegen."),
        ("Rain.", "Regen."),
        ("Sun.", "Sonne."),
    }
    assert pairs[("A cat sits.", "Eine Katze sitzt.")].langs == ("en", "de")
    assert len({ex.group for ex in examples}) == 5, "each row and column is its own translation group"
    report = manifest["sources"]["sts-pairs"]
    assert report["decontaminated_by_language"] == {"en-de": 1}
    assert report["rows_read"] == 6 and report["candidates"] == 6 and report["examples"] == 5
    assert manifest["examples_by_language"] == {"parallel/en-de": 5}
    assert set(report["inputs_sha256"]) == {"sts/en.csv", "sts/de.csv"}


SCORED = """
    name: graded
    sources:
      - name: sts-scored
        kind: aligned_text
        shape: scored
        cross_lingual: true
        languages: [en, de]
        local: {format: csv, sets: ["sts/{lang}.csv"], width: 3, columns: [0, 1], score_column: 2}
"""


def test_scored_rows_give_each_language_and_both_crossings_at_the_row_score(root, tmp_path):
    examples, manifest = load_recipe_examples(write_recipe(tmp_path, SCORED), data_root=root)
    pairs = {(ex.texts, ex.langs): ex.score for ex in examples}
    assert pairs == {
        (("A cat sits.", "A dog, barking."), ("en", "en")): 4.0,
        (("Eine Katze sitzt.", "Ein Hund, bellend."), ("de", "de")): 4.0,
        (("A cat sits.", "Ein Hund, bellend."), ("en", "de")): 4.0,
        (("Eine Katze sitzt.", "A dog, barking."), ("de", "en")): 4.0,
        (("Rain.", "Sun."), ("en", "en")): 0.5,
        (("Regen.", "Sonne."), ("de", "de")): 0.5,
        (("Rain.", "Sonne."), ("en", "de")): 0.5,
        (("Regen.", "Sun."), ("de", "en")): 0.5,
    }, "row 2 holds an evaluation sentence in both languages: all of its pairs are removed"
    assert len({ex.group for ex in examples}) == 2, "the pairs of one row share its group"
    assert manifest["examples_by_language"] == {"scored/en": 2, "scored/de": 2, "scored/en-de": 2, "scored/de-en": 2}
    build_dataset(write_recipe(tmp_path, SCORED), tmp_path / "built", data_root=root, fmt="arrow")
    assert sorted(ex.score for ex in read_arrow(examples_file(tmp_path / "built"))) == [0.5] * 4 + [4.0] * 4


def test_a_scored_row_with_an_evaluation_sentence_in_one_language_is_removed_in_every_language(root, tmp_path):
    write_files(root, {"sts2/en.csv": "A cat sits.,Another held-out one.,2.0\r\nRain.,Sun.,0.5\r\n",
                       "sts2/de.csv": "Eine Katze sitzt.,Ein anderer.,2.0\r\nRegen.,Sonne.,0.5\r\n"})
    examples, manifest = load_recipe_examples(write_recipe(tmp_path, SCORED.replace("sts/", "sts2/")), data_root=root)
    assert {ex.texts for ex in examples} == {("Rain.", "Sun."), ("Regen.", "Sonne."), ("Rain.", "Sonne."),
                                             ("Regen.", "Sun.")}, "the German pair of row 1 is an STS-B test pair"
    report = manifest["sources"]["sts-scored"]
    assert report["decontaminated_by_language"] == {"en": 1, "de": 1, "en-de": 1, "de-en": 1}
    assert report["candidates"] == 8 and report["examples"] == 4


def test_a_scored_source_without_its_score_column_is_refused_when_read(root, tmp_path):
    recipe = write_recipe(tmp_path, SCORED.replace(", score_column: 2", ""))
    with pytest.raises(InputError, match=r"sources\[0\] \(sts-scored\)\.local: scored pairs need .*score_column"):
        load_recipe(recipe)


def test_a_scored_example_needs_a_finite_score_and_no_other_objective_has_one(tmp_path):
    with pytest.raises(InputError, match="a 'scored' example needs a finite number as its score, got None"):
        Example("scored", ("A cat sits.", "A dog barks."))
    with pytest.raises(InputError, match="got nan"):
        Example("scored", ("A cat sits.", "A dog barks."), score=float("nan"))
    with pytest.raises(InputError, match="only a 'scored' example has a score; this one is 'parallel'"):
        Example("parallel", ("A cat sits.", "Eine Katze sitzt."), score=1.0)
    rows = tmp_path / "rows.jsonl"
    rows.write_text(Example("scored", ("a", "b"), score=2.5).to_json() + "\n"
                    + '{"objective": "scored", "texts": ["a", "b"], "score": "high"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"rows\.jsonl:2: .*got 'high'"):
        read_examples_jsonl(str(rows))


def test_unsup_sentences_share_the_group_of_their_translations_and_are_deduplicated(root, tmp_path):
    recipe = write_recipe(tmp_path, """
        name: sentences
        sources:
          - name: lines
            kind: aligned_text
            shape: unsup
            languages: [en, fr]
            local: {format: lines, sets: ["lines/{lang}.txt"]}
    """)
    examples, manifest = load_recipe_examples(recipe, data_root=root)
    assert [(ex.texts[0], ex.langs[0], ex.group) for ex in examples] == [
        ("One.", "en", "lines/0/0"), ("Un.", "fr", "lines/0/0"), ("Two.", "en", "lines/0/1"), ("Deux.", "fr", "lines/0/1"),
    ]
    assert manifest["sources"]["lines"]["dropped"] == {"duplicate": 2}


def test_held_out_news_and_un_testset_sentences_are_removed_and_a_recipe_left_empty_says_why(root, tmp_path):
    write_files(root, {
        "mixed/en.txt": "A held-out news sentence.\nA held-out UN sentence.\nA/RES/1\nKept.\n",
        "mixed/de.txt": "Ein zurückgehaltener Nachrichtensatz.\nEin UN-Satz.\nEin Dokument.\nBehalten.\n",
    })
    lines = """
        name: mixed
        sources:
          - name: mixed-lines
            kind: aligned_text
            shape: unsup
            languages: [en, de]
            local: {format: lines, sets: ["mixed/{lang}.txt"]}
    """
    examples, manifest = load_recipe_examples(write_recipe(tmp_path, lines), data_root=root)
    assert [ex.texts[0] for ex in examples] == ["Ein UN-Satz.", "A/RES/1", "Ein Dokument.", "Kept.", "Behalten."]
    assert manifest["sources"]["mixed-lines"]["decontaminated_by_language"] == {"de": 1, "en": 2}
    assert set(manifest["decontamination"]["eval_files_sha256"]) >= {
        "ntrex128/newstest2019-ref.deu.txt", "un_parallel_v1/testset/UNv1.0.testset.en"
    }
    write_files(root, {"held/en.txt": "A held-out news sentence.\n", "held/de.txt": "Ein zurückgehaltener Nachrichtensatz.\n"})
    with pytest.raises(InputError, match=r"held.yaml: the recipe produced no examples: of 1 candidates, 1 are "
                                         r"sentences of evaluation sets \(decontamination\) and 0 were dropped"):
        build_dataset(write_recipe(tmp_path, PARALLEL_LINES, "held.yaml"), tmp_path / "out", data_root=root)
    assert not (tmp_path / "out").exists()


PARALLEL_LINES = """
    name: held
    sources:
      - name: held-pairs
        kind: aligned_text
        shape: parallel
        languages: [en, de]
        local: {format: lines, sets: ["held/{lang}.txt"]}
"""


def test_nli_triplets_group_by_premise_and_undo_ptb(root, tmp_path):
    recipe = write_recipe(tmp_path, """
        name: nli
        sources:
          - name: snli-like
            kind: nli
            shape: sup
            languages: [en]
            detokenize: ptb
            local:
              format: infersent
              sets: [{premise: nli/s1, hypothesis: nli/s2, label: nli/labels}]
    """)
    examples, _ = load_recipe_examples(recipe, data_root=root)
    assert [ex.texts for ex in examples] == [
        ("A man is here.", "A person is here.", "Nobody is here."),
        ("Kids play.", "Children play.", "Kids sleep."),
    ]
    assert examples[0].group != examples[1].group


XNLI = """
    name: xnli
    seed: 3
    sources:
      - name: xnli-like
        kind: nli
        shape: sup
        cross_lingual: true
        languages: [en, de]
        local: {format: tsv, sets: ["xnli/dev-{lang}.tsv"], width: 3, columns: [0, 1], label_column: 2}
"""


def test_crosslingual_triplets_take_hypotheses_from_the_aligned_rows_of_any_language(root, tmp_path):
    examples, _ = load_recipe_examples(write_recipe(tmp_path, XNLI), data_root=root)
    assert [ex.langs[0] for ex in examples] == ["en", "de"], "one triplet per premise language"
    positives = {"en": "A person waits.", "de": "Eine Person wartet."}
    negatives = {"en": "Nobody waits.", "de": "Niemand wartet."}
    for example in examples:
        anchor, positive, negative = example.langs
        assert example.texts[1] == positives[positive] and example.texts[2] == negatives[negative]
        assert example.group == "xnli-like/0/0"
    again, _ = load_recipe_examples(write_recipe(tmp_path, XNLI, "again.yaml"), data_root=root)
    assert again == examples, "the language draw is seeded"


def test_nli_files_whose_labels_disagree_are_reported_as_misaligned(root, tmp_path):
    write_files(root, {"xnli/dev-de.tsv": "Ein Mann wartet.\tNiemand wartet.\tcontradiction\r\nEin Mann wartet.\tEine Person wartet.\tentailment\r\n"})
    with pytest.raises(InputError, match=r"dev-de.tsv:1: label 'contradiction' differs .* not row-aligned"):
        load_recipe_examples(write_recipe(tmp_path, XNLI), data_root=root)


def test_language_restriction_and_include_compose(root, tmp_path):
    write_recipe(tmp_path, PARALLEL, "base.yaml")
    restricted = write_recipe(tmp_path, "name: only-fr\ninclude: [base.yaml]\nlanguages: [fr]\n", "fr.yaml")
    with pytest.raises(InputError,
                       match=r"fr.yaml:3: languages: no source of this recipe offers 'fr'; they offer de, en$"):
        load_recipe(restricted)
    pivot_only = write_recipe(tmp_path, "name: only-en\ninclude: [base.yaml]\nlanguages: [en]\n", "en.yaml")
    with pytest.raises(InputError, match="no sources"):  # English is offered, but only as the pairs' pivot
        load_recipe(pivot_only)
    kept = load_recipe(write_recipe(tmp_path, "name: de\ninclude: [base.yaml]\nlanguages: [de]\n", "de.yaml"))
    assert [s.languages for s in kept.sources] == [["en", "de"]]


def test_an_unknown_language_names_the_recipe_and_line_instead_of_being_dropped(tmp_path):
    write_recipe(tmp_path, PARALLEL, "base.yaml")
    top = write_recipe(tmp_path, "name: de-xx\ninclude: [base.yaml]\nlanguages:\n  - de\n  - xx\n", "de-xx.yaml")
    with pytest.raises(InputError, match=r"de-xx.yaml:5: languages: no source of this recipe offers 'xx'"):
        load_recipe(top)
    own = write_recipe(tmp_path, PARALLEL + "    languages: [de, fr]\n", "own.yaml")
    with pytest.raises(InputError, match=r"own.yaml:9: languages: no source of this recipe offers 'fr'"):
        load_recipe(own)


@pytest.mark.parametrize("setting, message", [("seed: abc", "seed must be a whole number, got 'abc'"),
                                              ("seed: 1.5", "seed must be a whole number, got 1.5"),
                                              ('decontaminate: "maybe"', "decontaminate must be true or false")])
def test_recipe_settings_are_typed(tmp_path, setting, message):
    recipe = write_recipe(tmp_path, PARALLEL + "    " + setting + "\n")
    with pytest.raises(InputError, match=f"recipe.yaml:9: {message}"):
        load_recipe(recipe)
    typed = load_recipe(write_recipe(tmp_path, PARALLEL + '    seed: "7"\n    decontaminate: "false"\n'))
    assert (typed.seed, typed.decontaminate) == (7, False)  # bool("false") was True


def test_recipe_digest_covers_its_included_recipes(tmp_path):
    base = write_recipe(tmp_path, PARALLEL, "base.yaml")
    top = write_recipe(tmp_path, "name: de\ninclude: [base.yaml]\nlanguages: [de]\n", "de.yaml")
    recipe = load_recipe(top)
    assert recipe.files == (top, base)
    before = recipe.sha256()
    write_recipe(tmp_path, PARALLEL.replace("sts-pairs", "sts-pairs-renamed"), "base.yaml")
    assert load_recipe(top).sha256() != before, "editing an included recipe must change the digest"
    assert load_recipe(top).files == (top, base)


@pytest.mark.parametrize(
    "content, message",
    [
        ('A cat.,Ein Hund.\r\n', r"sts/de.csv:1: expected 3 fields, found 2"),
        ('A cat.,,1.0\r\n', r"sts/de.csv:1: empty sentence"),
        ('A cat.,Dog.,nan\r\n', r"sts/de.csv:1: score 'nan' is not a finite number"),
        ('A cat.,Dog.,high\r\n', r"sts/de.csv:1: score 'high' is not a finite number"),
        (b'A cat.,Dog.,1.0\r\nA \xff.,Dog.,1.0\r\n', r"sts/de.csv:2: not UTF-8"),
    ],
)
def test_malformed_rows_name_file_line_and_reason(root, tmp_path, content, message):
    padded = content + ("X.,Y.,1.0\r\n" * 2 if isinstance(content, str) else b"")
    write_files(root, {"sts/de.csv": padded})
    if isinstance(content, bytes):
        write_files(root, {"sts/en.csv": "A.,B.,1.0\r\nC.,D.,1.0\r\n"})
    with pytest.raises(InputError, match=message):
        load_recipe_examples(write_recipe(tmp_path, PARALLEL), data_root=root)


def test_skipped_rows_are_counted_and_alignment_is_kept(root, tmp_path):
    write_files(root, {"sts/de.csv": 'Eine Katze sitzt.,"Ein Hund, bellend.",4.0\r\nnur eine Spalte\r\nRegen.,Sonne.,x\r\n'})
    recipe = write_recipe(tmp_path, PARALLEL.replace("score_column: 2}", "score_column: 2}\n        on_bad_row: skip"))
    examples, manifest = load_recipe_examples(recipe, data_root=root)
    assert [ex.texts for ex in examples] == [("A cat sits.", "Eine Katze sitzt."), ("A dog, barking.", "Ein Hund, bellend.")]
    assert manifest["sources"]["sts-pairs"]["dropped"] == {"bad_label": 1, "missing_columns": 1}


def test_parallel_files_that_differ_by_one_line_fail_instead_of_shifting(root, tmp_path):
    write_files(root, {"sts/de.csv": 'Eine Katze sitzt.,"Ein Hund, bellend.",4.0\r\nRegen.,Sonne.,0.5\r\n'})
    with pytest.raises(InputError, match=r"sts/de.csv: has 2 rows but .*sts/en.csv has 3"):
        load_recipe_examples(write_recipe(tmp_path, PARALLEL), data_root=root)


def test_unknown_nli_label_and_missing_file_are_reported(root, tmp_path):
    write_files(root, {"nli/labels": "entailment\ncontradiction\nneutral\nentailment\nmaybe\n"})
    recipe = write_recipe(tmp_path, """
        name: nli
        sources:
          - name: snli-like
            kind: nli
            shape: sup
            languages: [en]
            local: {format: infersent, sets: [{premise: nli/s1, hypothesis: nli/s2, label: nli/labels}]}
    """)
    with pytest.raises(InputError, match=r"nli/labels:5: unknown NLI label 'maybe'"):
        load_recipe_examples(recipe, data_root=root)
    (root / "nli" / "s2").unlink()
    with pytest.raises(InputError, match=r"nli/s2: file named by recipe source 'snli-like' not found"):
        load_recipe_examples(recipe, data_root=root)


def test_recipe_typos_and_missing_eval_sets_are_errors(root, tmp_path):
    with pytest.raises(InputError, match=r"unknown key\(s\) \['langauges'\]"):
        load_recipe(write_recipe(tmp_path, PARALLEL.replace("languages:", "langauges:")))
    with pytest.raises(InputError, match="a aligned_text source yields"):
        load_recipe(write_recipe(tmp_path, PARALLEL.replace("shape: parallel", "shape: sup")))
    (root / "xnli" / "test-en.tsv").unlink()
    with pytest.raises(InputError, match="needs the xnli test evaluation set"):
        load_recipe_examples(write_recipe(tmp_path, PARALLEL), data_root=root)


def test_build_writes_grouped_examples_and_manifest_and_refuses_to_overwrite(root, tmp_path):
    recipe = write_recipe(tmp_path, PARALLEL)
    out = tmp_path / "built"
    manifest = build_dataset(recipe, out, data_root=root)
    rows = [json.loads(line) for line in (out / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == manifest["output"]["rows"] == 5
    assert json.loads((out / "manifest.json").read_text())["sources"]["sts-pairs"]["examples"] == 5
    with pytest.raises(InputError, match="output exists and is not empty"):
        build_dataset(recipe, out, data_root=root)
    write_files(root, {"sts/de.csv": "kaputt\r\n"})
    with pytest.raises(InputError):
        build_dataset(recipe, out, data_root=root, overwrite=True)
    assert (out / "examples.jsonl").is_file(), "a failed rebuild must leave the old dataset intact"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".built")) == []


def test_arrow_and_jsonl_builds_feed_the_sampler_the_same_examples(root, tmp_path):
    recipe = write_recipe(tmp_path, PARALLEL)
    seen = {}
    for fmt in ("jsonl", "arrow"):
        build_dataset(recipe, tmp_path / fmt, data_root=root, fmt=fmt)
        sampler = MixtureBatchSampler(MixtureConfig([SourceSpec(str(tmp_path / fmt))]), batch_size=5, seed=0)
        seen[fmt] = sorted(ex.to_json() for ex in sampler.next_batch())
    assert seen["jsonl"] == seen["arrow"] and len(seen["jsonl"]) == 5


def test_cli_builds_a_recipe_and_reports_bad_input_as_exit_code_2(root, tmp_path, capsys):
    from mlsimcse.cli import main

    recipe = write_recipe(tmp_path, PARALLEL)
    out = tmp_path / "cli-out"
    assert main(["data", "build", str(recipe), "--out", str(out), "--data-root", str(root), "--format", "arrow"]) == 0
    assert (out / "examples.arrow").is_file() and "wrote 5 examples" in capsys.readouterr().out
    assert main(["data", "build", str(recipe), "--out", str(out), "--data-root", str(root)]) == 2
    assert "output exists and is not empty" in capsys.readouterr().err
