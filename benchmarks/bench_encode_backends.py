"""Encoding on CPU: mlsimcse's fp32 / bf16 / int8 against every sentence-transformers backend a user would pick.

Paths, each run in its own process (so peak RSS is the path's own, load included) on the same real sentences
(40 % NTREX news, 30 % STS-B test, 30 % Tatoeba, a dozen languages), rounds interleaved:

- ``st-torch:fp32``: sentence-transformers' default ``encode`` (PyTorch);
- ``st-onnx:fp32`` and ``st-onnx:int8``: ``backend="onnx"`` and its ``export_dynamic_quantized_onnx_model`` export
  (the AVX512-VNNI, AVX2 or ARM64 config, whichever this CPU takes);
- ``st-openvino:fp32`` (``INFERENCE_PRECISION_HINT`` f32), ``st-openvino:default`` (OpenVINO's own choice, which is
  bf16 on a CPU with native bf16) and ``st-openvino:int8`` (``export_static_quantized_openvino_model``, calibrated
  on 300 STS-B *train* sentences in ten languages, its default sample count, since the Hub's GLUE is unreachable);
- ``mlsimcse:fp32``, ``mlsimcse:bf16`` and ``mlsimcse:int8`` (``SentenceEncoder.encode(precision=...)``).

The ONNX and OpenVINO backends need optimum-onnx and optimum-intel, which pin transformers below 4.58 and 5.6
while this project needs transformers 5, so ``pip install "sentence-transformers[onnx,openvino]"`` resolves to
sentence-transformers 5.x with transformers 4.57 — that is what a user gets, and it cannot share this project's
environment (so they cannot be an extra of this package either). Make them once in a virtual environment of
their own, at the versions measured (``benchmarks/requirements-peers.txt``), and name its Python with
``--peer-python``:

    python -m venv ~/.cache/mlsimcse-bench/peers
    ~/.cache/mlsimcse-bench/peers/bin/pip install -r benchmarks/requirements-peers.txt

Exports are made once into ``--export-dir``. Quality: every path's embeddings are compared with mlsimcse fp32 by
cosine, and with ``--quality-tasks`` (``quick`` for the whole quick suite) every path encodes the tasks'
sentences and mlsimcse's evaluators score them, so the table gives each path's largest difference from fp32 on
a task and on a named average. Every path sees the same text (no prompt).

Achieved FLOP/s counts the real-token work of the encoder's matmuls (bench_encode_throughput.py) and is set
against the peak this script measures for the path's arithmetic (fp32, bf16 or int8, benchmarks/machine.py).

    python benchmarks/bench_encode_backends.py --peer-python ~/.cache/mlsimcse-bench/peers/bin/python \\
        [--models minilm,e5] [--sentences 2000] [--rounds 2] [--quality-tasks quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent
PATHS = ("st-torch:fp32", "st-onnx:fp32", "st-onnx:int8", "st-openvino:fp32", "st-openvino:default",
         "st-openvino:int8", "mlsimcse:fp32", "mlsimcse:bf16", "mlsimcse:int8")
PEER_BACKENDS = ("st-onnx", "st-openvino")
"""Paths that run in ``--peer-python``; the others run in this interpreter, with this project's packages."""
REFERENCE = "mlsimcse:fp32"
CALIBRATION_LANGUAGES = ("en", "de", "es", "fr", "it", "nl", "pl", "pt", "ru", "zh")


def shared_model(name: str) -> str:
    """``minilm``: the shared all-MiniLM-L6-v2; ``e5``: the shared multilingual-e5-small, materialised by its own
    script on first use (~5 s, a 490 MB cache outside the repository); anything else: a model folder."""
    from mlsimcse.paths import default_base_model, multilingual_base_model

    return {"minilm": default_base_model, "e5": multilingual_base_model}.get(name, lambda: name)()


