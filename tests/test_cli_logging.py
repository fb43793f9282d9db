"""Messages to stderr through logging, the product to stdout; -v/-q on every command; warnings once; progress
bars as a live bar, sparse log lines or nothing."""

from __future__ import annotations

import io
import logging
import sys
import warnings

import pytest

from mlsimcse import progress
from mlsimcse.cli import build_parser, main
from mlsimcse.cli_logging import command_logging
from mlsimcse.errors import InputError


@pytest.mark.parametrize("argv, verbosity", [
    (["export", "m", "o"], "normal"),
    (["-q", "export", "m", "o"], "quiet"),
    (["export", "m", "o", "--verbose"], "verbose"),
    (["-v", "data", "build", "recipe", "--out", "o"], "verbose"),
    (["data", "build", "recipe", "--out", "o", "-q"], "quiet"),
    (["train", "config.yaml", "-q", "max_steps=3"], "quiet"),
])
def test_every_command_takes_verbose_and_quiet_before_or_after_its_name(argv, verbosity):
    args = build_parser().parse_args(argv)
    assert args.verbosity == verbosity
    if argv[0] == "train":
        assert args.overrides == ["max_steps=3"]


def test_verbose_and_quiet_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["export", "m", "o", "-v", "-q"])
    assert exit_info.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def _log_everything() -> None:
    logging.getLogger("mlsimcse.somewhere").debug("our debug")
    logging.getLogger("mlsimcse.somewhere").info("our info")
    logging.getLogger("mlsimcse.somewhere").warning("our warning")
    logging.getLogger("accelerate.state").info("their info")
    logging.getLogger("accelerate.state").warning("their warning")


def test_default_level_shows_our_info_and_only_the_warnings_of_other_libraries(capsys):
    with command_logging("normal"):
        _log_everything()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == ["our info", "warning: our warning", "[accelerate] warning: their warning"]


def test_quiet_shows_warnings_only_and_verbose_shows_debug_and_the_info_of_other_libraries(capsys):
    with command_logging("quiet"):
        _log_everything()
    assert capsys.readouterr().err.splitlines() == ["warning: our warning", "[accelerate] warning: their warning"]
    with command_logging("verbose"):
        from transformers.utils import logging as hf_logging

        assert hf_logging.get_verbosity() == logging.INFO
        _log_everything()
    err = capsys.readouterr().err
    for message in ("our debug", "our info", "our warning", "their info", "their warning"):
        assert message in err
    assert "mlsimcse.somewhere DEBUG: our debug" in err  # with the logger's name (and the time)
    assert hf_logging.get_verbosity() == logging.WARNING, "transformers is put back as it was"


def test_a_library_printing_with_its_own_handler_is_not_printed_twice(capsys):
    """datasets keeps a handler of its own and still passes records on (so does transformers when $CI is set)."""
    own = io.StringIO()
    library = logging.getLogger("somelibrary")
    library.addHandler(logging.StreamHandler(own))
    try:
        with command_logging("normal"):
            logging.getLogger("somelibrary.sub").warning("said once")
    finally:
        library.handlers.clear()
    assert own.getvalue() == "said once\n" and "said once" not in capsys.readouterr().err


def test_the_setup_is_undone_after_the_command(capsys):
    root_handlers = list(logging.getLogger().handlers)
    with command_logging("quiet"):
        assert progress.progress_mode() == "off"
    assert logging.getLogger().handlers == root_handlers
    logging.getLogger("mlsimcse.somewhere").warning("after the command")
    assert "after the command" not in capsys.readouterr().err
    assert progress.set_quiet(False) is False, "--quiet ends with its command"


def test_a_repeated_warning_is_shown_once_even_when_filters_are_reset_in_between(capsys):
    with command_logging("normal"):
        for _ in range(3):
            warnings.warn("the same thing again", UserWarning)
            with warnings.catch_warnings():  # what distributed.py does each step; it resets "default" warnings
                warnings.filterwarnings("ignore", message="something else")
    err = capsys.readouterr().err
    assert err.count("the same thing again") == 1 and err.startswith("warning: ")


