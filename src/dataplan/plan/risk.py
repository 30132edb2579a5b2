"""Risk rules: each with likelihood, impact, and a mitigation the plan itself carries out."""

from __future__ import annotations

from dataplan.plan.model import Backfill, ContractChange, ExposureImpact, ModelChange, Risk


def assess(
    changes: list[ModelChange],
    contracts: list[ContractChange],
    backfills: list[Backfill],
    impacts: list[ExposureImpact],
    allow_breaking: bool,
    violations: dict[str, list[str]] | None = None,
) -> list[Risk]:
    risks: list[Risk] = []
    for fqn, broken in sorted((violations or {}).items()):
        # Not a choice --allow-breaking can make: the build refuses a model that breaks its enforced contract.
        risks.append(
            Risk(
                rule="enforced-contract-violated",
                risk=f"{fqn} would break its enforced contract: {'; '.join(broken)}",
                likelihood="high",
                impact="high",
                mitigation="blocked: declare the columns in the model's YAML (or change the query), then re-plan",
                blocking=True,
            )
        )
    for impact in impacts:
        if impact.breaking:
            risks.append(
                Risk(
                    rule="breaking-change-feeds-exposure",
                    risk=f"{impact.type} `{impact.exposure}` reads changed data "
                    f"({', '.join(impact.columns) or 'all columns'})",
                    likelihood="high",
                    impact="high",
                    mitigation="value diff on the grain, distribution comparison of the changed columns and the "
                    "exposure's query are run against the plan environment before promotion; automatic rollback "
                    "if a post-promotion check fails",
                )
            )
    for cc in contracts:
        if cc.change in ("column removed", "column renamed", "model removed") and cc.enforced:
            what = "removing the model" if cc.change == "model removed" else f"{cc.change} `{cc.before}`"
            risks.append(
                Risk(
                    rule="enforced-contract-model-removed"
                    if cc.change == "model removed"
                    else "enforced-contract-column-removed",
                    risk=f"{cc.model}: {what} breaks its enforced contract",
                    likelihood="high",
                    impact="high",
                    mitigation="blocked: re-plan with --allow-breaking once consumers are ready"
                    if not allow_breaking
                    else "allowed with --allow-breaking; consumers listed in Downstream Impacts",
                    blocking=not allow_breaking,
                )
            )
        elif cc.change == "column type changed":
            risks.append(
                Risk(
                    rule="column-type-changed",
                    risk=f"{cc.model}: `{cc.before}` becomes `{cc.after}`",
                    likelihood="medium",
                    impact="high" if cc.enforced else "medium",
                    mitigation="schema diff and profile diff of the column in verification",
                )
            )
        elif cc.change == "grain changed":
            risks.append(
                Risk(
                    rule="grain-changed",
                    risk=f"{cc.model}: grain `{cc.before}` becomes `{cc.after}`; row counts change",
                    likelihood="high",
                    impact="high",
                    mitigation="uniqueness test on the new grain and row-count comparison with explicit thresholds",
                )
            )
    for change in changes:
        if change.change == "removed":
            readers = [i.exposure for i in impacts if change.fqn in i.models]
            risks.append(
                Risk(
                    rule="model-removed",
                    risk=f"{change.fqn} is removed" + (f" while {', '.join(readers)} read it" if readers else ""),
                    likelihood="high" if readers else "low",
                    impact="high" if readers else "low",
                    mitigation="its version is kept, so `dataplan rollback` restores the view"
                    if not readers or allow_breaking
                    else "blocked: an exposure reads it; re-plan with --allow-breaking",
                    blocking=bool(readers) and not allow_breaking,
                )
            )
    for bf in backfills:
        if bf.strategy == "date-range backfill":
            risks.append(
                Risk(
                    rule="historical-backfill",
                    risk=f"{bf.model}: history {bf.ranges[0][0]} to {bf.ranges[0][1]} is recomputed"
                    if bf.ranges
                    else f"{bf.model}: history is recomputed",
                    likelihood="low",
                    impact="medium",
                    mitigation="built in batches in the isolated plan environment, resumable; prod reads the old "
                    "version until promotion",
                )
            )
        elif bf.strategy == "full refresh":
            risks.append(
                Risk(
                    rule="full-refresh",
                    risk=f"{bf.model} is rebuilt in full",
                    likelihood="low",
                    impact="low",
                    mitigation="built in the plan environment; promotion is a view swap with no downtime",
                )
            )
    return risks
