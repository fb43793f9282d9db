"""The training example record shared by data recipes, the batch sampler, the trainer and the losses.

One record type covers every training objective. Its ``texts`` tuple is read by position:

========== ======================================== =============================================
objective  texts                                    what the loss does with them
========== ======================================== =============================================
unsup      (sentence,)                              the sentence twice through dropout is the pair
distill    (sentence,) or (source, translation)     student(each text) vs frozen teacher(texts[0])
parallel   (source, translation)                    translation is the positive
sup        (anchor, positive, hard_negative)        positive vs in-batch + the hard negative
scored     (sentence1, sentence2) and a ``score``   the pairs' cosines ranked as their gold scores
========== ======================================== =============================================

``group`` names the set of examples that say the same thing (one source sentence and its translations,
one premise and its hypotheses). The sampler keeps one member of a group per batch and the loss masks
same-group candidates, so a translation of the anchor is never pushed away as a negative. ``score`` is the
graded similarity of a ``scored`` pair (STS gold, any scale: only its order within a batch is used); no other
objective has one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from mlsimcse.errors import InputError
from mlsimcse.text_lines import iter_lines

OBJECTIVES: dict[str, tuple[int, ...]] = {"unsup": (1,), "distill": (1, 2), "parallel": (2,), "sup": (3,),
                                          "scored": (2,)}
"""Objective name -> the numbers of texts an example of it may have."""

OBJECTIVE_COLUMNS: dict[str, tuple[str, ...]] = {
    "unsup": ("sentence",),
    "distill": ("sentence", "translation"),
    "parallel": ("source", "translation"),
    "sup": ("anchor", "positive", "negative"),
    "scored": ("sentence1", "sentence2"),
}
"""Objective name -> what its texts are called, by position (a recipe's Hub ``columns`` and prompts name them)."""


@dataclass(frozen=True)
class Example:
    """One training example: texts by position (see module doc), their languages, its group and origin."""

    objective: str
    texts: tuple[str, ...]
    langs: tuple[str, ...] = ()
    group: str | None = None
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    score: float | None = None

    def __post_init__(self) -> None:
        want = OBJECTIVES.get(self.objective)
        if want is None:
            raise InputError(f"unknown objective {self.objective!r}; expected one of {sorted(OBJECTIVES)}")
        if len(self.texts) not in want:
            counts = " or ".join(map(str, want))
            raise InputError(f"a {self.objective!r} example needs {counts} text(s), got {len(self.texts)}")
        for i, text in enumerate(self.texts):
            if not isinstance(text, str) or not text.strip():
                raise InputError(f"{self.objective!r} example has an empty {OBJECTIVE_COLUMNS[self.objective][i]}")
        if self.langs and len(self.langs) != len(self.texts):
            raise InputError(f"langs has {len(self.langs)} entries for {len(self.texts)} text(s)")
        if self.objective == "scored":
            number = isinstance(self.score, (int, float)) and not isinstance(self.score, bool)
            if not number or not math.isfinite(self.score):
                raise InputError(f"a 'scored' example needs a finite number as its score, got {self.score!r}")
        elif self.score is not None:
            raise InputError(f"only a 'scored' example has a score; this one is {self.objective!r}")

    def to_json(self) -> str:
        row: dict[str, Any] = {"objective": self.objective, "texts": list(self.texts)}
        if self.langs:
            row["langs"] = list(self.langs)
        if self.group is not None:
            row["group"] = self.group
        if self.source:
            row["source"] = self.source
        if self.meta:
            row["meta"] = self.meta
        if self.score is not None:
            row["score"] = self.score
        return json.dumps(row, ensure_ascii=False)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> "Example":
        try:
            return cls(
                objective=row["objective"],
                texts=tuple(row["texts"]),
                langs=tuple(row.get("langs") or ()),
                group=None if row.get("group") is None else str(row["group"]),
                source=row.get("source", ""),
                meta=row.get("meta") or {},
                score=row.get("score"),
            )
        except KeyError as err:
            raise InputError(f"missing field {err.args[0]!r}") from None
        except TypeError as err:
            raise InputError(f"malformed example: {err}") from None


def read_examples_jsonl(path: str) -> list[Example]:
    """Read a JSONL file of examples, naming the file and line of the first bad row."""
    examples: list[Example] = []
    for line_no, line in enumerate(iter_lines(path), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"not valid JSON ({err.msg})", path=path, line=line_no) from None
        try:
            examples.append(Example.from_dict(row))
        except InputError as err:
            raise InputError(err.reason, path=path, line=line_no) from None
    if not examples:
        raise InputError("no examples in file", path=path)
    return examples
