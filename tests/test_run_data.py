"""A run's data built once into memory-mapped Arrow files: the same batches as in memory, opened by other processes."""

from __future__ import annotations

import json

import datasets
import pyarrow as pa
import pytest

from mlsimcse.data import MixtureBatchSampler, MixtureConfig, SourceSpec
from mlsimcse.data.dataset_files import _arrow_schema, _to_record_batch, read_arrow, write_arrow
from mlsimcse.data.run_data import ArrowRows, RunData
from mlsimcse.errors import InputError
from mlsimcse.records import Example


def _write_jsonl(path, examples):
    path.write_text("".join(ex.to_json() + "\n" for ex in examples), encoding="utf-8")
    return str(path)


@pytest.fixture
def mixture(tmp_path) -> MixtureConfig:
    """Two sources, several objectives and languages, groups, and metadata that must survive the round trip."""
    first = [Example("unsup", (f"{lang} sentence {i}",), (lang,), source="wiki", meta={"line": i})
             for lang in ("en", "de", "ar") for i in range(40)]
    first += [Example("parallel", (f"en {i}", f"fr {i}"), ("en", "fr"), group=f"p{i // 2}") for i in range(60)]
    second = [Example("sup", (f"premise {i}", f"entailed {i}", f"contradicted {i}"), ("en", "de", "zh"),
                      group=f"n{i // 3}") for i in range(50)]
    return MixtureConfig([SourceSpec(_write_jsonl(tmp_path / "a.jsonl", first), weight=2.0),
                          SourceSpec(_write_jsonl(tmp_path / "b.jsonl", second), objective="sup")])


def _draw(sampler: MixtureBatchSampler, count: int) -> list[list[str]]:
    return [[ex.to_json() for ex in sampler.next_batch()] for _ in range(count)]


def test_built_sources_give_the_in_memory_batches_and_resume_exactly(mixture, tmp_path):
    in_memory = MixtureBatchSampler(mixture, batch_size=8, seed=4)
    built = MixtureBatchSampler(mixture, batch_size=8, seed=4, run_data=RunData(tmp_path / "run", build=True))
    assert _draw(built, 60) == _draw(in_memory, 60)  # several epochs of every bucket, examples with metadata
    state = json.loads(json.dumps(built.state_dict()))
    reopened = MixtureBatchSampler(mixture, batch_size=8, seed=4, run_data=RunData(tmp_path / "run", build=False))
    reopened.load_state_dict(state)
    assert _draw(reopened, 30) == _draw(in_memory, 30)


def test_other_processes_open_the_files_and_refuse_a_folder_never_built(mixture, tmp_path):
    with pytest.raises(InputError, match=r"source-00\.json: the run's training data was not built here"):
        MixtureBatchSampler(mixture, batch_size=8, seed=4, run_data=RunData(tmp_path / "never", build=False))
    MixtureBatchSampler(mixture, batch_size=8, seed=4, run_data=RunData(tmp_path / "run", build=True))
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == ["source-00.arrow", "source-00.json", "source-01.arrow", "source-01.json"]
    other = MixtureConfig([SourceSpec(mixture.sources[1].path, objective="sup"), mixture.sources[0]])
    with pytest.raises(InputError, match="built for source"):  # another run's files are never read as this one's
        MixtureBatchSampler(other, batch_size=8, seed=4, run_data=RunData(tmp_path / "run", build=False))


def test_a_bucket_is_a_row_range_read_one_example_at_a_time(mixture, tmp_path):
    sampler = MixtureBatchSampler(mixture, batch_size=8, seed=4, run_data=RunData(tmp_path / "run", build=True))
    rows = sampler._plans[0].objectives[0].streams[0].bucket.reader.read_chunk(0, 10**9)[0]
    assert isinstance(rows, ArrowRows) and len(rows) == 40
    assert rows[39] == Example("unsup", ("en sentence 39",), ("en",), source="wiki") and rows[39].meta == {"line": 39}
    with pytest.raises(IndexError):
        rows[40]
    # The file is what `datasets` keeps its own data in: it opens as a Dataset, memory-mapped, rows grouped by bucket.
    table = datasets.Dataset.from_file(str(tmp_path / "run" / "source-00.arrow"))
    assert table.num_rows == 180 and table[0]["texts"] == ["en sentence 0"] and table[120]["objective"] == "parallel"


def test_a_builder_starts_afresh_and_remove_leaves_nothing(mixture, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "source-00.json").write_text("left by a killed start of the run", encoding="utf-8")
    data = RunData(folder, build=True)
    assert not (folder / "source-00.json").exists()
    MixtureBatchSampler(mixture, batch_size=8, seed=4, run_data=data)
    RunData(folder, build=False).remove()  # only the builder deletes
    assert folder.is_dir()
    data.remove()
    assert not folder.exists()


def test_arrow_files_of_the_earlier_file_form_still_read(tmp_path):
    examples = [Example("parallel", (f"en {i}", f"de {i}"), ("en", "de"), group=str(i)) for i in range(5)]
    old = tmp_path / "old.arrow"
    with pa.OSFile(str(old), "wb") as sink, pa.ipc.new_file(sink, _arrow_schema()) as writer:
        writer.write_batch(_to_record_batch(examples))
    assert list(read_arrow(old)) == examples
    new = tmp_path / "new.arrow"
    assert write_arrow(new, examples) == 5 and list(read_arrow(new)) == examples
    assert new.read_bytes()[:6] != b"ARROW1"  # the stream form


def test_scores_round_trip_and_files_written_before_scored_pairs_still_read(tmp_path):
    scored = [Example("scored", (f"a {i}", f"b {i}"), ("en", "de"), group=str(i), score=i / 2) for i in range(4)]
    new = tmp_path / "new.arrow"
    write_arrow(new, scored)
    assert [ex.score for ex in read_arrow(new)] == [0.0, 0.5, 1.0, 1.5]
    plain = [Example("parallel", (f"en {i}", f"de {i}"), ("en", "de"), group=str(i)) for i in range(3)]
    schema = _arrow_schema().remove(_arrow_schema().get_field_index("score"))
    batch = _to_record_batch(plain).drop_columns(["score"])
    old = tmp_path / "old.arrow"
    with pa.OSFile(str(old), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(batch)
    assert list(read_arrow(old)) == plain