# ------------------------------------------------------------------------------------------------ worker side
def worker(args: argparse.Namespace) -> None:
    """Load one path, encode the sentences file once to warm up on its first 64 and once timed, save the vectors."""
    import resource

    import numpy as np

    sentences = json.loads(Path(args.sentences_file).read_text(encoding="utf-8"))
    encode, info = load_path(args.worker, args.model, Path(args.export_dir), args.max_length, args.threads)
    encode(sentences[:64])
    began, cpu_began = time.perf_counter(), time.process_time()
    vectors = np.asarray(encode(sentences), dtype=np.float32)
    seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu_began
    np.save(args.out + ".npy", vectors)
    info.update(seconds=seconds, cpu_seconds=cpu_seconds,
                peak_rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    Path(args.out + ".json").write_text(json.dumps(info), encoding="utf-8")


def load_path(path: str, model: str, export_dir: Path, max_length: int, threads: int | None):
    """An ``encode(list of str) -> array`` for ``path``, and what to record about it (versions, precision).

    ``threads`` goes to each runtime's own setting (torch's intra-op threads, ONNX Runtime's session options,
    OpenVINO's ``INFERENCE_NUM_THREADS``); none: each runtime's default, all cores.
    """
    import torch

    backend, precision = path.split(":")
    if threads:
        torch.set_num_threads(threads)
    if backend == "mlsimcse":
        from mlsimcse.encoder import SentenceEncoder

        encoder = SentenceEncoder.from_pretrained(model, max_length=max_length)
        info = {"version": "mlsimcse", "torch": torch.__version__}
        return (lambda texts: encoder.encode(texts, precision=precision, prompt="", show_progress_bar=False)), info
    import sentence_transformers
    from sentence_transformers import SentenceTransformer

    info = {"version": f"sentence-transformers {sentence_transformers.__version__}"}
    if backend == "st-torch":
        st_model = SentenceTransformer(model, device="cpu")
    else:
        kind = backend.removeprefix("st-")
        folder, file_name, kwargs = exported_model(kind, precision, model, export_dir)
        kwargs.update(runtime_threads(kind, threads, kwargs) if threads else {})
        st_model = SentenceTransformer(str(folder), device="cpu", backend=kind,
                                       model_kwargs={"file_name": file_name, **kwargs})
        info.update(file=file_name, **backend_details(kind, st_model))
    st_model.max_seq_length = max_length
    return (lambda texts: st_model.encode(texts, show_progress_bar=False, convert_to_numpy=True)), info


def exported_model(kind: str, precision: str, model: str, export_dir: Path) -> tuple[Path, str, dict]:
    """The folder holding ``model`` exported for ONNX Runtime / OpenVINO (made on first use), the file to load
    and the loading options of ``precision``."""
    from sentence_transformers import SentenceTransformer

    folder = export_dir / Path(model).name / kind
    plain = {"onnx": "onnx/model.onnx", "openvino": "openvino/openvino_model.xml"}[kind]
    if not (folder / plain).is_file():
        SentenceTransformer(model, device="cpu", backend=kind).save_pretrained(str(folder))
    if kind == "onnx":
        if precision == "fp32":
            return folder, plain, {}
        config = onnx_quantization_config()
        name = f"onnx/model_qint8_{config}.onnx"
        if not (folder / name).is_file():
            from sentence_transformers import export_dynamic_quantized_onnx_model

            export_dynamic_quantized_onnx_model(SentenceTransformer(str(folder), device="cpu", backend="onnx"),
                                                config, str(folder))
        return folder, name, {}
    if precision in ("fp32", "default"):
        return folder, plain, {"ov_config": {"INFERENCE_PRECISION_HINT": "f32"}} if precision == "fp32" else {}
    name = "openvino/openvino_model_qint8_quantized.xml"
    if not (folder / name).is_file():
        from sentence_transformers import export_static_quantized_openvino_model

        calibration = write_calibration_set(folder / "calibration")
        export_static_quantized_openvino_model(
            SentenceTransformer(str(folder), device="cpu", backend="openvino"), None, str(folder),
            dataset_name=str(calibration), dataset_config_name="default", dataset_split="train", column_name="sentence")
    return folder, name, {}


def runtime_threads(kind: str, threads: int, kwargs: dict) -> dict:
    """Loading options that give ONNX Runtime or OpenVINO ``threads`` compute threads."""
    if kind == "onnx":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        return {"session_options": options}
    return {"ov_config": {**kwargs.get("ov_config", {}), "INFERENCE_NUM_THREADS": str(threads)}}


def onnx_quantization_config() -> str:
    """The ``export_dynamic_quantized_onnx_model`` config for this CPU: its best int8 instruction set."""
    flags = set(Path("/proc/cpuinfo").read_text().split()) if Path("/proc/cpuinfo").exists() else set()
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags:
        return "avx512"
    return "avx2" if "avx2" in flags else "arm64"


def write_calibration_set(folder: Path) -> Path:
    """300 STS-B train sentences, 30 per language, as a one-column CSV ``datasets`` reads as a local dataset
    (a path under the shared data root the worker is told through ``MLSIMCSE_DATA_ROOT``)."""
    import csv
    import random

    data = Path(os.environ["MLSIMCSE_DATA_ROOT"]) / "stsb_multi_mt"
    rng, chosen = random.Random(0), []
    for lang in CALIBRATION_LANGUAGES:
        with open(data / f"stsb-{lang}-train.csv", encoding="utf-8", newline="") as handle:
            chosen += rng.sample(sorted({row[0] for row in csv.reader(handle)}), 30)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "train.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sentence"])
        writer.writerows([text] for text in chosen)
    return folder


