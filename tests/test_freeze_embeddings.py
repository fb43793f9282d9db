"""``model.freeze_embeddings``: the token-embedding matrix stays as loaded and the optimizer holds nothing for it."""

from __future__ import annotations

import torch
from safetensors.torch import load_file

from mlsimcse.config import load_config
from mlsimcse.encoder import SentenceEncoder
from mlsimcse.records import Example
from mlsimcse.training import loop

WORD = "embeddings.word_embeddings.weight"


def test_freezing_leaves_the_word_embeddings_out_of_the_optimizer(tiny_bert):
    encoder = SentenceEncoder.from_pretrained(tiny_bert, "mean")
    matrix = encoder.backbone.get_input_embeddings().weight
    assert encoder.freeze_word_embeddings() == matrix.numel()
    optimised = [p for group in loop._param_groups(encoder, 0.01) for p in group["params"]]
    assert all(p is not matrix for p in optimised)
    assert len(optimised) == sum(1 for p in encoder.parameters()) - 1


def test_a_frozen_run_trains_everything_but_the_word_embeddings(tmp_path, tiny_bert):
    data = tmp_path / "pairs.jsonl"
    rows = [Example("parallel", (f"the man {w}", f"der mann {w}"), ("en", "de"), group=str(i))
            for i, w in enumerate(["plays", "runs", "eats", "sits", "is", "on"])]
    data.write_text("".join(row.to_json() + "\n" for row in rows), encoding="utf-8")
    config = load_config(None, [f"output_dir={tmp_path / 'run'}", f"model.name_or_path={tiny_bert}",
                                "model.freeze_embeddings=true", "batch_size=4", "max_steps=2", "learning_rate=0.01",
                                "eval_task=null", f"data.sources=[{data}]"])
    trained = load_file(str(loop.train(config) / "model.safetensors"))
    start = load_file(str(tiny_bert / "model.safetensors"))
    assert torch.equal(trained[WORD], start[WORD])
    changed = {key for key in trained if key in start and not torch.equal(trained[key], start[key])}
    assert "embeddings.position_embeddings.weight" in changed and "encoder.layer.0.output.dense.weight" in changed
