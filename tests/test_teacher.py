"""The distill teacher answers a repeated text from memory with the vector a fresh forward gives."""

from __future__ import annotations

import copy

import torch

from mlsimcse.training.teacher import FrozenTeacher

TEXTS = ["the man plays the guitar", "der mann spielt gitarre", "a dog runs in the park", "le chien court"]


def _fresh(encoder, texts):
    with torch.no_grad():
        return encoder(encoder.tokenize(texts, 16)).float()


def test_remembered_vectors_equal_a_fresh_forward_and_skip_it(random_encoder):
    encoder = copy.deepcopy(random_encoder)
    teacher = FrozenTeacher(encoder, max_length=16, chunk_size=2)
    assert not encoder.training and not any(p.requires_grad for p in encoder.parameters())
    first = teacher(TEXTS[:3])
    again = teacher([TEXTS[2], TEXTS[3], TEXTS[0], TEXTS[2]])  # two remembered, one new, one repeated
    assert teacher.requested == 7 and teacher.computed == 4
    assert abs(teacher.hit_rate - 3 / 7) < 1e-9
    torch.testing.assert_close(first, _fresh(encoder, TEXTS[:3]), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(again, _fresh(encoder, [TEXTS[2], TEXTS[3], TEXTS[0], TEXTS[2]]), atol=1e-5, rtol=1e-5)
    assert not again.requires_grad and again.dtype == torch.float32


def test_memory_is_bounded_first_in_first_out(random_encoder):
    encoder = copy.deepcopy(random_encoder)
    teacher = FrozenTeacher(encoder, max_length=16, cache_bytes=2 * 4 * encoder.embedding_dim)  # room for two
    teacher(TEXTS[:3])  # the third pushes out the first
    teacher([TEXTS[1], TEXTS[2]])
    assert teacher.computed == 3
    teacher([TEXTS[0]])
    assert teacher.computed == 4


def test_no_memory_means_every_text_is_computed(random_encoder):
    teacher = FrozenTeacher(copy.deepcopy(random_encoder), max_length=16, cache_bytes=0)
    teacher(TEXTS)
    teacher(TEXTS)
    assert teacher.computed == 8 and teacher.hit_rate == 0.0
