"""Numbered migrations of the state tables.

Each migration is a list of (table, columns). Migrations only ever add; a
migration that has been released is never edited. ``pending`` reads and never
writes, so listing what an upgrade would do is safe.
"""

from __future__ import annotations

from dataclasses import dataclass

Columns = list[tuple[str, str]]


@dataclass(frozen=True)
class Migration:
    id: int
    name: str
    tables: dict[str, Columns]


MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "initial state tables",
        {
            "versions": [
                ("version_id", "TEXT"),  # physical table name inside the state schema
                ("model", "TEXT"),
                ("layer", "TEXT"),
                ("fingerprint", "TEXT"),
                ("materialized", "TEXT"),
                ("query_sql", "TEXT"),  # the SELECT in the engine's dialect
                ("config", "TEXT"),  # JSON: time_column, batch_days, lookback_days, ...
                ("columns", "TEXT"),  # JSON [[name, type], ...]
                ("model_sql", "TEXT"),  # normalized SELECT in the project dialect: what plans diff
                ("spec", "TEXT"),  # JSON of the model's YAML spec when built: contract diffs
                ("parents", "TEXT"),  # JSON {parent: fingerprint}
                ("created_at", "TIMESTAMP"),
            ],
            "environments": [
                ("name", "TEXT"),
                ("created_at", "TIMESTAMP"),
                ("updated_at", "TIMESTAMP"),
            ],
            "environment_models": [
                ("environment", "TEXT"),
                ("model", "TEXT"),
                ("view_schema", "TEXT"),
                ("version_id", "TEXT"),
                ("updated_at", "TIMESTAMP"),
            ],
            "intervals": [
                ("version_id", "TEXT"),
                ("start_ts", "TIMESTAMP"),
                ("end_ts", "TIMESTAMP"),
                ("row_count", "BIGINT"),
                ("created_at", "TIMESTAMP"),
            ],
            "plans": [
                ("plan_id", "TEXT"),
                ("environment", "TEXT"),
                ("status", "TEXT"),
                ("body", "TEXT"),
                ("created_at", "TIMESTAMP"),
                ("updated_at", "TIMESTAMP"),
            ],
            "journal": [
                ("plan_id", "TEXT"),
                ("seq", "BIGINT"),
                ("step", "TEXT"),
                ("phase", "TEXT"),
                ("outcome", "TEXT"),
                ("detail", "TEXT"),
                ("at", "TIMESTAMP"),
            ],
            "locks": [
                ("environment", "TEXT"),
                ("holder", "TEXT"),
                ("pid", "BIGINT"),
                ("host", "TEXT"),
                ("acquired_at", "TIMESTAMP"),
            ],
            "pins": [
                ("version_id", "TEXT"),
                ("reason", "TEXT"),
                ("created_at", "TIMESTAMP"),
            ],
        },
    ),
    Migration(
        2,
        "the project that owns the state",
        {
            # One row: the `name` of the project that first wrote this state. Another project in the same
            # state schema would see the first's models as removed from the project and drop their views.
            "owner": [("project", "TEXT"), ("claimed_at", "TIMESTAMP")],
        },
    ),
]

OWNER_TABLE = "owner"
MIGRATIONS_TABLE = "_migrations"
