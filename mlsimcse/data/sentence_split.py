"""Cut running text (Wikipedia paragraphs) into sentences for unsup training.

SimCSE's unsup data is one sentence per line; a whole article as one "sentence" would be truncated by the
tokenizer and teach nothing about sentence meaning. A punctuation rule is enough here because length
filters drop the fragments it gets wrong.
"""

from __future__ import annotations

import re

_BOUNDARY = re.compile(r"(?<=[.!?;])\s+(?=\S)|(?<=[。！？])|\n+")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, stripped, empty pieces removed."""
    return [piece.strip() for piece in _BOUNDARY.split(text) if piece and piece.strip()]