def backend_details(kind: str, st_model) -> dict:
    """Versions, and for OpenVINO the precision it actually computes in (its hint resolves per CPU)."""
    details = {}
    if kind == "onnx":
        import onnxruntime

        details["runtime"] = f"onnxruntime {onnxruntime.__version__}"
    else:
        import openvino

        details["runtime"] = f"openvino {openvino.__version__}"
        ov_model = st_model[0].auto_model
        ov_model.compile()
        compiled = getattr(ov_model, "request", None)
        compiled = compiled.get_compiled_model() if hasattr(compiled, "get_compiled_model") else compiled
        if hasattr(compiled, "get_property"):
            details["inference_precision"] = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
    return details


# ---------------------------------------------------------------------------------------- orchestrator side
def run_path(path: str, model: str, sentences_file: Path, args: argparse.Namespace, max_length: int):
    """Run one path in a fresh process; its vectors and record, or the error it died with."""
    import numpy as np

    backend = path.split(":")[0]
    python = args.peer_python if backend in PEER_BACKENDS else sys.executable
    if python is None:
        return None, {"error": "no --peer-python given"}
    out = str(sentences_file.with_suffix("")) + "." + path.replace(":", "-")
    env = {**os.environ, "MLSIMCSE_DATA_ROOT": str(data_root_path()), "PYTHONPATH": str(HERE.parent)}
    done = subprocess.run(
        [python, str(Path(__file__).resolve()), "--worker", path, "--model", model, "--max-length", str(max_length),
         "--sentences-file", str(sentences_file), "--export-dir", str(args.export_dir), "--out", out,
         *(["--threads", str(args.threads)] if args.threads else [])],
        capture_output=True, text=True, env=env)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return None, {"error": lines[-1] if lines else f"exit code {done.returncode}"}
    return np.load(out + ".npy"), json.loads(Path(out + ".json").read_text(encoding="utf-8"))


def data_root_path() -> Path:
    from mlsimcse.paths import data_root

    return data_root()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="minilm,e5", help="minilm, e5 or model folders, comma-separated")
    parser.add_argument("--paths", default=",".join(PATHS), help="paths to run (default: all nine)")
    parser.add_argument("--sentences", type=int, default=2000, help="timed sentences per run (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds (default: %(default)s)")
    parser.add_argument("--quality-tasks", default="",
                        help="tasks every reduced-precision path is scored on against fp32, e.g. quick (the whole "
                             "quick suite) or stsb:en,tatoeba:deu (default: none)")
    parser.add_argument("--peer-python", default=None, help="Python of the environment with the ONNX and OpenVINO "
                                                             "backends (default: those paths are skipped)")
    parser.add_argument("--threads", type=int, default=None,
                        help="compute threads of every runtime (default: each runtime's own, all cores); on a shared "
                             "machine 1 with --clock cpu keeps the comparison fair")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="rate from wall time or from the worker's CPU time (default: %(default)s)")
    parser.add_argument("--export-dir", type=Path, default=Path.home() / ".cache" / "mlsimcse-bench" / "exports")
    # worker mode (one path in its own process)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--max-length", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sentences-file", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    orchestrate(args)


