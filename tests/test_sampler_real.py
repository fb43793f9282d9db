"""The sampler on real recipes: batch guarantees over a full epoch, and a mixed recipe as the trainer uses it."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from mlsimcse import shipped
from mlsimcse.data import MixtureBatchSampler, MixtureConfig, SourceSpec, normalize_text
from mlsimcse.paths import data_root

RECIPES = shipped.shipped_folder(shipped.RECIPES)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (data_root() / "xnli").is_dir(), reason=f"shared data not found at {data_root()}"),
]


def assert_clean(batch) -> None:
    texts = [normalize_text(text) for example in batch for text in example.texts]
    groups = [example.group for example in batch]
    assert len(set(texts)) == len(texts), "normalised text repeated in a batch"
    assert len(set(groups)) == len(groups), "translation group repeated in a batch"


@pytest.mark.parametrize(
    "recipe, batch_size, homogeneous",
    [("parallel-stsb.yaml", 256, False), ("sup-xnli-crosslingual.yaml", 128, True)],
)
def test_a_full_epoch_of_a_real_source_has_no_duplicate_text_or_group_in_any_batch(recipe, batch_size, homogeneous):
    config = MixtureConfig([SourceSpec(str(RECIPES / recipe))], language_homogeneous=homogeneous)
    sampler = MixtureBatchSampler(config, batch_size=batch_size, seed=0)
    total = sum(sampler.bucket_rows().values())
    seen = Counter()
    for _ in range(-(-total // batch_size)):
        batch = sampler.next_batch()
        assert len(batch) == batch_size
        assert_clean(batch)
        if homogeneous:
            assert len({example.langs[0] for example in batch}) == 1
        seen.update(example.langs[-1] for example in batch)
    assert len(seen) >= 10


def test_a_mixed_recipe_feeds_one_objective_per_batch_and_resumes_exactly():
    config = MixtureConfig.from_dict({
        "sources": [
            {"path": str(RECIPES / "unsup-un-ntrex.yaml"), "weight": 2, "name": "unsup"},
            {"path": str(RECIPES / "sup-xnli-crosslingual.yaml"), "weight": 1, "name": "xnli"},
            {"path": str(RECIPES / "parallel-stsb-de.yaml"), "weight": 1, "name": "parallel"},
        ],
        "language_homogeneous": True,
    })
    sampler = MixtureBatchSampler(config, batch_size=64, seed=4)
    assert sampler.objectives == {"unsup", "sup", "parallel"}
    objectives = Counter()
    for _ in range(40):
        batch = sampler.next_batch()
        assert len({example.objective for example in batch}) == 1
        assert_clean(batch)
        objectives[batch[0].objective] += 1
    assert set(objectives) == {"unsup", "sup", "parallel"}
    state = json.loads(json.dumps(sampler.state_dict()))
    expected = [[example.to_json() for example in sampler.next_batch()] for _ in range(30)]
    resumed = MixtureBatchSampler(config, batch_size=64, seed=4)
    resumed.load_state_dict(state)
    assert [[example.to_json() for example in resumed.next_batch()] for _ in range(30)] == expected
