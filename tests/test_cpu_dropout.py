"""CPU dropout masks: the Bernoulli rate and scale of nn.Dropout, seeded, and a model unchanged outside training."""

from __future__ import annotations

import copy
import math
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from mlsimcse.encoder import SentenceEncoder
from mlsimcse.training import cpu_dropout
from mlsimcse.training.cpu_dropout import ATTENTION_NAME, CpuDropout, keep_mask, use_cpu_dropout

SENTENCES = ["A man is playing a guitar.", "Ein Mann spielt auf der Straße laut Gitarre.", "Un chat dort."]


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_masks_keep_each_unit_with_probability_one_minus_p_and_scale_by_its_inverse(p):
    torch.manual_seed(0)
    count = 1_000_000
    mask = keep_mask(torch.Size([count]), p, torch.float32)
    kept = mask > 0
    torch.testing.assert_close(mask[kept], torch.full_like(mask[kept], 1 / (1 - p)))
    tolerance = 5 * math.sqrt(p * (1 - p) / count)  # five standard deviations of the kept fraction
    assert abs(kept.float().mean().item() - (1 - p)) < tolerance
    # Each of the four 16-bit draws cut from a 64-bit word is uniform: a biased lane would show here.
    for lane in kept.view(-1, 4).float().mean(dim=0).tolist():
        assert abs(lane - (1 - p)) < 2 * tolerance


def test_masks_come_from_the_seeded_generator():
    torch.manual_seed(7)
    first = keep_mask(torch.Size([4, 33]), 0.1, torch.float32)
    again = keep_mask(torch.Size([4, 33]), 0.1, torch.float32)
    torch.manual_seed(7)
    assert torch.equal(keep_mask(torch.Size([4, 33]), 0.1, torch.float32), first)
    assert not torch.equal(first, again)


def test_dropout_layer_matches_nn_dropout_at_the_edges_and_passes_the_mask_to_the_gradient():
    x = torch.randn(64, 16, requires_grad=True)
    layer = CpuDropout(0.25)
    assert layer.eval()(x) is x, "evaluation leaves the input alone"
    assert CpuDropout(0.0).train()(x) is x
    assert torch.equal(CpuDropout(1.0).train()(x), torch.zeros_like(x))
    out = layer.train()(x)
    out.sum().backward()
    assert set(torch.unique(x.grad).tolist()) <= {0.0, torch.tensor(1 / 0.75).item()}
    torch.testing.assert_close(out, x.detach() * x.grad)


def test_the_attention_function_is_sdpa_when_no_dropout_applies():
    torch.manual_seed(0)
    query, key, value = (torch.randn(2, 4, 9, 8) for _ in range(3))
    mask = torch.ones(2, 1, 9, 9, dtype=torch.bool)
    mask[1, :, :, 6:] = False  # the second text has three padding tokens
    module = nn.Module()
    module.is_causal = False
    reference, _ = cpu_dropout.sdpa_attention_forward(module, query, key, value, mask, scaling=0.3, dropout=0.0)
    # The dropout path with a mask of ones is the same attention written out.
    ones = torch.ones(2, 4, 9, 9)
    original = cpu_dropout.keep_mask
    try:
        cpu_dropout.keep_mask = lambda shape, p, dtype: ones
        written_out, _ = cpu_dropout.attention_with_cpu_dropout(module, query, key, value, mask, scaling=0.3,
                                                                dropout=0.1)
    finally:
        cpu_dropout.keep_mask = original
    torch.testing.assert_close(written_out, reference)


def test_an_encoder_keeps_its_outputs_in_evaluation_and_drops_out_in_training(random_encoder, tmp_path):
    encoder = copy.deepcopy(random_encoder).eval()
    features = encoder.tokenize(SENTENCES)
    with torch.no_grad():
        before = encoder(features)
    changed = use_cpu_dropout(encoder.backbone)
    assert changed[-1] == "attention dropout" and encoder.backbone.config._attn_implementation == ATTENTION_NAME
    assert not any(type(module) is nn.Dropout for module in encoder.modules())
    assert all(not module.training for module in encoder.modules()), "swapped layers keep the model's mode"
    with torch.no_grad():
        torch.testing.assert_close(encoder(features), before, rtol=0, atol=1e-6)
        encoder.train()
        torch.manual_seed(3)
        dropped = encoder(features)
        torch.manual_seed(3)
        assert torch.equal(encoder(features), dropped)
    assert not torch.allclose(dropped, before, atol=1e-3)
    encoder.eval().save_pretrained(tmp_path / "saved")
    reloaded = SentenceEncoder.from_pretrained(tmp_path / "saved").eval()
    assert reloaded.backbone.config._attn_implementation != ATTENTION_NAME, "the saved config stays portable"
    with torch.no_grad():
        torch.testing.assert_close(reloaded(reloaded.tokenize(SENTENCES)), before, rtol=0, atol=1e-6)


