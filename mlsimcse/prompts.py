"""Prompts, as sentence-transformers has them: a text prepended to every input before tokenisation.

Models such as e5 were trained with a prefix on every input (``query: ``, ``passage: ``) and embed worse
without it. A model folder names its prompts in ``config_sentence_transformers.json`` (``prompts``: name ->
text, and ``default_prompt_name``); ``encode`` takes a ``prompt`` (the text itself) or a ``prompt_name``; a
training source may set a prompt per column; and every evaluation result records the prompt it was scored with,
since the same model can differ by several points with and without one.

Resolution follows sentence-transformers exactly: an explicit ``prompt`` wins, even ``""`` (which is how one asks
for no prompt on a model that has a default), then ``prompt_name``, then the model's default; the prompt is plain
string concatenation, and its tokens are pooled with the sentence's (``include_prompt``, sentence-transformers'
default).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

from mlsimcse.errors import InputError
from mlsimcse.records import OBJECTIVE_COLUMNS, Example


def check_prompts(prompts: Any, default_prompt_name: Any, where: str = "prompts") -> dict[str, str]:
    """A model's prompts as a plain ``{name: text}`` dict; its default must be one of them.

    sentence-transformers stores an unset prompt as ``null``; it means the empty prompt, as there.
    """
    if prompts is None:
        prompts = {}
    if not isinstance(prompts, Mapping):
        raise InputError(f"{where}: prompts must map names to texts, not {type(prompts).__name__}")
    checked = {}
    for name, text in prompts.items():
        if text is not None and not isinstance(text, str):
            raise InputError(f"{where}: prompt {name!r} must be a string, not {type(text).__name__}")
        checked[str(name)] = text or ""
    if default_prompt_name is not None and default_prompt_name not in checked:
        raise InputError(f"{where}: default_prompt_name {default_prompt_name!r} is not one of the prompts "
                         f"{sorted(checked)}")
    return checked


def resolve_prompt(prompts: Mapping[str, str], default_prompt_name: str | None,
                   prompt_name: str | None = None, prompt: str | None = None) -> str:
    """The prompt text an encode call applies ("" for none): ``prompt``, else ``prompt_name``, else the default."""
    if prompt is not None:
        if not isinstance(prompt, str):
            raise InputError(f"prompt must be a string, not {type(prompt).__name__}")
        return prompt
    if prompt_name is not None:
        if prompt_name not in prompts:
            known = ", ".join(sorted(prompts)) or "none"
            raise InputError(f"unknown prompt name {prompt_name!r}; this model's prompts: {known}")
        return prompts[prompt_name]
    if default_prompt_name is not None:
        return prompts.get(default_prompt_name, "")
    return ""


def encoder_prompt(encoder: Any, prompt_name: str | None = None, prompt: str | None = None) -> str:
    """What ``encoder.encode(..., prompt_name=, prompt=)`` prepends, for mlsimcse's encoder and
    sentence-transformers' alike (both expose ``prompts`` and ``default_prompt_name``)."""
    return resolve_prompt(getattr(encoder, "prompts", None) or {}, getattr(encoder, "default_prompt_name", None),
                          prompt_name, prompt)


def with_prompt(texts: Sequence[str], prompt: str) -> list[str]:
    """``texts`` with ``prompt`` in front of each (a copy, unchanged when the prompt is empty)."""
    return [prompt + text for text in texts] if prompt else list(texts)


def check_column_prompts(prompt: Any, columns: Sequence[str], where: str) -> None:
    """A training source's ``prompt``: one text for every column, or ``{column: text}`` with known column names."""
    if prompt is None or isinstance(prompt, str):
        return
    if not isinstance(prompt, Mapping):
        raise InputError(f"{where}: prompt must be a string or a mapping of column names to strings, "
                         f"not {type(prompt).__name__}")
    unknown = sorted(set(prompt) - set(columns))
    if unknown:
        raise InputError(f"{where}: prompt names unknown column(s) {unknown}; columns are {sorted(set(columns))}")
    for column, text in prompt.items():
        if text is not None and not isinstance(text, str):
            raise InputError(f"{where}: prompt for {column!r} must be a string, not {type(text).__name__}")


def column_prompt(prompt: str | Mapping[str, str | None] | None, column: str) -> str:
    """The text a source's ``prompt`` setting puts before texts of ``column`` ("" for none)."""
    if isinstance(prompt, Mapping):
        return prompt.get(column) or ""
    return prompt or ""


def prompted_examples(examples: Sequence[Example], prompt: str | Mapping[str, str | None] | None) -> list[Example]:
    """Examples whose texts carry their source's ``prompt`` (per column), as the encoder and teacher will read
    them; the same objects when there is none."""
    if not prompt:
        return list(examples)
    return [replace(example, texts=tuple(column_prompt(prompt, column) + text for column, text
                                         in zip(OBJECTIVE_COLUMNS[example.objective], example.texts)))
            for example in examples]
