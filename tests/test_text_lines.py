"""The one strict UTF-8 line reader every command uses, and the one table of evaluation files."""

from __future__ import annotations

from fnmatch import fnmatch

import pytest

from mlsimcse.errors import InputError
from mlsimcse.records import read_examples_jsonl
from mlsimcse.text_lines import read_lines, read_sentences


def test_read_lines_removes_one_line_ending_and_nothing_else(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_bytes(b"crlf\r\nlf\n  spaced  \nstray\r\r\nlast")
    assert read_lines(path) == ["crlf", "lf", "  spaced  ", "stray\r", "last"]


@pytest.mark.parametrize("reader", [read_lines, read_sentences, read_examples_jsonl])
def test_every_reader_names_the_line_of_a_byte_that_is_not_utf8(tmp_path, reader):
    path = tmp_path / "bad.txt"
    path.write_bytes(b'{"objective": "unsup", "texts": ["fine"]}\n{"objective": "unsup", "texts": ["caf\xe9"]}\n')
    with pytest.raises(InputError, match=r"bad\.txt:2: not UTF-8"):
        reader(path)


def test_a_folder_is_not_read_as_a_file(tmp_path):
    with pytest.raises(InputError, match="expected a file, found a folder"):
        read_lines(tmp_path)


def test_decontamination_globs_the_files_the_loaders_read(tmp_path, monkeypatch):
    from mlsimcse.data.eval_sentences import EVAL_SETS
    from mlsimcse.evaluation.loaders.ntrex import ntrex_paths
    from mlsimcse.evaluation.loaders.parallel import tatoeba_paths
    from mlsimcse.evaluation.loaders.senteval import senteval_sts_folder
    from mlsimcse.evaluation.loaders.sts17 import STS17_TRACKS, sts17_paths
    from mlsimcse.evaluation.loaders.stsb import stsb_path
    from mlsimcse.evaluation.un_bucc import un_testset_paths

    monkeypatch.setenv("MLSIMCSE_DATA_ROOT", str(tmp_path))
    patterns = {eval_set.name: eval_set.pattern for eval_set in EVAL_SETS}
    read = {
        "tatoeba": [*tatoeba_paths("deu")],
        "stsb_multi_mt test": [stsb_path("de", "test")],
        "sts2017": [sts17_paths(STS17_TRACKS["es-en-4a"])[0]],
        "semeval sts 2012-2016": [senteval_sts_folder("sts12") / "MSRpar.test.tsv"],
        "ntrex-128": [*ntrex_paths("deu")],
        "un v1.0 testset": [*un_testset_paths("fr")],
    }
    for name, paths in read.items():
        for path in paths:
            assert fnmatch(str(path.relative_to(tmp_path)), patterns[name]), (name, path)
