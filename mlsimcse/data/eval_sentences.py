"""The sentences of every evaluation set the project ships, for decontaminating training data.

A training sentence that also appears in an evaluation set inflates that benchmark (Tatoeba retrieval
especially: the Tatoeba-challenge training pairs contain hundreds of its test pairs). Only sentences are
read here, never scores, so this does not depend on the evaluation package's loaders; the files are found
where those loaders read them, through the one table of evaluation files (:mod:`mlsimcse.eval_files`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mlsimcse.data.normalize import normalize_text
from mlsimcse.data.text_files import RowProblem, iter_rows
from mlsimcse.errors import InputError
from mlsimcse.eval_files import NTREX, SENTEVAL_STS, SICK_TEST, STS17_INPUT, STSB, TATOEBA, UN_TESTSET, every_file
from mlsimcse.io_utils import sha256_file
from mlsimcse.progress import progress_bar
from mlsimcse.text_lines import read_lines


@dataclass(frozen=True)
class EvalFiles:
    """One evaluation set: a glob under the data root and where its sentences are."""

    name: str
    pattern: str
    width: int | None = None
    columns: tuple[int, ...] = (0,)
    quoted: bool = False
    header: bool = False


EVAL_SETS = (
    EvalFiles("tatoeba", every_file(TATOEBA)),
    EvalFiles("stsb_multi_mt test", every_file(STSB, split="test"), width=3, columns=(0, 1), quoted=True),
    EvalFiles("sts2017", every_file(STS17_INPUT), width=2, columns=(0, 1)),
    EvalFiles("semeval sts 2012-2016", every_file(SENTEVAL_STS), width=3, columns=(1, 2)),
    EvalFiles("sick test", every_file(SICK_TEST), width=5, columns=(1, 2), header=True),
    EvalFiles("korsts test", "kornlu/KorSTS/sts-test.tsv", width=7, columns=(5, 6), header=True),
    EvalFiles("xnli test", "xnli/test-*.tsv", width=2, columns=(0, 1)),
    EvalFiles("kornli test", "kornlu/KorNLI/xnli.test.ko.tsv", width=3, columns=(0, 1), header=True),
    # The held-out domains (news:LANG, un-bucc:LANG): every language's file; the UN devset stays for training.
    EvalFiles("ntrex-128", every_file(NTREX)),
    EvalFiles("un v1.0 testset", every_file(UN_TESTSET, language="[a-z][a-z]")),
)


@dataclass(frozen=True)
class EvalSentences:
    """Normalised evaluation sentences and the hashes of the files they came from."""

    keys: frozenset[str]
    files_sha256: dict[str, str]

    def __contains__(self, text: str) -> bool:
        return normalize_text(text) in self.keys


@lru_cache(maxsize=4)
def load_eval_sentences(data_root: Path) -> EvalSentences:
    """Read every evaluation set under ``data_root``; each set must be present."""
    keys: set[str] = set()
    hashes: dict[str, str] = {}
    for eval_set in progress_bar(EVAL_SETS, desc="evaluation sets", leave=False):
        paths = sorted(data_root.glob(eval_set.pattern))
        if not paths:
            raise InputError(
                f"decontamination needs the {eval_set.name} evaluation set, but nothing matches "
                f"{eval_set.pattern!r} under {data_root}; set 'decontaminate: false' in the recipe to skip it"
            )
        for path in paths:
            keys.update(normalize_text(text) for text in _sentences(eval_set, path))
            hashes[str(path.relative_to(data_root))] = sha256_file(path)
    return EvalSentences(frozenset(keys), hashes)


def _sentences(eval_set: EvalFiles, path: Path) -> list[str]:
    if eval_set.width is None:
        return read_lines(path)
    sentences = []
    for _line, fields in iter_rows(path, delimiter="," if eval_set.quoted else "\t", width=eval_set.width,
                                   quoted=eval_set.quoted, header=eval_set.header, on_problem=_fail):
        sentences.extend(fields[column] for column in eval_set.columns)
    return sentences


def _fail(problem: RowProblem) -> None:
    raise problem.as_input_error()
