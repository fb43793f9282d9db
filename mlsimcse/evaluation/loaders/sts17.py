"""SemEval-2017 Task 1 (STS17): monolingual and cross-lingual tracks, as mSimCSE and MTEB evaluate them.

Quirks handled here, each checked rather than assumed: the column order is per file (track 2 and track 6
have English first), and track 6's input has 500 lines for 250 gold scores — only the first 250 are
scored. Any other file whose input and gold line counts differ is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlsimcse.errors import InputError
from mlsimcse.eval_files import STS17_GOLD, STS17_INPUT, local_path
from mlsimcse.evaluation.loaders.hub import HubTable, load_hub_rows
from mlsimcse.evaluation.loaders.origin import DataOrigin
from mlsimcse.evaluation.loaders.sts_pairs import STSPairs, pairs_from_hub_rows, require_pairs
from mlsimcse.evaluation.loaders.text_files import parse_score, require_text, split_fields
from mlsimcse.text_lines import read_lines


@dataclass(frozen=True)
class STS17Track:
    """One STS17 track: its file stem, the language of each input column, and its MTEB Hub config."""

    file_stem: str
    column_languages: tuple[str, str]
    hub_config: str | None
    scored_prefix_only: bool = False


STS17_TRACKS: dict[str, STS17Track] = {
    "ar-ar": STS17Track("track1.ar-ar", ("ar", "ar"), "ar-ar"),
    "ar-en": STS17Track("track2.ar-en", ("en", "ar"), "en-ar"),
    "es-es": STS17Track("track3.es-es", ("es", "es"), "es-es"),
    "es-en-4a": STS17Track("track4a.es-en", ("es", "en"), None),
    "es-en-4b": STS17Track("track4b.es-en", ("en", "es"), None),
    "en-en": STS17Track("track5.en-en", ("en", "en"), "en-en"),
    "tr-en": STS17Track("track6.tr-en", ("en", "tr"), "en-tr", scored_prefix_only=True),
}
"""Task argument -> track. 4a and 4b have no Hub form: MTEB's single es-en config does not say which it is."""


def sts17_paths(track: STS17Track) -> tuple[Path, Path]:
    return local_path(STS17_INPUT, track=track.file_stem), local_path(STS17_GOLD, track=track.file_stem)


def read_sts17(name: str) -> STSPairs:
    """The scored pairs of one track, from the local files or else ``mteb/sts17-crosslingual-sts``."""
    track = STS17_TRACKS[name]
    input_path, gold_path = sts17_paths(track)
    if not input_path.exists() and track.hub_config is not None:
        form = HubTable("mteb/sts17-crosslingual-sts", track.hub_config, "test", ("sentence1", "sentence2", "score"))
        rows, origin = load_hub_rows(form, local_path=input_path)
        return pairs_from_hub_rows(rows, origin)
    return read_sts_input_and_gold(input_path, gold_path, scored_prefix_only=track.scored_prefix_only)


def read_sts_input_and_gold(input_path: Path, gold_path: Path, *, scored_prefix_only: bool = False) -> STSPairs:
    """SemEval layout: ``STS.input`` (sentence1 TAB sentence2) with ``STS.gs`` scoring input line i on line i.

    With ``scored_prefix_only`` an input longer than the gold is cut to the gold's length (and the cut is
    noted); otherwise differing line counts are an error.
    """
    inputs = read_lines(input_path)
    scores = read_lines(gold_path)
    require_pairs(len(scores), path=gold_path)
    extra_inputs = len(inputs) - len(scores)
    if extra_inputs < 0 or (extra_inputs > 0 and not scored_prefix_only):
        raise InputError(
            f"{len(inputs)} input lines but {len(scores)} gold scores in {gold_path.name}", path=input_path
        )
    sentences1, sentences2 = [], []
    for line_no, line in enumerate(inputs[: len(scores)], start=1):
        first, second = split_fields(line, 2, path=input_path, line_no=line_no, what="sentence1, sentence2")
        sentences1.append(require_text(first, what="sentence1", path=input_path, line=line_no))
        sentences2.append(require_text(second, what="sentence2", path=input_path, line=line_no))
    gold = [parse_score(text.strip(), path=gold_path, line=line_no) for line_no, text in enumerate(scores, start=1)]
    notes = {"unscored_input_lines_ignored": extra_inputs} if extra_inputs else {}
    return STSPairs(
        sentences1,
        sentences2,
        np.asarray(gold, dtype=np.float64),
        DataOrigin.from_files([input_path, gold_path]),
        notes=notes,
    )
