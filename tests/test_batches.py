"""The training batch loader: one tokenisation per batch, mini-batch slices equal to tokenising alone, and the
sampler state a checkpoint needs, however far loader workers have drawn ahead."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from mlsimcse.data import MixtureBatchSampler, MixtureConfig, SourceSpec
from mlsimcse.records import Example
from mlsimcse.training.batches import BatchLoader, BatchTokenizer

TEXTS = [("a short one", "ein kurzer"), ("a much longer sentence with many more words in it", "ein langer Satz"),
         ("mid length words here", "mittellange Worte hier"), ("x", "y"), ("two words", "zwei Worte")]


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    return AutoTokenizer.from_pretrained(tiny_bert)


def _pairs() -> list[Example]:
    return [Example("parallel", pair, ("en", "de"), group=f"g{i}") for i, pair in enumerate(TEXTS)]


@pytest.mark.parametrize("side", ["right", "left"])
def test_a_mini_batch_slice_equals_tokenising_its_texts_alone(tiny_bert, side):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert, padding_side=side)  # its own: the fixture stays as it is
    batch = BatchTokenizer(tokenizer, max_length=8)(_pairs())
    assert batch.columns == [[a for a, _ in TEXTS], [b for _, b in TEXTS]]
    assert batch.features["input_ids"].shape[0] == 2 * len(TEXTS)
    for column in (0, 1):
        for start, stop in ((0, 2), (2, 5), (3, 4)):
            alone = tokenizer(batch.columns[column][start:stop], padding=True, truncation=True, max_length=8,
                              return_tensors="pt")
            sliced = batch.rows(column, start, stop)
            assert sliced.keys() == alone.keys()
            for name in alone:
                assert torch.equal(sliced[name], alone[name]), (side, column, start, stop, name)


def _sampler(tmp_path) -> MixtureBatchSampler:
    path = tmp_path / "unsup.jsonl"
    path.write_text("".join(Example("unsup", (f"sentence {i}",), ("en",)).to_json() + "\n" for i in range(50)))
    return MixtureBatchSampler(MixtureConfig(sources=[SourceSpec(path=str(path))]), batch_size=8, seed=1)


@pytest.mark.parametrize("workers", [0, 2])
def test_the_loader_hands_back_the_samplers_state_after_the_batches_the_step_consumed(tmp_path, tokenizer,
                                                                                    workers):
    """Checkpoint points every 3 batches; this process's half of each global batch of 8."""
    reference = _sampler(tmp_path)
    loader = BatchLoader(_sampler(tmp_path), BatchTokenizer(tokenizer, 16), rank=1, per_process=4, workers=workers,
                         keep_state_at=lambda drawn: drawn % 3 == 0)
    try:
        for drawn in range(1, 7):
            batch = next(loader)
            expected = reference.next_batch()[4:8]
            assert batch.examples == expected
            if drawn % 3 == 0:
                assert loader.sampler_state() == reference.state_dict()
        if workers:
            assert loader.sampler.batches_drawn > 6, "the workers were meant to draw ahead"
            with pytest.raises(RuntimeError, match="keep_state_at"):
                next(loader)
                loader.sampler_state()  # batch 7 is no checkpoint point, and the sampler is past it
    finally:
        loader.close()
