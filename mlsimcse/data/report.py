"""Per-source bookkeeping for the manifest: what was read, kept and dropped, and why.

A dataset whose size silently changed between builds is a reproducibility bug; the manifest makes every
row accounted for (read = kept + dropped by reason) and records the hash of every input file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsimcse.data.text_files import RowProblem
from mlsimcse.io_utils import sha256_file


@dataclass
class SourceReport:
    """Counts for one recipe source; ``candidates`` are examples before clean-up, ``kept`` after it."""

    name: str
    shape: str
    form: str
    rows_read: int = 0
    candidates: int = 0
    kept: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    decontaminated: Counter = field(default_factory=Counter)
    inputs: dict[str, str] = field(default_factory=dict)

    def record_input(self, path: Path, data_root: Path) -> None:
        """Remember an input file's sha256 under its path relative to the data root."""
        try:
            key = str(path.relative_to(data_root))
        except ValueError:
            key = str(path)
        if key not in self.inputs:
            self.inputs[key] = sha256_file(path)

    def as_dict(self) -> dict[str, Any]:
        return {
            "shape": self.shape,
            "form": self.form,
            "rows_read": self.rows_read,
            "candidates": self.candidates,
            "examples": sum(self.kept.values()),
            "examples_by_language": dict(sorted(self.kept.items())),
            "dropped": dict(sorted(self.dropped.items())),
            "decontaminated_by_language": dict(sorted(self.decontaminated.items())),
            "inputs_sha256": dict(sorted(self.inputs.items())),
        }


class BadRowPolicy:
    """Fail on a malformed row, or (``skip``) count it under its reason and carry on."""

    def __init__(self, skip: bool, report: SourceReport):
        self._skip = skip
        self._report = report

    def __call__(self, problem: RowProblem) -> None:
        if not self._skip:
            raise problem.as_input_error()
        self._report.dropped[problem.reason] += 1
