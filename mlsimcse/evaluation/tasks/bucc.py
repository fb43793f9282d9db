"""BUCC bitext mining from a folder in BUCC 2018 format: threshold tuned on one split, reported on another.

When the tuning and reported splits are the same, the F1 is an upper bound nobody could reach without the
answers, and the protocol says "oracle threshold". The oracle F1 of the reported split is always given
beside the tuned one, under its own name, so the two are never confused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlsimcse.evaluation.evaluators.bitext import (
    MARGIN_K,
    IdCandidates,
    best_f1_threshold,
    distinct_sentences,
    mine_id_candidates,
    precision_recall_f1,
)
from mlsimcse.evaluation.loaders.bucc import BitextSplit, pair_languages, read_bucc_split
from mlsimcse.evaluation.loaders.origin import DataOrigin
from mlsimcse.evaluation.tasks.base import Embed, Scored, Task
from mlsimcse.evaluation.un_bucc import UN_BUCC_REPORT, UN_BUCC_TUNE, un_bucc_description, un_bucc_folder


@dataclass(frozen=True)
class BuccData:
    """The split the threshold is tuned on and the split that is reported (the same object for oracle runs)."""

    tune: BitextSplit
    report: BitextSplit
    origin: DataOrigin

    def sentences(self) -> list[str]:
        if self.tune is self.report:
            return self.report.sentences()
        return self.tune.sentences() + self.report.sentences()


class BuccTask(Task):
    """Precision, recall and F1 (main) ×100 of margin-mined pairs at the tuned threshold."""

    def __init__(self, name: str, folder: Path, tune_split: str, report_split: str, *, data: str = "BUCC 2018"):
        source, target = pair_languages(folder)
        self.name = name
        self.folder = Path(folder)
        self.tune_split = tune_split
        self.report_split = report_split
        self.protocol = (
            f"{data} mining {source}->{target} (Artetxe & Schwenk 2019): ratio margin k={MARGIN_K} over distinct "
            "sentences, forward+backward nearest-neighbour candidates ('max'), greedy one-to-one, "
            + (
                f"oracle threshold (tuned on the reported split {report_split!r})"
                if tune_split == report_split
                else f"threshold maximising F1 on split {tune_split!r}, applied to split {report_split!r}"
            )
        )

    def load(self) -> BuccData:
        folder = self.benchmark_folder()
        report = read_bucc_split(folder, self.report_split)
        if self.tune_split == self.report_split:
            return BuccData(report, report, report.origin)
        tune = read_bucc_split(folder, self.tune_split)
        return BuccData(tune, report, DataOrigin.combine([tune.origin, report.origin]))

    def benchmark_folder(self) -> Path:
        """The folder to read: the one given (a built benchmark overrides this to build it first)."""
        return self.folder

    def score(self, data: BuccData, embed: Embed) -> Scored:
        reported = self._candidates(data.report, embed)
        oracle_threshold, oracle_f1 = best_f1_threshold(reported, len(data.report.gold))
        if data.tune is data.report:
            threshold = oracle_threshold
        else:
            threshold, _ = best_f1_threshold(self._candidates(data.tune, embed), len(data.tune.gold))
        scores = {
            **precision_recall_f1(reported, len(data.report.gold), threshold),
            "threshold": threshold,
            "oracle_f1": oracle_f1,
        }
        details = {
            "tune_split": self.tune_split,
            "report_split": self.report_split,
            "oracle_threshold": oracle_threshold,
            "gold_pairs": len(data.report.gold),
            "source_sentences": len(data.report.source_ids),
            "target_sentences": len(data.report.target_ids),
            "candidates": len(reported.pairs),
        }
        return Scored("f1", scores, details)

    def _candidates(self, split: BitextSplit, embed: Embed) -> IdCandidates:
        source = distinct_sentences(split.source_ids, split.source_sentences)
        target = distinct_sentences(split.target_ids, split.target_sentences)
        return mine_id_candidates(source, target, embed(source.texts), embed(target.texts), split.gold)


class UnBuccTask(BuccTask):
    """BUCC mining of LANG-en pairs on the UN v1.0 testset benchmark, built and cached on first load."""

    def __init__(self, name: str, language: str):
        # The folder's name gives the pair; where it is built is only known once the input files are hashed.
        super().__init__(name, Path(f"{language}-en"), UN_BUCC_TUNE.name, UN_BUCC_REPORT.name, data="UN v1.0 testset")
        self.protocol += f"; {un_bucc_description()}"
        self.language = language

    def benchmark_folder(self) -> Path:
        return un_bucc_folder(self.language)
