"""Config settings are typed and range-checked before anything loads; each error names file:line or override.

A tiny config with one JSONL source is written per test; the expected line is found in the text itself, so
the cases read as what a user would write.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlsimcse.cli import main
from mlsimcse.config import LossConfig, TrainConfig, load_config
from mlsimcse.data import MixtureConfig, SourceSpec
from mlsimcse.errors import InputError
from mlsimcse.losses import DISTILL_MODES, DistillationLoss

BASE = """\
output_dir: {out}
model:
  name_or_path: {tmp}/no-such-model
data:
  sources:
    - path: train.jsonl
eval_task: null
"""


def write_config(tmp_path: Path, extra: str = "", base: str = BASE) -> Path:
    (tmp_path / "train.jsonl").write_text('{"objective": "unsup", "texts": ["a dog"]}\n', encoding="utf-8")
    path = tmp_path / "bad.yaml"
    path.write_text(base.format(out=tmp_path / "run", tmp=tmp_path) + extra, encoding="utf-8")
    return path


def line_with(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


def expect_error_at(path: Path, needle: str, message: str) -> None:
    """Loading ``path`` fails with ``message`` at the first line holding ``needle``."""
    with pytest.raises(InputError, match=f"^{re.escape(str(path))}:{line_with(path, needle)}: {message}"):
        load_config(path)


@pytest.mark.parametrize("extra, check", [
    ("learning_rate: 1e-3\n", lambda c: c.learning_rate == 1e-3),  # YAML 1.1 reads this as a string
    ("learning_rate: 3.0e-4\n", lambda c: c.learning_rate == 3e-4),
    ("max_steps: 1_000\n", lambda c: c.max_steps == 1000),
    ("max_steps: 1e3\n", lambda c: c.max_steps == 1000 and isinstance(c.max_steps, int)),
    ('batch_size: "16"\n', lambda c: c.batch_size == 16),
    ("loss:\n  temperature: 5e-2\n  objective_weights: {distill: 2}\n",
     lambda c: c.loss.temperature == 0.05 and c.loss.objective_weights == {"distill": 2.0}),
    ("mixed_precision: no\ncpu: \"yes\"\n", lambda c: c.mixed_precision == "no" and c.cpu is True),
])
def test_every_number_form_yaml_users_write_is_accepted(tmp_path, extra, check):
    assert check(load_config(write_config(tmp_path, extra)))


@pytest.mark.parametrize("extra, needle, message", [
    ('batch_size: "lots"\n', "batch_size", "batch_size must be a whole number, got 'lots'"),
    ('seed: "abc"\n', "seed", "seed must be a whole number, got 'abc'"),
    ("max_steps: 6.5\n", "max_steps", "max_steps must be a whole number, got 6.5"),
    ("batch_size: true\n", "batch_size", "batch_size must be a whole number, got True"),
    ("learning_rate: .nan\n", "learning_rate", "learning_rate must be a number, got nan"),
    ("learning_rate: fast\n", "learning_rate", "learning_rate must be a number, got 'fast'"),
    ('loss:\n  temperature: "hot"\n', "temperature", "loss.temperature must be a number, got 'hot'"),
    ("cpu: maybe\n", "cpu", "cpu must be true or false, got 'maybe'"),
    ("output_dir: 2024\n", "output_dir: 2024", "output_dir must be a string, got 2024"),
    ("learning_rate: 0\n", "learning_rate", "learning_rate must be greater than 0, got 0.0"),
    ("learning_rate: -1.0e-3\n", "learning_rate", "learning_rate must be greater than 0, got -0.001"),
    ("loss:\n  temperature: 0\n", "temperature", "loss.temperature must be greater than 0, got 0.0"),
    ("loss:\n  temperature: -0.05\n", "temperature", "loss.temperature must be greater than 0"),
    ("warmup_steps: -5\n", "warmup_steps", "warmup_steps must be at least 0, got -5"),
    ("keep_last_checkpoints: 0\n", "keep_last", "keep_last_checkpoints must be at least 1, got 0"),
    ("seed: -1\n", "seed", "seed must be in \\[0, 4294967295\\], got -1"),
    ("mixed_precision: fp8\n", "mixed_precision", "mixed_precision must be one of no, bf16, fp16; got 'fp8'"),
    ("loss:\n  distill_mode: contrastive+cosine\n", "distill_mode", "loss.distill_mode is not valid: unknown"),
    ("loss:\n  objective_weights: {nli: 1}\n", "objective_weights",
     "loss.objective_weights is not valid: unknown objective\\(s\\) nli"),
    ("loss:\n  objective_weights: {sup: -1}\n", "objective_weights",
     "loss.objective_weights is not valid: weights must be at least 0"),
    ("mini_batch_size: 128\n", "mini_batch_size", "mini_batch_size must be at most batch_size \\(64\\)"),
    ("eval_task: stsb-dev:xx\n", "eval_task", "eval_task is not valid: task 'stsb-dev:xx': unknown STS-B language"),
    ("eval_task: sts-dev:en\n", "eval_task", "eval_task is not valid: unknown task 'sts-dev:en'"),
    ("eval_task: stsb-dev\n", "eval_task", "eval_task is not valid: 'stsb-dev' names several tasks; .* stsb-dev:en"),
    ("learnin_rate: 1e-3\n", "learnin_rate", "learnin_rate is an unknown key; known keys: batch_size"),
    ("model:\n  poolin: mean\n", "poolin", "model.poolin is an unknown key"),
    ("model:\n  pooling: max\n", "pooling", "model.pooling must be one of cls, cls_mlp, mean; got 'max'"),
    ("model:\n  dropout: 1.0\n", "dropout", "model.dropout .*must be a probability, at least 0 and below 1, got 1.0"),
    # indented: continues the data: section after its first source
    ("      weight: heavy\n", "weight", "data.sources\\[0\\].weight must be a number, got 'heavy'"),
    ("      weight: 0\n", "weight", "data.sources\\[0\\].weight must be greater than 0"),
    ("      objective: nli\n", "objective", "data.sources\\[0\\].objective must be one of unsup, distill"),
    ("    - train.jsonl\n", "- train.jsonl", "data.sources\\[1\\] names '.*train.jsonl' again"),
    ("    - 3\n", "- 3", "data.sources\\[1\\] must be a mapping or a path string, got 3"),
    ("    - path: nowhere.jsonl\n", "nowhere", "data.sources\\[1\\].path names .*nowhere.jsonl, which does not exist"),
    ("  language_alpha: 2\n", "language_alpha", "data.language_alpha must be in \\[0.0, 1.0\\], got 2.0"),
])
def test_a_bad_setting_names_file_line_and_key(tmp_path, extra, needle, message):
    base = BASE
    for section, lines in (("eval_task", "eval_task: null\n"), ("output_dir", "output_dir: {out}\n"),
                           ("model:", "model:\n  name_or_path: {tmp}/no-such-model\n")):
        if extra.startswith(section):
            base = base.replace(lines, "")
    if extra.startswith(" "):
        base, extra = base.replace("    - path: train.jsonl\n", "    - path: train.jsonl\n" + extra), ""
    expect_error_at(write_config(tmp_path, extra, base), needle, message)


@pytest.mark.parametrize("content, message", [
    (b"- a\n- b\n", ":1: a config must be a YAML mapping of key: value settings, not a list"),
    (b"3\n", ":1: a config must be a YAML mapping of key: value settings, not a single value"),
    (b"output_dir: caf\xe9\n", ":1: the config file is not UTF-8 text"),
    (b"", ": the config file is empty"),
    (b"# only a comment\n", ": the config file is empty"),
    (b"seed: 1\nmax_steps: 2\nseed: 3\n", ":3: seed: key given twice in one mapping"),
    (b"seed: [1\n", ":2: invalid YAML"),
])
def test_the_whole_file_must_be_one_utf8_mapping(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(InputError, match=f"^{re.escape(str(path))}{message}"):
        load_config(path)


@pytest.mark.parametrize("override, message", [
    ("learning_rate=abc", "override learning_rate=abc: learning_rate must be a number, got 'abc'"),
    ("learnin_rate=1e-3", "override learnin_rate=1e-3: learnin_rate is an unknown key"),
    ("loss.temperature=0", "override loss.temperature=0: loss.temperature must be greater than 0"),
    ("loss.temprature=0.1", "override loss.temprature=0.1: loss.temprature is an unknown key"),
    ("eval_task=xstsb:en", "override eval_task=xstsb:en: eval_task is not valid"),
    ("data={sources: [missing.jsonl]}", "override data={sources: \\[missing.jsonl\\]}: data.sources\\[0\\].path names"),
    ("seed=[1", "override seed=\\[1: the value is not valid YAML"),
    ("seed", "override 'seed' is not of the form key=value"),
    ("output_dir.x=1", "override output_dir.x=1: output_dir is not a section"),
])
def test_an_override_error_names_the_override_not_the_file(tmp_path, override, message):
    with pytest.raises(InputError, match=f"^{message}"):
        load_config(write_config(tmp_path), [override])


def test_overrides_take_yaml_number_forms(tmp_path):
    config = load_config(write_config(tmp_path), ["learning_rate=1e-3", "max_steps=1_000", "loss.temperature=5e-2"])
    assert (config.learning_rate, config.max_steps, config.loss.temperature) == (1e-3, 1000, 0.05)


def test_a_file_error_the_override_fixes_is_not_reported(tmp_path):
    config = load_config(write_config(tmp_path, "learning_rate: fast\n"), ["learning_rate=2e-5"])
    assert config.learning_rate == 2e-5


def test_eval_task_is_checked_without_reading_evaluation_data(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSIMCSE_DATA_ROOT", str(tmp_path / "empty-data-root"))
    assert load_config(write_config(tmp_path), ["eval_task=stsb-dev:de"]).eval_task == "stsb-dev:de"
    with pytest.raises(InputError, match="eval_task is not valid: task 'tatoeba:xxx'"):
        load_config(write_config(tmp_path), ["eval_task=tatoeba:xxx"])


def test_train_command_fails_on_the_config_before_loading_model_or_data(tmp_path, capsys):
    """The model folder does not exist: the config error must come first, as one line with exit code 2."""
    path = write_config(tmp_path, "learning_rate: fast\n")
    assert main(["train", str(path)]) == 2
    assert capsys.readouterr().err == f"error: {path}:{line_with(path, 'learning_rate')}: learning_rate must be " \
                                      "a number, got 'fast'\n"
    assert main(["train", str(write_config(tmp_path)), "seed=abc"]) == 2
    assert capsys.readouterr().err == "error: override seed=abc: seed must be a whole number, got 'abc'\n"
    assert not (tmp_path / "run").exists()


def test_a_recipe_source_is_parsed_before_the_model_loads(tmp_path, capsys):
    recipe = tmp_path / "pairs.yaml"
    recipe.write_text("name: pairs\nsources:\n  - name: p\n    kind: aligned_text\n    shape: parallel\n"
                      "    languages: [en, de]\n    local: {format: lines, sets: ['{lang}.txt']}\n"
                      "languages:\n  - de\n  - xx\n", encoding="utf-8")
    path = write_config(tmp_path, base=BASE.replace("path: train.jsonl", "path: pairs.yaml"))
    assert main(["train", str(path)]) == 2
    assert capsys.readouterr().err == (f"error: {recipe}:10: languages: no source of this recipe offers 'xx'; "
                                       "they offer de, en\n")


def test_settings_built_in_python_are_coerced_and_checked_too(tmp_path):
    config = TrainConfig(learning_rate="1e-3", max_steps="1_000", loss=LossConfig(temperature="0.1"))
    assert (config.learning_rate, config.max_steps, config.loss.temperature) == (1e-3, 1000, 0.1)
    with pytest.raises(InputError, match="batch_size must be a whole number, got True"):
        TrainConfig(batch_size=True)
    with pytest.raises(InputError, match=r"^weight must be greater than 0, got -1.0"):
        MixtureConfig([SourceSpec("a.jsonl", weight=-1)])
    config.data = MixtureConfig([SourceSpec(str(write_config(tmp_path).parent / "train.jsonl"))])
    config.eval_task = None
    config.validate()
    config.loss.temperature = -1  # changed after it was built: validate() (which train() runs first) sees it
    with pytest.raises(InputError, match="loss.temperature must be greater than 0, got -1"):
        config.validate()


def test_the_loss_and_the_config_share_one_list_of_distill_modes():
    assert DistillationLoss("+".join(DISTILL_MODES)).terms == DISTILL_MODES
    with pytest.raises(ValueError, match="use one of mse, contrastive, similarity, translation"):
        DistillationLoss("mse+mse")
    assert LossConfig(distill_mode="contrastive+translation").distill_mode == "contrastive+translation"
