"""Read a YAML mapping together with the line of every key, so an error about a setting can point at it.

``yaml.safe_load`` keeps only the values; the composed node tree still has each node's position. One pass
builds both: the plain data, and ``lines`` mapping a key path (``("data", "sources", 0, "weight")``) to its
1-based line. A key given twice in one mapping is refused here: PyYAML would silently keep the last one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mlsimcse.errors import InputError

KeyPath = tuple[str | int, ...]


def read_yaml_mapping(path: Path, what: str) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """The mapping in ``path`` and the line of each key path; ``what`` ("config", "recipe") words the errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{what} file not found", path=path) from None
    except UnicodeDecodeError as err:
        line = err.object[:err.start].count(b"\n") + 1
        raise InputError(f"the {what} file is not UTF-8 text ({err.reason} at byte {err.start})",
                         path=path, line=line) from None
    except OSError as err:
        raise InputError(f"cannot read the {what} file: {err.strerror}", path=path) from None
    loader = yaml.SafeLoader(text)
    lines: dict[KeyPath, int] = {}
    try:
        node = loader.get_single_node()
        if node is None:
            raise InputError(f"the {what} file is empty", path=path)
        _collect_lines(node, (), lines, path)  # before constructing, which rewrites merged (<<) mappings
        data = loader.construct_document(node)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise InputError(f"invalid YAML: {getattr(err, 'problem', None) or err}", path=path,
                         line=None if mark is None else mark.line + 1) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise InputError(f"a {what} must be a YAML mapping of key: value settings, not a {_kind(node)}",
                         path=path, line=node.start_mark.line + 1)
    return data, lines


def line_of(lines: dict[KeyPath, int], key: KeyPath) -> int | None:
    """The line of ``key``, else of its nearest enclosing key that the file names (None: not in the file)."""
    for end in range(len(key), 0, -1):
        if key[:end] in lines:
            return lines[key[:end]]
    return None


def _collect_lines(node: yaml.Node, key: KeyPath, lines: dict[KeyPath, int], path: Path) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if name is None or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if name in seen:
                raise InputError(f"{'.'.join(map(str, key + (name,)))}: key given twice in one mapping",
                                 path=path, line=key_node.start_mark.line + 1)
            seen.add(name)
            lines[key + (name,)] = key_node.start_mark.line + 1
            _collect_lines(value_node, key + (name,), lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[key + (index,)] = item.start_mark.line + 1
            _collect_lines(item, key + (index,), lines, path)


def _kind(node: yaml.Node) -> str:
    return "list" if isinstance(node, yaml.SequenceNode) else "single value"
