"""Results of verification: profiles, schema, key-level and distribution diffs, checks.

Plain pydantic data so every report (terminal, JSON, Markdown, HTML) renders
the same object, and the JSON form is stable (``DIFF_SCHEMA_VERSION``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DIFF_SCHEMA_VERSION = 1
Outcome = Literal["pass", "warn", "fail"]
ColumnKind = Literal["numeric", "text", "temporal", "boolean", "other"]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Side(_Data):
    label: str  # what the user named: a table, a view, or "query:SELECT ..."
    connection: str  # redacted description of the connection
    row_count: int
    columns: list[tuple[str, str]]  # (name, engine type)
    profile_method: str = "exact"  # how the side's distinct counts and quantiles were computed (Profile.method)


class SchemaDiff(_Data):
    added: list[tuple[str, str]] = Field(default_factory=list)  # in B only
    removed: list[tuple[str, str]] = Field(default_factory=list)  # in A only
    type_changed: list[tuple[str, str, str]] = Field(default_factory=list)  # (column, type in A, type in B)

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.type_changed)


class ColumnProfile(_Data):
    column: str
    type: str
    kind: ColumnKind
    rows: int
    nulls: int
    null_pct: float
    distinct: int | None = None
    min: Any = None
    max: Any = None
    mean: float | None = None
    stddev: float | None = None
    quantiles: dict[str, float] = Field(default_factory=dict)  # "p01", "p25", "p50", "p75", "p99"
    approximate: bool = False  # a figure is estimated: its distinct count or its quantiles (Profile.method says how)
    distinct_approximate: bool = False  # the distinct count is an estimate (DuckDB above 1M rows)


class Profile(_Data):
    label: str
    row_count: int
    columns: list[ColumnProfile]
    queries: int = 1  # aggregate queries used: one for all columns
    method: str = "exact"  # how distinct counts and quantiles were computed, in words


class ProfileDelta(_Data):
    column: str
    a: ColumnProfile
    b: ColumnProfile
    null_pct_delta: float  # percentage points, B - A
    distinct_delta: int | None = None
    mean_delta_pct: float | None = None  # relative change of the mean, percent


class KeyCheck(_Data):
    key: list[str]
    a_duplicate_keys: int = 0
    b_duplicate_keys: int = 0
    a_null_keys: int = 0
    b_null_keys: int = 0
    duplicate_samples: list[dict[str, Any]] = Field(default_factory=list)
    # key columns whose values were converted before the check, e.g. truncated to the coarser of two
    # timestamp precisions (so two A rows a tenth of a second apart are one key); "" when none was
    note: str = ""

    @property
    def ok(self) -> bool:
        return not (self.a_duplicate_keys or self.b_duplicate_keys or self.a_null_keys or self.b_null_keys)


class ColumnMismatch(_Data):
    column: str
    mismatches: int
    rate: float  # mismatches / rows present on both sides


class RowDiff(_Data):
    key: list[str]
    method: Literal["join", "checksum-bisect"] = "join"
    only_a: int
    only_b: int
    changed: int
    unchanged: int
    columns: list[ColumnMismatch] = Field(default_factory=list)  # common non-key columns
    sample_only_a: list[dict[str, Any]] = Field(default_factory=list)  # ordered by key
    sample_only_b: list[dict[str, Any]] = Field(default_factory=list)
    sample_changed: list[dict[str, Any]] = Field(default_factory=list)  # key columns + {column: [a, b]}
    segments_checked: int = 0  # checksum-bisect: key ranges compared
    rows_downloaded: int = 0  # checksum-bisect: rows fetched to compare locally


class Histogram(_Data):
    edges: list[float]  # len(counts) + 1, shared by both sides
    a_counts: list[int]
    b_counts: list[int]


class Distribution(_Data):
    column: str
    kind: Literal["numeric", "categorical"]
    psi: float | None = None
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    chi2: float | None = None
    chi2_pvalue: float | None = None
    approximate: bool = False  # KS from quantile sketches, not the raw values
    method: str = ""  # how each statistic was computed, in words
    histogram: Histogram | None = None
    top_values: list[tuple[str, int, int]] = Field(default_factory=list)  # categorical: value, count A, count B


class CheckResult(_Data):
    name: str  # e.g. "row_count_change_pct", "changed_rows", "psi(amount)"
    value: float | None
    warn: float | None = None
    fail: float | None = None
    outcome: Outcome
    detail: str = ""


class DiffResult(_Data):
    schema_version: int = DIFF_SCHEMA_VERSION
    a: Side
    b: Side
    key: list[str] = Field(default_factory=list)
    renamed: dict[str, str] = Field(default_factory=dict)  # column of A -> its name in B, compared as one
    tolerance: dict[str, float] = Field(default_factory=dict)  # {"abs": ..., "rel": ...}
    schema_diff: SchemaDiff
    profiles: list[ProfileDelta] = Field(default_factory=list)
    key_check: KeyCheck | None = None
    rows: RowDiff | None = None
    distributions: list[Distribution] = Field(default_factory=list)
    checks: list[CheckResult] = Field(default_factory=list)
    seconds: float = 0.0
    queries: int = 0  # statements sent to the engines

    @property
    def outcome(self) -> Outcome:
        outcomes = {c.outcome for c in self.checks}
        return "fail" if "fail" in outcomes else "warn" if "warn" in outcomes else "pass"

    @property
    def exit_code(self) -> int:
        return 1 if self.outcome == "fail" else 0


class Tolerance(_Data):
    """Float comparison: |a - b| <= abs + rel * max(|a|, |b|). Decimals always compare exactly."""

    abs: float = 0.0
    rel: float = 0.0
