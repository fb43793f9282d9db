"""The one text key used to spot duplicates and evaluation leaks.

Deduplication, batch guards and decontamination must agree on when two sentences are "the same", or a
sentence removed as an eval leak could still slip in as a batch duplicate. Every comparison goes through
:func:`normalize_text`: Unicode NFKC (full-width and compatibility forms fold together), case-fold (also
folds German sharp s and similar), and runs of whitespace collapse to one space with the ends trimmed.
"""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Comparison key of ``text``: NFKC, case-folded, whitespace collapsed and trimmed."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