def orchestrate(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    sys.path.insert(0, str(HERE))
    from bench_encode_throughput import encoder_flops, real_sentences
    from machine import int8_matmul_peak, matmul_peak
    from mlsimcse.encoder import SentenceEncoder
    from mlsimcse.precision import REPORTED_FLAGS, cpu_flags

    started = time.perf_counter()
    paths = [path for path in args.paths.split(",") if path]
    flags = cpu_flags()
    print("CPU features: " + ", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in REPORTED_FLAGS
                                       if flag in flags or not flag.startswith(("asimd", "i8mm", "bf16"))))
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    peaks = {"fp32": matmul_peak(torch.float32, clock=clock), "bf16": matmul_peak(torch.bfloat16, clock=clock),
             "int8": int8_matmul_peak(clock=clock)}
    print("measured matmul peaks (2048², nn.Linear layout): " +
          ", ".join(f"{name} {value / 1e9:.0f} G{'OP' if name == 'int8' else 'FLOP'}/s" for name, value in peaks.items())
          + f" ({args.clock} clock); torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    rows, key_lines = [], []
    with tempfile.TemporaryDirectory(prefix="encode-backends-") as scratch:
        for model_name in args.models.split(","):
            model = shared_model(model_name)
            reference = SentenceEncoder.from_pretrained(model)
            config, max_length = reference.backbone.config, reference.settings.max_length
            sentences = real_sentences(data_root_path(), args.sentences)
            lengths = [len(ids) for ids in reference.tokenizer(sentences, truncation=True, max_length=max_length)
                       ["input_ids"]]
            flops = encoder_flops(lengths, config.hidden_size, config.num_hidden_layers)
            del reference
            print(f"\n{model_name} ({model}): {len(sentences):,} sentences, mean {np.mean(lengths):.1f} tokens, "
                  f"{flops / 1e12:.2f} TFLOP of real-token work, cap {max_length} tokens", flush=True)
            sentences_file = Path(scratch) / f"{Path(model).name}.json"
            sentences_file.write_text(json.dumps(sentences), encoding="utf-8")
            results = time_paths(paths, model, sentences_file, args, max_length)
            quality = quality_deltas(paths, model, Path(scratch), args, max_length) if args.quality_tasks else {}
            model_rows = summarise(model_name, results, quality, flops, len(sentences), peaks)
            rows += model_rows
            key_lines.append(key_ratio(model_name, model_rows))
    print_table(rows)
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    print("encode_backends: " + "; ".join(key_lines))


def time_paths(paths, model, sentences_file, args, max_length) -> dict:
    """Every path ``args.rounds`` times, interleaved; per path its best time, records and vectors."""
    results: dict[str, dict] = {}
    for round_index in range(args.rounds):
        for path in paths:
            vectors, info = run_path(path, model, sentences_file, args, max_length)
            entry = results.setdefault(path, {"seconds": [], "peak_rss": 0, "info": info, "vectors": None})
            info["timed"] = info["cpu_seconds" if args.clock == "cpu" else "seconds"] if vectors is not None else None
            if vectors is None:
                entry["info"] = info
                print(f"  {path}: failed: {info['error']}", flush=True)
                continue
            entry["seconds"].append(info["timed"])
            entry["peak_rss"] = max(entry["peak_rss"], info["peak_rss"])
            entry["info"], entry["vectors"] = info, vectors
            print(f"  round {round_index + 1} {path:<20} {info['seconds']:7.1f} s wall, {info['cpu_seconds']:7.1f} s CPU  "
                  f"peak RSS {info['peak_rss'] / 2 ** 30:.2f} GiB  {info.get('inference_precision', '')}", flush=True)
    return results


def quality_deltas(paths, model, scratch: Path, args, max_length) -> dict[str, dict]:
    """Per path: scores of every requested task and named average, from its own embeddings of the tasks'
    sentences, scored by mlsimcse's evaluators; and its largest |difference| from the reference path."""
    from mlsimcse.evaluation import EmbeddingCache, load_tasks, resolve_tasks, score_loaded
    from mlsimcse.evaluation.aggregates import AGGREGATES

    requested = args.quality_tasks.split(",")
    loaded = load_tasks(resolve_tasks(requested if len(requested) > 1 else requested[0]), show_progress_bar=False)
    sentences = list(dict.fromkeys(text for item in loaded for text in item.data.sentences()))
    sentences_file = scratch / f"{Path(model).name}.quality.json"
    sentences_file.write_text(json.dumps(sentences), encoding="utf-8")
    scores = {}
    for path in [REFERENCE, *[p for p in paths if p != REFERENCE]]:
        began = time.perf_counter()
        vectors, info = run_path(path, model, sentences_file, args, max_length)
        if vectors is None:
            print(f"  quality {path}: failed: {info['error']}", flush=True)
            continue
        cache = EmbeddingCache(_Precomputed(sentences, vectors), prompt="")
        scores[path] = {result.task: result.main_score for result in score_loaded(loaded, cache, show_progress_bar=False)}
        print(f"  quality {path}: {len(sentences):,} sentences in {time.perf_counter() - began:.0f} s", flush=True)
    averages = {aggregate.name for aggregate in AGGREGATES}
    deltas = {}
    for path, path_scores in scores.items():
        diffs = {task: value - scores[REFERENCE][task] for task, value in path_scores.items()}
        deltas[path] = {
            "task": max((abs(d) for t, d in diffs.items() if t not in averages), default=0.0),
            "average": max((abs(d) for t, d in diffs.items() if t in averages), default=0.0),
            "worst": max(diffs, key=lambda t: abs(diffs[t])) if diffs else "",
        }
        print(f"  quality {path}: max |Δ| task {deltas[path]['task']:.2f} ({deltas[path]['worst']}), "
              f"average {deltas[path]['average']:.2f}", flush=True)
    return deltas


class _Precomputed:
    """An encoder that answers from vectors a path computed in its own process (for mlsimcse's evaluators)."""

    def __init__(self, sentences, vectors):
        self._row = {text: i for i, text in enumerate(sentences)}
        self._vectors = vectors

    def encode(self, sentences, **_):
        return self._vectors[[self._row[text] for text in sentences]]


def summarise(model_name, results, quality, flops, count, peaks) -> list[dict]:
    import numpy as np

    reference = results.get(REFERENCE, {}).get("vectors")
    rows = []
    for path, entry in results.items():
        row = {"model": model_name, "path": path, "info": entry["info"]}
        if entry["vectors"] is not None and entry["seconds"]:
            seconds = min(entry["seconds"])
            arithmetic = {"int8": "int8", "bf16": "bf16"}.get(path.split(":")[1], "fp32")
            if "bf" in entry["info"].get("inference_precision", "").lower() and arithmetic == "fp32":
                arithmetic = "bf16"
            row.update(rate=count / seconds, peak_rss=entry["peak_rss"], fraction=flops / seconds / peaks[arithmetic],
                       arithmetic=arithmetic)
            if reference is not None:
                row["min_cos"] = float(np.min(np.sum(_unit(entry["vectors"]) * _unit(reference), axis=1)))
        row.update(quality.get(path, {}))
        rows.append(row)
    return rows


def key_ratio(model_name: str, rows: list[dict]) -> str:
    """Best mlsimcse path against the best sentence-transformers path (every path counted, whatever quality)."""
    timed = [row for row in rows if "rate" in row]
    ours = max((row for row in timed if row["path"].startswith("mlsimcse")), key=lambda r: r["rate"], default=None)
    peers = max((row for row in timed if row["path"].startswith("st-")), key=lambda r: r["rate"], default=None)
    if ours is None or peers is None:
        return f"{model_name}: not comparable"
    return f"{model_name} best mlsimcse ({ours['path']}) ×{ours['rate'] / peers['rate']:.2f} best ST ({peers['path']})"


def print_table(rows: list[dict]) -> None:
    print("\n| model | path | sentences / s | × ST torch | × best ST | of its matmul peak | peak RSS | min cos vs "
          "fp32 | max |Δ| task | max |Δ| average |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for model_name in dict.fromkeys(row["model"] for row in rows):
        model_rows = [row for row in rows if row["model"] == model_name]
        torch_rate = next((row["rate"] for row in model_rows if row["path"] == "st-torch:fp32" and "rate" in row), None)
        best_st = max((row["rate"] for row in model_rows if row["path"].startswith("st-") and "rate" in row),
                      default=None)
        for row in model_rows:
            if "rate" not in row:
                print(f"| {model_name} | {row['path']} | failed: {row['info'].get('error', '')} |||||||")
                continue
            cells = [f"{row['rate']:.1f}", _ratio(row["rate"], torch_rate), _ratio(row["rate"], best_st),
                     f"{row['fraction']:.1%} ({row['arithmetic']})", f"{row['peak_rss'] / 2 ** 30:.2f} GiB",
                     f"{row['min_cos']:.4f}" if "min_cos" in row else "",
                     f"{row['task']:.2f}" if "task" in row else "", f"{row['average']:.2f}" if "average" in row else ""]
            print(f"| {model_name} | {row['path']} | " + " | ".join(cells) + " |")


def _ratio(rate, other):
    return f"×{rate / other:.2f}" if other else ""


def _unit(matrix):
    import numpy as np

    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


if __name__ == "__main__":
    main()
