"""Shared fixtures: a tiny randomly initialised BERT (built, never downloaded) and paths to the shared data."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

from mlsimcse.encoder import SentenceEncoder  # noqa: E402
from mlsimcse.paths import SHARED_E5, data_root, models_root, shared_multilingual_model  # noqa: E402
from process_support import torch_threads  # noqa: E402

WORDS = ("the a man woman dog cat is are plays playing guitar piano runs running eats food park street red blue "
         "green big small house car sits on in with and of to der die das mann frau hund katze spielt gitarre "
         "le la homme femme chien chat joue el perro gato toca").split()


def build_tiny_bert(folder: Path, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    """Save a 2-layer BERT with a WordPiece vocabulary of the words above into ``folder``."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(WORDS)) + list("abcdefghijklmnopqrstuvwxyz.,!?")
    vocab += ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"]
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(vocab=str(vocab_file), do_lower_case=True)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=64,
                        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = data_root()
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root} (set MLSIMCSE_DATA_ROOT)")
    return root


@pytest.fixture(scope="session")
def minilm() -> Path:
    path = models_root() / "all-MiniLM-L6-v2"
    if not path.is_dir():
        pytest.skip(f"shared model not found at {path} (set MLSIMCSE_MODELS_ROOT)")
    return path


@pytest.fixture(scope="session")
def multilingual_e5() -> Path:
    """The shared multilingual-e5-small as a local folder (materialised once per machine on first use)."""
    path = shared_multilingual_model()
    if path is None:
        pytest.skip(f"shared model not found at {models_root() / SHARED_E5} (set MLSIMCSE_MODELS_ROOT)")
    return path


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a module: small batches run fastest so, and many times faster than on two
    contended cores (an e5 forward of two sentences: 0.1 s against 1-4 s on a loaded 2-core machine)."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def random_encoder(tiny_bert) -> SentenceEncoder:
    """The tiny BERT with its matrices redrawn at std 0.3.

    At BERT's usual 0.02 a random 2-layer model gives every sentence nearly the same vector; the loss then
    cancels almost completely and fp32 rounding dominates the gradients being compared.
    """
    torch.manual_seed(0)
    encoder = SentenceEncoder.from_pretrained(tiny_bert, "cls_mlp")
    with torch.no_grad():
        for param in encoder.parameters():
            if param.ndim == 2:
                param.normal_(0.0, 0.3)
    return encoder
