"""``mlsimcse train`` and ``mlsimcse encode``: the two commands around the core encoder.

Like every command module, it imports only light modules at the top, since every start of ``mlsimcse``
builds all the parsers; torch, numpy and the rest are imported by the command that runs.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from mlsimcse.cli_types import add_command, add_precision_option, positive_int
from mlsimcse.shipped import CONFIGS, shipped_files


class _IntermixedParser(argparse.ArgumentParser):
    """Options and ``key=value`` overrides in any order: ``train CFG --resume max_steps=9`` as well.

    Plain argparse takes the positionals in one run, so overrides after an option were "unrecognized".
    The subcommand's parser is switched to this class after ``add_parser`` built it (the parent parser's
    class is used for every subcommand); the flag keeps Python 3.11's intermixed parse, which calls
    ``parse_known_args`` itself, from recursing.
    """

    _mixing = False

    def parse_known_args(self, args=None, namespace=None):
        if self._mixing:
            return super().parse_known_args(args, namespace)
        self._mixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._mixing = False


def register(subparsers: argparse._SubParsersAction) -> None:
    train = add_command(
        subparsers, "train", run_train, "train an encoder from a YAML config",
        epilog="examples:\n  mlsimcse train minilm-cpu-parallel max_steps=50 output_dir=runs/try\n"
               "  mlsimcse train minilm-cpu-parallel --resume max_steps=100 output_dir=runs/try\n"
               "  mlsimcse train my-config.yaml\n"
               + textwrap.fill(f"shipped configs: {', '.join(shipped_files(CONFIGS))}", 79,
                               subsequent_indent="  ", break_on_hyphens=False))
    train.__class__ = _IntermixedParser
    train.add_argument("config", help="YAML file with the training config, or a shipped config's short name")
    train.add_argument("overrides", nargs="*", default=[], metavar="key=value",
                       help="override config values, dotted for nested keys: loss.temperature=0.1")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in output_dir from its newest intact checkpoint, with the settings "
                            "it was started with (only max_steps and the logging, evaluation and saving "
                            "intervals may change)")

    encode = add_command(subparsers, "encode", run_encode, "embed sentences from a text file into a .npy array")
    encode.add_argument("model", help="saved mlsimcse folder, sentence-transformers folder or Hub name")
    encode.add_argument("--input", required=True, help="UTF-8 text file, one sentence per line")
    encode.add_argument("--output", required=True, help="where to write the .npy array")
    encode.add_argument("--batch-size", type=positive_int, default=64, help="sentences per forward pass (default 64)")
    encode.add_argument("--max-length", type=positive_int, default=None, help="truncate at this many tokens")
    encode.add_argument("--normalize", action="store_true", help="L2-normalise the embeddings")
    encode.add_argument("--device", default=None, help="torch device, e.g. cuda:0 (default: cpu)")
    add_precision_option(encode)


def run_train(args: argparse.Namespace) -> int:
    """Train a sentence encoder with contrastive objectives (unsup, sup, parallel, distill, scored). Launch with
    `accelerate launch -m mlsimcse train ...` for several processes or machines."""
    from accelerate import PartialState

    from mlsimcse.config import load_config
    from mlsimcse.training import train

    config = load_config(args.config, args.overrides)
    model_dir = train(config, resume=args.resume)
    if PartialState().is_main_process:
        print(f"model saved in {model_dir}")
    return 0


def run_encode(args: argparse.Namespace) -> int:
    """Embed one sentence per line of INPUT and save a float32 [N, dim] array."""
    import numpy as np

    from mlsimcse.devices import resolve_device
    from mlsimcse.encoder import SentenceEncoder
    from mlsimcse.io_utils import atomic_path, check_output_path
    from mlsimcse.text_lines import read_sentences

    inputs = [args.input, args.model]
    check_output_path(args.output, inputs=inputs)
    device = resolve_device(args.device) if args.device else None
    sentences = read_sentences(args.input)
    encoder = SentenceEncoder.from_pretrained(args.model)
    if device is not None:
        encoder.to(device)
    embeddings = encoder.encode(sentences, batch_size=args.batch_size, max_length=args.max_length,
                                normalize=args.normalize or None, show_progress_bar=True,
                                precision=args.precision)
    output = Path(args.output)
    with atomic_path(output, inputs=inputs) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, embeddings)
    print(f"wrote {embeddings.shape[0]} x {embeddings.shape[1]} embeddings to {output}")
    return 0
