"""What changed in a seed: its CSV compared with the environment's version of it, column by column.

A seed has no SQL to diff, so its columns are compared by their data. Seeds are small by design (a file in
the repository), so both sides are read whole: the new rows as every build reads the file (``read_seed``),
the old ones from the version table in the order they were loaded. With as many rows on both sides, a
column whose values are the same in every row, with the same engine type, did not change; children that
read only such columns keep their versions, as they do for a model whose SQL changed elsewhere. Rows
added or removed change every column.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from dataplan.backends.base import Backend, table
from dataplan.build.contracts import types_match
from dataplan.build.versions import read_seed
from dataplan.project.nodes import Model
from dataplan.state.store import Version


@dataclass(frozen=True)
class SeedDiff:
    """``rows``: (old, new) row counts. The column sets are empty when nothing in them changed."""

    rows: tuple[int, int]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)  # values or engine type differ
    reordered: bool = False  # the same rows in another order: no data change

    @property
    def rows_change(self) -> bool:
        return self.rows[0] != self.rows[1]


def _key(value: Any) -> tuple[str, str]:
    return type(value).__name__, repr(value)


def diff_seed(backend: Backend, state_schema: str, model: Model, old: Version) -> SeedDiff | None:
    """None when the old version did not record its columns (built by an older dataplan): all changed."""
    if not old.columns:
        return None
    new = read_seed(model)
    new_types = {c.name: c.type for c in backend.arrow_columns(new.schema)}
    old_types = dict(old.columns)
    old_rows = backend.fetch_rows(exp.select(*[exp.column(c, quoted=True) for c in old_types]).from_(
        table(state_schema, old.version_id)
    ))  # fmt: skip
    rows = (len(old_rows), new.num_rows)
    added = [c for c in new_types if c not in old_types]
    removed = [c for c in old_types if c not in new_types]
    shared = [c for c in old_types if c in new_types]
    if rows[0] != rows[1]:
        return SeedDiff(rows, added, removed, shared)
    position = {c: i for i, c in enumerate(old_types)}
    values = {c: new.column(c).to_pylist() for c in shared}
    dialect = backend.dialect
    retyped = {c for c in shared if not types_match(old_types[c], new_types[c], dialect, dialect)}  # int8 = bigint

    def differs(c: str) -> bool:
        return c in retyped or any(r[position[c]] != v for r, v in zip(old_rows, values[c], strict=True))

    modified = [c for c in shared if differs(c)]
    reordered = False
    if modified and not (added or removed or retyped):
        # The same rows in another order (a sorted file) change no data: compare the rows as multisets.
        new_rows = zip(*[values[c] for c in shared], strict=True)
        as_key = [tuple(_key(v) for v in row) for row in new_rows]
        reordered = Counter(as_key) == Counter(tuple(_key(row[position[c]]) for c in shared) for row in old_rows)
    return SeedDiff(rows, added, removed, [] if reordered else modified, reordered)
