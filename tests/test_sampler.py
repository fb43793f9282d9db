"""MixtureBatchSampler on synthetic sources: batch guarantees, temperature, determinism and resume."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mlsimcse.data import MixtureBatchSampler, MixtureConfig, SourceSpec, normalize_text
from mlsimcse.data.buckets import language_key
from mlsimcse.data.sampler import temperature_probabilities
from mlsimcse.errors import InputError
from mlsimcse.records import Example


def write_jsonl(path: Path, examples: list[Example]) -> str:
    path.write_text("".join(ex.to_json() + "\n" for ex in examples), encoding="utf-8")
    return str(path)


def unsup(lang: str, count: int, *, group_every: int = 0) -> list[Example]:
    """``count`` distinct sentences in ``lang``; with ``group_every`` k, each k consecutive share a group."""
    return [
        Example("unsup", (f"{lang} sentence number {i}",), (lang,), group=f"g{i // group_every}" if group_every else None)
        for i in range(count)
    ]


def batch_keys(batches: list[list[Example]]) -> list[list[str]]:
    return [[ex.to_json() for ex in batch] for batch in batches]


def assert_no_conflicts(batch: list[Example]) -> None:
    texts = [normalize_text(text) for ex in batch for text in ex.texts]
    groups = [ex.group for ex in batch if ex.group is not None]
    assert len(texts) == len(set(texts)), "a normalised text repeats inside a batch"
    assert len(groups) == len(set(groups)), "a translation group repeats inside a batch"


def test_batches_never_repeat_a_normalised_text_or_group(tmp_path):
    examples = unsup("en", 300, group_every=3)
    # The same sentence again with other case, width and spacing: must never share a batch with itself.
    examples += [Example("unsup", (f"EN  Sentence　number {i}",), ("en",)) for i in range(0, 300, 2)]
    config = MixtureConfig([SourceSpec(write_jsonl(tmp_path / "a.jsonl", examples))])
    sampler = MixtureBatchSampler(config, batch_size=32, seed=3)
    batches = [sampler.next_batch() for _ in range(3 * len(examples) // 32)]
    for batch in batches:
        assert len(batch) == 32
        assert_no_conflicts(batch)
    seen = Counter(ex.to_json() for batch in batches for ex in batch)
    assert set(seen) == {ex.to_json() for ex in examples}, "deferred examples must still be served"


def test_each_batch_holds_one_objective_and_sources_follow_their_weights(tmp_path):
    pairs = [Example("parallel", (f"en {i}", f"de {i}"), ("en", "de"), group=str(i)) for i in range(200)]
    mixed = unsup("en", 500) + pairs
    config = MixtureConfig(
        [
            SourceSpec(write_jsonl(tmp_path / "mixed.jsonl", mixed), weight=3.0, name="mixed"),
            SourceSpec(write_jsonl(tmp_path / "fr.jsonl", unsup("fr", 100)), weight=1.0, name="fr"),
        ]
    )
    sampler = MixtureBatchSampler(config, batch_size=16, seed=0)
    from_fr = 0
    draws = 2000
    for _ in range(draws):
        batch = sampler.next_batch()
        assert len({ex.objective for ex in batch}) == 1
        from_fr += batch[0].langs[0] == "fr"
    expected = draws * 0.25
    assert abs(from_fr - expected) < 4 * np.sqrt(draws * 0.25 * 0.75)


@pytest.mark.parametrize("homogeneous", [False, True])
def test_language_frequencies_follow_the_temperature_formula(tmp_path, homogeneous):
    sizes = {"en": 4000, "de": 400, "sw": 40}
    examples = [ex for lang, n in sizes.items() for ex in unsup(lang, n)]
    alpha = 0.5
    config = MixtureConfig(
        [SourceSpec(write_jsonl(tmp_path / "multi.jsonl", examples))],
        language_alpha=alpha,
        language_homogeneous=homogeneous,
    )
    sampler = MixtureBatchSampler(config, batch_size=8, seed=11)
    draws = 3000
    counts: Counter[str] = Counter()
    for _ in range(draws):
        batch = sampler.next_batch()
        languages = {language_key(ex) for ex in batch}
        if homogeneous:
            assert len(languages) == 1
            counts[languages.pop()] += 1
        else:
            counts.update(language_key(ex) for ex in batch)
    total = sum(counts.values())
    expected = temperature_probabilities(list(sizes.values()), alpha)
    assert np.allclose(expected, np.sqrt([4000, 400, 40]) / np.sqrt([4000, 400, 40]).sum())
    for p, lang in zip(expected, sizes):
        # Homogeneous draws are one per batch (binomial); per-example draws are one per slot.
        sigma = np.sqrt(total * p * (1 - p))
        assert abs(counts[lang] - total * p) < 4 * sigma, (lang, counts[lang], total * p)


def test_same_seed_same_batches_and_other_seed_other_batches(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", unsup("en", 200) + unsup("de", 50))
    config = MixtureConfig([SourceSpec(path)])

    def draw(seed: int) -> list[list[str]]:
        sampler = MixtureBatchSampler(config, batch_size=10, seed=seed)
        return batch_keys([sampler.next_batch() for _ in range(40)])

    assert draw(5) == draw(5)
    assert draw(5) != draw(6)


@pytest.mark.parametrize("streaming", [False, True])
def test_resume_mid_epoch_gives_the_same_remaining_batches(tmp_path, streaming):
    # Groups of three force deferrals, so the saved state carries waiting examples too.
    examples = unsup("en", 333, group_every=3) + unsup("de", 120, group_every=2)
    # A fixed source name: the shuffle is seeded by it, so the deferral below must not depend on tmp_path.
    config = MixtureConfig([SourceSpec(write_jsonl(tmp_path / "a.jsonl", examples), name="a", streaming=streaming)])
    reference = MixtureBatchSampler(config, batch_size=24, seed=9, stream_chunk_rows=50)
    first = [reference.next_batch() for _ in range(7)]
    state = json.loads(json.dumps(reference.state_dict()))
    assert any(stream["pending"] for stream in state["streams"].values()), "the state should carry deferrals"
    remaining = batch_keys([reference.next_batch() for _ in range(60)])

    resumed = MixtureBatchSampler(config, batch_size=24, seed=9, stream_chunk_rows=50)
    resumed.load_state_dict(state)
    assert batch_keys([resumed.next_batch() for _ in range(60)]) == remaining
    assert resumed.batches_drawn == reference.batches_drawn == 67
    assert len(first) == 7


def test_streaming_walks_every_example_once_per_epoch_in_chunks(tmp_path):
    examples = unsup("en", 100)
    path = write_jsonl(tmp_path / "a.jsonl", examples)
    sampler = MixtureBatchSampler(MixtureConfig([SourceSpec(path, streaming=True)]), 10, seed=1, stream_chunk_rows=7)
    first_epoch = [ex.texts[0] for _ in range(10) for ex in sampler.next_batch()]
    assert sorted(first_epoch) == sorted(ex.texts[0] for ex in examples)
    assert first_epoch != [ex.texts[0] for ex in examples], "chunks must be shuffled"
    def epochs():  # completed passes per bucket, as the resumable state records them
        return {stream: state["epoch"] for stream, state in sampler.state_dict()["streams"].items()}

    assert epochs() == {f"{path}/unsup/en": 0}
    sampler.next_batch()
    assert epochs() == {f"{path}/unsup/en": 1}


def test_streaming_and_in_memory_see_the_same_examples(tmp_path):
    examples = unsup("en", 64) + unsup("de", 64)
    path = write_jsonl(tmp_path / "a.jsonl", examples)

    def one_epoch(streaming: bool) -> list[str]:
        config = MixtureConfig([SourceSpec(path, streaming=streaming)], language_alpha=1.0, language_homogeneous=True)
        sampler = MixtureBatchSampler(config, 16, seed=2)
        return sorted(ex.texts[0] for _ in range(8) for ex in sampler.next_batch())

    assert len(one_epoch(True)) == len(one_epoch(False)) == 128


def test_a_bucket_smaller_than_a_one_language_batch_is_refused(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", unsup("en", 100) + unsup("sw", 5))
    config = MixtureConfig([SourceSpec(path)], language_homogeneous=True)
    with pytest.raises(InputError, match="unsup/sw has 5 examples, fewer than the batch size 8"):
        MixtureBatchSampler(config, batch_size=8, seed=0)


def test_a_source_whose_examples_all_clash_fails_instead_of_looping(tmp_path):
    same_group = [Example("unsup", (f"text {i}",), ("en",), group="one") for i in range(600)]
    config = MixtureConfig([SourceSpec(write_jsonl(tmp_path / "a.jsonl", same_group), name="clashing")])
    sampler = MixtureBatchSampler(config, batch_size=4, seed=0)
    with pytest.raises(InputError, match="clashing/unsup/en without repeating a text or translation group"):
        sampler.next_batch()


def test_state_from_another_configuration_is_refused(tmp_path):
    config = MixtureConfig([SourceSpec(write_jsonl(tmp_path / "a.jsonl", unsup("en", 50)))])
    state = MixtureBatchSampler(config, batch_size=4, seed=0).state_dict()
    with pytest.raises(InputError, match="seed=0"):
        MixtureBatchSampler(config, batch_size=4, seed=1).load_state_dict(state)
    with pytest.raises(InputError, match="batch_size=4"):
        MixtureBatchSampler(config, batch_size=5, seed=0).load_state_dict(state)


def test_mixture_config_from_yaml_dict_rejects_unknown_keys():
    config = MixtureConfig.from_dict({"sources": ["a.jsonl", {"path": "b", "weight": 2, "streaming": True}]})
    assert config.sources == [SourceSpec("a.jsonl"), SourceSpec("b", weight=2, streaming=True)]
    assert config.language_alpha == 0.5
    with pytest.raises(InputError, match=r"data.sources\[0\].wieght is an unknown key"):
        MixtureConfig.from_dict({"sources": [{"path": "a", "wieght": 2}]})
    with pytest.raises(InputError, match="language_alpha must be in"):
        MixtureConfig.from_dict({"sources": ["a"], "language_alpha": 2})
    with pytest.raises(InputError, match="more than once"):
        MixtureConfig.from_dict({"sources": ["a", "a"]})


def test_missing_and_malformed_sources_name_file_and_line(tmp_path):
    with pytest.raises(InputError, match="data source not found"):
        MixtureBatchSampler(MixtureConfig([SourceSpec(str(tmp_path / "nope.jsonl"))]), 4, 0)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(Example("unsup", ("ok",), ("en",)).to_json().encode() + b'\n{"objective": "unsup", "texts": [""]}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: 'unsup' example has an empty sentence"):
        MixtureBatchSampler(MixtureConfig([SourceSpec(str(bad), streaming=True)]), 1, 0)
    bad.write_bytes(b'{"objective": "unsup", "texts": ["caf\xe9"]}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:1: not UTF-8"):
        MixtureBatchSampler(MixtureConfig([SourceSpec(str(bad), streaming=True)]), 1, 0)


def test_objectives_lists_every_shape_a_batch_can_have(tmp_path):
    pairs = [Example("parallel", (f"en {i}", f"de {i}"), ("en", "de"), group=str(i)) for i in range(20)]
    config = MixtureConfig([SourceSpec(write_jsonl(tmp_path / "a.jsonl", unsup("en", 20) + pairs))])
    assert MixtureBatchSampler(config, batch_size=4, seed=0).objectives == {"unsup", "parallel"}
