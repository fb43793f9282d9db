"""Typed settings: plain YAML values -> dataclass fields, checked against each field's type hint and rules.

The training config and the data mixture are dataclasses whose type hints say what each setting is. This
module is the one place that turns what a YAML file or a ``key=value`` override holds into those types and
refuses what does not fit, *before* anything is loaded, naming the setting by its dotted key
(``loss.temperature``, ``data.sources[0].weight``) so the caller can add the file, the line or the override.

Numbers are taken the way YAML users write them. PyYAML follows YAML 1.1, which reads ``1e-3`` (no dot) and
``"3"`` as strings and ``1_000`` as 1000; all of these are accepted as the number they plainly mean. What is
refused: a bool where a number is expected (``true`` is not 1), a fraction for a whole number (``6.5`` steps),
``nan``/``inf``, and a number where text is expected (a path or name that looks like a number must be quoted).

Each dataclass calls :func:`check_fields` from ``__post_init__``, so values built in Python get the same
coercion and checks as values read from YAML. Range and choice rules live beside the field, declared with
:func:`setting`; rules across fields stay in the dataclass and raise :class:`FieldError` too.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from typing import Any, Callable

from mlsimcse.errors import InputError
from mlsimcse.yaml_marks import KeyPath

_NUMBER = re.compile(r"[-+]?(\d[\d_]*(\.[\d_]*)?|\.\d[\d_]*)([eE][-+]?\d+)?")
_TRUE, _FALSE = ("true", "yes", "on"), ("false", "no", "off")


class FieldError(InputError):
    """A setting that does not fit its field; ``key`` is its path from the dataclass being built.

    ``problem`` is phrased to follow the key: "must be a number, got 'abc'", "is an unknown key; ...".
    """

    def __init__(self, key: KeyPath, problem: str):
        self.key, self.problem = tuple(key), problem
        super().__init__(f"{dotted(self.key) or 'the settings'} {problem}")

    def under(self, prefix: KeyPath) -> FieldError:
        """The same error seen from an enclosing dataclass whose field ``prefix`` holds this one."""
        return FieldError(tuple(prefix) + self.key, self.problem)


def dotted(key: KeyPath) -> str:
    """``("data", "sources", 0, "weight")`` -> ``data.sources[0].weight``."""
    text = ""
    for part in key:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def setting(default: Any = dataclasses.MISSING, *, factory: Callable[[], Any] | None = None,
            gt: float | None = None, ge: float | None = None, le: float | None = None,
            choices: typing.Iterable[str] | None = None, check: Callable[[Any], None] | None = None) -> Any:
    """A dataclass field with rules: ``gt``/``ge``/``le`` bounds, allowed ``choices``, or a ``check`` that
    raises ``ValueError`` (its message becomes the error). ``None`` in an optional field skips the rules."""
    rules = {"gt": gt, "ge": ge, "le": le, "choices": None if choices is None else tuple(choices), "check": check}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={"rules": rules})
    return dataclasses.field(default=default, metadata={"rules": rules})


def build(cls: type, raw: Any, key: KeyPath = ()) -> Any:
    """Dataclass ``cls`` from a YAML mapping, refusing unknown and missing keys (a typo must not pass silently).

    A bare string stands for a mapping of the class's ``SHORTHAND`` field (a data source given as its path).
    """
    shorthand = getattr(cls, "SHORTHAND", None)
    if shorthand is not None and isinstance(raw, str):
        raw = {shorthand: raw}
    if not isinstance(raw, dict):
        expected = f"a mapping or a {shorthand} string" if shorthand else "a mapping of key: value settings"
        raise FieldError(key, f"must be {expected}, got {_shown(raw)}")
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for name in raw:
        if name not in known:
            raise FieldError(tuple(key) + (str(name),), f"is an unknown key; known keys: {', '.join(sorted(known))}")
    for name, spec in known.items():
        required = spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
        if required and name not in raw:
            raise FieldError(key, f"lacks the required key {name!r}")
    try:
        return cls(**raw)
    except FieldError as err:
        raise err.under(key) from None


def check_fields(obj: Any) -> None:
    """Coerce every field of dataclass ``obj`` to its type hint in place, then apply the field's rules."""
    hints = _hints(type(obj))
    for spec in dataclasses.fields(obj):
        value = coerce(hints[spec.name], getattr(obj, spec.name), (spec.name,))
        _apply_rules(spec.metadata.get("rules"), value, (spec.name,))
        setattr(obj, spec.name, value)


