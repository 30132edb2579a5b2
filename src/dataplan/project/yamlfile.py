"""YAML reading that remembers where each value came from.

Errors about a YAML value must name the file and line, so every load returns
the data together with a ``LineIndex`` (key path -> line number).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dataplan.errors import ConfigError, ProjectError

KeyPath = tuple[str | int, ...]
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed: several times faster
_MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.YAMLError):
    """A key written twice in one mapping: YAML would silently keep the last."""

    def __init__(self, key: Any, line: int, first_line: int) -> None:
        super().__init__(f"duplicate key {key!r} (first at line {first_line})")
        self.key = key
        self.line = line
        self.first_line = first_line


class _Loader(_BaseLoader):
    """The safe loader (still libyaml's parser when installed) refusing a key written twice in one mapping.

    Only the constructor changes: the check runs over the keys of each mapping node as it is built, so
    parsing stays in C. Keys brought in by a merge (``<<: *base``) may be overridden, as YAML intends."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=deep)
                line = key_node.start_mark.line + 1
                try:
                    if key in seen:
                        raise DuplicateKeyError(key, line, seen[key])
                    seen[key] = line
                except TypeError:  # an unhashable key: the base constructor says so
                    continue
        return super().construct_mapping(node, deep=deep)


@dataclass
class LineIndex:
    """Key path -> line, built only when an error needs a line (composing costs as much as loading)."""

    path: Path
    text: str = ""
    _lines: dict[KeyPath, int] | None = field(default=None, repr=False)

    @property
    def lines(self) -> dict[KeyPath, int]:
        if self._lines is None:
            self._lines = {}
            node = yaml.compose(self.text, Loader=_Loader)
            if node is not None:
                _index(node, (), self._lines)
        return self._lines

    def line(self, key: KeyPath) -> int | None:
        """Line of ``key``, or of its nearest ancestor that has one."""
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)


def _index(node: yaml.Node, prefix: KeyPath, out: dict[KeyPath, int]) -> None:
    out.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = prefix + (str(key_node.value),)
            out[key] = key_node.start_mark.line + 1
            _index(value_node, key, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, prefix + (i,), out)


def load_yaml(path: Path, *, error: type[ProjectError] | type[ConfigError] = ProjectError) -> tuple[Any, LineIndex]:
    """Parse ``path``; malformed YAML raises ``error`` naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"cannot read file: {exc.strerror}", path=path) from exc
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise error("the file is not UTF-8 text", path=path, line=line, hint="save it as UTF-8") from exc
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader (C or Python)
    except DuplicateKeyError as exc:
        raise error(
            f"duplicate key {_key_text(exc.key)} (first at line {exc.first_line})",
            path=path,
            line=exc.line,
            hint="keep one of the two: YAML would silently use only the last",
        ) from exc
    except yaml.YAMLError as exc:
        # For an unclosed bracket or quote the context mark (where it opened) beats the
        # problem mark, which points past it, often at the end of the file. For a block
        # list or mapping, the context is where the block began and the problem (a line
        # indented wrongly) is the line to fix.
        context = str(getattr(exc, "context", None) or "")
        context_mark = getattr(exc, "context_mark", None)
        problem_mark = getattr(exc, "problem_mark", None)
        in_block = context.startswith("while parsing a block")
        mark = (problem_mark or context_mark) if in_block else (context_mark or problem_mark)
        problem = getattr(exc, "problem", None) or str(exc)
        if in_block and context_mark and problem_mark and context_mark.line != problem_mark.line:
            what = "list" if "collection" in context else "mapping"
            problem = f"{problem} (in the {what} that starts at line {context_mark.line + 1}: check the indentation)"
        raise error(
            f"malformed YAML: {problem}",
            path=path,
            line=mark.line + 1 if mark is not None else None,
            hint="fix the YAML syntax at that line (indentation, quotes, colons)",
        ) from exc
    except ValueError as exc:  # a value YAML reads as a date or time, but not a real one: 2024-31-01
        bad = next(_bad_timestamps(text), None)
        raise error(
            f"malformed YAML: {repr(bad.value) if bad else 'a value'} is not a valid date: {exc}",
            path=path,
            line=bad.start_mark.line + 1 if bad else None,
            hint="write dates as YYYY-MM-DD, or quote the value if it is not a date",
        ) from exc
    return data, LineIndex(path, text)


def _key_text(key: Any) -> str:
    return repr(key) if isinstance(key, str) else f"'{key}'"


def _bad_timestamps(text: str) -> Iterator[yaml.ScalarNode]:
    """The scalars YAML reads as timestamps that are not valid dates or times, in file order."""
    constructor = yaml.SafeLoader("")
    stack = [yaml.compose(text, Loader=_Loader)]
    while stack:
        node = stack.pop(0)
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:timestamp":
            try:
                constructor.construct_yaml_timestamp(node)
            except ValueError:
                yield node
        elif isinstance(node, yaml.MappingNode):
            stack[:0] = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            stack[:0] = list(node.value)


def substitute_env(data: Any, index: LineIndex, key: KeyPath = ()) -> Any:
    """Replace ``${VAR}`` in every string; a missing variable, or an empty one that is the whole value, is a
    ConfigError."""
    if isinstance(data, dict):
        return {k: substitute_env(v, index, key + (str(k),)) for k, v in data.items()}
    if isinstance(data, list):
        return [substitute_env(v, index, key + (i,)) for i, v in enumerate(data)]
    if isinstance(data, str):

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(
                    f"environment variable {name} is not set (used by {'.'.join(map(str, key))})",
                    path=index.path,
                    line=index.line(key),
                    hint=f"export {name}=... before running dataplan",
                )
            return os.environ[name]

        value = _ENV_REF.sub(repl, data)
        if not value and data:  # `dsn: ${WAREHOUSE_DSN}` with the variable set to "": never a setting meant
            names = ", ".join(_ENV_REF.findall(data))
            raise ConfigError(
                f"environment variable {names} is empty (used by {'.'.join(map(str, key))})",
                path=index.path,
                line=index.line(key),
                hint=f"export {names.split(', ')[0]}=... with a value before running dataplan",
            )
        return value
    return data
