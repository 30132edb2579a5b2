"""A content-addressed cache of what loading needs from each model's SQL.

Parsing is most of the cost of loading a project (a few ms per model with
sqlglot). Loading only needs each model's table references and its
normalized SQL, so those are cached under a hash of the file's text, the
dialect and the sqlglot version; the AST itself is parsed only when a model
is built, planned or traced. The cache lives in ``<project>/.dataplan/cache``
and is safe to delete.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from dataplan.project.sql import RawRef, normalized_sql, parse_query, raw_refs

CACHE_DIR = Path(".dataplan") / "cache"
CACHE_VERSION = 3


@dataclass(frozen=True)
class ParsedSQL:
    normalized: str
    refs: list[RawRef]


def _read(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, entries: dict[str, dict[str, Any]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entries, separators=(",", ":")), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only project still works; it just computes everything every time


class _ContentCache:
    """Entries keyed by a hash of a model's SQL text, the dialect and the sqlglot version."""

    def __init__(self, path: Path, dialect: str) -> None:
        self.path = path
        self.salt = f"{dialect}\0{sqlglot.__version__}\0"
        self.dialect = dialect
        self.dirty = False
        self.entries = _read(path)
        self.used: set[str] = set()

    def key(self, text: str) -> str:
        return hashlib.sha256((self.salt + text).encode()).hexdigest()


class ParseCache(_ContentCache):
    def __init__(self, project_dir: Path, dialect: str) -> None:
        super().__init__(project_dir / CACHE_DIR / f"sql-{dialect}-v{CACHE_VERSION}.json", dialect)

    def get(self, text: str, path: Path) -> tuple[ParsedSQL, exp.Query | None]:
        """References and normalized SQL; the AST too when it had to be parsed now."""
        key = self.key(text)
        self.used.add(key)
        hit = self.entries.get(key)
        if hit is not None:
            refs: list[RawRef] = [tuple(r) for r in hit["refs"]]
            return ParsedSQL(str(hit["normalized"]), refs), None
        query = parse_query(text, self.dialect, path)
        parsed = ParsedSQL(normalized_sql(query, self.dialect), raw_refs(query))
        self.entries[key] = {"normalized": parsed.normalized, "refs": parsed.refs}
        self.dirty = True
        return parsed, query

    def save(self) -> None:
        """Write the cache (entries of files that no longer exist are dropped)."""
        if not self.dirty and len(self.used) == len(self.entries):
            return
        _write(self.path, {k: v for k, v in self.entries.items() if k in self.used})


class AnalysisCache(_ContentCache):
    """What plans compute from a model's SQL alone (columns read, column lineage), cached by its text.

    Plans trace the columns every indirectly modified model reads, which without a cache means parsing
    each one. The entries keep tables as written, not resolved, so they stay valid when other models
    are added or renamed; resolving them is a dictionary lookup per table.
    """

    def __init__(self, project_dir: Path, dialect: str) -> None:
        super().__init__(project_dir / CACHE_DIR / f"analysis-{dialect}-v{CACHE_VERSION}.json", dialect)

    def get(self, text: str, kind: str, compute: Callable[[], Any]) -> Any:
        """The cached ``kind`` figure of ``text``, computed (and kept for ``save``) on a miss."""
        key = self.key(text)
        entry = self.entries.setdefault(key, {})
        if kind not in entry:
            entry[kind] = compute()
            self.dirty = True
        return entry[kind]

    def save(self, texts: Iterable[str]) -> None:
        """Write the cache, keeping the entries of ``texts`` (the project's current model files)."""
        if not self.dirty:
            return
        live = {self.key(t) for t in texts}
        _write(self.path, {k: v for k, v in self.entries.items() if k in live and v})
        self.dirty = False