def coerce(hint: Any, value: Any, key: KeyPath) -> Any:
    """``value`` as type ``hint`` (bool, int, float, str, X | None, list[X], dict[str, X], a dataclass)."""
    if hint is Any:
        return value
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(typing.get_args(hint), value, key)
    if value is None:
        raise FieldError(key, "must not be null")
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise FieldError(key, f"must be a list, got {_shown(value)}")
        (item,) = typing.get_args(hint)
        return [coerce(item, entry, tuple(key) + (index,)) for index, entry in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise FieldError(key, f"must be a mapping, got {_shown(value)}")
        key_type, item = typing.get_args(hint)
        return {coerce(key_type, name, tuple(key) + (str(name),)): coerce(item, entry, tuple(key) + (str(name),))
                for name, entry in value.items()}
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            try:
                check_fields(value)  # a section built in Python, maybe changed since
            except FieldError as err:
                raise err.under(key) from None
            return value
        return build(hint, value, key)
    if hint in _SCALARS:
        return _SCALARS[hint](value, key)
    raise TypeError(f"{dotted(key)}: no coercion for type {hint!r}")


def _coerce_union(options: tuple[Any, ...], value: Any, key: KeyPath) -> Any:
    """The first of ``options`` that takes ``value`` (``str | dict[str, str] | None``: a string, a mapping or null)."""
    if value is None and type(None) in options:
        return None
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return coerce(option, value, key)
        except FieldError as err:
            errors.append(err)
    deepest = max(errors, key=lambda err: len(err.key))
    if len(errors) == 1 or len(deepest.key) > len(key):  # a mapping whose entry is wrong: report that entry
        raise deepest
    wanted = " or ".join(_described(option) for option in options if option is not type(None))
    raise FieldError(key, f"must be {wanted}, got {_shown(value)}")


def _to_bool(value: Any, key: KeyPath) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise FieldError(key, f"must be true or false, got {_shown(value)}")


def _to_int(value: Any, key: KeyPath) -> int:
    number = _number(value, key, "a whole number")
    if isinstance(number, float):
        if not number.is_integer():
            raise FieldError(key, f"must be a whole number, got {_shown(value)}")
        return int(number)
    return number


def _to_float(value: Any, key: KeyPath) -> float:
    return float(_number(value, key, "a number"))


def _to_str(value: Any, key: KeyPath) -> str:
    if not isinstance(value, str):
        raise FieldError(key, f"must be a string, got {_shown(value)} (quote it if it is meant as text)")
    return value


_SCALARS: dict[type, Callable[[Any, KeyPath], Any]] = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}


def _number(value: Any, key: KeyPath, expected: str) -> int | float:
    """An int or finite float from a YAML number or a string in number notation (``1e-3``, ``1_000``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise FieldError(key, f"must be {expected}, got {_shown(value)}")
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER.fullmatch(text):
            raise FieldError(key, f"must be {expected}, got {_shown(value)}")
        text = text.replace("_", "")
        value = float(text) if any(c in text for c in ".eE") else int(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldError(key, f"must be {expected}, got {value}")
    return value


def _apply_rules(rules: dict[str, Any] | None, value: Any, key: KeyPath) -> None:
    if not rules or value is None:
        return
    if rules["ge"] is not None and rules["le"] is not None and not rules["ge"] <= value <= rules["le"]:
        raise FieldError(key, f"must be in [{rules['ge']}, {rules['le']}], got {value}")
    if rules["gt"] is not None and not value > rules["gt"]:
        raise FieldError(key, f"must be greater than {rules['gt']}, got {value}")
    if rules["ge"] is not None and not value >= rules["ge"]:
        raise FieldError(key, f"must be at least {rules['ge']}, got {value}")
    if rules["le"] is not None and not value <= rules["le"]:
        raise FieldError(key, f"must be at most {rules['le']}, got {value}")
    if rules["choices"] is not None and value not in rules["choices"]:
        raise FieldError(key, f"must be one of {', '.join(rules['choices'])}; got {_shown(value)}")
    if rules["check"] is not None:
        try:
            rules["check"](value)
        except ValueError as err:
            raise FieldError(key, f"is not valid: {getattr(err, 'reason', None) or err}") from None


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _described(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (list, dict):
        return "a list" if origin is list else "a mapping"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(hint, "a mapping")


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'}"
    return repr(value)
