"""Which model or source a table reference names: ``<layer>.<name>``, a bare name, ``<source>.<table>``."""

from __future__ import annotations

from difflib import get_close_matches

from sqlglot import exp

from dataplan.config import ProjectConfig
from dataplan.project.nodes import Model, SourceTable
from dataplan.project.sql import Resolved

__all__ = ["ReferenceResolver", "make_resolver"]


class ReferenceResolver:
    """Maps a table reference to the model or source it names (None: unknown)."""

    def __init__(self, config: ProjectConfig, models: dict[str, Model], sources: dict[str, SourceTable]) -> None:
        self.by_layer = {(m.layer.lower(), m.name.lower()): m.name for m in models.values()}
        self.by_layer.update({(config.schema_for(m.layer).lower(), m.name.lower()): m.name for m in models.values()})
        self.by_name = {m.name.lower(): m.name for m in models.values()}
        self.by_source = {k.lower(): k for k in sources}

    def __call__(self, table: exp.Table) -> Resolved | None:
        return self.parts(table.catalog, table.db, table.name)

    def parts(self, catalog: str, db: str, name: str) -> Resolved | None:
        if catalog:
            return None
        db, name = db.lower(), name.lower()
        if db:
            if f"{db}.{name}" in self.by_source:
                return Resolved("source", self.by_source[f"{db}.{name}"])
            if (db, name) in self.by_layer:
                return Resolved("model", self.by_layer[(db, name)])
            return None
        return Resolved("model", self.by_name[name]) if name in self.by_name else None

    def suggest(self, written: str) -> list[str]:
        """The names close to ``written`` (a misspelled reference), as one would write them."""
        names = {f"{layer}.{name}" for layer, name in self.by_layer} | set(self.by_name) | set(self.by_source)
        written = written.lower().replace('"', "")
        pool = sorted(n for n in names if ("." in n) == ("." in written))  # like for like: bare or qualified
        return get_close_matches(written, pool, n=2, cutoff=0.75)

    def dotted(self, text: str) -> Resolved | None:
        """Resolves a name written in YAML, such as a relationships test's ``to``."""
        parts = text.split(".")
        return self.parts("", *([""] * (2 - len(parts)) + parts)) if len(parts) <= 2 else None


def make_resolver(
    config: ProjectConfig, models: dict[str, Model], sources: dict[str, SourceTable]
) -> ReferenceResolver:
    return ReferenceResolver(config, models, sources)
