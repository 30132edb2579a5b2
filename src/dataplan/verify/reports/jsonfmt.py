r"""Diff JSON (schema_version 1)

``dataplan diff --format json`` prints one JSON object: the ``DiffResult`` fields in
the order below, with the computed ``outcome`` and ``exit_code`` right after
``schema_version``. Keys keep this order and lists keep the engine's order, so the same
result always gives the same bytes (2-space indent, UTF-8, a trailing newline). Fields are
only ever added within a schema version; a change of meaning bumps ``schema_version``.
``from_json`` reads the object back into a ``DiffResult``.

Data values (samples, ``min``/``max``) are written as JSON numbers, strings, booleans or
null (SQL NULL); decimals as strings (exact, ``"12.50"``), dates and times as ISO strings
(``"2025-01-31"``, ``"2025-01-31T09:30:00"``), bytes as hex with a ``\x`` prefix
(``"\\x0a1b"`` in the JSON text), NaN and infinities as the strings ``"NaN"``,
``"Infinity"``, ``"-Infinity"``. Every string has been through secret redaction.

| field | type | meaning |
|---|---|---|
| `schema_version` | int | 1 |
| `outcome` | str | `pass`, `warn` or `fail`: the worst outcome of `checks` (`pass` when there are none) |
| `exit_code` | int | what `dataplan diff` exits with: 1 when `outcome` is `fail`, else 0 |
| `a`, `b` | object | the two sides: `label` (table, view or `query:SELECT ...`), `connection` (redacted), `row_count`, `columns` (`[[name, engine type], ...]`), `profile_method` (`exact`, or how the approximate distinct counts and quantiles were estimated) |
| `key` | [str] | the columns that identify a row; `[]`: no row matching |
| `renamed` | {str: str} | column of A -> its name in B (`--rename`), compared as one column under A's name everywhere below; `{}`: none |
| `tolerance` | {str: float} | float comparison `\|a - b\| <= abs + rel * max(\|a\|, \|b\|)`: `abs`, `rel`; `{}`: exact |
| `schema_diff` | object | `added` (`[[column, type]]`, in B only), `removed` (in A only), `type_changed` (`[[column, type in A, type in B]]`) |
| `profiles[]` | object | per common column: `column`, `a`, `b` (profiles: `column`, `type`, `kind` (`numeric`, `text`, `temporal`, `boolean`, `other`), `rows`, `nulls`, `null_pct`, `distinct`, `min`, `max`, `mean`, `stddev`, `quantiles` ({`p01`..`p99`: value}), `approximate` (true: a figure is estimated, above 1,000,000 rows: `quantiles` exact over a Bernoulli sample of about 100,000 rows, and on DuckDB `distinct` too), `distinct_approximate` (true: `distinct` is a HyperLogLog estimate, DuckDB only)), `null_pct_delta` (percentage points, B - A), `distinct_delta` (B - A), `mean_delta_pct` (relative change of the mean, percent) |
| `key_check` | object or null | `key`, `a_duplicate_keys`, `b_duplicate_keys` (key values found on more than one row), `a_null_keys`, `b_null_keys` (rows with a NULL in a key column), `duplicate_samples` (rows, key values as compared), `note` (key columns whose values are converted before they are matched, e.g. truncated to the coarser of two timestamp precisions or compared as text; `""` when none is) |
| `rows` | object or null | the key-level diff; null when there is no key or the key check failed: `key`, `method` (`join` or `checksum-bisect`), `only_a`, `only_b`, `changed`, `unchanged` (row counts), `columns[]` (`column`, `mismatches`, `rate` = mismatches / rows on both sides), `sample_only_a`, `sample_only_b` (rows, by key), `sample_changed` (key columns and `{column: [value in A, value in B]}` for each differing column), `segments_checked`, `rows_downloaded` (checksum-bisect only) |
| `distributions[]` | object | `column`, `kind` (`numeric` or `categorical`), `psi` (population stability index), `ks_statistic`, `ks_pvalue` (two-sample Kolmogorov-Smirnov), `chi2`, `chi2_pvalue` (categorical), `approximate` (true: KS is the largest CDF gap at the shared fine-bin edges, not computed from the raw values), `method` (words), `histogram` (`edges` shared by both sides, `a_counts`, `b_counts`), `top_values` (`[[value, count in A, count in B]]`) |
| `checks[]` | object | `name` (e.g. `row_count_change_pct`, `psi(amount)`), `value`, `warn`, `fail` (thresholds), `outcome` (`pass`/`warn`/`fail`), `detail` |
| `seconds` | float | wall time of the diff |
| `queries` | int | statements sent to the engines |
"""  # noqa: E501

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from decimal import Decimal
from typing import Any

from dataplan.verify.model import DiffResult
from dataplan.verify.reports.common import redacted

COMPUTED = ("outcome", "exit_code")


def to_json(result: DiffResult) -> str:
    """The result as the documented, stable JSON text (ends with a newline)."""
    result = redacted(result)
    fields = _jsonable(result.model_dump())
    ordered: dict[str, Any] = {"schema_version": fields.pop("schema_version")}
    ordered["outcome"] = result.outcome
    ordered["exit_code"] = result.exit_code
    ordered.update(fields)
    return json.dumps(ordered, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def from_json(text: str) -> DiffResult:
    """Read ``to_json`` output back (computed fields are dropped; they follow from ``checks``)."""
    data = json.loads(text)
    for name in COMPUTED:
        data.pop(name, None)
    return DiffResult.model_validate(data)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else _jsonable(float(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)
