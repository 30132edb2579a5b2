"""Creating and refreshing physical versions."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlglot
from sqlglot import exp

from dataplan.backends.base import Backend, Column, column, select_star, table, zoned
from dataplan.build.contracts import check_time_column, contract_mismatches, describe_model
from dataplan.build.intervals import Interval, as_datetime, batches, missing_intervals, open_from, recorded
from dataplan.build.naming import version_table_name
from dataplan.errors import ContractError, ProjectError
from dataplan.project import Project
from dataplan.project.nodes import Model
from dataplan.project.sql import Resolved
from dataplan.state.store import StateStore, Version, literal

BatchHook = Callable[[str, int, int], None]  # model, batch done, batches total


def read_seed(model: Model) -> pa.Table:
    """A seed's rows, typed the way every build and plan reads them (pyarrow's CSV inference).

    A file pyarrow cannot read is the seed's error (exit 2), at the first row whose field count differs
    from the header's when that is the cause: pyarrow's message quotes the row but not its line.
    """
    try:
        return pacsv.read_csv(model.path)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise ProjectError(
            f"seed {model.fqn} cannot be read: {exc}",
            path=model.path,
            line=_ragged_line(model.path),
            hint="every row needs as many comma-separated fields as the header; quote values that hold commas",
        ) from exc


def _ragged_line(path: Path) -> int | None:
    """The line of the first CSV record whose field count differs from the header's, if any."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            start = reader.line_num + 1
            for record in reader:
                if header is not None and len(record) != len(header):
                    return start
                start = reader.line_num + 1
    except (UnicodeDecodeError, csv.Error):
        return None
    return None


@dataclass
class VersionBuild:
    version: Version
    rows: int | None
    batches: int = 0
    created: bool = True  # False: another build had just recorded it, and it is reused


