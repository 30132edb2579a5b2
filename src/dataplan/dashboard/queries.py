"""The aggregate query behind each chart, built as a sqlglot expression.

The query is engine-neutral: render it with the warehouse's dialect, for example
``chart_query(spec, relation).sql(dialect="postgres", identify=True)``.

Result columns are named after the spec's columns: ``x`` (truncated to ``time_grain``
when given, as a DATE), then ``series`` or the heatmap's ``y``, then the summed measures
(each ``y``, or the heatmap's ``value``). Rows are ordered by ``x`` and then the other
grouping column, so the result is deterministic.
"""

from __future__ import annotations

from sqlglot import exp

from dataplan.dashboard.spec import ChartSpec


def _column(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def _alias(expression: exp.Expr, name: str) -> exp.Alias:
    return exp.Alias(this=expression, alias=exp.to_identifier(name, quoted=True))


def _x_expression(spec: ChartSpec) -> exp.Expr:
    column = _column(spec.x)
    if spec.time_grain is None:
        return column
    # DATE_TRUNC of a DATE yields a TIMESTAMP (DuckDB) or TIMESTAMPTZ (Postgres); cast back
    # to DATE so every engine returns the same type.
    truncated = exp.DateTrunc(this=column, unit=exp.Literal.string(spec.time_grain.upper()))
    return exp.cast(truncated, exp.DataType.build("date"))


def chart_query(spec: ChartSpec, relation: exp.Table) -> exp.Select:
    """Return ``SELECT x[, series | heatmap y], SUM(measure)... GROUP BY ... ORDER BY x``.

    ``relation`` is the (environment) table or view holding the spec's model.
    """
    x_expr = _x_expression(spec)
    group_by: list[exp.Expr] = [x_expr]
    order_by: list[exp.Expr] = [_column(spec.x)]
    projections: list[exp.Expr] = [x_expr if spec.time_grain is None else _alias(x_expr, spec.x)]

    second = spec.series if spec.kind != "heatmap" else spec.y[0]
    if second is not None:
        projections.append(_column(second))
        group_by.append(_column(second))
        order_by.append(_column(second))

    for measure in spec.measures:
        total = exp.Sum(this=_column(measure))
        projections.append(_alias(total, measure))

    # Copy the relation so the caller's expression is never attached to this tree.
    return (
        exp.select(*projections)
        .from_(relation.copy())
        .group_by(*group_by)
        .order_by(*(exp.Ordered(this=e, nulls_first=False) for e in order_by))
    )


def relation_for(name: str) -> exp.Table:
    """Parse a dotted relation name (``schema.view`` or ``catalog.schema.view``) to a quoted table.

    Each part is taken literally (no SQL parsing), so names need no escaping.
    """
    parts = name.split(".")
    if not 1 <= len(parts) <= 3 or any(not p for p in parts):
        raise ValueError(f"not a relation name: {name!r} (expected schema.name)")
    identifiers = [exp.to_identifier(p, quoted=True) for p in parts]
    table = identifiers[-1]
    db = identifiers[-2] if len(parts) >= 2 else None
    catalog = identifiers[0] if len(parts) == 3 else None
    return exp.Table(this=table, db=db, catalog=catalog)
