"""Reduced-precision encoding (mlsimcse/precision.py): the int8 copy, bf16, ``auto`` and the ``--precision`` options."""

from __future__ import annotations

import copy
import csv
import json

import numpy as np
import pytest
import torch
from torch import nn

from mlsimcse import precision as precision_module
from mlsimcse.cli import main
from mlsimcse.encoder import SentenceEncoder
from mlsimcse.errors import InputError
from mlsimcse.mining.options import EncodeOptions
from mlsimcse.pooling import pool_tokens
from mlsimcse.precision import (Int8Linear, bf16_backbone, int8_backbone, quantize_backbone,
                                resolve_precision)

SENTENCES = ["the man plays the guitar", "a dog runs in the park", "der hund spielt", "le chat sits on the car",
             "a small red house", "the woman is eating food", "green", "die katze und der hund spielen im park"]

INT8_MIN_COSINE_MINILM = 0.99
"""Worst sentence's cosine between MiniLM's int8 and fp32 embeddings that the slow test accepts: measured
0.9945-0.9952 on 600-1,000 mixed real sentences (benchmarks/README.md), so 0.99 leaves room for other text."""

INT8_MIN_MEAN_COSINE_MINILM = {127: 0.997, 63: 0.996}
"""Mean cosine the slow test accepts, by the int8 weights' range: measured 0.9985 on its 500 sentences with 8-bit
weights, and 0.9971 (worst 0.9926) with the 7-bit weights of a CPU without an int8 dot product."""


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


@pytest.fixture()
def tiny_encoder(tiny_bert) -> SentenceEncoder:
    return SentenceEncoder.from_pretrained(tiny_bert, "mean")


def test_int8_encode_returns_float32_rows_close_to_fp32_but_not_equal(tiny_encoder):
    fp32 = tiny_encoder.encode(SENTENCES, precision="fp32")
    int8 = tiny_encoder.encode(SENTENCES, precision="int8")
    assert int8.shape == fp32.shape == (len(SENTENCES), tiny_encoder.embedding_dim)
    assert int8.dtype == np.float32 and np.isfinite(int8).all()
    assert not np.array_equal(int8, fp32)  # the int8 copy really ran
    assert _cosines(int8, fp32).min() > 0.98


def test_int8_vectors_do_not_depend_on_batch_mates(tiny_encoder):
    """Activations are scaled per token, so a sentence's vector is the same alone or in any batch."""
    together = tiny_encoder.encode(SENTENCES, precision="int8", batch_size=8)
    alone = np.concatenate([tiny_encoder.encode([text], precision="int8") for text in SENTENCES])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_int8_linear_keeps_outlier_channels_and_tracks_fp32():
    torch.manual_seed(0)
    linear = nn.Linear(64, 48)
    x = torch.randn(10, 64)
    x[:, 5] *= 40  # an outlier channel, as transformer hidden states have
    x[3] += 2.0  # a shifted row: the per-row offset takes it
    quantized = Int8Linear([linear])
    with torch.no_grad():
        expected, got = linear(x), quantized(x)
    assert got.shape == expected.shape and got.dtype == torch.float32
    assert ((got - expected).norm(dim=1) / expected.norm(dim=1)).max() < 0.05
    np.testing.assert_allclose(quantized(x[3:4]).numpy(), got[3:4].numpy(), atol=1e-5)


def test_int8_weights_stay_within_what_this_cpus_int8_product_multiplies_exactly():
    """On CPUs without an int8 dot product (AVX2 alone; try ``ONEDNN_MAX_CPU_ISA=AVX2``) full-range int8
    products saturate; the weights then keep to 7 bits, and the product is exact either way."""
    limit = precision_module.int8_weight_limit()
    assert limit in (63, 127)
    torch.manual_seed(0)
    rows = torch.randint(-128, 128, (64, 384), dtype=torch.int8)
    weights = torch.randint(-limit, limit + 1, (384, 96), dtype=torch.int8)
    assert torch.equal(torch._int_mm(rows, weights).double(), rows.double() @ weights.double())
    assert Int8Linear([nn.Linear(384, 96)]).weight_t.abs().max() == limit


def test_projections_reading_one_input_run_as_one_product_and_weights_are_shared(tiny_encoder):
    backbone = tiny_encoder.backbone
    quantized = quantize_backbone(backbone)
    attention = quantized.encoder.layer[0].attention.self
    stacked = {id(member.stacked) for member in (attention.query, attention.key, attention.value)}
    assert len(stacked) == 1 and attention.query.stacked.splits == [32, 32, 32]
    assert isinstance(quantized.encoder.layer[0].output.dense, Int8Linear)
    assert not any(isinstance(module, nn.Linear) for module in quantized.modules())
    assert quantized.embeddings.word_embeddings.weight is backbone.embeddings.word_embeddings.weight
    assert quantized.encoder.layer[0].attention.output.LayerNorm.weight is \
        backbone.encoder.layer[0].attention.output.LayerNorm.weight