def test_messages_go_to_stderr_and_the_product_to_stdout(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("mlsimcse.export.export_model", lambda model_dir, out, results_path=None: (
        logging.getLogger("mlsimcse.export").info("copying the model"), out)[1])
    assert main(["export", str(tmp_path / "model"), str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"exported to {tmp_path / 'out'}") and "copying" not in captured.out
    assert captured.err == "copying the model\n"
    assert main(["export", str(tmp_path / "model"), str(tmp_path / "out"), "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("exported to") and captured.err == ""


def test_bad_input_is_still_one_line_under_quiet(tmp_path, capsys):
    assert main(["-q", "export", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


# Progress bars


@pytest.fixture
def console(monkeypatch):
    """stderr as a terminal (``tty=True``) or a pipe, with no mode forced by the environment."""
    monkeypatch.delenv(progress.ENV_VAR, raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)

    def use(tty: bool) -> None:
        stream = io.StringIO()
        stream.isatty = lambda: tty
        monkeypatch.setattr("sys.stderr", stream)
    return use


def test_the_mode_follows_the_terminal_unless_the_environment_or_quiet_says_otherwise(console, monkeypatch):
    console(tty=True)
    assert progress.progress_mode() == "bar"
    console(tty=False)
    assert progress.progress_mode() == "lines"
    monkeypatch.setenv(progress.ENV_VAR, "bar")
    assert progress.progress_mode() == "bar"
    previous = progress.set_quiet(True)
    try:
        assert progress.progress_mode() == "off"
    finally:
        progress.set_quiet(previous)
    monkeypatch.setenv(progress.ENV_VAR, "sometimes")
    with pytest.raises(InputError, match="MLSIMCSE_PROGRESS='sometimes' is not one of bar, lines, off"):
        progress.progress_mode()


def test_lines_mode_logs_plain_lines_and_no_carriage_returns(console, monkeypatch, caplog):
    console(tty=False)
    monkeypatch.setattr(progress, "LINE_INTERVAL_S", 0.0)
    caplog.set_level(logging.INFO, logger="mlsimcse.progress")
    for _ in progress.progress_bar(range(4), desc="encode", unit="batch"):
        pass
    lines = [record.getMessage() for record in caplog.records]
    assert lines and lines[-1].startswith("encode: 100% (4/4 batch)")
    assert not any("\r" in line for line in lines)
    assert sys.stderr.getvalue() == "", "nothing is drawn on stderr itself"


def test_lines_mode_is_sparse_short_work_leaves_no_line_and_a_postfix_forces_none(console, monkeypatch, caplog):
    console(tty=False)
    monkeypatch.setattr(progress, "LINE_INTERVAL_S", 3600.0)
    caplog.set_level(logging.INFO, logger="mlsimcse.progress")
    with progress.progress_bar(total=3, desc="train", unit="step") as bar:
        for step in range(3):
            bar.update(1)
            bar.set_postfix(loss=f"{1 / (step + 1):.4f}")
    assert caplog.records == []


@pytest.mark.parametrize("tty, enabled, shown", [
    (True, True, True), (True, None, True), (True, False, False),
    (False, True, True), (False, None, False), (False, False, False),
])
def test_enabled_none_shows_a_live_bar_only_and_false_nothing(console, tty, enabled, shown):
    console(tty=tty)
    bar = progress.progress_bar(range(2), desc="load", enabled=enabled)
    assert (not bar.disable) is shown
    bar.close()


def test_quiet_turns_the_bars_off_whatever_the_environment_says(console, monkeypatch):
    console(tty=True)
    monkeypatch.setenv(progress.ENV_VAR, "bar")
    with command_logging("quiet"):
        assert progress.progress_bar(range(2)).disable
    bar = progress.progress_bar(range(2))
    assert not bar.disable
    bar.close()
