"""WiSE-FT's blend: the saved model lies between base and trained weights; training and checkpoints stay trained."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from mlsimcse.config import load_config
from mlsimcse.errors import InputError
from mlsimcse.records import Example
from mlsimcse.training import loop
from mlsimcse.training.checkpoints import complete_checkpoints
from mlsimcse.training.weight_ensemble import WeightEnsemble

PAIRS = [(f"the {animal} is {colour}", f"das {animal} ist {colour}") for animal in ("dog", "cat", "cow", "fox")
         for colour in ("red", "blue", "green")]


def _config(tmp_path, tiny_bert, name, **extra):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(Example("parallel", pair, group=f"p{i}").to_json() + "\n"
                            for i, pair in enumerate(PAIRS)), encoding="utf-8")
    values = {"model": {"name_or_path": str(tiny_bert), "freeze_embeddings": True, **extra},
              "data": {"sources": [{"path": str(data)}]}, "batch_size": 4, "max_steps": 3, "save_every": 3,
              "learning_rate": 0.01, "warmup_steps": 0, "eval_task": None, "seed": 3}
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(values), encoding="utf-8")
    return load_config(path, [f"output_dir={tmp_path / name}"])


def test_the_saved_model_is_the_blend_and_the_checkpoint_the_trained_weights(tmp_path, tiny_bert):
    base = load_file(str(tiny_bert / "model.safetensors"))
    trained = load_file(str(loop.train(_config(tmp_path, tiny_bert, "plain")) / "model.safetensors"))
    blended_dir = loop.train(_config(tmp_path, tiny_bert, "blend", wise_ft_alpha=0.25))
    blended = load_file(str(blended_dir / "model.safetensors"))
    (checkpoint,) = complete_checkpoints(tmp_path / "blend" / loop.CHECKPOINTS)
    in_checkpoint = load_file(str(checkpoint / "model.safetensors"))
    moved = 0
    for name, value in trained.items():  # the model folder holds the backbone's weights, the checkpoint the encoder's
        start = base[name]
        torch.testing.assert_close(blended[name], 0.25 * value + 0.75 * start, rtol=0, atol=1e-6)
        assert torch.equal(in_checkpoint[f"backbone.{name}"], value), name  # training went on with trained weights
        moved += not torch.equal(value, start)
    assert moved > 10  # the test would prove nothing if training had not moved the weights
    frozen = "embeddings.word_embeddings.weight"
    assert torch.equal(blended[frozen], base[frozen]) and torch.equal(trained[frozen], base[frozen])


def test_the_block_restores_the_trained_weights_bit_for_bit_even_on_error():
    model = torch.nn.Linear(3, 2)
    model.bias.requires_grad_(False)
    ensemble = WeightEnsemble(model, 0.5)
    with torch.no_grad():
        model.weight.add_(torch.randn(2, 3))
        model.bias.add_(1.0)
    trained = model.weight.detach().clone()
    with pytest.raises(RuntimeError, match="saving failed"), ensemble.applied(model):
        assert not torch.equal(model.weight, trained)
        raise RuntimeError("saving failed")
    assert torch.equal(model.weight, trained)


@pytest.mark.parametrize("alpha,message", [(0, "must be greater than 0"), (1.5, "at most 1"), ("half", "number")])
def test_alpha_outside_zero_to_one_is_refused_before_anything_loads(tmp_path, tiny_bert, alpha, message):
    with pytest.raises(InputError, match=f"wise_ft_alpha.*{message}"):
        _config(tmp_path, tiny_bert, "bad", wise_ft_alpha=alpha)
