"""What the ``mlsimcse`` command writes where, and how much of it.

The two streams:

- **stdout** carries the command's product and nothing else: the results table of ``eval`` and ``quickstart``,
  the summary of ``mine`` and ``data build``, and the paths of what was written (``model saved in ...``,
  ``wrote ...``, ``model: ...``). Only a command's ``run`` function prints, so ``mlsimcse eval ... > table.txt``
  keeps exactly that (and ``--help`` and ``--version`` are printed by argparse, to stdout too).
- **stderr** carries everything that tells how the work goes, through :mod:`logging`: stages, notes (resumed from a
  checkpoint, embeddings frozen), warnings, progress bars or lines (:mod:`mlsimcse.progress`), and the one line
  ``error: ...`` for bad input. Library modules log to ``logging.getLogger(__name__)`` and never print or add
  handlers; the one handler is installed here, around one command (:func:`command_logging`), so a program that
  imports mlsimcse keeps its own logging setup.

How much (``-v``/``-q`` are taken before or after the command's name):

- default: mlsimcse's messages from INFO up, other libraries' from WARNING up;
- ``-v``/``--verbose``: mlsimcse's DEBUG messages too, and INFO from the other libraries (transformers,
  accelerate, datasets, ...), each line with its time and logger;
- ``-q``/``--quiet``: warnings and errors only, and no progress bars, ours or the Hugging Face libraries'.

A Python warning is shown once per command however often it is raised, as a log line at WARNING level. Python's
own "once" does not hold: every ``warnings.catch_warnings()`` (the training loop enters one each step) clears the
record of what was shown, so a warning inside the loop came back every step.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import warnings
from typing import Callable, Iterator

from mlsimcse import progress

VERBOSITIES = ("quiet", "normal", "verbose")
PACKAGE_LEVELS = {"quiet": logging.WARNING, "normal": logging.INFO, "verbose": logging.DEBUG}
OTHERS_LEVELS = {"quiet": logging.WARNING, "normal": logging.WARNING, "verbose": logging.INFO}
HF_PROGRESS_SWITCHES = ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS")
"""The environment variables that turn off the Hugging Face libraries' own bars (read when they are imported)."""
DATASETS_VERBOSITY = "DATASETS_VERBOSITY"
"""datasets' level, read when it is imported (it keeps a handler of its own, as transformers does)."""


def add_verbosity_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    """``-v``/``-q`` on ``parser``, into ``args.verbosity``.

    The top-level parser gives the default; each command's parser passes ``argparse.SUPPRESS``, so that a flag
    given before the command's name is not overwritten by the command parser's default.
    """
    group = parser.add_argument_group("messages")
    exclusive = group.add_mutually_exclusive_group()
    exclusive.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const="verbose",
                           default=default, help="more messages: mlsimcse's debug messages and other libraries' "
                                                 "info, each with its time and logger")
    exclusive.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const="quiet",
                           default=default, help="only warnings and errors, and no progress bars")


class CommandParser(argparse.ArgumentParser):
    """The parser of every command and subcommand: each takes ``-v`` and ``-q`` as the top level does."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        add_verbosity_options(self, default=argparse.SUPPRESS)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (pytest's capture, a redirected stream), and
    around a live progress bar: tqdm clears it, writes the message and draws it again, so neither is torn."""

    def __init__(self, live_bars: bool) -> None:
        super().__init__(sys.stderr)
        self.live_bars = live_bars
        self.addFilter(lambda record: not _printed_elsewhere(record))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; the property always reads sys.stderr
        pass

    def emit(self, record: logging.LogRecord) -> None:
        tqdm = sys.modules.get("tqdm")
        if tqdm is None or not self.live_bars:
            return super().emit(record)
        try:
            tqdm.tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


def _printed_elsewhere(record: logging.LogRecord) -> bool:
    """Whether a library prints the record with a handler of its own on the way up (datasets does, and transformers
    when ``$CI`` is set, while passing it on as well): shown once, by theirs."""
    logger = logging.getLogger(record.name)
    while logger.parent is not None:  # up to the root, whose handlers are this one and the caller's own
        if logger.handlers:
            return True
        if not logger.propagate:
            return False
        logger = logger.parent
    return False


class _Formatter(logging.Formatter):
    """mlsimcse's INFO lines as plain text; other levels and other libraries with what they are and who says it."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.name == "py.warnings":
            return f"warning: {message.strip()}"
        ours = record.name == "mlsimcse" or record.name.startswith("mlsimcse.")
        if ours and record.levelno == logging.INFO:
            return message
        source = "" if ours else f"[{record.name.split('.')[0]}] "
        return f"{source}{record.levelname.lower()}: {message}"


@contextlib.contextmanager
def command_logging(verbosity: str) -> Iterator[None]:
    """Logging, warnings and progress bars set up for one command, and put back as they were afterwards."""
    if verbosity not in VERBOSITIES:
        raise ValueError(f"verbosity must be one of {VERBOSITIES}, got {verbosity!r}")
    root, package = logging.getLogger(), logging.getLogger("mlsimcse")
    saved_levels = root.level, package.level
    live_bars = verbosity != "quiet" and progress.progress_mode() == "bar"  # a bad MLSIMCSE_PROGRESS: InputError
    env = dict.fromkeys(() if live_bars else HF_PROGRESS_SWITCHES, "1")  # their bars have no sparse form
    if verbosity == "verbose":
        env[DATASETS_VERBOSITY] = "info"
    saved_env = {name: os.environ.get(name) for name in env}
    was_quiet = progress.set_quiet(verbosity == "quiet")
    handler = _StderrHandler(live_bars)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s")
                         if verbosity == "verbose" else _Formatter())
    restore_transformers = _transformers_verbosity(logging.INFO) if verbosity == "verbose" else None
    root.addHandler(handler)
    root.setLevel(OTHERS_LEVELS[verbosity])
    package.setLevel(PACKAGE_LEVELS[verbosity])
    try:
        for name, value in env.items():
            os.environ.setdefault(name, value)  # what the user set stays
        with warnings.catch_warnings():  # puts showwarning back afterwards
            warnings.showwarning = _show_once(set())
            yield
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_levels[0])
        package.setLevel(saved_levels[1])
        progress.set_quiet(was_quiet)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if restore_transformers is not None:
            restore_transformers()


def _show_once(shown: set) -> Callable[..., None]:
    """A ``warnings.showwarning`` that logs each (category, message) the first time only."""

    def showwarning(message, category, filename, lineno, file=None, line=None) -> None:
        key = (category, str(message))
        if key not in shown:
            shown.add(key)
            logging.getLogger("py.warnings").warning("%s: %s (%s:%s)", category.__name__, message, filename, lineno)

    return showwarning


def _transformers_verbosity(level: int):
    """Set transformers' level (it keeps its own handler, and resets its level when first imported, so the root
    logger's level does not reach it); returns how to put it back. Only ``-v`` pays for importing it here."""
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity(level)
    return lambda: hf_logging.set_verbosity(previous)