def test_importing_mlsimcse_leaves_the_attention_registries_of_transformers_unchanged():
    """Only ``use_cpu_dropout`` registers the attention function; a fresh interpreter shows the imports alone."""
    probe = textwrap.dedent("""
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface

        def registries():
            return dict(AttentionInterface()), dict(AttentionMaskInterface())

        before = registries()
        import mlsimcse, mlsimcse.training, mlsimcse.training.loop
        from mlsimcse.training.cpu_dropout import ATTENTION_NAME
        assert registries() == before, sorted(set(registries()[0]) - set(before[0]))
        from mlsimcse.training.cpu_dropout import register_attention
        register_attention()
        register_attention()
        functions, masks = registries()
        assert ATTENTION_NAME in functions and ATTENTION_NAME in masks
        assert len(functions) == len(before[0]) + 1 and len(masks) == len(before[1]) + 1
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_model_dropout_sets_every_dropout_and_zero_makes_the_two_views_equal(tmp_path, tiny_bert):
    """Unsupervised SimCSE's augmentation is dropout: at p = 0 a sentence's two passes are the same vector."""
    from mlsimcse.encoder import SentenceEncoder

    encoder = SentenceEncoder.from_pretrained(tiny_bert, "mean")
    assert encoder.set_dropout(0.25) == sum(isinstance(m, torch.nn.Dropout) for m in encoder.backbone.modules())
    assert {m.p for m in encoder.backbone.modules() if isinstance(m, torch.nn.Dropout)} == {0.25}
    use_cpu_dropout(encoder.backbone)
    features = encoder.tokenize(["a man plays a guitar", "two dogs run"])
    encoder.train()
    assert not torch.equal(encoder(features), encoder(features))
    encoder.set_dropout(0.0)
    assert torch.equal(encoder(features), encoder(features))


@pytest.mark.parametrize("dropout", [None, "0.0"])
def test_model_dropout_reaches_the_training_passes(tmp_path, tiny_bert, caplog, monkeypatch, dropout):
    """Through ``train()``: with model.dropout=0 a sentence's two unsup passes are identical at every step, with
    the model's own dropout (0.1 in the tiny BERT) they differ; the setting is logged."""
    from mlsimcse.config import load_config
    from mlsimcse.records import Example
    from mlsimcse.training import train
    from mlsimcse.training.objectives import ObjectiveLosses

    passes_equal = []
    forward = ObjectiveLosses.forward

    def spy(self, objective, embeddings, *args, **kwargs):
        passes_equal.append(torch.equal(embeddings[0], embeddings[1]))
        return forward(self, objective, embeddings, *args, **kwargs)

    monkeypatch.setattr(ObjectiveLosses, "forward", spy)
    data = tmp_path / "sentences.jsonl"
    data.write_text("".join(Example("unsup", (f"sentence number {i} is here",), ("en",)).to_json() + "\n"
                            for i in range(12)), encoding="utf-8")
    overrides = [f"output_dir={tmp_path / 'run'}", f"model.name_or_path={tiny_bert}", "model.pooling=mean",
                 "batch_size=4", "max_steps=3", "eval_task=null", f"data.sources=[{data}]"]
    config = load_config(None, overrides + ([f"model.dropout={dropout}"] if dropout else []))
    with caplog.at_level("INFO", logger="mlsimcse"):
        train(config)
    assert len(passes_equal) == 3
    if dropout:
        assert all(passes_equal) and "dropout 0.0 in" in caplog.text
    else:
        assert not any(passes_equal) and "(model.dropout)" not in caplog.text
