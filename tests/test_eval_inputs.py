"""Loaders read the real formats strictly: bad input gives an InputError naming file, line and problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlsimcse.errors import InputError
from mlsimcse.evaluation import build_task, resolve_tasks
from mlsimcse.evaluation.loaders.parallel import read_parallel_files
from mlsimcse.evaluation.loaders.sts17 import read_sts17, read_sts_input_and_gold
from mlsimcse.evaluation.loaders.stsb import read_cross_lingual_stsb, read_stsb


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


@pytest.fixture()
def data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSIMCSE_DATA_ROOT", str(tmp_path))
    return tmp_path


def write_stsb(root: Path, language: str, rows: str, split: str = "test") -> Path:
    return write(root / "stsb_multi_mt" / f"stsb-{language}-{split}.csv", rows)


def test_stsb_csv_with_quotes_commas_and_crlf_is_read_exactly(data_root):
    rows = '"A man, smiling.","He said ""hi"", then left.",2.5\r\nA dog runs.,A dog is running.,4.8\r\n'
    write_stsb(data_root, "en", rows)
    pairs = read_stsb("en", "test")
    assert pairs.sentences1 == ["A man, smiling.", "A dog runs."]
    assert pairs.sentences2 == ['He said "hi", then left.', "A dog is running."]
    assert pairs.gold.tolist() == [2.5, 4.8]
    assert len(pairs.origin.sha256) == 64


def test_non_numeric_gold_names_file_and_line(data_root):
    write_stsb(data_root, "en", "a,b,1.0\r\nc,d,high\r\n")
    with pytest.raises(InputError, match=r"stsb-en-test\.csv:2: gold score 'high' is not a number"):
        read_stsb("en", "test")


def test_nan_gold_is_rejected(data_root):
    write_stsb(data_root, "en", "a,b,nan\r\n")
    with pytest.raises(InputError, match="not a finite number"):
        read_stsb("en", "test")


def test_empty_sts_set_is_an_error(data_root):
    write_stsb(data_root, "en", "")
    with pytest.raises(InputError, match="no scored sentence pairs"):
        read_stsb("en", "test")


def test_cross_lingual_rows_must_stay_parallel(data_root):
    write_stsb(data_root, "en", "a,b,1.0\r\nc,d,2.0\r\n")
    write_stsb(data_root, "de", "A,B,1.0\r\nC,D,3.0\r\n")
    with pytest.raises(InputError, match="not parallel: row 2 is scored 2.0 in one and 3.0"):
        read_cross_lingual_stsb("en", "de", "test")
    write_stsb(data_root, "de", "A,B,1.0\r\n")
    with pytest.raises(InputError, match="2 vs 1 rows"):
        read_cross_lingual_stsb("en", "de", "test")


def test_cross_lingual_pairs_take_sentence1_from_the_first_language(data_root):
    write_stsb(data_root, "en", "a,b,1.0\r\nc,d,2.0\r\n")
    write_stsb(data_root, "de", "A,B,1.0\r\nC,D,2.0\r\n")
    pairs = read_cross_lingual_stsb("en", "de", "test")
    assert (pairs.sentences1, pairs.sentences2) == (["a", "c"], ["B", "D"])


def test_gold_and_input_line_count_mismatch_is_an_error(tmp_path):
    inputs = write(tmp_path / "STS.input.x.txt", "a\tb\nc\td\ne\tf\n")
    gold = write(tmp_path / "STS.gs.x.txt", "1.0\n2.0\n")
    with pytest.raises(InputError, match="3 input lines but 2 gold scores"):
        read_sts_input_and_gold(inputs, gold)
    pairs = read_sts_input_and_gold(inputs, gold, scored_prefix_only=True)
    assert pairs.sentences1 == ["a", "c"]
    assert pairs.notes == {"unscored_input_lines_ignored": 1}
    short = write(tmp_path / "STS.input.y.txt", "a\tb\n")
    with pytest.raises(InputError, match="1 input lines but 2 gold scores"):
        read_sts_input_and_gold(short, gold, scored_prefix_only=True)


def test_sts17_track_files_are_found_under_the_data_root(data_root):
    folder = data_root / "sts2017"
    write(folder / "STS2017.eval.v1.1" / "STS.input.track6.tr-en.txt", "one\tbir\ntwo\tiki\nthree\tuc\n")
    write(folder / "STS2017.gs" / "STS.gs.track6.tr-en.txt", "4.0\n1.5\n")
    pairs = read_sts17("tr-en")
    assert pairs.sentences2 == ["bir", "iki"]
    assert np.array_equal(pairs.gold, [4.0, 1.5])


def test_input_line_with_missing_column(tmp_path):
    inputs = write(tmp_path / "in.txt", "a\tb\nno tab here\n")
    gold = write(tmp_path / "gs.txt", "1\n2\n")
    with pytest.raises(InputError, match=r"in\.txt:2: expected 2 tab-separated fields"):
        read_sts_input_and_gold(inputs, gold)


def test_parallel_files_must_be_line_aligned(tmp_path):
    source = write(tmp_path / "a.de", "eins\nzwei\n")
    target = write(tmp_path / "a.en", "one\n")
    with pytest.raises(InputError, match="2 lines, but .* has 1: files are not line-aligned"):
        read_parallel_files(source, target)


def test_empty_parallel_set_and_empty_line(tmp_path):
    empty = write(tmp_path / "e.de", "")
    with pytest.raises(InputError, match="empty parallel file"):
        read_parallel_files(empty, write(tmp_path / "e.en", ""))
    source = write(tmp_path / "b.de", "eins\n \n")
    with pytest.raises(InputError, match=r"b\.de:2: empty sentence"):
        read_parallel_files(source, write(tmp_path / "b.en", "one\ntwo\n"))


def test_non_utf8_bytes_name_the_line(tmp_path):
    source = write(tmp_path / "c.de", b"gut\nschl\xe9cht\n")
    with pytest.raises(InputError, match=r"c\.de:2: not UTF-8"):
        read_parallel_files(source, write(tmp_path / "c.en", "good\nbad\n"))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_parallel_files(tmp_path / "none.de", tmp_path / "none.en")


@pytest.mark.parametrize(
    "name, message",
    [
        ("stsbb:en", "unknown task 'stsbb:en'"),
        ("stsb:xx", "unknown STS-B language 'xx'"),
        ("xstsb:en-en", "needs two different languages"),
        ("sts17:en-de", "unknown STS17 track"),
        ("tatoeba:eng", "unknown Tatoeba language"),
        ("sts12:extra", "takes no argument"),
        ("parallel:only-one-file", "expected parallel:SOURCE_FILE,TARGET_FILE"),
        ("bucc:a:b", "expected bucc:FOLDER"),
    ],
)
def test_unknown_or_malformed_task_names(name, message):
    with pytest.raises(InputError, match=message):
        resolve_tasks([name])


def test_hub_form_is_used_when_the_local_file_is_absent(data_root, monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(name, config, split):
        calls.append((name, config, split))
        return datasets.Dataset.from_dict(
            {"sentence1": ["a", "b"], "sentence2": ["c", "d"], "similarity_score": [1.0, 4.0]}
        )

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    pairs = build_task("stsb-dev:de").load()
    assert calls == [("PhilipMay/stsb_multi_mt", "de", "dev")]
    assert pairs.sentences2 == ["c", "d"] and pairs.gold.tolist() == [1.0, 4.0]
    assert pairs.origin.hub == "hf://PhilipMay/stsb_multi_mt[de]:dev"


def test_hub_failure_names_the_missing_local_file(data_root):
    with pytest.raises(InputError, match=r"tatoeba\.deu-eng\.deu: not in the data root and not loadable from the Hub"):
        build_task("tatoeba:deu").load()


SICK_HEAD = "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n"


def test_sick_dev_reads_trial_then_train_and_names_an_empty_split(data_root):
    write(data_root / "sick2014" / "SICK_trial.txt", SICK_HEAD + "1\tA dog runs\tA dog is running\t4.8\tENTAILMENT\n")
    write(data_root / "sick2014" / "SICK_train.txt", SICK_HEAD + "2\tA man sings\tA cat sleeps\t1.2\tNEUTRAL\n")
    pairs = build_task("sickr-dev").load()
    assert pairs.sentences1 == ["A dog runs", "A man sings"] and pairs.gold.tolist() == [4.8, 1.2]
    write(data_root / "sick2014" / "SICK_train.txt", SICK_HEAD)
    with pytest.raises(InputError, match=r"SICK_train\.txt.*no scored sentence pairs"):
        build_task("sickr-dev").load()
