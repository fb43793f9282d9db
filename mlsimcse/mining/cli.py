"""``mlsimcse mine`` and the three commands that split it across machines.

``mine`` does everything in one process. ``mine-embed``, ``mine-search`` and ``mine-merge`` are the same
work cut into jobs for a scheduler: embed both files (parts in parallel), search each source part against
the whole target side, merge the parts and write the pairs.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from mlsimcse.choices import (
    BACKENDS,
    CORPUS_FORMATS,
    EMITS,
    INDEXES,
    MARGINS,
    MODES,
    POOLINGS,
)
from mlsimcse.cli_types import add_command, add_precision_option, positive_int
from mlsimcse.errors import InputError
from mlsimcse.io_utils import check_output_path
from mlsimcse.paths import multilingual_base_model

SPLIT_EPILOG = ("For corpora that outgrow one machine run, with any job scheduler: "
                "`mlsimcse mine-embed --input SRC TGT --part i/N` (N jobs), then "
                "`mlsimcse mine-search --src SRC --tgt TGT --part i/P --out part-i.npz` (P jobs), then "
                "`mlsimcse mine-merge --src SRC --tgt TGT --parts part-*.npz --out pairs.tsv`. "
                "All jobs must see the same --cache-dir (a shared file system).")


def _part(text: str):
    """``i/N`` for argparse, whose usage message then explains a bad value."""
    from mlsimcse.mining.parts import Part

    try:
        return Part.parse(text)
    except InputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


_FORMAT_HELP = ("corpus format: plain (one sentence per line), ids (id<TAB>sentence) or auto (ids when the "
                "first line has a tab; default)")


def register(subparsers: argparse._SubParsersAction) -> None:
    mine = add_command(subparsers, "mine", run_mine, "mine translation pairs from two monolingual corpora",
                       epilog=SPLIT_EPILOG)
    _add_corpus_pair(mine)
    mine.add_argument("--out", required=True, type=Path, help="TSV file to write (replaced only when complete)")
    _add_encoder(mine)
    _add_search(mine)
    _add_scoring(mine)
    _add_engine(mine)

    embed = add_command(subparsers, "mine-embed", run_embed,
                        "encode corpora into the mining embedding cache (one part of the shards)", epilog=SPLIT_EPILOG)
    embed.add_argument("--input", required=True, nargs="+", type=Path, help="corpus files to encode")
    embed.add_argument("--format", default="auto", choices=CORPUS_FORMATS, help=_FORMAT_HELP)
    embed.add_argument("--part", type=_part, default="0/1", help="this job's part, 0-based i/N")
    _add_encoder(embed)

    search = add_command(subparsers, "mine-search", run_search,
                         "search one source part against the whole target side", epilog=SPLIT_EPILOG)
    _add_corpus_pair(search)
    search.add_argument("--part", type=_part, required=True, help="this job's source part, 0-based i/N")
    search.add_argument("--out", required=True, type=Path, help="neighbour file to write (.npz)")
    search.add_argument("--k", type=positive_int, default=4, help="neighbours per sentence (default 4)")
    _add_encoder(search)
    _add_search(search)

    merge = add_command(subparsers, "mine-merge", run_merge, "merge mine-search parts, score and write the pairs",
                        epilog=SPLIT_EPILOG)
    _add_corpus_pair(merge)
    merge.add_argument("--parts", required=True, nargs="+", type=Path, help="the neighbour files of every part")
    merge.add_argument("--out", required=True, type=Path, help="TSV file to write (replaced only when complete)")
    _add_scoring(merge)


def _add_corpus_pair(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--src", required=True, type=Path, help="source-language corpus")
    parser.add_argument("--tgt", required=True, type=Path, help="target-language corpus")
    parser.add_argument("--format", default="auto", choices=CORPUS_FORMATS, help=_FORMAT_HELP)


def _add_encoder(parser: argparse.ArgumentParser) -> None:
    """The model to encode with, and how: every command that encodes takes both groups."""
    group = parser.add_argument_group("model")
    group.add_argument("--model", default=None,
                       help="encoder: mlsimcse or sentence-transformers folder, or Hub name "
                            "(default: multilingual-e5-small, the shared copy, else its Hub name)")
    group.add_argument("--pooling", default=None, choices=POOLINGS,
                       help="override the model's pooling")
    group.add_argument("--max-length", type=positive_int, default=None, help="truncate sentences at this many tokens")
    group = parser.add_argument_group("encoding and cache")
    group.add_argument("--cache-dir", type=Path, default=None,
                       help="embedding cache root (default: $MLSIMCSE_CACHE_DIR/embeddings or "
                            "~/.cache/mlsimcse/embeddings); reused when model and file are unchanged")
    group.add_argument("--batch-size", type=positive_int, default=64, help="sentences per forward pass (default 64)")
    group.add_argument("--shard-rows", type=positive_int, default=32768,
                       help="unique sentences per cache shard: the work an interruption can lose (default 32768)")
    group.add_argument("--device", default=None,
                       help="device for encoding and torch search, e.g. cuda:0 (default: GPU when present)")
    add_precision_option(group, legacy_flag="--encode-dtype", extra_help="; part of the cache key")


def _add_search(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("nearest-neighbour search")
    group.add_argument("--backend", default="auto", choices=BACKENDS,
                       help="faiss, torch (exact, chunked) or auto: faiss when installed (default)")
    group.add_argument("--index", default="flat", choices=INDEXES,
                       help="faiss index: flat (exact, default); for large corpora ivf, ivfpq (IVF over 4-bit "
                            "PQ codes with exact re-ranking: fastest) or hnsw (approximate)")
    group.add_argument("--chunk-size", type=positive_int, default=8192,
                       help="rows searched at once; bounds memory beyond the index (default 8192)")
    group.add_argument("--nlist", type=positive_int, default=None, help="IVF lists (default about 4*sqrt(target size))")
    group.add_argument("--nprobe", type=positive_int, default=16, help="IVF lists visited per query (default 16)")
    group.add_argument("--refine-factor", type=positive_int, default=32,
                       help="ivfpq: candidates re-ranked exactly per neighbour wanted (default 32)")
    group.add_argument("--hnsw-m", type=positive_int, default=32, help="HNSW links per node (default 32)")
    group.add_argument("--ef-search", type=positive_int, default=128, help="HNSW search breadth (default 128)")


def _add_engine(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("engine (corpora that outgrow one machine)")
    group.add_argument("--engine", default="local", choices=("local", "ray"),
                       help="local: everything in this process (default); ray: the embed, search and merge "
                            "stages as Ray actors and tasks over the shared --cache-dir (pip install -e \".[ray]\")")
    group.add_argument("--ray-address", default=None,
                       help="ray: cluster to join (auto, or ray://head:10001); default: start a local one")
    group.add_argument("--num-workers", type=int, default=2,
                       help="ray: embedding actors (one model copy each) and search parts (default 2)")
    group.add_argument("--cpus-per-worker", type=float, default=1.0, help="ray: CPUs per worker (default 1)")
    group.add_argument("--gpus-per-worker", type=float, default=0.0,
                       help="ray: GPUs per worker, 1 on a GPU cluster (default 0)")


def _add_scoring(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scoring and output")
    group.add_argument("--k", type=positive_int, default=4, help="neighbours averaged by the margin (default 4)")
    group.add_argument("--margin", default="ratio", choices=MARGINS,
                       help="ratio: cos / mean kNN similarity (default); distance: cos - mean; absolute: cos")
    group.add_argument("--mode", default="max", choices=MODES,
                       help="candidates: forward (each source's best), backward (each target's best), "
                            "intersect (mutual best), max (union of both; default)")
    group.add_argument("--greedy", action="store_true",
                       help="keep pairs best-first so no sentence is used twice (LASER's max mode, BUCC)")
    group.add_argument("--threshold", type=float, default=None, help="keep pairs scoring at least this")
    group.add_argument("--top-fraction", type=float, default=None,
                       help="keep only this best fraction of the pairs, in (0, 1]")
    group.add_argument("--emit", default="text", choices=EMITS,
                       help="text: score, source and target sentence per pair (default); ids: score, source "
                            "id, target id for every line holding the sentences (line numbers for plain files)")


def run_mine(args: argparse.Namespace) -> int:
    """Mine translation pairs between two monolingual corpora with margin scoring (Artetxe & Schwenk 2019, as
    LASER's bitext miner): encode both sides into a reusable float16 embedding cache, find k nearest neighbours
    in both directions (faiss, or chunked torch without it), score with a margin and write score<TAB>src<TAB>tgt,
    best first. Ends with a summary: sentences, unique sentences, pairs, time per stage, peak memory."""
    from mlsimcse.mining.pipeline import mine_corpora

    check_output_path(args.out, inputs=[args.src, args.tgt, args.model])
    engine = mine_corpora
    if args.engine == "ray":
        from mlsimcse.mining.ray_engine import RayOptions, mine_on_ray

        cluster = RayOptions(address=args.ray_address, num_workers=args.num_workers,
                             cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker)
        engine = functools.partial(mine_on_ray, cluster=cluster)
    summary = engine(args.src, args.tgt, args.out, _model(args), scoring=_scoring(args),
                     search=_search(args), encoding=_encoding(args), file_format=args.format)
    print(summary.format())
    print(f"wrote {args.out}")
    return 0


def run_embed(args: argparse.Namespace) -> int:
    """Encode the unique sentences of each --input file into float16 cache shards. Run N jobs with --part 0/N ..
    N-1/N to share the work; each encodes every N-th shard."""
    from mlsimcse.mining.pipeline import embed_files

    complete = embed_files(args.input, _model(args), part=args.part, encoding=_encoding(args),
                           file_format=args.format)
    for path, done in complete.items():
        print(f"{path}: {'all shards encoded' if done else 'shards of other parts still missing'}")
    return 0


def run_search(args: argparse.Namespace) -> int:
    """Find the k nearest neighbours of part i/N of the source sentences among all target sentences, and of all
    target sentences among that part, and save them for mine-merge. Encodes whatever the cache lacks first."""
    from mlsimcse.mining.pipeline import search_files

    check_output_path(args.out, inputs=[args.src, args.tgt, args.model])
    found = search_files(args.src, args.tgt, args.out, _model(args), part=args.part, k=args.k,
                         search=_search(args), encoding=_encoding(args), file_format=args.format)
    print(f"part {found.part}: source rows {found.src_rows[0]}..{found.src_rows[1]} searched; wrote {args.out}")
    return 0


def run_merge(args: argparse.Namespace) -> int:
    """Combine the neighbour files of all parts 0/N .. N-1/N, then score and write exactly as `mine` does. Needs
    no model."""
    from mlsimcse.mining.pipeline import merge_files

    check_output_path(args.out, inputs=[args.src, args.tgt, *args.parts])
    summary = merge_files(args.src, args.tgt, args.parts, args.out, scoring=_scoring(args), file_format=args.format)
    print(summary.format())
    print(f"wrote {args.out}")
    return 0


def _model(args: argparse.Namespace):
    from mlsimcse.mining.options import ModelSpec

    return ModelSpec(args.model or multilingual_base_model(), pooling=args.pooling, max_length=args.max_length)


def _scoring(args: argparse.Namespace):
    from mlsimcse.mining.options import ScoringOptions

    return ScoringOptions(k=args.k, margin=args.margin, mode=args.mode, greedy=args.greedy,
                          threshold=args.threshold, top_fraction=args.top_fraction, emit=args.emit)


def _search(args: argparse.Namespace):
    from mlsimcse.mining.knn import SearchConfig

    return SearchConfig(backend=args.backend, index=args.index, chunk_size=args.chunk_size, nlist=args.nlist,
                        nprobe=args.nprobe, refine_factor=args.refine_factor, hnsw_m=args.hnsw_m,
                        ef_search=args.ef_search, device=args.device or "auto")


def _encoding(args: argparse.Namespace):
    from mlsimcse.devices import resolve_device
    from mlsimcse.mining.options import EncodeOptions

    if args.device and getattr(args, "engine", "local") == "local":  # elsewhere the workers' devices count
        resolve_device(args.device)
    return EncodeOptions(cache_dir=args.cache_dir, batch_size=args.batch_size, shard_rows=args.shard_rows,
                         device=args.device, precision=args.precision)
