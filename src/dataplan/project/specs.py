"""pydantic schemas of the project's YAML files (models, sources, exposures)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from dataplan.config import Materialization, RollbackTriggers

Severity = Literal["warn", "error"]
# Each test's argument names; a column test may also name its `column` when declared under the model.
TEST_ARGS: dict[str, tuple[str, ...]] = {
    "not_null": (),
    "unique": (),
    "accepted_values": ("values",),
    "relationships": ("to", "field"),
    "expression": ("expr",),
    "row_count": ("min", "max"),
}
TEST_KINDS = tuple(TEST_ARGS)
COLUMN_TESTS = ("not_null", "unique", "accepted_values", "relationships")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TestSpec(_Strict):  # noqa: D101 - not a pytest class despite the name
    __test__ = False

    """One declared test, normalised from the shorthand YAML forms."""

    kind: str
    column: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    severity: Severity = "error"

    @property
    def name(self) -> str:
        """Short and stable, and distinct for several tests of one kind on a model."""
        if self.kind == "expression":
            return f"expression({' '.join(str(self.args['expr']).split())})"
        if self.kind == "row_count":
            lo, hi = self.args.get("min"), self.args.get("max")
            return f"row_count[{'' if lo is None else lo}..{'' if hi is None else hi}]"
        return f"{self.kind}({self.column})" if self.column else self.kind

    @classmethod
    def parse(cls, raw: Any, column: str | None) -> TestSpec:
        if isinstance(raw, str):
            kind, args, severities = raw, {}, []
        elif isinstance(raw, dict):
            raw = dict(raw)
            severities = [raw.pop("severity")] if "severity" in raw else []
            if len(raw) != 1:
                raise ValueError(f"a test is one name with its arguments, got keys {sorted(raw)}")
            kind, args = next(iter(raw.items()))
            if args is None:  # `- not_null:` with nothing after the colon
                args = {}
            elif not isinstance(args, dict):
                if kind != "expression":
                    raise ValueError(f"the arguments of {kind} are a mapping, got {args!r}")
                args = {"expr": args}
            args = dict(args)
        else:
            raise ValueError(f"a test is a name or a mapping, got {raw!r}")
        if kind not in TEST_KINDS:
            raise ValueError(f"unknown test {kind!r}; known tests: {', '.join(TEST_KINDS)}")
        # Severity may also sit among the arguments, or in dbt's `config: {severity: ...}`.
        if "severity" in args:
            severities.append(args.pop("severity"))
        if "config" in args:
            config = args.pop("config")
            if not isinstance(config, dict) or set(config) - {"severity"}:
                raise ValueError("a test's `config` takes only `severity`")
            severities += [config["severity"]] if "severity" in config else []
        allowed = TEST_ARGS[kind] + (("column",) if kind in COLUMN_TESTS and column is None else ())
        unknown = sorted(set(args) - set(allowed))
        if unknown:
            known = ", ".join(allowed + ("severity",))
            raise ValueError(f"unknown argument {', '.join(unknown)} for test {kind}; it takes: {known}")
        if kind == "accepted_values" and not isinstance(args.get("values"), list):
            raise ValueError("accepted_values needs `values: [...]`")
        if kind == "relationships" and not ({"to", "field"} <= set(args)):
            raise ValueError("relationships needs `to` and `field`")
        if kind == "expression" and not isinstance(args.get("expr"), str):
            raise ValueError('expression needs a SQL predicate, e.g. `expression: "amount >= 0"`')
        if kind == "row_count" and not ({"min", "max"} & set(args)):
            raise ValueError("row_count needs `min` and/or `max`")
        if kind == "row_count" and any(not isinstance(args.get(k, 0), int) for k in ("min", "max")):
            raise ValueError("row_count's `min` and `max` are whole numbers")
        if kind in COLUMN_TESTS and column is None:
            if "column" not in args:
                raise ValueError(f"{kind} is a column test: declare it under a column")
            column = str(args.pop("column"))
        if len(set(severities)) > 1:
            raise ValueError(f"the test gives two severities: {', '.join(map(str, severities))}")
        severity = severities[0] if severities else "error"
        if severity not in ("warn", "error"):
            raise ValueError(f"severity must be warn or error, got {severity!r}")
        return cls(kind=kind, column=column, args=args, severity=severity)  # type: ignore[arg-type]


class ColumnSpec(_Strict):
    name: str
    type: str | None = None
    description: str | None = None
    tests: list[Any] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)


class ContractSpec(_Strict):
    enforced: bool = False


class ModelSpec(_Strict):
    name: str
    description: str | None = None
    materialized: Materialization | None = None
    grain: list[str] = Field(default_factory=list)
    contract: ContractSpec = Field(default_factory=ContractSpec)
    columns: list[ColumnSpec] = Field(default_factory=list)
    tests: list[Any] = Field(default_factory=list)
    time_column: str | None = None
    start: dt.date | None = None
    batch_days: int | None = Field(default=None, gt=0)
    lookback_days: int = Field(default=0, ge=0)
    rollback_when: RollbackTriggers | None = None
    tags: list[str] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("grain", mode="before")
    @classmethod
    def _grain_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class ModelsFile(_Strict):
    version: int | None = None
    models: list[ModelSpec] = Field(default_factory=list)


class SourceTableSpec(_Strict):
    name: str
    description: str | None = None
    columns: list[ColumnSpec] = Field(default_factory=list)
    tests: list[Any] = Field(default_factory=list)


class SourceSpec(_Strict):
    name: str
    description: str | None = None
    schema_: str | None = Field(None, alias="schema")
    format: Literal["parquet", "csv"] | None = None
    path: str | None = None
    tables: list[SourceTableSpec] = Field(default_factory=list)

    @field_validator("tables", mode="before")
    @classmethod
    def _bare_names(cls, v: Any) -> Any:
        return [{"name": t} if isinstance(t, str) else t for t in v or []]


class SourcesFile(_Strict):
    version: int | None = None
    sources: list[SourceSpec] = Field(default_factory=list)


class DependsOn(_Strict):
    model: str
    columns: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class MissingColumn:
    """A column an exposure reads that its model's SQL does not output (found when loading)."""

    model: str  # model name
    fqn: str
    column: str
    line: int | None  # in exposures.yml
    outputs: tuple[str, ...]  # what the model's SQL outputs, lower-cased


class ExposureSpec(_Strict):
    name: str
    type: Literal["dashboard", "semantic_layer", "ml", "api"]
    owner: str | None = None
    description: str | None = None
    url: str | None = None
    depends_on: list[DependsOn] = Field(default_factory=list)
    charts: list[dict[str, Any]] = Field(default_factory=list)
    _missing_columns: list[MissingColumn] = PrivateAttr(default_factory=list)

    @property
    def missing_columns(self) -> list[MissingColumn]:
        """Columns it reads that its models' SQL does not output: a misspelling, or a column the project
        removes (which only the warehouse can tell apart: see ``Warehouse``)."""
        return self._missing_columns

    @field_validator("depends_on", mode="before")
    @classmethod
    def _bare_models(cls, v: Any) -> Any:
        return [{"model": d} if isinstance(d, str) else d for d in v or []]


class ExposuresFile(_Strict):
    version: int | None = None
    exposures: list[ExposureSpec] = Field(default_factory=list)
