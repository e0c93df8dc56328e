"""Strict YAML loading: safe parsing, and errors that name the file, the line and the key.

`load(path)` returns plain data plus a `Where` that knows the line of every key, so typed config
classes can reject unknown keys and wrong types with a message a user can act on.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from eip.errors import EipError


class ConfigError(EipError):
    """A configuration file is wrong; the message names the file, line and key."""


@dataclass(frozen=True)
class Where:
    """The position of a value: file, dotted key path and line (1-based)."""

    file: str
    path: str
    line: int
    lines: dict  # dotted path -> line of every key below the document root

    def at(self, key: str | int) -> "Where":
        path = f"{self.path}.{key}" if self.path else str(key)
        return Where(self.file, path, self.lines.get(path, self.line), self.lines)

    def error(self, message: str) -> ConfigError:
        key = f" {self.path}:" if self.path else ""
        return ConfigError(f"{self.file}:{self.line}:{key} {message}")


def _to_python(node: yaml.Node, path: str, lines: dict) -> Any:
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = key_node.value
            sub = f"{path}.{key}" if path else str(key)
            if key in out:
                raise ConfigError(f"line {key_node.start_mark.line + 1}: duplicate key {sub!r}")
            lines[sub] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, sub, lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            sub = f"{path}.{i}" if path else str(i)
            lines[sub] = item.start_mark.line + 1
            items.append(_to_python(item, sub, lines))
        return items
    return yaml.safe_load(yaml.serialize(node))


def load_text(text: str, file: str = "<string>") -> tuple[Any, Where]:
    """Parse YAML text safely; return the data and the root Where."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}" if mark else "?"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{file}:{line}: not valid YAML: {problem}") from None
    lines: dict = {}
    data = {} if node is None else _to_python(node, "", lines)
    return data, Where(file, "", 1, lines)


def load(path: str | Path) -> tuple[Any, Where]:
    """Read and parse a YAML file; a missing or unreadable file is a ConfigError naming it."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return load_text(text, str(path))


def mapping(value: Any, where: Where, allowed: set[str], required: set[str] = frozenset()) -> dict:
    """Check that `value` is a mapping with only `allowed` keys and all `required` ones."""
    if not isinstance(value, dict):
        raise where.error(f"expected a mapping, got {type(value).__name__}")
    for key in value:
        if key not in allowed:
            raise where.at(key).error(
                f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})"
            )
    for key in sorted(required - set(value)):
        raise where.error(f"missing required key {key!r}")
    return value


def typed(value: Any, where: Where, kind: type | tuple, what: str = "") -> Any:
    """Check the type of a scalar (bool is not accepted where a number is asked)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = False if isinstance(value, bool) and bool not in kinds else isinstance(value, kinds)
    if not ok:
        names = " or ".join(k.__name__ for k in kinds)
        raise where.error(f"expected {what or names}, got {value!r}")
    return value
