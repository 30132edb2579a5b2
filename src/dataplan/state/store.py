"""The state store: tables in the warehouse that record versions and environments.

Reads are batched (one query per kind of state, never one per model) so a
no-op build costs a constant number of round trips whatever the project size.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from dataplan.backends.base import Backend, column, table
from dataplan.errors import EngineError, StateError
from dataplan.project.yamlfile import LineIndex
from dataplan.state.migrations import MIGRATIONS, MIGRATIONS_TABLE, OWNER_TABLE, Migration


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
    """The state tables of one state schema, for the project named ``project``.

    The state belongs to the project that first wrote it (its ``name`` in dataplan.yml). Another project
    opening it is refused (``StateError``) before anything is read or written: it would take the first
    project's models for models removed from the project and drop their views. ``project=None`` (a tool
    reading the state, not a project) skips that check.
    """

    def __init__(
        self, backend: Backend, schema: str = "_dataplan", project: str | None = None, *, config: Path | None = None
    ) -> None:
        self.backend = backend
        self.schema = schema
        self.project = project
        self.config = config  # dataplan.yml, to name its line in the refusal
        self._applied: set[int] | None = None  # read once per connection: saves two queries per operation
        self._owner: str | None = None

    def t(self, name: str) -> exp.Table:
        return table(self.schema, name)

    # -- migrations and ownership -------------------------------------------
    def _read(self) -> tuple[set[int], str | None]:
        """The applied migrations and the owning project, in two queries (one when there is no state)."""
        names = {MIGRATIONS_TABLE, OWNER_TABLE}
        found = (
            exp.select(column("table_name"))
            .from_("information_schema.tables")
            .where(
                exp.and_(
                    column("table_schema").eq(exp.Literal.string(self.schema)),
                    column("table_name").isin(*[exp.Literal.string(n) for n in sorted(names)]),
                )
            )
        )
        tables = {r[0] for r in self.backend.fetch_rows(found)}
        if MIGRATIONS_TABLE not in tables:
            return set(), None
        text, bigint = exp.DataType.build("TEXT"), exp.DataType.build("BIGINT")
        query: exp.Query = exp.select(column("id"), exp.cast(exp.null(), text).as_("project")).from_(
            self.t(MIGRATIONS_TABLE)
        )
        if OWNER_TABLE in tables:
            owner = exp.select(exp.cast(exp.null(), bigint), column("project")).from_(self.t(OWNER_TABLE))
            query = exp.union(query, owner, distinct=False)
        rows = self.backend.fetch_rows(query)
        owners = sorted({r[1] for r in rows if r[1] is not None})
        return {int(r[0]) for r in rows if r[0] is not None}, owners[0] if owners else None

    def _refresh(self) -> set[int]:
        self._applied, self._owner = self._read()
        self._check_owner()
        return self._applied

    def _check_owner(self) -> None:
        if self.project is None or self._owner is None or self._owner == self.project:
            return
        line = LineIndex(self.config, self.config.read_text()).line(("name",)) if self.config else None
        raise StateError(
            f"the state schema {self.schema} in this warehouse belongs to project {self._owner!r}, "
            f"not {self.project!r}: two projects in one state schema would drop each other's views",
            path=self.config,
            line=line,
            hint=f"give project {self.project!r} its own state_schema (and layer schemas) in dataplan.yml; "
            f"if you renamed project {self._owner!r}, run `dataplan env claim --from {self._owner}`",
        )

    def applied_migrations(self) -> set[int]:
        """Reads and never writes."""
        return self._read()[0]

    def pending_migrations(self) -> list[Migration]:
        applied = self.applied_migrations()
        return [m for m in MIGRATIONS if m.id not in applied]

    def ensure(self) -> list[Migration]:
        """Apply pending migrations and record the project as the owner if none is; returns what was applied."""
        if self._applied is None:
            self._refresh()
        assert self._applied is not None
        pending = [m for m in MIGRATIONS if m.id not in self._applied]
        claim = self.project is not None and self._owner is None
        if not pending and not claim:
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
                if claim:
                    self._insert(OWNER_TABLE, [[self.project, now()]])
        except EngineError:
            # Two first commands at once (Postgres): the second waits for the first's new schema, then fails
            # on it. When the first applied every migration meanwhile, there is nothing left to do.
            if self.backend._in_transaction or self.pending_migrations():
                raise
            self._refresh()  # what the other command wrote, and whose state it is now
            return []
        self._applied = {m.id for m in MIGRATIONS}
        self._owner = self._owner or self.project
        return pending

    def claim(self, previous: str) -> bool:
        """Record ``self.project`` as the owner in place of ``previous`` (the project was renamed); False
        when it owns the state already (a claim run again changes nothing)."""
        if self.project is None:
            raise StateError("only a project can claim the state: this store was opened without one")
        self._applied, self._owner = self._read()
        if self._owner == self.project:
            return False
        if self._owner != previous:
            raise StateError(
                f"the state schema {self.schema} belongs to project {self._owner!r}, not {previous!r}"
                if self._owner
                else f"the state schema {self.schema} has no owner yet: the next build records this project",
                hint="pass the project name the refusal named" if self._owner else None,
            )
        with self.backend.transaction():
            self.backend.delete(self.t(OWNER_TABLE))
            self._insert(OWNER_TABLE, [[self.project, now()]])
        self._owner = self.project
        return True

    def check_owner(self) -> None:
        """Refuse another project's state (``StateError``); reads the state once per connection."""
        if self._applied is None:
            self._refresh()

    def is_initialized(self) -> bool:
        """Whether the state tables exist. The first call on a connection also checks the owner.

        A state whose later migrations are pending still reads: migrations only add tables, which the
        next command that writes creates.
        """
        if self._applied is None or 1 not in self._applied:
            self._refresh()
        assert self._applied is not None
        return 1 in self._applied

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
