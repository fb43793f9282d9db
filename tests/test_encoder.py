"""SentenceEncoder: pooling, encode order/normalisation, save -> load round trips, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlsimcse.encoder import SentenceEncoder, _length_batches
from mlsimcse.errors import InputError

SENTENCES = ["a man plays the guitar", "the dog", "a woman is running in the park with a big red dog",
             "der mann spielt gitarre", "le chat", "el perro toca el piano"]


def _reference_embeddings(folder, sentences, pooling):
    """Embeddings computed one sentence at a time with plain transformers (no padding, no sorting)."""
    from transformers import AutoModel, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    out = []
    with torch.no_grad():
        for s in sentences:
            states = model(**tok([s], return_tensors="pt")).last_hidden_state[0]
            out.append(states.mean(0) if pooling == "mean" else states[0])
    return torch.stack(out).numpy()


@pytest.mark.parametrize("pooling", ["cls", "mean"])
@pytest.mark.parametrize("max_batch_tokens", [None, 12])
def test_encode_matches_unbatched_reference_and_keeps_order(tiny_bert, pooling, max_batch_tokens):
    encoder = SentenceEncoder.from_pretrained(tiny_bert, pooling=pooling)
    got = encoder.encode(SENTENCES, batch_size=4, max_batch_tokens=max_batch_tokens)
    assert got.dtype == np.float32 and got.shape == (len(SENTENCES), 32)
    np.testing.assert_allclose(got, _reference_embeddings(tiny_bert, SENTENCES, pooling), atol=1e-5)


def test_length_batches_respect_row_and_token_limits():
    lengths = [40, 30, 12, 10, 9, 5, 5, 5, 3]  # sorted longest first, as encode sorts them
    assert _length_batches(lengths, 4, None) == [(0, 4), (4, 8), (8, 9)]
    spans = _length_batches(lengths, 4, 32)
    assert spans == [(0, 1), (1, 2), (2, 4), (4, 7), (7, 9)]  # a 40-token row alone still gets a batch
    for start, stop in spans:
        assert stop - start <= 4 and (stop - start == 1 or (stop - start) * lengths[start] <= 32)


def test_encode_normalize_tensor_and_training_mode_restored(tiny_bert):
    encoder = SentenceEncoder.from_pretrained(tiny_bert, pooling="cls_mlp")
    encoder.train()
    vectors = encoder.encode(SENTENCES, normalize=True, convert_to_tensor=True)
    assert isinstance(vectors, torch.Tensor)
    torch.testing.assert_close(vectors.norm(dim=-1), torch.ones(len(SENTENCES)))
    assert encoder.training


def test_cls_mlp_used_in_training_only_unless_kept(tiny_bert):
    encoder = SentenceEncoder.from_pretrained(tiny_bert, pooling="cls_mlp")
    features = encoder.tokenize(SENTENCES[:2])
    encoder.eval()
    plain = encoder(features)
    with_mlp = encoder(features, use_mlp=True)
    assert not torch.allclose(plain, with_mlp)
    torch.testing.assert_close(with_mlp, encoder.mlp(plain))
    encoder.settings.keep_mlp = True
    torch.testing.assert_close(encoder(features), with_mlp)


@pytest.mark.parametrize("pooling,keep_mlp", [("mean", False), ("cls", False), ("cls_mlp", True), ("cls_mlp", False)])
def test_save_reloads_here_in_sentence_transformers_and_automodel(tiny_bert, tmp_path, pooling, keep_mlp):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel

    encoder = SentenceEncoder.from_pretrained(tiny_bert, pooling=pooling, keep_mlp=keep_mlp)
    if encoder.mlp is not None:
        torch.nn.init.normal_(encoder.mlp.linear.weight)
    expected = encoder.encode(SENTENCES)
    encoder.save_pretrained(tmp_path / "saved")

    again = SentenceEncoder.from_pretrained(tmp_path / "saved")
    assert (again.pooling, again.settings.keep_mlp) == (pooling, keep_mlp)
    np.testing.assert_allclose(again.encode(SENTENCES), expected, atol=1e-6)
    if pooling == "cls_mlp":
        torch.testing.assert_close(again.mlp.linear.weight, encoder.mlp.linear.weight)

    st = SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    st_vectors = st.encode(SENTENCES, convert_to_numpy=True)
    assert np.abs(st_vectors - expected).max() < 1e-5
    assert st[0].auto_model.pooler is None  # rebuilt as saved: no pooler of random weights

    backbone = AutoModel.from_pretrained(tmp_path / "saved")
    assert backbone.config.hidden_size == 32


def test_save_replaces_folder_atomically(tiny_bert, tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    SentenceEncoder.from_pretrained(tiny_bert).save_pretrained(target)
    assert not (target / "old.txt").exists() and (target / "modules.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


@pytest.mark.slow
def test_shared_minilm_round_trip_matches_sentence_transformers(minilm, tmp_path):
    from sentence_transformers import SentenceTransformer

    encoder = SentenceEncoder.from_pretrained(minilm)
    assert (encoder.pooling, encoder.settings.normalize) == ("mean", True)
    ours = encoder.encode(SENTENCES)
    reference = SentenceTransformer(str(minilm), device="cpu").encode(SENTENCES)
    assert np.abs(ours - reference).max() < 1e-5
    encoder.save_pretrained(tmp_path / "copy")
    again = SentenceTransformer(str(tmp_path / "copy"), device="cpu").encode(SENTENCES)
    assert np.abs(again - ours).max() < 1e-5


def test_bad_input_errors_name_the_problem(tiny_bert, tmp_path):
    with pytest.raises(InputError, match="unknown pooling"):
        SentenceEncoder.from_pretrained(tiny_bert, pooling="max")
    with pytest.raises(InputError, match="model folder not found"):
        SentenceEncoder.from_pretrained(str(tmp_path / "missing"))
    encoder = SentenceEncoder.from_pretrained(tiny_bert)
    with pytest.raises(InputError, match="no sentences"):
        encoder.encode([])
    with pytest.raises(InputError, match="list of sentences"):
        encoder.encode("one string")


@pytest.mark.parametrize("pooling", ["cls", "mean"])
@pytest.mark.parametrize("chunking", [{"chunk_size": 3}, {"chunk_tokens": 20}, {"chunk_size": 4, "chunk_tokens": 30}])
def test_length_chunked_forward_gives_the_same_vectors_and_gradients(tiny_bert, pooling, chunking):
    encoder = SentenceEncoder.from_pretrained(tiny_bert, pooling=pooling).eval()
    features = encoder.tokenize(SENTENCES * 2)
    whole = encoder(features)
    chunked = encoder(features, **chunking)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-5)
    weight = encoder.backbone.embeddings.word_embeddings.weight
    (grad_whole,) = torch.autograd.grad(whole.square().sum(), weight)
    (grad_chunked,) = torch.autograd.grad(encoder(features, **chunking).square().sum(), weight)
    torch.testing.assert_close(grad_chunked, grad_whole, atol=1e-5, rtol=1e-4)


def test_token_budget_puts_more_short_rows_in_a_chunk(tiny_bert):
    encoder = SentenceEncoder.from_pretrained(tiny_bert).eval()
    texts = ["a b c d e f g h i j k l m n o p"] * 3 + ["a b"] * 9
    features = encoder.tokenize(texts)
    shapes = []
    hook = encoder.backbone.register_forward_hook(lambda module, args, kwargs, out: shapes.append(
        tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        encoder(features, chunk_tokens=40)
    finally:
        hook.remove()
    long_width, short_width = len(features["input_ids"][0]), int(features["attention_mask"][-1].sum())
    # the third long row opens the second chunk and takes one short row along; the rest run eight at a time
    assert shapes == [(2, long_width), (2, long_width), (8, short_width)]
    assert all(rows * width <= 40 for rows, width in shapes)


def test_max_length_never_exceeds_the_position_table(tiny_bert):
    encoder = SentenceEncoder.from_pretrained(tiny_bert, max_length=512)
    assert encoder.settings.max_length == 64
    assert encoder.encode(["the dog " * 100]).shape == (1, 32)
