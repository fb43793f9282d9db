"""Training from Hugging Face ``datasets`` objects with sentence-transformers' columns: in memory, saved with
``save_to_disk``, named in a config file; offline throughout."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset, DatasetDict, IterableDataset
from safetensors.torch import load_file

from mlsimcse.config import load_config
from mlsimcse.data import MixtureBatchSampler, MixtureConfig, SourceSpec
from mlsimcse.data.sources import open_source
from mlsimcse.errors import InputError
from mlsimcse.training import loop
from test_train import PAIRS

ANCHORS = [anchor for anchor, _ in PAIRS]
POSITIVES = [positive for _, positive in PAIRS]
NEGATIVES = [POSITIVES[(i + 5) % 12] + " nicht" for i in range(12)]


def triplets() -> Dataset:
    """Two rows per anchor for the first two anchors: one premise, two hypotheses, as all-nli has them."""
    return Dataset.from_dict({"anchor": ANCHORS + ANCHORS[:2], "positive": POSITIVES + ["er spielt", "sie isst"],
                              "negative": NEGATIVES + ["ein auto", "ein haus"]})


def triplet_rows():
    yield from triplets()


def examples_of(spec: SourceSpec, datasets=None):
    (bucket,) = open_source(spec, datasets=datasets)
    examples, _ = bucket.reader.read_chunk(bucket.reader.start, bucket.rows)
    return bucket, examples


def test_columns_choose_the_objective_and_anchors_group_rows():
    bucket, examples = examples_of(SourceSpec(dataset="nli"), {"nli": triplets()})
    assert (bucket.objective, bucket.language, bucket.rows) == ("sup", "und", 14)
    assert examples[0].texts == (ANCHORS[0], POSITIVES[0], NEGATIVES[0])
    assert examples[0].group == examples[12].group != examples[1].group
    pairs = triplets().remove_columns("negative")
    _, parallel = examples_of(SourceSpec(dataset="pairs"), {"pairs": pairs})
    assert {ex.objective for ex in parallel} == {"parallel"} and parallel[3].texts == (ANCHORS[3], POSITIVES[3])
    _, distill = examples_of(SourceSpec(dataset="pairs", objective="distill"), {"pairs": pairs})
    assert {ex.objective for ex in distill} == {"distill"} and len(distill[0].texts) == 2
    _, unsup = examples_of(SourceSpec(dataset="s"), {"s": Dataset.from_dict({"text": ANCHORS})})
    assert [ex.texts for ex in unsup] == [(text,) for text in ANCHORS] and unsup[0].group is None


def test_columns_map_roles_onto_the_datasets_own_names_and_the_objective_picks_the_roles():
    nli = Dataset.from_dict({"premise": ANCHORS, "hypothesis": POSITIVES, "label": [0] * 12})
    spec = SourceSpec(dataset="nli", columns={"anchor": "premise", "positive": "hypothesis"})
    _, examples = examples_of(spec, {"nli": nli})
    assert examples[5].objective == "parallel" and examples[5].texts == (ANCHORS[5], POSITIVES[5])
    _, only_anchors = examples_of(SourceSpec(dataset="nli", objective="unsup", columns={"text": "premise"}),
                                  {"nli": nli})
    assert only_anchors[2].texts == (ANCHORS[2],)
    _, pairs_of_triplets = examples_of(SourceSpec(dataset="t", objective="parallel"), {"t": triplets()})
    assert len(pairs_of_triplets[0].texts) == 2


@pytest.mark.parametrize("spec, datasets, message", [
    (SourceSpec(dataset="d", columns={"query": "anchor"}), {"d": triplets()}, "unknown role"),
    (SourceSpec(dataset="d", columns={"anchor": "premise"}), {"d": triplets()}, "which the dataset lacks"),
    (SourceSpec(dataset="d"), {"d": Dataset.from_dict({"premise": ANCHORS})}, "give no anchor"),
    (SourceSpec(dataset="d", objective="sup"), {"d": triplets().remove_columns("negative")}, "give no anchor"),
    (SourceSpec(dataset="d"), {"d": Dataset.from_dict({"text": ["a dog", " "]})}, "row 1: column 'text'"),
    (SourceSpec(dataset="d"), {"d": Dataset.from_dict({"text": ["a dog", None]})}, "row 1: column 'text'"),
    (SourceSpec(dataset="d", streaming=True), {"d": triplets()}, "streaming reads JSONL"),
    (SourceSpec(dataset="d"), {"d": DatasetDict({"a": triplets(), "b": triplets()})}, "choose one with split"),
    (SourceSpec(dataset="d"), {"d": [{"text": "a dog"}]}, "not a datasets Dataset"),
])
def test_bad_dataset_sources_say_what_is_wrong(spec, datasets, message):
    with pytest.raises(InputError, match=message):
        open_source(spec, datasets=datasets)


def test_a_source_needs_exactly_one_of_path_and_dataset_and_given_datasets_must_be_used():
    with pytest.raises(InputError, match="exactly one of"):
        SourceSpec()
    with pytest.raises(InputError, match="exactly one of"):
        SourceSpec(path="a.jsonl", dataset="b")
    with pytest.raises(InputError, match="apply to 'dataset' sources"):
        SourceSpec(path="a.jsonl", columns={"anchor": "x"})
    config = MixtureConfig(sources=[SourceSpec(dataset="nli")])
    with pytest.raises(InputError, match=r"\['typo'\] were given"):
        MixtureBatchSampler(config, batch_size=4, seed=0, datasets={"nli": triplets(), "typo": triplets()})


def test_saved_folders_splits_and_iterable_datasets_read_the_same_rows(tmp_path):
    DatasetDict({"train": triplets(), "dev": triplets().select(range(4))}).save_to_disk(tmp_path / "dict")
    triplets().save_to_disk(tmp_path / "plain")
    _, in_memory = examples_of(SourceSpec(dataset="x", name="nli"), {"x": triplets()})
    for spec, datasets in [
        (SourceSpec(dataset=str(tmp_path / "plain"), name="nli"), None),
        (SourceSpec(dataset=str(tmp_path / "dict"), name="nli"), None),  # no split named: train
        (SourceSpec(dataset="x", name="nli"), {"x": triplets().to_iterable_dataset()}),
        (SourceSpec(dataset="x", name="nli"), {"x": IterableDataset.from_generator(triplet_rows)}),  # no features
    ]:
        assert examples_of(spec, datasets)[1] == in_memory
    _, dev = examples_of(SourceSpec(dataset=str(tmp_path / "dict"), split="dev"))
    assert len(dev) == 4
    (tmp_path / "not-a-dataset").mkdir()
    with pytest.raises(InputError, match="save_to_disk"):
        open_source(SourceSpec(dataset=str(tmp_path / "not-a-dataset")))


def test_a_hub_name_that_cannot_be_reached_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="could not be loaded from the Hub"):
        open_source(SourceSpec(dataset="sentence-transformers/all-nli", subset="triplet"))


def test_a_config_file_names_a_saved_dataset_relative_to_itself(tmp_path, tiny_bert):
    (tmp_path / "data").mkdir()
    Dataset.from_dict({"premise": ANCHORS, "hypothesis": POSITIVES}).save_to_disk(tmp_path / "data" / "pairs")
    config_file = tmp_path / "configs" / "train.yaml"
    config_file.parent.mkdir()
    config_file.write_text(
        f"output_dir: {tmp_path / 'run'}\nmodel: {{name_or_path: {tiny_bert}, pooling: cls}}\neval_task: null\n"
        "data:\n  sources:\n    - dataset: ../data/pairs\n      name: pairs\n"
        "      columns: {anchor: premise, positive: hypothesis}\n      objective: distill\n",
        encoding="utf-8")
    config = load_config(config_file)
    (spec,) = config.data.sources
    assert spec.dataset == str((tmp_path / "data" / "pairs").resolve())
    batch = MixtureBatchSampler(config.data, batch_size=4, seed=0).next_batch()
    assert {ex.objective for ex in batch} == {"distill"} and all(ex.texts[0] in ANCHORS for ex in batch)


def test_train_takes_datasets_in_memory_and_matches_the_same_rows_saved_to_disk(tmp_path, tiny_bert):
    """Same rows, same source name: the same batches, so the same trained weights."""
    triplets().save_to_disk(tmp_path / "nli")

    def run(name: str, dataset: str, datasets=None):
        args = [f"output_dir={tmp_path / name}", f"model.name_or_path={tiny_bert}", "model.pooling=cls",
                "batch_size=4", "max_steps=3", "learning_rate=0.001", "eval_task=null", "save_every=3", "seed=1",
                f"data.sources=[{{dataset: '{dataset}', name: nli}}]"]
        model = loop.train(load_config(None, args), datasets=datasets)
        return load_file(str(model / "model.safetensors"))

    in_memory = run("memory", "triplets", {"triplets": triplets()})
    from_disk = run("disk", str(tmp_path / "nli"))
    start = load_file(str(tiny_bert / "model.safetensors"))
    assert any(not torch.equal(in_memory[key], start[key]) for key in in_memory if key in start)
    assert all(torch.equal(in_memory[key], from_disk[key]) for key in in_memory)
