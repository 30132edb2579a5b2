"""The chart specification of a dashboard exposure (`charts:` in exposures.yml)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ChartKind = Literal["line", "area", "bar", "stacked_bar", "heatmap"]
TimeGrain = Literal["day", "week", "month"]


class ChartSpec(BaseModel):
    """One chart of a dashboard exposure.

    ``x`` is the horizontal axis, ``y`` one or more numeric columns (for a heatmap: the
    single column of the vertical axis), ``series`` splits the rows into one line / bar
    segment per value, ``value`` is the cell value of a heatmap and ``time_grain``
    truncates a date ``x`` to day, week or month before aggregating.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1)
    model: str = Field(min_length=1)
    kind: ChartKind
    x: str = Field(min_length=1)
    y: list[str] = Field(min_length=1)
    series: str | None = None
    value: str | None = None
    time_grain: TimeGrain | None = None
    description: str | None = None

    @field_validator("y", mode="before")
    @classmethod
    def _y_as_list(cls, value: object) -> object:
        # `y: revenue` is accepted as shorthand for `y: [revenue]`.
        return [value] if isinstance(value, str) else value

    @field_validator("y")
    @classmethod
    def _y_names(cls, value: list[str]) -> list[str]:
        if any(not name for name in value):
            raise ValueError("column names in `y` must not be empty")
        if len(set(value)) != len(value):
            raise ValueError(f"`y` lists a column twice: {value}")
        return value

    @model_validator(mode="after")
    def _check_kind(self) -> ChartSpec:
        if self.kind == "heatmap":
            if self.value is None:
                raise ValueError(
                    "a heatmap needs `value`: the column holding each cell's value (`x` and `y` are the two axes)"
                )
            if len(self.y) != 1:
                raise ValueError(f"a heatmap takes exactly one `y` column (its vertical axis), got {self.y}")
            if self.series is not None:
                raise ValueError("a heatmap has no `series`; use `x`, `y` and `value`")
        elif self.value is not None:
            raise ValueError(f"`value` is only used by heatmaps; a {self.kind} chart plots the `y` columns")
        if self.series is not None and len(self.y) > 1:
            raise ValueError(
                f"with `series: {self.series}` give exactly one `y` column (got {self.y}); "
                "or drop `series` to plot several `y` columns"
            )
        columns = self.columns
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise ValueError(
                f"column {', '.join(duplicates)} is used for more than one of `x`, `y`, `series` and `value`"
            )
        return self

    @property
    def columns(self) -> list[str]:
        """Every column of the model the chart reads, in query order."""
        out = [self.x]
        if self.series is not None:
            out.append(self.series)
        out.extend(self.y)
        if self.value is not None:
            out.append(self.value)
        return out

    @property
    def measures(self) -> list[str]:
        """The columns that are summed: each ``y``, or ``value`` for a heatmap."""
        if self.kind == "heatmap":
            assert self.value is not None
            return [self.value]
        return list(self.y)
