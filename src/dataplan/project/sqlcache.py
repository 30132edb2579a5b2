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
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp

from dataplan.project.sql import RawRef, normalized_sql, parse_query, raw_refs

CACHE_DIR = Path(".dataplan") / "cache"
CACHE_VERSION = 1


@dataclass(frozen=True)
class ParsedSQL:
    normalized: str
    refs: list[RawRef]


class ParseCache:
    def __init__(self, project_dir: Path, dialect: str) -> None:
        self.path = project_dir / CACHE_DIR / f"sql-{dialect}-v{CACHE_VERSION}.json"
        self.salt = f"{dialect}\0{sqlglot.__version__}\0"
        self.dialect = dialect
        self.dirty = False
        try:
            self.entries: dict[str, dict[str, object]] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}
        self.used: set[str] = set()

    def key(self, text: str) -> str:
        return hashlib.sha256((self.salt + text).encode()).hexdigest()

    def get(self, text: str, path: Path) -> tuple[ParsedSQL, exp.Query | None]:
        """References and normalized SQL; the AST too when it had to be parsed now."""
        key = self.key(text)
        self.used.add(key)
        hit = self.entries.get(key)
        if hit is not None:
            refs: list[RawRef] = [tuple(r) for r in hit["refs"]]  # type: ignore[attr-defined]
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
        keep = {k: v for k, v in self.entries.items() if k in self.used}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(keep, separators=(",", ":")), encoding="utf-8")
            tmp.replace(self.path)
        except OSError:
            pass  # a read-only project still loads; it just parses every time
