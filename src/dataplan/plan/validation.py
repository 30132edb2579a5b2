"""The validation plan: checks per impacted model, as data with thresholds."""

from __future__ import annotations

from dataplan.plan.model import ALL_COLUMNS, Check, ContractChange, ExposureImpact, ModelChange
from dataplan.project import Project

ROW_COUNT_WARN_PCT = 1.0
ROW_COUNT_FAIL_PCT = 5.0
NULL_RATE_WARN_PTS = 1.0
NULL_RATE_FAIL_PTS = 5.0
PSI_WARN = 0.1
PSI_FAIL = 0.25


def _check(out: list[Check], fqn: str, kind: str, criteria: str, measurement: str, target: str, **kw: object) -> None:
    fields = dict(
        id=f"{fqn}:{kind}", model=fqn, kind=kind, criteria=criteria, measurement=measurement, target=target, **kw
    )
    out.append(Check.model_validate(fields))


def checks_for(
    project: Project,
    changes: list[ModelChange],
    contracts: list[ContractChange],
    impacts: list[ExposureImpact],
) -> list[Check]:
    out: list[Check] = []
    grain_changed = {c.model for c in contracts if c.change == "grain changed"}
    expected_schema: dict[str, list[str]] = {}
    for cc in contracts:
        was_is = " -> ".join(x for x in (cc.before, cc.after) if x)
        expected_schema.setdefault(cc.model, []).append(f"{cc.change}: {was_is}")
    for change in changes:
        if not change.rebuild or change.change == "added" or change.model not in project.models:
            continue
        model = project.models[change.model]
        fqn = change.fqn

        if fqn in grain_changed:
            _check(
                out,
                fqn,
                "row_count",
                f"{fqn} row count after the grain change",
                "count(*) plan vs target",
                "reported; no fail threshold (the grain changed on purpose)",
                blocking=False,
            )
        elif model.kind == "seed":  # its rows are its file's: a row added to the CSV is the change itself
            _check(
                out,
                fqn,
                "row_count",
                f"{fqn} row count",
                "count(*) plan vs target",
                "reported; no fail threshold (a seed holds the rows of its file)",
                blocking=False,
            )
        else:
            # A rollback trigger stricter than the default fail threshold fails the check already: a plan
            # verified here would otherwise be promoted only to be rolled back on the same figure.
            triggers = model.spec.rollback_when or project.config.defaults.rollback_when
            drop = triggers.row_count_drop_pct if triggers is not None else None
            fail = min(ROW_COUNT_FAIL_PCT, drop) if drop is not None else ROW_COUNT_FAIL_PCT
            warn = min(ROW_COUNT_WARN_PCT, fail)
            # Said as the grading reads it: a figure passes up to the warn threshold, fails above the fail one.
            above = f"warn above {warn}%, fail above {fail}%" if warn < fail else f"fail above {fail}%"
            if fail < ROW_COUNT_FAIL_PCT:
                above += f"; rollback_when fires on a drop above {fail}%"
            target = f"change within {warn}% ({above})"
            _check(
                out,
                fqn,
                "row_count",
                f"{fqn} keeps its row count",
                "count(*) plan vs target",
                target,
                warn=warn,
                fail=fail,
            )
        _check(
            out,
            fqn,
            "schema",
            f"{fqn} schema matches the contract changes",
            "columns and types plan vs target",
            "only the planned changes: " + ("; ".join(expected_schema.get(fqn, [])) or "none"),
            params={"expected": expected_schema.get(fqn, [])},
        )
        _check(
            out,
            fqn,
            "profile",
            f"{fqn} column profiles stay stable",
            "null %, distinct, min, max, mean per column",
            f"null % moves within {NULL_RATE_WARN_PTS} pts (warn above {NULL_RATE_WARN_PTS}, fail above "
            f"{NULL_RATE_FAIL_PTS} pts)",
            warn=NULL_RATE_WARN_PTS,
            fail=NULL_RATE_FAIL_PTS,
            blocking=False,
        )
        changed = [c for c in change.changed_columns if c != ALL_COLUMNS]
        if model.spec.grain:
            _check(
                out,
                fqn,
                "value_diff",
                f"{fqn} rows match on grain ({', '.join(model.spec.grain)})",
                "key-level diff in the engine",
                "unchanged columns: 0 mismatching rows; changed columns reported",
                fail=0,
                params={"key": model.spec.grain, "expected_changes": change.changed_columns},
            )
        numeric_changed = changed or [ALL_COLUMNS]
        _check(
            out,
            fqn,
            "distribution",
            f"{fqn} distributions of changed columns",
            "PSI and KS per numeric column, PSI and chi-square per text column",
            f"PSI within {PSI_WARN} (warn above {PSI_WARN}, fail above {PSI_FAIL})",
            warn=PSI_WARN,
            fail=PSI_FAIL,
            params={"columns": numeric_changed},
            blocking=False,
        )
        spots = model.spec.meta.get("spot_checks") if isinstance(model.spec.meta, dict) else None
        if spots:
            _check(
                out,
                fqn,
                "spot_check",
                f"{fqn} declared keys keep their values",
                f"rows for {len(spots)} declared keys",
                "listed keys exist on both sides; differences reported",
                params={"keys": spots},
            )
        if model.tests or model.spec.grain:
            _check(
                out,
                fqn,
                "tests",
                f"{fqn} tests pass",
                f"{len(model.tests) + bool(model.spec.grain)} declared tests",
                "no error-severity failure",
            )
    for impact in impacts:
        for fqn in impact.models:
            out.append(
                Check(
                    id=f"{impact.exposure}:exposure_query:{fqn}",
                    model=fqn,
                    kind="exposure_query",
                    criteria=f"{impact.type} `{impact.exposure}` still gets its data",
                    measurement=f"the exposure's columns of {fqn} queried in the plan environment",
                    target="query succeeds and returns rows",
                    params={"exposure": impact.exposure},
                )
            )
    return out
