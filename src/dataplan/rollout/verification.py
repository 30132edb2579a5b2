"""Running a plan's validation checks: the target environment is the baseline (A), the plan's is B."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from dataplan.backends.base import Backend, Column, column, projection, table
from dataplan.errors import EngineError
from dataplan.plan.model import ALL_COLUMNS, Check, ContractChange, Plan
from dataplan.project import Project
from dataplan.state.store import EnvironmentModel
from dataplan.verify.checks import PSI_MIN_ROWS
from dataplan.verify.model import ColumnProfile, DiffResult
from dataplan.verify.testing import TestRunner


@dataclass
class Verification:
    checks: list[Check]
    baseline: dict[str, dict[str, object]]
    diffs: dict[str, DiffResult] = field(default_factory=dict)  # model fqn -> diff target vs plan

    @property
    def blocking_failures(self) -> list[Check]:
        return [c for c in self.checks if c.blocking and c.outcome == "fail"]


def _strs(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple | set) else []


def _grade(value: float, warn: float | None, fail: float | None) -> str:
    if fail is not None and value > fail:
        return "fail"
    if warn is not None and value > warn:
        return "warn"
    return "pass"


class PlanVerifier:
    def __init__(
        self,
        project: Project,
        backend: Backend,
        plan: Plan,
        target: dict[str, EnvironmentModel],
        plan_env: dict[str, EnvironmentModel],
    ) -> None:
        self.project = project
        self.backend = backend
        self.plan = plan
        self.target = target
        self.plan_env = plan_env
        self.key_notes: dict[str, str] = {}  # model fqn -> how its rows were matched, when not on its grain

    def _view(self, env: dict[str, EnvironmentModel], model: str) -> exp.Table:
        entry = env[model]
        return table(entry.view_schema, entry.model)

    def _contract(self, fqn: str, change: str) -> list[ContractChange]:
        return [c for c in self.plan.contract_changes if c.model == fqn and c.change == change]

    def _renames(self, fqn: str, cols_a: list[Column], cols_b: list[Column]) -> dict[str, str]:
        """The plan's renamed columns of ``fqn`` (old name -> new): compared as one column, so that a rename
        is checked to keep the values. Contract changes name a column with its type (``"amount DOUBLE"``)."""
        old = {f"{c.name} {c.type}": c.name for c in cols_a}
        new = {f"{c.name} {c.type}": c.name for c in cols_b}
        return {
            old[c.before]: new[c.after]
            for c in self._contract(fqn, "column renamed")
            if c.before in old and c.after in new and new[c.after] not in old.values()
        }

    def _key(
        self, fqn: str, grain: list[str], cols_a: list[Column], cols_b: list[Column], renames: dict[str, str]
    ) -> list[str]:
        """The columns the rows are matched on, in A's names: the grain, or the old one when the plan moved
        it to columns the target does not have (none when neither is on both sides; ``key_notes`` says so)."""
        old_name = {new: old for old, new in renames.items()}  # the diff names columns as A (the target) does
        key = [old_name.get(k, k) for k in grain]
        changed = next(iter(self._contract(fqn, "grain changed")), None)
        if not key or changed is None:
            return key
        in_a = {c.name.lower() for c in cols_a}
        in_b = {old_name.get(c.name, c.name).lower() for c in cols_b}
        if all(k.lower() in in_a and k.lower() in in_b for k in key):
            return key
        old = [g.strip() for g in (changed.before or "").split(",") if g.strip() and changed.before != "(none)"]
        moved = f"grain changed ({changed.before} -> {changed.after})"
        if old and all(k.lower() in in_a and k.lower() in in_b for k in old):
            self.key_notes[fqn] = f"{moved}, the target has no {', '.join(grain)}: rows matched on the old grain"
            return old
        self.key_notes[fqn] = f"{moved}: no grain on both sides, rows not matched"
        return []

    def _diff(self, fqn: str) -> DiffResult:
        from dataplan.verify.diff import diff
        from dataplan.verify.relations import relation_columns

        model = self.project.model(fqn)
        before, after = self._view(self.target, model.name), self._view(self.plan_env, model.name)
        renames: dict[str, str] = {}
        key = list(model.spec.grain)
        if self._contract(fqn, "column renamed") or self._contract(fqn, "grain changed"):
            # both sides' columns, described once for the renames and the grain
            cols_a, cols_b = relation_columns(self.backend, before), relation_columns(self.backend, after)
            renames = self._renames(fqn, cols_a, cols_b)
            key = self._key(fqn, key, cols_a, cols_b, renames)
        return diff(
            self.backend,
            before,
            self.backend,
            after,
            renames=renames,
            key=key or None,
            label_a=f"{self.plan.environment}: {fqn}",
            label_b=f"{self.plan.plan_environment}: {fqn}",
            thresholds=self._thresholds(fqn),
        )

    def _thresholds(self, fqn: str) -> dict[str, dict[str, float | None]]:
        """The diff report judges by the plan's thresholds, and expects the changes the plan expects."""
        out: dict[str, dict[str, float | None]] = {}
        names = {"row_count": "row_count_change_pct", "profile": "null_pct_delta", "distribution": "psi"}
        for check in self.plan.checks:
            if check.model != fqn:
                continue
            if check.kind in names:
                out[names[check.kind]] = {"warn": check.warn, "fail": check.fail}
            elif check.kind == "value_diff":
                expected = set(_strs(check.params.get("expected_changes")))
                if expected:
                    out["changed_rows"] = {"fail": None}  # judged per column by the plan's own check
                if ALL_COLUMNS in expected:
                    out["only_a_rows"] = {"fail": None}
                    out["only_b_rows"] = {"fail": None}
        return out

    def run(self) -> Verification:
        diffs: dict[str, DiffResult] = {}
        out: list[Check] = []
        for check in self.plan.checks:
            model = self.project.model(check.model)
            result = check.model_copy()
            try:
                if check.kind in ("row_count", "schema", "profile", "value_diff", "distribution"):
                    if model.name not in self.target:
                        result.actual, result.outcome = "model is new: no baseline", "pass"
                    else:
                        if check.model not in diffs:
                            diffs[check.model] = self._diff(check.model)
                        self._grade_diff(result, diffs[check.model])
                elif check.kind == "tests":
                    self._tests(result, model.name)
                elif check.kind == "exposure_query":
                    self._exposure(result, model.name)
                elif check.kind == "spot_check":
                    self._spot(result, model.name)
            except EngineError as exc:
                result.actual, result.outcome = f"error: {exc.message[:200]}", "fail"
            out.append(result)
        baseline = {fqn: self._baseline(fqn, d) for fqn, d in diffs.items()}
        return Verification(out, baseline, diffs)

    def _baseline(self, fqn: str, d: DiffResult) -> dict[str, object]:
        """What the target held: its rows, and each column's null %, distinct and mean, the columns the plan
        removes included (profiled on their own, one more aggregate query: the record of what it drops)."""
        columns = {p.column: _figures(p.a) for p in d.profiles}
        removed = [Column(name, kind) for name, kind in d.schema_diff.removed]
        if removed:
            from dataplan.verify.profile import profile

            view = self._view(self.target, self.project.model(fqn).name)
            for col in profile(self.backend, view, label=fqn, columns=removed).columns:
                columns[col.column] = {**_figures(col), "removed": True}
        return {"row_count": d.a.row_count, "columns": columns}

    def _grade_diff(self, check: Check, d: DiffResult) -> None:
        a, b = d.a.row_count, d.b.row_count
        if check.kind == "row_count":
            pct = abs(b - a) / a * 100 if a else (0.0 if b == 0 else 100.0)
            check.actual = f"{a:,} -> {b:,} rows ({(b - a):+,}, {pct:.2f}%)"
            check.outcome = _grade(pct, check.warn, check.fail)  # type: ignore[assignment]
        elif check.kind == "schema":
            planned = set(_strs(check.params.get("expected")))
            found = (
                [f"+{n}" for n, _ in d.schema_diff.added]
                + [f"-{n}" for n, _ in d.schema_diff.removed]
                + [f"~{n}" for n, _, _ in d.schema_diff.type_changed]
                + [f"{a} -> {b}" for a, b in d.renamed.items()]  # values compared as one column
            )
            check.actual = ", ".join(found) or "no schema change"
            unplanned = bool(found) and not planned
            check.outcome = "fail" if unplanned else "pass"
        elif check.kind == "profile":
            worst = max((abs(p.null_pct_delta) for p in d.profiles), default=0.0)
            moved = [p.column for p in d.profiles if abs(p.null_pct_delta) > (check.warn or 0)]
            check.actual = f"max null % change {worst:.2f} pts" + (f" ({', '.join(moved)})" if moved else "")
            check.outcome = _grade(worst, check.warn, check.fail)  # type: ignore[assignment]
        elif check.kind == "value_diff":
            self._grade_rows(check, d)
        elif check.kind == "distribution":
            wanted = set(_strs(check.params.get("columns", [ALL_COLUMNS])))
            psis = [
                (x.column, x.psi)
                for x in d.distributions
                if x.psi is not None and (ALL_COLUMNS in wanted or x.column in wanted)
            ]
            if not psis:
                check.actual, check.outcome = "no column with a distribution to compare", "pass"
                return
            col, worst = max(psis, key=lambda t: t[1] or 0.0)
            check.actual = f"max PSI {worst:.3f} ({col})"
            if min(d.a.row_count, d.b.row_count) < PSI_MIN_ROWS:  # a few rows per bin: noise, as the diff says
                check.actual += f"; not graded below {PSI_MIN_ROWS} rows per side"
                check.outcome = "pass"
                return
            check.outcome = _grade(worst or 0.0, check.warn, check.fail)  # type: ignore[assignment]

    def _grade_rows(self, check: Check, d: DiffResult) -> None:
        if d.key_check is not None and not d.key_check.ok:
            check.actual = (
                f"key not unique or null: {d.key_check.a_duplicate_keys}/{d.key_check.b_duplicate_keys} "
                f"duplicate, {d.key_check.a_null_keys}/{d.key_check.b_null_keys} null keys"
            )
            check.outcome = "fail"
            return
        rows = d.rows
        note = self.key_notes.get(check.model)
        if rows is None:  # no row was compared: not a pass, and nothing failed either
            check.actual, check.outcome = f"not run: {note or 'no key'}", "warn"
            return
        expected = set(_strs(check.params.get("expected_changes")))
        expected |= {a for a, b in d.renamed.items() if b in expected}  # the diff names a renamed column as A does
        unexpected = [
            m for m in rows.columns if m.mismatches and m.column not in expected and ALL_COLUMNS not in expected
        ]
        changed = ", ".join(f"{m.column} {m.mismatches:,}" for m in rows.columns if m.mismatches) or "none"
        check.actual = (
            f"{rows.only_a:,} only in {self.plan.environment}, {rows.only_b:,} only in plan, "
            f"{rows.changed:,} changed rows (by column: {changed})" + (f"; {note}" if note else "")
        )
        moved_rows = (rows.only_a or rows.only_b) and ALL_COLUMNS not in expected
        check.outcome = "fail" if unexpected or moved_rows else "pass"

    def _tests(self, check: Check, model: str) -> None:
        run = TestRunner(self.project, self.backend, self.plan_env).run(self.plan.plan_environment, [model], False)
        failed = [r for r in run.results if r.outcome == "fail"]
        check.actual = f"{len(run.passed)} passed, {len(run.warned)} warned, {len(failed)} failed" + (
            f" ({', '.join(r.test for r in failed)})" if failed else ""
        )
        check.outcome = "fail" if failed else "pass"

    def _exposure(self, check: Check, model: str) -> None:
        exposure = next(e for e in self.project.exposures if e.name == check.params.get("exposure"))
        fqn = self.project.models[model].fqn
        cols = next((d.columns for d in exposure.spec.depends_on if d.model in (fqn, model)), [])
        q = exp.select(*projection(cols)).from_(self._view(self.plan_env, model)).limit(5)
        rows = self.backend.fetch(q).num_rows  # a probe (LIMIT 5): whether rows come back, not how many
        reads = f" of {', '.join(cols)}" if cols else ""
        check.actual = f"query returns rows{reads}" if rows else f"query returned no rows{reads}"
        check.outcome = "pass" if rows else "fail"

    def _spot(self, check: Check, model: str) -> None:
        keys: list[dict[str, Any]] = list(check.params.get("keys", []))  # type: ignore[call-overload]
        differing = []
        for key in keys:
            cond = exp.and_(*[column(k).eq(exp.convert(v)) for k, v in key.items()])
            before = self.backend.fetch(exp.select("*").from_(self._view(self.target, model)).where(cond)).to_pylist()
            after = self.backend.fetch(exp.select("*").from_(self._view(self.plan_env, model)).where(cond)).to_pylist()
            if not after or before != after:
                differing.append(f"{key}: {'missing' if not after else 'changed'}")
        check.actual = f"{len(keys) - len(differing)}/{len(keys)} keys identical" + (
            f"; {'; '.join(differing)}" if differing else ""
        )
        check.outcome = "warn" if differing else "pass"


def _figures(p: ColumnProfile) -> dict[str, object]:
    return {
        "null_pct": p.null_pct,
        "mean": p.mean,
        "distinct": p.distinct,
        "distinct_approximate": p.distinct_approximate,  # a HyperLogLog figure above 1M rows
    }
