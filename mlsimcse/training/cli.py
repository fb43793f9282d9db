"""``mlsimcse train`` and ``mlsimcse encode``: the two commands around the core encoder."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train", help="train an encoder from a YAML config",
        description="Train a sentence encoder with contrastive objectives (unsup, sup, parallel, distill). "
                    "Launch with `accelerate launch -m mlsimcse train ...` for several processes or machines.",
        epilog="example:\n  mlsimcse train configs/minilm-cpu-parallel.yaml max_steps=50 output_dir=runs/try",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("config", help="YAML file with the training config (see configs/)")
    train.add_argument("overrides", nargs="*", metavar="key=value",
                       help="override config values, dotted for nested keys: loss.temperature=0.1")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in output_dir from its newest intact checkpoint")
    train.set_defaults(func=run_train)

    encode = subparsers.add_parser(
        "encode", help="embed sentences from a text file into a .npy array",
        description="Embed one sentence per line of INPUT and save a float32 [N, dim] array.")
    encode.add_argument("model", help="saved mlsimcse folder, sentence-transformers folder or Hub name")
    encode.add_argument("--input", required=True, help="UTF-8 text file, one sentence per line")
    encode.add_argument("--output", required=True, help="where to write the .npy array")
    encode.add_argument("--batch-size", type=int, default=64, help="sentences per forward pass (default 64)")
    encode.add_argument("--max-length", type=int, default=None, help="truncate at this many tokens")
    encode.add_argument("--normalize", action="store_true", help="L2-normalise the embeddings")
    encode.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                        help="compute precision (bfloat16 runs the model under autocast)")
    encode.add_argument("--device", default=None, help="torch device, e.g. cuda:0 (default: cpu)")
    encode.set_defaults(func=run_encode)


def run_train(args: argparse.Namespace) -> int:
    from accelerate import PartialState

    from mlsimcse.config import load_config
    from mlsimcse.training import train

    config = load_config(args.config, args.overrides)
    model_dir = train(config, resume=args.resume)
    if PartialState().is_main_process:
        print(f"model saved in {model_dir}")
    return 0


def run_encode(args: argparse.Namespace) -> int:
    from mlsimcse.encoder import SentenceEncoder
    from mlsimcse.io_utils import atomic_path, read_sentences

    sentences = read_sentences(args.input)
    encoder = SentenceEncoder.from_pretrained(args.model)
    if args.device:
        encoder.to(args.device)
    embeddings = encoder.encode(sentences, batch_size=args.batch_size, max_length=args.max_length,
                                normalize=args.normalize or None, dtype=args.dtype, show_progress_bar=True)
    output = Path(args.output)
    with atomic_path(output) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, embeddings)
    print(f"wrote {embeddings.shape[0]} x {embeddings.shape[1]} embeddings to {output}")
    return 0