@pytest.mark.parametrize("make_copy", [int8_backbone, bf16_backbone], ids=["int8", "bf16"])
def test_precision_copies_are_reused_until_a_weight_changes(tiny_encoder, make_copy):
    precision = make_copy.__name__.removesuffix("_backbone")
    first = make_copy(tiny_encoder.backbone)
    assert make_copy(tiny_encoder.backbone) is first
    before = tiny_encoder.encode(SENTENCES[:2], precision=precision)
    with torch.no_grad():
        tiny_encoder.backbone.encoder.layer[0].intermediate.dense.weight.mul_(2.0)  # an optimizer step, in place
    second = make_copy(tiny_encoder.backbone)
    assert second is not first
    assert not np.allclose(tiny_encoder.encode(SENTENCES[:2], precision=precision), before)
    with torch.no_grad():
        tiny_encoder.backbone.encoder.layer[0].output.LayerNorm.weight.mul_(0.5)  # not a projection: also counts
    assert make_copy(tiny_encoder.backbone) is not second


def test_bf16_runs_a_whole_bf16_copy_that_reads_the_fp32_embedding_matrix(tiny_encoder):
    backbone = tiny_encoder.backbone
    copied = bf16_backbone(backbone)
    assert all(p.dtype == torch.bfloat16 for p in copied.parameters())
    assert all(p.dtype == torch.float32 for p in backbone.parameters())  # the model itself is left as it was
    assert copied.get_input_embeddings().source is backbone.get_input_embeddings()  # the matrix is not copied
    # the same vectors as a bf16 model built apart, pooled in fp32
    reference = copy.deepcopy(backbone).to(torch.bfloat16)
    batch = tiny_encoder.tokenize(SENTENCES)
    with torch.inference_mode():
        states = reference(**batch).last_hidden_state.float()
    expected = nn.functional.normalize(pool_tokens("mean", states, batch["attention_mask"]), dim=-1)
    encoded = tiny_encoder.encode(SENTENCES, precision="bf16", normalize=True)
    assert encoded.dtype == np.float32
    np.testing.assert_allclose(encoded, expected.numpy(), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(encoded, tiny_encoder.encode(SENTENCES, dtype="bfloat16", normalize=True))
    fp32 = tiny_encoder.encode(SENTENCES, normalize=True)
    assert not np.array_equal(encoded, fp32) and _cosines(encoded, fp32).min() > 0.999


def test_bf16_keeps_an_fp32_mlp_head_and_takes_a_bf16_model_as_it_is(tiny_bert):
    with_head = SentenceEncoder.from_pretrained(tiny_bert, "cls_mlp", keep_mlp=True)
    assert _cosines(with_head.encode(SENTENCES, precision="bf16"), with_head.encode(SENTENCES)).min() > 0.999
    loaded_in_bf16 = SentenceEncoder.from_pretrained(tiny_bert, "mean", dtype="bfloat16")
    assert bf16_backbone(loaded_in_bf16.backbone) is loaded_in_bf16.backbone


@pytest.mark.parametrize("flags, expected", [
    ({"avx2", "avx512f", "avx512_bf16", "avx512_vnni"}, "bf16"),
    ({"avx2", "avx512f", "avx512_vnni"}, "fp32"),  # int8 is only ever asked for: it moves fine-tuned scores
    ({"avx2", "avx_vnni"}, "fp32"),
    ({"avx2", "avx512f", "avx512_bf16"}, "bf16"),
    ({"avx2", "fma"}, "fp32"),
    ({"fp", "asimd", "asimddp", "bf16"}, "bf16"),
    ({"fp", "asimd", "asimddp"}, "fp32"),
])
def test_auto_picks_native_bf16_else_fp32(monkeypatch, tiny_encoder, flags, expected):
    monkeypatch.setattr(precision_module, "cpu_flags", lambda: frozenset(flags))
    assert resolve_precision("auto", torch.float32, torch.device("cpu")) == expected
    assert tiny_encoder.encode(SENTENCES[:2], precision="auto").shape == (2, tiny_encoder.embedding_dim)


def test_precision_arguments_are_checked(tiny_encoder):
    with pytest.raises(InputError, match="unknown precision"):
        tiny_encoder.encode(SENTENCES, precision="int4")
    with pytest.raises(InputError, match="contradicts dtype"):
        tiny_encoder.encode(SENTENCES, precision="int8", dtype="bfloat16")
    with pytest.raises(InputError, match="CPU only"):
        resolve_precision("int8", torch.float32, torch.device("cuda"))
    assert resolve_precision(None, torch.bfloat16, torch.device("cpu")) == "bf16"
    assert resolve_precision("bf16", torch.bfloat16, torch.device("cpu")) == "bf16"


def test_cpu_flags_reads_this_machine():
    flags = precision_module.cpu_flags()
    assert isinstance(flags, frozenset) and flags


def test_eval_records_the_precision_in_its_json(tiny_bert, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLSIMCSE_DATA_ROOT", str(tmp_path))
    (tmp_path / "stsb_multi_mt").mkdir()
    with open(tmp_path / "stsb_multi_mt" / "stsb-en-test.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([[a, b, score] for a, b, score in zip(SENTENCES[::2], SENTENCES[1::2],
                                                                               (0.5, 2.0, 3.5, 4.8))])
    output = tmp_path / "results.json"
    assert main(["eval", str(tiny_bert), "--tasks", "stsb:en", "--precision", "int8", "--output", str(output)]) == 0
    assert "precision int8" in capsys.readouterr().err  # a log line of the run, not the table
    assert json.loads(output.read_text())["runs"][0]["precision"] == "int8"
    assert main(["eval", str(tiny_bert), "--tasks", "stsb:en", "--output", str(output)]) == 0
    assert json.loads(output.read_text())["runs"][0]["precision"] == "fp32"


