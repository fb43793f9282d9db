"""Reading mining corpora: formats, de-duplication mapped back to lines and ids, and strict errors."""

from __future__ import annotations

import numpy as np
import pytest

from mlsimcse.errors import InputError
from mlsimcse.io_utils import sha256_file
from mlsimcse.mining.corpus import read_corpus


def write(tmp_path, name: str, data: str | bytes):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def test_plain_file_is_deduplicated_and_mapped_back_to_line_numbers(tmp_path):
    path = write(tmp_path, "c.txt", "\ufeffHallo Welt\r\nguten Tag\n\n   \nHallo Welt\nbis bald\nguten Tag")
    corpus = read_corpus(path)
    assert corpus.format == "plain"
    assert (corpus.n_lines, corpus.n_unique) == (5, 3)
    assert corpus.unique_texts(0, 3) == ["Hallo Welt", "guten Tag", "bis bald"]
    assert corpus.unique_of_line.tolist() == [0, 1, 0, 2, 1]
    assert corpus.ids_at(corpus.lines_of(0)) == ["1", "5"]
    assert corpus.ids_at(corpus.lines_of(1)) == ["2", "7"]
    assert corpus.sha256 == sha256_file(path)


def test_id_file_keeps_ids_and_deduplicates_on_the_sentence(tmp_path):
    path = write(tmp_path, "c.tsv", "de-1\tein Satz\nde-2\tnoch einer\nde-3\tein Satz\n")
    corpus = read_corpus(path)
    assert corpus.format == "ids"
    assert corpus.unique_texts(0, 2) == ["ein Satz", "noch einer"]
    assert corpus.ids_at(corpus.lines_of(0)) == ["de-1", "de-3"]
    assert corpus.sentences_at(np.array([2, 0])) == ["ein Satz", "ein Satz"]


def test_deduplication_matches_a_dictionary_on_many_repeats(tmp_path):
    rng = np.random.default_rng(0)
    lines = [f"sentence {n}" for n in rng.integers(0, 300, 3000).tolist()]
    corpus = read_corpus(write(tmp_path, "c.txt", "\n".join(lines) + "\n"))
    first_seen: dict[str, int] = {}
    for line in lines:
        first_seen.setdefault(line, len(first_seen))
    assert corpus.unique_texts(0, corpus.n_unique) == list(first_seen)
    assert corpus.unique_of_line.tolist() == [first_seen[line] for line in lines]


@pytest.mark.parametrize("content, file_format, message, line", [
    ("a\tone\nb two\n", "auto", "no tab", 2),
    ("a\tone\nb\ttwo\tthree\n", "ids", "2 tabs", 2),
    ("a\tone\n\ttwo\n", "ids", "empty id", 2),
    ("a\tone\nb\t  \n", "ids", "empty sentence", 2),
    ("one\ntwo\tthree\n", "auto", "tab inside a plain-text sentence", 2),
    ("just one sentence\n", "ids", "no tab", 1),
    (b"ok\n\xff\xfe broken\n", "plain", "not UTF-8", 2),
])
def test_malformed_lines_name_the_file_and_line(tmp_path, content, file_format, message, line):
    path = write(tmp_path, "bad.txt", content)
    with pytest.raises(InputError, match=message) as caught:
        read_corpus(path, file_format)
    assert caught.value.path == str(path) and caught.value.line == line


@pytest.mark.parametrize("content", ["", "\n  \n\n"])
def test_empty_corpus_is_refused(tmp_path, content):
    with pytest.raises(InputError, match="no sentences"):
        read_corpus(write(tmp_path, "empty.txt", content))


def test_missing_file_and_unknown_format_are_refused(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_corpus(tmp_path / "absent.txt")
    with pytest.raises(InputError, match="unknown corpus format"):
        read_corpus(write(tmp_path, "c.txt", "x\n"), "csv")
