"""The loaded project's nodes: models, source tables, exposures, singular tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Literal

import sqlglot
from sqlglot import exp

from dataplan.config import Materialization
from dataplan.errors import ProjectError
from dataplan.project.specs import ExposureSpec, ModelSpec, SourceSpec, SourceTableSpec, TestSpec
from dataplan.project.sql import RawRef, parse_query, predicate_columns
from dataplan.project.yamlfile import KeyPath, LineIndex

PARTITION = "dt"  # the hive partition column of dt=YYYY-MM-DD folders, read as a DATE


def partitioned(root: Path) -> bool:
    """A source table's files lie in ``dt=...`` folders."""
    return root.is_dir() and any(p.is_dir() and p.name.startswith(f"{PARTITION}=") for p in root.iterdir())


@dataclass
class SourceTable:
    """One table of a source: a warehouse table or a set of files."""

    source: SourceSpec
    spec: SourceTableSpec
    project_dir: Path
    tests: list[TestSpec] = field(default_factory=list)
    # Where it is declared in sources.yml: the file's line index and the key of the table's entry.
    yaml_index: LineIndex | None = field(default=None, repr=False)
    yaml_key: KeyPath = ()

    @property
    def name(self) -> str:
        return f"{self.source.name}.{self.spec.name}"

    def where(self, *source_key: str) -> tuple[Path | None, int | None]:
        """(path, line) for an error: sources.yml and the line of ``source_key`` (e.g. ``"path"``) in the
        source's entry, or of the table's entry; (None, None) when it was not loaded from a file."""
        if self.yaml_index is None:
            return None, None
        key = (*self.yaml_key[:2], *source_key) if source_key else self.yaml_key
        return self.yaml_index.path, self.yaml_index.line(key)

    @property
    def is_files(self) -> bool:
        return self.source.format is not None

    @property
    def files_root(self) -> Path:
        assert self.source.path is not None
        root = Path(self.source.path)
        return (root if root.is_absolute() else self.project_dir / root) / self.spec.name

    def identity(self) -> str:
        """What about the source changes the data a model reads from it."""
        if self.is_files:
            # Relative to the project when inside it: a clone at another path is the same project.
            root = self.files_root
            where = root.relative_to(self.project_dir).as_posix() if root.is_relative_to(self.project_dir) else root
            # The layout too: files moved into dt= folders are read by another pattern, with a dt column,
            # so the models reading them are rebuilt (a flat source keeps the identity it always had).
            layout = f":{PARTITION}=" if partitioned(root) else ""
            return f"files:{self.source.format}:{where}{layout}"
        return f"table:{self.source.schema_ or self.source.name}.{self.spec.name}"


@dataclass(frozen=True)
class ColumnRead:
    """A column a model's grain or one of its tests names, and where (a key in the model's YAML)."""

    what: str  # "test not_null(id)", "grain column id"
    column: str
    key: KeyPath
    quoted: bool = False  # written "quoted" in an expression: an identifier, maybe meant as a string


@dataclass
class Model:
    name: str
    layer: str
    path: Path
    kind: Literal["sql", "seed"]
    spec: ModelSpec
    materialized: Materialization
    sql_text: str = ""
    dialect: str = "duckdb"
    normalized: str = ""  # formatting- and comment-free SQL: the fingerprint's input ("" for seeds)
    refs: list[RawRef] = field(default_factory=list)  # table references as written (parse cache)
    parents: list[str] = field(default_factory=list)  # model names
    sources: list[str] = field(default_factory=list)  # "<source>.<table>"
    tests: list[TestSpec] = field(default_factory=list)
    yaml_path: Path | None = None
    # Where its configuration sits in yaml_path: the file's line index (built only when a line is asked
    # for) and the key of its entry.
    yaml_index: LineIndex | None = field(default=None, repr=False)
    yaml_key: KeyPath = ()
    # Where each of ``tests`` is declared in yaml_path (same order), and whether the loader checked the
    # columns the tests and grain name against the SELECT's output (not when unknown without the engine).
    test_keys: list[KeyPath] = field(default_factory=list, repr=False)
    test_columns_checked: bool = False

    _query: exp.Query | None = field(default=None, repr=False)

    def column_reads(self) -> list[ColumnRead]:
        """The columns of its own output that its grain and tests name (a relationships ``field`` is its
        parent's), in declaration order."""
        reads = [ColumnRead(f"grain column {c}", c, (*self.yaml_key, "grain")) for c in self.spec.grain]
        for spec, key in zip(self.tests, self.test_keys, strict=False):
            if spec.column is not None:
                reads.append(ColumnRead(f"test {spec.name}", spec.column, key))
            if spec.kind == "expression":  # parsed when loading: a syntax error stopped there
                predicate = sqlglot.parse_one(str(spec.args["expr"]), read=self.dialect)
                reads += [
                    ColumnRead(f"test {spec.name}", col.name, key, col.this.quoted)
                    for col in predicate_columns(predicate, self.name)
                ]
        return reads

    def unknown_column(
        self, known: set[str], outputs: str, reads: list[ColumnRead] | None = None
    ) -> ProjectError | None:
        """The error for the first column its grain or tests name (``reads``, by default all) that is not in
        ``known`` (lower-cased); ``outputs`` says whose columns those are (``stg_orders.sql outputs``)."""
        for read in self.column_reads() if reads is None else reads:
            if read.column.lower() in known:
                continue
            close = get_close_matches(read.column.lower(), sorted(known), n=1)
            string = "; a string is written in single quotes ('...')" if read.quoted else ""
            return ProjectError(
                f"{read.what}: model {self.fqn} has no column {read.column}",
                path=self.yaml_path,
                line=self.yaml_index.line(read.key) if self.yaml_index is not None else None,
                hint=(f"did you mean {close[0]}? " if close else "") + f"{outputs}: {', '.join(sorted(known))}{string}",
            )
        return None

    def spec_line(self, *key: str | int) -> int | None:
        """The line of ``key`` (e.g. ``"columns"``) in the model's configuration, or of its entry."""
        return self.yaml_index.line((*self.yaml_key, *key)) if self.yaml_index is not None else None

    @property
    def query(self) -> exp.Query | None:
        """The parsed SELECT (None for seeds), parsed on first use: loading works from the cache."""
        if self.kind == "seed":
            return None
        if self._query is None:
            self._query = parse_query(self.sql_text, self.dialect, self.path)
        return self._query

    @property
    def fqn(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def columns_declared(self) -> dict[str, str | None]:
        return {c.name: c.type for c in self.spec.columns}


@dataclass
class SingularTest:
    name: str
    path: Path
    query: exp.Query
    parents: list[str]
    sources: list[str]
    severity: Literal["warn", "error"] = "error"


@dataclass
class Exposure:
    spec: ExposureSpec
    path: Path

    @property
    def name(self) -> str:
        return self.spec.name
