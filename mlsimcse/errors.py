"""One exception type for bad user input, so the CLI can turn it into a clear message and exit code.

Library code raises :class:`InputError` when a file, row or argument supplied by the user is wrong; the
message names the file, the line (when there is one) and the problem. Programming errors stay ordinary
exceptions with tracebacks.
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad user input: a missing file, a malformed row, an unknown name."""

    def __init__(self, reason: str, *, path: str | Path | None = None, line: int | None = None):
        self.reason = reason
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = self.path if line is None else f"{self.path}:{line}"
            where += ": "
        super().__init__(f"{where}{reason}")


def check_at_least_one(**values: object) -> None:
    """:class:`InputError` for a count (batch size, length, rows) below 1; ``None`` means "the default"."""
    for name, value in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InputError(f"{name} must be a whole number of at least 1, got {value!r}")
