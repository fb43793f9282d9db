"""Progress bars that suit where the output goes: a live bar in a terminal, sparse log lines elsewhere.

A tqdm bar redraws itself with carriage returns several times a second. In a terminal that is one line that
moves; in a CI log or a file it is thousands of lines. So every bar in mlsimcse comes from :func:`progress_bar`,
which picks one of three modes:

- ``bar``: tqdm's own bar (``tqdm.auto``, so a notebook gets its widget);
- ``lines``: a plain log line (logger ``mlsimcse.progress``, level INFO) once the work has run for
  :data:`LINE_INTERVAL_S` seconds, then at most once per that interval, and a last one when it ends; work that
  finishes sooner leaves no line at all;
- ``off``: nothing.

The mode is ``off`` under ``mlsimcse --quiet``; else the one the environment variable ``MLSIMCSE_PROGRESS``
names (``bar``, ``lines`` or ``off``: tests and CI force a mode with it); else ``bar`` when stderr is a terminal
or the code runs in a Jupyter kernel, ``lines`` otherwise.

Callers still say whether they want a bar at all (the ``show_progress_bar=`` and ``progress`` options of the
API): ``enabled=False`` shows nothing, ``enabled=None`` shows only a live bar (the mode ``bar``), never lines.
"""

from __future__ import annotations

import logging
import os
import sys
from functools import lru_cache
from typing import Any, Iterable

from mlsimcse.errors import InputError

MODES = ("bar", "lines", "off")
ENV_VAR = "MLSIMCSE_PROGRESS"
LINE_INTERVAL_S = 30.0
"""Seconds between two progress lines in the ``lines`` mode (and before the first one)."""

logger = logging.getLogger(__name__)

_quiet = False


def set_quiet(quiet: bool) -> bool:
    """Turn every bar off (``--quiet``) or back to the chosen mode; returns the previous setting."""
    global _quiet
    previous, _quiet = _quiet, quiet
    return previous


def progress_mode() -> str:
    """``bar``, ``lines`` or ``off``, as the module docstring describes."""
    if _quiet:
        return "off"
    forced = os.environ.get(ENV_VAR, "").strip().lower()
    if forced:
        if forced not in MODES:
            raise InputError(f"{ENV_VAR}={forced!r} is not one of {', '.join(MODES)}")
        return forced
    return "bar" if _interactive() else "lines"


def _interactive() -> bool:
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty()) or "ipykernel" in sys.modules


def progress_bar(iterable: Iterable | None = None, *, enabled: bool | None = True, **kwargs: Any):
    """A tqdm progress bar (``desc``, ``total``, ``unit``, ... as tqdm takes them) in the current mode.

    It is always a tqdm object, so ``update``, ``set_postfix``, iteration and ``with`` work in every mode.
    """
    mode = progress_mode() if enabled is not False else "off"
    if mode == "lines" and enabled is None:
        mode = "off"
    if mode == "bar":
        from tqdm.auto import tqdm

        return tqdm(iterable, **kwargs)
    if mode == "lines":
        return _line_bar_class()(iterable, **kwargs)
    from tqdm.std import tqdm

    return tqdm(iterable, disable=True, **kwargs)


class _NullStream:
    """Where a line-mode bar's own terminal output goes: nowhere (its lines go to the logger)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


@lru_cache(maxsize=1)
def _line_bar_class():
    """The tqdm subclass of the ``lines`` mode, made on first use: the command line imports this module (for
    ``--quiet``) before it knows whether any bar will be needed, and tqdm is not free to import."""
    from tqdm.std import tqdm

    class LineProgress(tqdm):
        """tqdm's timing and rates, shown as one log line per refresh instead of a redrawn bar."""

        def __init__(self, iterable=None, **kwargs):
            total = kwargs.get("total")
            if total is None and hasattr(iterable, "__len__"):
                total = len(iterable)
            kwargs.update(file=_NullStream(), mininterval=LINE_INTERVAL_S, maxinterval=LINE_INTERVAL_S,
                          delay=LINE_INTERVAL_S,
                          bar_format="{desc}: {percentage:.0f}% ({n_fmt}/{total_fmt} {unit}), {elapsed} elapsed, "
                                     "{remaining} left, {rate_fmt}{postfix}" if total else
                                     "{desc}: {n_fmt} {unit}, {elapsed} elapsed, {rate_fmt}{postfix}")
            self._last_line = None
            super().__init__(iterable, **kwargs)

        def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
            super().set_postfix(ordered_dict, refresh=False, **kwargs)  # a line per change would defeat the interval

        def set_postfix_str(self, s="", refresh=True):
            super().set_postfix_str(s, refresh=False)

        def display(self, msg=None, pos=None):
            if msg == "":  # tqdm clearing the bar: there is nothing to clear in a log
                return True
            line = " ".join((self.__str__() if msg is None else msg).split())  # tqdm pads its fields for a bar
            if line != self._last_line:
                self._last_line = line
                logger.info(line)
            return True

    return LineProgress
