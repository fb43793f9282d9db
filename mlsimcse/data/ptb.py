"""Undo Penn-Treebank tokenisation (as in the InferSent/e-SNLI copy of SNLI).

The encoder sees raw text at inference time; training on "do n't" and "packages ." would teach it a
tokenisation nobody types.
"""

from __future__ import annotations

import re

_BRACKETS = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(\S) (n't|'s|'m|'re|'ve|'d|'ll)\b", re.IGNORECASE), r"\1\2"),
    (re.compile(r"`` ?"), '"'),
    (re.compile(r" ?''"), '"'),
    (re.compile(r" ([.,;:!?%)\]}])"), r"\1"),
    (re.compile(r"([(\[{$]) "), r"\1"),
    (re.compile(r"\s+"), " "),
]


def detokenize_ptb(text: str) -> str:
    """Join PTB tokens back into ordinary text: ``do n't`` -> ``don't``, ``end .`` -> ``end.``."""
    for token, bracket in _BRACKETS.items():
        text = text.replace(token, bracket)
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text.strip()
