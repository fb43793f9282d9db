"""SentEval's English STS sets, read the way SimCSE's modified SentEval reads them.

STS12-16 are each a handful of subsets. SimCSE reports them with the "all" setting: every scored row of
every subset pooled into one Spearman, rows without a gold score dropped. SentEval splits sentences on
whitespace and the SimCSE batcher joins the tokens with single spaces, so whitespace is normalised the same
way here. SICK-R is the SICK test split's relatedness score; its trial and train splits serve as a dev set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlsimcse.errors import InputError
from mlsimcse.eval_files import SENTEVAL_STS, SENTEVAL_STS_YEAR, SICK_DEV, SICK_TEST, local_path
from mlsimcse.evaluation.loaders.hub import HubTable, load_hub_rows
from mlsimcse.evaluation.loaders.origin import DataOrigin
from mlsimcse.evaluation.loaders.sts_pairs import STSPairs, pairs_from_hub_rows, require_pairs
from mlsimcse.evaluation.loaders.text_files import parse_score, require_text, split_fields
from mlsimcse.text_lines import read_lines

SENTEVAL_STS_SUBSETS: dict[str, tuple[int, tuple[str, ...]]] = {
    "sts12": (2012, ("MSRpar", "MSRvid", "SMTeuroparl", "OnWN", "SMTnews")),
    "sts13": (2013, ("FNWN", "headlines", "OnWN")),
    "sts14": (2014, ("deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news")),
    "sts15": (2015, ("answers-forums", "answers-students", "belief", "headlines", "images")),
    "sts16": (2016, ("answer-answer", "headlines", "plagiarism", "postediting", "question-question")),
}
"""Task name -> (SemEval year, the subsets SentEval evaluates, in SentEval's order)."""

SICK_HEADER = ["pair_ID", "sentence_A", "sentence_B", "relatedness_score", "entailment_judgment"]


def senteval_sts_folder(task: str) -> Path:
    year, _ = SENTEVAL_STS_SUBSETS[task]
    return local_path(SENTEVAL_STS_YEAR, year=year)


def read_senteval_sts(task: str) -> STSPairs:
    """The scored rows of every subset present, pooled in SentEval's subset order.

    Absent subset files are listed in ``notes["missing_subsets"]`` (the shared copy of STS12 lacks MSRvid
    for licence reasons), so a pooled number over fewer subsets is never mistaken for the full one.
    """
    year, subsets = SENTEVAL_STS_SUBSETS[task]
    folder = senteval_sts_folder(task)
    paths = {subset: local_path(SENTEVAL_STS, year=year, subset=subset) for subset in subsets}
    present = [subset for subset in subsets if paths[subset].exists()]
    if not present:
        form = HubTable(f"mteb/{task}-sts", None, "test", ("sentence1", "sentence2", "score"))
        rows, origin = load_hub_rows(form, local_path=folder)
        return pairs_from_hub_rows(rows, origin)
    sentences1: list[str] = []
    sentences2: list[str] = []
    gold: list[float] = []
    counts: list[tuple[str, int]] = []
    dropped = 0
    for subset in present:
        before = len(gold)
        dropped += _read_gold_first_tsv(paths[subset], sentences1, sentences2, gold)
        counts.append((subset, len(gold) - before))
    require_pairs(len(gold), path=folder)
    notes: dict[str, object] = {"unscored_rows_dropped": dropped}
    missing = [subset for subset in subsets if subset not in present]
    if missing:
        notes["missing_subsets"] = missing
    return STSPairs(
        sentences1,
        sentences2,
        np.asarray(gold, dtype=np.float64),
        DataOrigin.from_files([paths[subset] for subset in present]),
        subsets=tuple(counts),
        notes=notes,
    )


def read_sick_relatedness_test() -> STSPairs:
    """SICK test (4927 pairs) with its 1-5 relatedness score, as SentEval's SICK-R test reads it."""
    return _read_sick_relatedness([local_path(SICK_TEST)])


def read_sick_relatedness_dev() -> STSPairs:
    """SICK trial and train (500 + 4500 pairs), read as the test split is: an English dev set in SICK's
    caption domain, which no recipe trains on, for choosing a recipe outside STS-B's own distribution."""
    return _read_sick_relatedness([local_path(template) for template in SICK_DEV])


def _read_sick_relatedness(paths: list[Path]) -> STSPairs:
    sentences1, sentences2, gold = [], [], []
    for path in paths:
        before = len(gold)
        lines = read_lines(path)
        if not lines or lines[0].split("\t") != SICK_HEADER:
            raise InputError(f"expected the header {' '.join(SICK_HEADER)}", path=path, line=1)
        for line_no, line in enumerate(lines[1:], start=2):
            _, first, second, score, _ = split_fields(line, 5, path=path, line_no=line_no, what="SICK columns")
            sentences1.append(_senteval_text(first, what="sentence_A", path=path, line=line_no))
            sentences2.append(_senteval_text(second, what="sentence_B", path=path, line=line_no))
            gold.append(parse_score(score, path=path, line=line_no))
        require_pairs(len(gold) - before, path=path)  # each file, so an empty train file is not hidden by trial
    return STSPairs(sentences1, sentences2, np.asarray(gold, dtype=np.float64), DataOrigin.from_files(paths))


def _read_gold_first_tsv(path: Path, sentences1: list[str], sentences2: list[str], gold: list[float]) -> int:
    """Append the scored rows of a ``score TAB sentence1 TAB sentence2`` file; return how many were unscored."""
    unscored = 0
    for line_no, line in enumerate(read_lines(path), start=1):
        score, first, second = split_fields(line, 3, path=path, line_no=line_no, what="score, sentence1, sentence2")
        if not score.strip():
            unscored += 1
            continue
        gold.append(parse_score(score, path=path, line=line_no))
        sentences1.append(_senteval_text(first, what="sentence1", path=path, line=line_no))
        sentences2.append(_senteval_text(second, what="sentence2", path=path, line=line_no))
    return unscored


def _senteval_text(text: str, *, what: str, path: Path, line: int) -> str:
    """SentEval's whitespace tokenisation re-joined with single spaces."""
    return " ".join(require_text(text, what=what, path=path, line=line).split())
