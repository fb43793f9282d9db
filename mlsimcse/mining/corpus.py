"""Read a monolingual mining corpus: plain lines or ``id<TAB>sentence``, de-duplicated, with strict errors.

Web-scale corpora repeat sentences a lot, and mining each copy separately wastes encoding and search time
and floods the output with copies of one pair. So mining runs over unique sentences and the results are
mapped back to every line (or id) holding that sentence. To scale to tens of millions of lines the reader
keeps only numbers per line — byte offset, line number, a 128-bit hash of the sentence — and reads texts
back by offset when they are encoded or written out. The file's sha256 is computed in the same pass; it
keys the embedding cache.
"""

from __future__ import annotations

import hashlib
from array import array
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from mlsimcse.choices import CORPUS_FORMATS as FORMATS
from mlsimcse.errors import InputError
from mlsimcse.text_lines import decode_line



@dataclass(frozen=True)
class Corpus:
    """One corpus file as numbers: where each sentence line is and which unique sentence it holds.

    "Sentence lines" are the non-blank lines; ``unique_of_line[i]`` is the unique sentence on sentence line
    ``i``, and unique sentences are numbered in order of first appearance (``first_line``).
    """

    path: Path
    format: str
    sha256: str
    line_offsets: np.ndarray
    line_numbers: np.ndarray
    unique_of_line: np.ndarray
    first_line: np.ndarray

    @property
    def n_lines(self) -> int:
        return len(self.line_offsets)

    @property
    def n_unique(self) -> int:
        return len(self.first_line)

    def unique_texts(self, start: int, stop: int) -> list[str]:
        """Texts of unique sentences ``[start, stop)``, in order (what gets encoded)."""
        return self.sentences_at(self.first_line[start:stop])

    def sentences_at(self, lines: np.ndarray) -> list[str]:
        """Sentence of each given sentence line."""
        return [fields[-1] for fields in self._fields_at(lines)]

    def ids_at(self, lines: np.ndarray) -> list[str]:
        """Id of each given sentence line: its id column, or its 1-based line number in a plain file."""
        if self.format == "plain":
            return [str(number) for number in self.line_numbers[lines].tolist()]
        return [fields[0] for fields in self._fields_at(lines)]

    def lines_of(self, unique: int) -> np.ndarray:
        """All sentence lines holding unique sentence ``unique``, in file order."""
        order, bounds = self._lines_by_unique
        return order[bounds[unique]:bounds[unique + 1]]

    @cached_property
    def _lines_by_unique(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.unique_of_line, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(self.unique_of_line, minlength=self.n_unique))])
        return order, bounds

    def _fields_at(self, lines: np.ndarray) -> list[tuple[str, ...]]:
        """Parsed fields of the given sentence lines, read by offset in file order to keep seeks short."""
        lines = np.asarray(lines, dtype=np.int64)
        offsets = self.line_offsets[lines]
        order = np.argsort(offsets, kind="stable")
        fields: list[tuple[str, ...]] = [()] * len(lines)
        with open(self.path, "rb") as handle:
            for position in order.tolist():
                handle.seek(int(offsets[position]))
                fields[position] = _corpus_fields(handle.readline(), self.format, self.path,
                                               int(self.line_numbers[lines[position]]))
        return fields


def read_corpus(path: str | Path, file_format: str = "auto") -> Corpus:
    """Scan ``path`` once: validate every line, hash the file and de-duplicate the sentences.

    ``auto`` picks ``ids`` when the first non-blank line has a tab, else ``plain``. Blank lines are skipped.
    """
    if file_format not in FORMATS:
        raise InputError(f"unknown corpus format {file_format!r}; choose one of {', '.join(FORMATS)}")
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found" if not path.exists() else "not a regular file", path=path)
    file_hash = hashlib.sha256()
    offsets, numbers, digests = array("q"), array("q"), bytearray()
    offset = 0
    with open(path, "rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            file_hash.update(raw)
            if file_format == "auto":
                file_format = _detect_format(raw, path, line_number)
            fields = _corpus_fields(raw, file_format, path, line_number)
            if fields:
                offsets.append(offset)
                numbers.append(line_number)
                digests += hashlib.blake2b(fields[-1].encode("utf-8"), digest_size=16).digest()
            offset += len(raw)
    if not offsets:
        raise InputError("no sentences: the file is empty or has only blank lines", path=path)
    unique_of_line, first_line = _first_occurrence_numbering(np.frombuffer(bytes(digests), dtype="V16"))
    return Corpus(path=path, format=file_format, sha256=file_hash.hexdigest(),
                  line_offsets=np.frombuffer(offsets, dtype=np.int64).copy(),
                  line_numbers=np.frombuffer(numbers, dtype=np.int64).copy(),
                  unique_of_line=unique_of_line, first_line=first_line)


def _first_occurrence_numbering(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number distinct hashes by first appearance: (number of each line, first line of each number)."""
    _, first_sorted, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    order = np.argsort(first_sorted)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse.reshape(-1)].astype(np.int64), first_sorted[order].astype(np.int64)


def _detect_format(raw: bytes, path: Path, line_number: int) -> str:
    """``ids`` or ``plain`` by whether a line has a tab; still ``auto`` for a blank line."""
    text = _decode(raw, path, line_number)
    if not text.strip():
        return "auto"
    return "ids" if "\t" in text else "plain"


def _decode(raw: bytes, path: Path, line_number: int) -> str:
    return decode_line(raw, path=path, line=line_number).rstrip("\r\n").lstrip("\ufeff")


def _corpus_fields(raw: bytes, file_format: str, path: Path, line_number: int) -> tuple[str, ...]:
    """``(sentence,)`` or ``(id, sentence)``; ``()`` for a blank line."""
    text = _decode(raw, path, line_number)
    if not text.strip():
        return ()
    tabs = text.count("\t")
    if file_format == "plain":
        if tabs:
            raise InputError("tab inside a plain-text sentence (it would break the TSV output); "
                             "for id<TAB>sentence files pass --format ids", path=path, line=line_number)
        return (text,)
    if tabs != 1:
        found = "no tab" if tabs == 0 else f"{tabs} tabs"
        raise InputError(f"{found}; an id file needs exactly one tab per line, as id<TAB>sentence",
                         path=path, line=line_number)
    line_id, sentence = text.split("\t")
    if not line_id.strip():
        raise InputError("empty id before the tab", path=path, line=line_number)
    if not sentence.strip():
        raise InputError("empty sentence after the tab", path=path, line=line_number)
    return line_id, sentence