class VersionWriter:
    """Knows how a model becomes a physical version in one engine."""

    def __init__(self, project: Project, backend: Backend, store: StateStore) -> None:
        self.project = project
        self.backend = backend
        self.store = store
        # model -> the physical version its children read. Usually the one named by its
        # fingerprint; a plan may bind an older physical version whose data is the same.
        self.bound: dict[str, str] = {}

    def version_id(self, model: Model, fingerprint: str) -> str:
        return version_table_name(model.layer, model.name, fingerprint, self.backend.max_identifier_length)

    def resolve(self, names: list[str]) -> dict[str, Version]:
        """The recorded versions of the project's current fingerprints, in one query.

        Binds each found model to its physical version so children read it.
        """
        fps = self.project.fingerprints
        if not self.store.is_initialized():
            return {}
        by_fp = {v.fingerprint: v for v in self.store.versions(fingerprints=[fps[n] for n in names])}
        found = {n: by_fp[fps[n]] for n in names if fps[n] in by_fp}
        self.bound.update({n: v.version_id for n, v in found.items()})
        return found

    def physical_id(self, name: str) -> str:
        if name in self.bound:
            return self.bound[name]
        return self.version_id(self.project.models[name], self.project.fingerprints[name])

    def physical(self, version_id: str) -> exp.Table:
        return table(self.store.schema, version_id)

    def query(self, model: Model) -> exp.Query:
        """The model's SELECT reading its parents' versions (never environment views)."""
        assert model.query is not None

        def target(ref: Resolved) -> exp.Expr:
            if ref.kind == "model":
                return self.physical(self.physical_id(ref.name))
            return self.backend.source_relation(self.project.sources[ref.name])

        return self.project.rewrite(model.query, model.path, target)

    def check_recorded_contract(self, model: Model, version: Version) -> None:
        if model.spec.contract.enforced and version.columns:
            self._enforce(model, [Column(n, t) for n, t in version.columns])

    def check_contract(self, model: Model, query: exp.Query) -> list[tuple[str, str]]:
        columns = describe_model(self.backend, model, query)
        if model.materialized == "incremental_by_time":
            check_time_column(model, columns)
        self._enforce(model, columns)
        return [(c.name, c.type) for c in columns]

    def _enforce(self, model: Model, columns: list[Column]) -> None:
        if model.spec.contract.enforced:
            mismatches = contract_mismatches(model, columns, self.project.dialect, self.backend.dialect)
            if mismatches:
                raise ContractError(
                    model.fqn,
                    mismatches,
                    path=model.yaml_path or model.path,
                    line=model.spec_line("columns"),
                    hint="change the query or the declared columns",
                )

    def create(self, model: Model, fingerprint: str, end: dt.date, on_batch: BatchHook | None = None) -> VersionBuild:
        vid = self.version_id(model, fingerprint)
        target = self.physical(vid)
        config: dict[str, object] = {}
        if model.kind == "seed":
            data = read_seed(model)
            config = {"seed": True}  # its data comes from the file: `run` must not recompute it
            with self.backend.transaction():
                if (other := self._claim(model, fingerprint, vid, "TABLE")) is not None:
                    return VersionBuild(other, None, created=False)
                self.backend.load_arrow(target, data)
                loaded = exp.select("*").from_(target)
                columns = [(c.name, c.type) for c in self.backend.describe(loaded)]
                version = self._record(model, fingerprint, vid, loaded, columns, config)
            return VersionBuild(version, data.num_rows)
        query = self.query(model)
        columns = self.check_contract(model, query)
        if model.materialized == "incremental_by_time":
            spec = model.spec
            config = {
                "time_column": spec.time_column,
                "start": str(spec.start),
                "batch_days": spec.batch_days or self.project.config.defaults.batch_days,
                "lookback_days": spec.lookback_days,
                "filled_to": end.isoformat(),  # the end of its first backfill: see backfill_bound
            }
        if model.sources:  # what it read: a plan tells a source moved from a SQL change (plan.changes)
            config["sources"] = {s: self.project.sources[s].identity() for s in model.sources}
        with self.backend.transaction():
            if other := self._claim(model, fingerprint, vid, "VIEW" if model.materialized == "view" else "TABLE"):
                return VersionBuild(other, None, created=False)
            if model.materialized == "view":
                self.backend.create_view(target, query)
            elif model.materialized == "table":
                self.backend.create_table_as(target, query)
            else:
                self.backend.create_table_as(target, select_star(query.subquery("q")).limit(0))
            version = self._record(model, fingerprint, vid, query, columns, config)
        n_batches = 0
        if model.materialized == "incremental_by_time":
            n_batches = self.fill_intervals(version, end, on_batch).batches
        return VersionBuild(version, None, n_batches)

    def _claim(self, model: Model, fingerprint: str, vid: str, kind: str) -> Version | None:
        """Make way for a new version inside its create transaction; or the version another build recorded.

        Builds of different environments run at once, so the version may have been recorded since it was
        looked up: it is then reused, never dropped (an incremental one would be recreated empty while its
        intervals stay recorded as done). The lock serializes version creation on engines that need it.
        Otherwise a relation of that name without a version row is an orphan of a crashed build.
        """
        self.backend.lock_table(self.store.t("versions"))
        recorded = self.store.versions(fingerprints=[fingerprint]) or self.store.versions(version_ids=[vid])
        if recorded:
            self.bound[model.name] = recorded[0].version_id
            return recorded[0]
        self.backend.drop(self.physical(vid), kind)
        return None

    def discard(self, versions: list[Version]) -> None:
        """Drop versions a build created before the project's own error stopped it.

        No environment of this build points at them yet (views are swapped after every version is
        built), so the warehouse is left as it was: a bad-input error changes nothing. A version another
        build has pointed an environment at meanwhile, or someone pinned, stays, with the versions it
        reads. Readers go first.
        """
        with self.backend.transaction():
            self.backend.lock_table(self.store.t("versions"))
            ids = [exp.Literal.string(v.version_id) for v in versions]
            used = exp.select(column("version_id")).from_(self.store.t("environment_models"))
            pinned = exp.select(column("version_id")).from_(self.store.t("pins"))
            in_use = {
                str(vid)
                for query in (used, pinned)
                for (vid,) in self.backend.fetch_rows(query.where(column("version_id").isin(*ids)))
            }
            by_fp = {v.fingerprint: v for v in versions}
            for version in reversed(versions):  # readers first: a kept reader keeps its parents
                if version.version_id in in_use:
                    in_use |= {by_fp[fp].version_id for fp in version.parents.values() if fp in by_fp}
            gone = [v for v in versions if v.version_id not in in_use]
            for version in reversed(gone):
                self.backend.drop(
                    self.physical(version.version_id), "VIEW" if version.materialized == "view" else "TABLE"
                )
            if gone:
                dropped = [exp.Literal.string(v.version_id) for v in gone]
                self.backend.delete(self.store.t("versions"), column("version_id").isin(*dropped))
                self.backend.delete(self.store.t("intervals"), column("version_id").isin(*dropped))
        dropped_ids = {v.version_id for v in gone}
        self.bound = {name: vid for name, vid in self.bound.items() if vid not in dropped_ids}

    def _record(
        self,
        model: Model,
        fp: str,
        vid: str,
        query: exp.Query,
        columns: list[tuple[str, str]],
        config: dict[str, object],
    ) -> Version:
        version = Version(
            vid,
            model.name,
            model.layer,
            fp,
            model.materialized,
            self.backend.render(query),
            config,
            columns,
            model_sql=model.normalized,
            spec=model.spec.model_dump(mode="json", exclude_defaults=True),
            parents={p: self.project.fingerprints[p] for p in model.parents},
        )
        self.bound[model.name] = vid
        self.store.add_version(version)
        return version

    def parsed_query(self, version: Version) -> exp.Query:
        return sqlglot.parse_one(version.query_sql, read=self.backend.dialect)  # type: ignore[return-value]

    # -- refreshing --------------------------------------------------------
    def refresh_table(self, version: Version) -> None:
        """Recompute a table version; readers see the old or the new rows, never a mix."""
        target = self.physical(version.version_id)
        with self.backend.transaction():
            self.backend.delete(target)
            self.backend.insert(target, self.parsed_query(version))

    @staticmethod
    def backfill_bound(version: Version) -> dt.date | None:
        """Where the first backfill of an incremental version stops being recorded: its ``end``, or the
        day it was built on when that came first (the day under way is never recorded). None for versions
        built before the end was recorded."""
        filled_to = version.config.get("filled_to")
        if not filled_to:
            return None
        bound = dt.date.fromisoformat(str(filled_to))
        if version.created_at is not None:
            bound = min(bound, version.created_at.date())
        return bound

    def unfinished(self, versions: list[Version]) -> dict[str, dt.date]:
        """The incremental versions whose first backfill stopped early (a failed or killed build), each with
        the day it must reach. One query for all of them."""
        bounds = {v.version_id: b for v in versions if (b := self.backfill_bound(v)) is not None}
        if not bounds:
            return {}
        done = self.store.intervals(sorted(bounds))
        by_id = {v.version_id: v for v in versions}
        return {
            vid: bound
            for vid, bound in bounds.items()
            if missing_intervals(
                as_datetime(dt.date.fromisoformat(str(by_id[vid].config["start"]))), as_datetime(bound), done[vid]
            )
        }

    def pending_batches(self, version: Version, end: dt.date, done: list[Interval], lookback: bool) -> list[Interval]:
        cfg = version.config
        start = as_datetime(dt.date.fromisoformat(str(cfg["start"])))
        stop = as_datetime(end)
        if lookback and done and int(cfg.get("lookback_days") or 0):
            last = max(e for _, e in done)
            cut = last - dt.timedelta(days=int(cfg["lookback_days"]))
            done = [(s, min(e, cut)) for s, e in done if s < cut]
        return batches(missing_intervals(start, stop, done), int(cfg["batch_days"]))

    def fill_intervals(
        self, version: Version, end: dt.date, on_batch: BatchHook | None = None, *, lookback: bool = False
    ) -> Fill:
        """Process the version's pending batches up to ``end`` (with ``lookback``, its last days again)."""
        done = self.store.intervals([version.version_id])[version.version_id]
        todo = self.pending_batches(version, end, done, lookback)
        target = self.physical(version.version_id)
        query = self.parsed_query(version)
        name = str(version.config["time_column"])
        bound = _bound_literal(dict(version.columns).get(name, ""))
        until = open_from()
        rows = 0
        for i, (s, e) in enumerate(todo):
            with self.backend.transaction():
                # Deleting first makes a re-processed batch (lookback, late rows, today) idempotent.
                self.backend.delete(target, exp.and_(column(name) >= bound(s), column(name) < bound(e)))
                if lookback and i == 0:
                    self.store.remove_intervals(version.version_id, s)
                in_batch = exp.and_(column(name, "q") >= bound(s), column(name, "q") < bound(e))
                n = self.backend.insert(target, select_star(query.subquery("q")).where(in_batch))
                rows += n
                done_part = recorded((s, e), until)
                if done_part is not None:
                    self.store.add_interval(version.version_id, *done_part, n)
            if on_batch:
                on_batch(version.model, i + 1, len(todo))
        return Fill(len(todo), rows, todo[0][0], todo[-1][1]) if todo else Fill(0)


@dataclass(frozen=True)
class Fill:
    """What one fill of an incremental version processed: batches, rows inserted, and the days [start, end)."""

    batches: int
    rows: int = 0
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def summary(self) -> str:
        """``2 new batch(es): 2026-11-14 -> 2026-11-16, 37 rows`` (or ``no new intervals``)."""
        if not self.batches or self.start is None or self.end is None:
            return "no new intervals"
        span = f"{self.start.date().isoformat()} -> {self.end.date().isoformat()}"
        return f"{self.batches} new batch(es): {span}, {self.rows:,} row{'' if self.rows == 1 else 's'}"


def _bound_literal(time_type: str) -> Callable[[dt.datetime], exp.Expr]:
    """Batch bounds as literals of the time column's kind: a time-zone-aware column gets UTC instants, so
    the session's time zone never moves a batch edge (batches are whole UTC days)."""
    if not zoned(time_type):
        return literal
    return lambda at: exp.cast(exp.Literal.string(f"{at.isoformat(sep=' ')}+00:00"), exp.DataType.build("TIMESTAMPTZ"))
