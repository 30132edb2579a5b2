"""The state store: tables in the warehouse that record versions and environments.

Reads are batched (one query per kind of state, never one per model) so a
no-op build costs a constant number of round trips whatever the project size.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from dataplan.backends.base import Backend, column, table
from dataplan.errors import EngineError, StateError
from dataplan.state.migrations import MIGRATIONS, MIGRATIONS_TABLE, Migration


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def literal(value: Any) -> exp.Expr:
    if isinstance(value, dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), exp.DataType.build("TIMESTAMP"))
    if value is None:
        return exp.null()
    return exp.convert(value)


@dataclass
class Version:
    version_id: str
    model: str
    layer: str
    fingerprint: str
    materialized: str
    query_sql: str
    config: dict[str, Any] = field(default_factory=dict)
    columns: list[tuple[str, str]] = field(default_factory=list)
    model_sql: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)
    created_at: dt.datetime | None = None


@dataclass
class EnvironmentModel:
    environment: str
    model: str
    view_schema: str
    version_id: str


_VERSION_COLUMNS = [c for c, _ in MIGRATIONS[0].tables["versions"]]


class StateStore:
    def __init__(self, backend: Backend, schema: str = "_dataplan") -> None:
        self.backend = backend
        self.schema = schema
        self._initialized = False

    def t(self, name: str) -> exp.Table:
        return table(self.schema, name)

    # -- migrations --------------------------------------------------------
    def applied_migrations(self) -> set[int]:
        exists = (
            exp.select(exp.func("count", exp.Star()))
            .from_("information_schema.tables")
            .where(
                exp.and_(
                    exp.column("table_schema").eq(exp.Literal.string(self.schema)),
                    exp.column("table_name").eq(exp.Literal.string(MIGRATIONS_TABLE)),
                )
            )
        )
        if not self.backend.fetch_value(exists):
            return set()
        return {r[0] for r in self.backend.fetch_rows(exp.select(column("id")).from_(self.t(MIGRATIONS_TABLE)))}

    def pending_migrations(self) -> list[Migration]:
        applied = self.applied_migrations()
        return [m for m in MIGRATIONS if m.id not in applied]

    def ensure(self) -> list[Migration]:
        """Apply pending migrations; returns what was applied."""
        if self._initialized:
            return []
        pending = self.pending_migrations()
        if not pending:
            self._initialized = True
            return []
        try:
            with self.backend.transaction():
                self.backend.create_schema(self.schema)
                self.backend.create_table(
                    self.t(MIGRATIONS_TABLE), [("id", "BIGINT"), ("name", "TEXT"), ("applied_at", "TIMESTAMP")]
                )
                for migration in pending:
                    for name, columns in migration.tables.items():
                        self.backend.create_table(self.t(name), columns)
                    self._insert(MIGRATIONS_TABLE, [[migration.id, migration.name, now()]])
        except EngineError:
            # Two first commands at once (Postgres): the second waits for the first's new schema, then fails
            # on it. When the first applied every migration meanwhile, there is nothing left to do.
            if self.backend._in_transaction or self.pending_migrations():
                raise
            pending = []
        self._initialized = True
        return pending

    def is_initialized(self) -> bool:
        # Once up to date, stays so for this connection: saves two queries per operation.
        if not self._initialized:
            self._initialized = not self.pending_migrations()
        return self._initialized

    # -- generic helpers -----------------------------------------------------
    def _insert(self, name: str, rows: list[list[Any]]) -> None:
        if rows:
            values = exp.values([tuple(literal(v) for v in row) for row in rows])
            self.backend.execute(exp.insert(values, self.t(name)))

    def _rows(self, query: exp.Select) -> list[tuple[Any, ...]]:
        return self.backend.fetch_rows(query)

    # -- versions ----------------------------------------------------------
    def versions(self, fingerprints: list[str] | None = None, version_ids: list[str] | None = None) -> list[Version]:
        q = exp.select(*[column(c) for c in _VERSION_COLUMNS]).from_(self.t("versions"))
        if fingerprints is not None:
            if not fingerprints:
                return []
            q = q.where(column("fingerprint").isin(*[exp.Literal.string(f) for f in fingerprints]))
        if version_ids is not None:
            if not version_ids:
                return []
            q = q.where(column("version_id").isin(*[exp.Literal.string(v) for v in version_ids]))
        out = []
        for row in self._rows(q):
            rec = dict(zip(_VERSION_COLUMNS, row, strict=True))
            rec["config"] = json.loads(rec["config"] or "{}")
            rec["columns"] = [tuple(c) for c in json.loads(rec["columns"] or "[]")]
            rec["spec"] = json.loads(rec["spec"] or "{}")
            rec["parents"] = json.loads(rec["parents"] or "{}")
            out.append(Version(**rec))
        return out

    def add_version(self, version: Version) -> None:
        self._insert(
            "versions",
            [
                [
                    version.version_id,
                    version.model,
                    version.layer,
                    version.fingerprint,
                    version.materialized,
                    version.query_sql,
                    json.dumps(version.config),
                    json.dumps(version.columns),
                    version.model_sql,
                    json.dumps(version.spec, default=str),
                    json.dumps(version.parents),
                    version.created_at or now(),
                ]
            ],
        )

    # -- environments --------------------------------------------------------
    def environments(self) -> list[dict[str, Any]]:
        env, em = self.t("environments"), self.t("environment_models")
        q = (
            exp.select(
                column("name", "e"),
                column("created_at", "e"),
                column("updated_at", "e"),
                exp.func("count", column("model", "m")).as_("models"),
            )
            .from_(env.as_("e"))
            .join(em.as_("m"), on=column("name", "e").eq(column("environment", "m")), join_type="left")
            .group_by(column("name", "e"), column("created_at", "e"), column("updated_at", "e"))
            .order_by(column("name", "e"))
        )
        return [dict(zip(("name", "created_at", "updated_at", "models"), r, strict=True)) for r in self._rows(q)]

    def environment_models(self, environment: str) -> dict[str, EnvironmentModel]:
        q = (
            exp.select(column("environment"), column("model"), column("view_schema"), column("version_id"))
            .from_(self.t("environment_models"))
            .where(column("environment").eq(exp.Literal.string(environment)))
        )
        return {r[1]: EnvironmentModel(*r) for r in self._rows(q)}

    def set_environment_models(self, environment: str, entries: list[EnvironmentModel], removed: list[str]) -> None:
        """Record the new pointers of ``environment``; caller holds the transaction."""
        names = [e.model for e in entries] + removed
        if names:
            self.backend.delete(
                self.t("environment_models"),
                exp.and_(
                    column("environment").eq(exp.Literal.string(environment)),
                    column("model").isin(*[exp.Literal.string(n) for n in names]),
                ),
            )
        stamp = now()
        self._insert(
            "environment_models",
            [[e.environment, e.model, e.view_schema, e.version_id, stamp] for e in entries],
        )
        env_filter = column("name").eq(exp.Literal.string(environment))
        exists = self.backend.fetch_value(
            exp.select(exp.func("count", exp.Star())).from_(self.t("environments")).where(env_filter)
        )
        if exists:
            self.backend.execute(exp.update(self.t("environments"), {"updated_at": literal(stamp)}, where=env_filter))
        else:
            self._insert("environments", [[environment, stamp, stamp]])

    def drop_environment(self, environment: str) -> None:
        for name, key in (("environment_models", "environment"), ("environments", "name")):
            self.backend.delete(self.t(name), column(key).eq(exp.Literal.string(environment)))

    # -- intervals -----------------------------------------------------------
    def intervals(self, version_ids: list[str]) -> dict[str, list[tuple[dt.datetime, dt.datetime]]]:
        if not version_ids:
            return {}
        q = (
            exp.select(column("version_id"), column("start_ts"), column("end_ts"))
            .from_(self.t("intervals"))
            .where(column("version_id").isin(*[exp.Literal.string(v) for v in version_ids]))
            .order_by(column("version_id"), column("start_ts"))
        )
        out: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {v: [] for v in version_ids}
        for vid, start, end in self._rows(q):
            out[vid].append((start, end))
        return out

    def add_interval(self, version_id: str, start: dt.datetime, end: dt.datetime, rows: int) -> None:
        self._insert("intervals", [[version_id, start, end, rows, now()]])

    def remove_intervals(self, version_id: str, start: dt.datetime) -> None:
        """Forget the version's processed time from ``start`` on; an interval across ``start`` keeps its part
        before it (dropping it whole made the next run re-process days outside the lookback)."""
        of_version = column("version_id").eq(exp.Literal.string(version_id))
        self.backend.delete(self.t("intervals"), exp.and_(of_version, column("start_ts") >= literal(start)))
        across = exp.and_(of_version.copy(), column("start_ts") < literal(start), column("end_ts") > literal(start))
        self.backend.execute(exp.update(self.t("intervals"), {"end_ts": literal(start)}, where=across))

    def pin(self, version_id: str, reason: str) -> None:
        self._insert("pins", [[version_id, reason, now()]])

    def pin_reasons(self, version_id: str) -> list[str]:
        where = column("version_id").eq(exp.Literal.string(version_id))
        q = exp.select(column("reason")).from_(self.t("pins")).where(where).order_by(column("reason"))
        return [str(r[0]) for r in self._rows(q)]

    def unpin(self, version_id: str, reason: str | None = None) -> int:
        """Remove the version's pins with ``reason`` (every pin of it when None); how many were removed."""
        where: exp.Expr = column("version_id").eq(exp.Literal.string(version_id))
        if reason is not None:
            where = exp.and_(where, column("reason").eq(exp.Literal.string(reason)))
        n = int(self.backend.fetch_value(exp.select(exp.func("count", exp.Star())).from_(self.t("pins")).where(where)))
        self.backend.delete(self.t("pins"), where)
        return n

    def require_initialized(self) -> None:
        if not self.is_initialized():
            raise StateError(
                "this warehouse has no dataplan state yet",
                hint="run `dataplan build` first",
            )