def test_encode_command_takes_precision(tiny_bert, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    assert main(["encode", str(tiny_bert), "--input", str(source), "--output", str(tmp_path / "int8.npy"),
                 "--precision", "int8"]) == 0
    assert main(["encode", str(tiny_bert), "--input", str(source), "--output", str(tmp_path / "fp32.npy")]) == 0
    int8, fp32 = np.load(tmp_path / "int8.npy"), np.load(tmp_path / "fp32.npy")
    assert int8.shape == fp32.shape and not np.array_equal(int8, fp32)


def test_the_older_dtype_options_still_work_as_precisions(tiny_bert, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    assert main(["encode", str(tiny_bert), "--input", str(source), "--output", str(tmp_path / "old.npy"),
                 "--dtype", "bfloat16"]) == 0
    assert "--dtype bfloat16 is deprecated; use --precision bf16" in capsys.readouterr().err
    assert main(["encode", str(tiny_bert), "--input", str(source), "--output", str(tmp_path / "new.npy"),
                 "--precision", "bf16"]) == 0
    assert np.array_equal(np.load(tmp_path / "old.npy"), np.load(tmp_path / "new.npy"))
    from mlsimcse.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["eval", "m", "--suite", "quick", "--dtype", "float16"]).precision == "fp16"
    assert parser.parse_args(["mine", "--src", "a", "--tgt", "b", "--out", "o",
                              "--encode-dtype", "bfloat16"]).precision == "bf16"
    capsys.readouterr()
    with pytest.raises(SystemExit):
        parser.parse_args(["eval", "--help"])
    listed = capsys.readouterr().out
    assert "--precision" in listed and "--dtype" not in listed, "one listed option"


def test_mining_keys_its_cache_on_the_resolved_precision(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert EncodeOptions(device="cpu", precision="auto").cache_dtype == "bfloat16"
    assert EncodeOptions(device="cpu", precision="fp32").cache_dtype == "float32"  # the key of the default
    assert EncodeOptions(device="cpu", precision="int8").cache_dtype == "int8"
    assert EncodeOptions(device="cpu", dtype="bfloat16").cache_dtype == "bfloat16"  # keys of older caches
    with pytest.raises(InputError):
        EncodeOptions(device="cpu", precision="int8", dtype="bfloat16")


@pytest.mark.slow
def test_minilm_int8_and_bf16_embeddings_stay_within_a_stated_cosine_of_fp32(minilm, shared_data, one_thread):
    """Real sentences: STS-B test in English and German, Tatoeba in German and Russian (short to long)."""
    sentences = []
    for lang in ("en", "de"):
        with open(shared_data / "stsb_multi_mt" / f"stsb-{lang}-test.csv", encoding="utf-8", newline="") as handle:
            sentences += [row[0] for row in csv.reader(handle)][:150]
    for lang in ("deu", "rus"):
        lines = (shared_data / "tatoeba_laser" / f"tatoeba.{lang}-eng.{lang}").read_text(encoding="utf-8")
        sentences += lines.splitlines()[:100]
    encoder = SentenceEncoder.from_pretrained(minilm)
    fp32 = encoder.encode(sentences)
    int8_cosines = _cosines(encoder.encode(sentences, precision="int8"), fp32)
    assert int8_cosines.min() >= INT8_MIN_COSINE_MINILM
    assert int8_cosines.mean() >= INT8_MIN_MEAN_COSINE_MINILM[precision_module.int8_weight_limit()]
    assert _cosines(encoder.encode(sentences, precision="bf16"), fp32).min() >= 0.999


@pytest.mark.slow
def test_e5_bf16_embeddings_stay_within_a_stated_cosine_of_fp32(multilingual_e5, shared_data, one_thread):
    """The bf16 copy on the multilingual model, nine scripts of Tatoeba (Latin, Cyrillic, Arabic, Devanagari,
    Thai, Greek, Han, Hangul, Kana): measured min cosine 0.99996 on 1,000 mixed real sentences."""
    sentences = []
    for lang in ("deu", "rus", "ara", "hin", "tha", "ell", "cmn", "kor", "jpn"):
        lines = (shared_data / "tatoeba_laser" / f"tatoeba.{lang}-eng.{lang}").read_text(encoding="utf-8")
        sentences += lines.splitlines()[:20]  # few: on a CPU without native bf16 it is emulated, and slow
    encoder = SentenceEncoder.from_pretrained(multilingual_e5)
    bf16 = encoder.encode(sentences, precision="bf16")
    assert bf16.dtype == np.float32
    assert _cosines(bf16, encoder.encode(sentences)).min() >= 0.9995
