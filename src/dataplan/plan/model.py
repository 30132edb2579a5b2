"""The plan: everything needed to ship a change, as schema-versioned data.

A plan is pure data (pydantic), serialized as JSON into the state store and
rendered as Markdown. ``PLAN_SCHEMA_VERSION`` changes whenever a field changes
meaning; readers refuse versions they do not know. The JSON form is the
stable interface for CI bots and agents (docs/plan-json.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PLAN_SCHEMA_VERSION = 1

ChangeKind = Literal["added", "removed", "directly modified", "indirectly modified", "metadata only"]
Category = Literal["breaking", "non-breaking", "metadata"]
Status = Literal["DRAFT", "IN PROGRESS", "COMPLETE", "ABANDONED", "ROLLED BACK"]
ContractChangeKind = Literal[
    "column added",
    "column removed",
    "column type changed",
    "column renamed",
    "grain changed",
    "materialization changed",
    "model removed",
]
BackfillStrategy = Literal["full refresh", "incremental catch-up", "date-range backfill", "none"]
Level = Literal["low", "medium", "high"]
CheckKind = Literal[
    "row_count", "schema", "profile", "value_diff", "distribution", "spot_check", "tests", "exposure_query"
]
ALL_COLUMNS = "*"  # in changed_columns: every row may change


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelChange(_Data):
    model: str
    fqn: str
    file: str  # relative to the project
    materialized: str
    change: ChangeKind
    category: Category
    reason: str  # in words: why this category, why (not) rebuilt
    rebuild: bool  # False: the environment keeps (or reuses) its current version
    changed_columns: list[str] = Field(default_factory=list)  # ["*"]: any row may change
    old_version: str | None = None
    new_version: str | None = None


class ContractChange(_Data):
    model: str
    change: ContractChangeKind
    before: str | None = None
    after: str | None = None
    breaking: bool = False
    enforced: bool = False  # the model's contract is enforced


class Backfill(_Data):
    model: str
    strategy: BackfillStrategy
    reason: str
    ranges: list[tuple[str, str]] = Field(default_factory=list)  # [start, end) ISO dates


class ExposureImpact(_Data):
    exposure: str
    type: str
    owner: str | None = None
    models: list[str]  # impacted models it reads
    columns: list[str]  # the columns it reads that change (or are removed)
    breaking: bool


class Risk(_Data):
    rule: str
    risk: str
    likelihood: Level
    impact: Level
    mitigation: str
    blocking: bool = False


class Check(_Data):
    """One validation the apply step runs; thresholds decide pass / warn / fail."""

    id: str
    model: str
    kind: CheckKind
    criteria: str  # what is checked, in words (Validation Criteria table)
    measurement: str  # how it is measured
    target: str  # the pass condition, in words
    warn: float | None = None
    fail: float | None = None
    params: dict[str, object] = Field(default_factory=dict)
    blocking: bool = True
    actual: str | None = None  # filled by apply
    outcome: Literal["pass", "warn", "fail"] | None = None


class Step(_Data):
    n: int
    environment: str
    action: str
    checkpoint: str
    kind: Literal["build", "baseline", "verify", "test", "promote", "post_check"]


class PostCheck(_Data):
    """One post-promotion check as promote ran it on the target; a fired one rolled the plan back."""

    name: str
    outcome: Literal["pass", "fail"]
    detail: str  # the figures, in words
    triggers_rollback: bool = False


class ApplyFailure(_Data):
    """Why the last ``apply`` stopped before verifying: the project's error or the engine's, as the user saw it."""

    at: dt.datetime
    message: str


class Rollback(_Data):
    command: str
    restores: dict[str, str | None]  # model -> version the target had (None: drop the view)
    triggers: list[str] = Field(default_factory=list)


class Plan(_Data):
    schema_version: int = PLAN_SCHEMA_VERSION
    plan_id: str
    title: str
    objective: str
    status: Status = "DRAFT"
    created_at: dt.datetime
    project: str
    environment: str  # the target
    plan_environment: str  # where apply builds: plan_<id>
    selection: str | None = None
    target_state: dict[str, str]  # model -> version of the target when planned
    target_state_hash: str
    allow_breaking: bool = False
    changes: list[ModelChange] = Field(default_factory=list)
    contract_changes: list[ContractChange] = Field(default_factory=list)
    backfills: list[Backfill] = Field(default_factory=list)
    impacts: list[ExposureImpact] = Field(default_factory=list)
    risks: list[Risk] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    rollout: list[Step] = Field(default_factory=list)
    rollback: Rollback
    blocked: list[str] = Field(default_factory=list)  # reasons apply must refuse
    document: str | None = None  # path of the Markdown, relative to the project
    # Filled by the rollout (apply / promote / rollback); see dataplan.rollout.
    fingerprints: dict[str, str] = Field(default_factory=dict)  # the project's, when planned
    reuse: dict[str, str] = Field(default_factory=dict)  # model -> kept version for its new fingerprint
    baseline: dict[str, dict[str, object]] = Field(default_factory=dict)  # model -> figures of the target
    applied_at: dt.datetime | None = None
    verified: bool = False  # apply ran and no blocking check failed
    apply_failure: ApplyFailure | None = None  # the last apply's build error; cleared by an apply that finishes
    promoted_to: str | None = None  # the environment promote swapped (--to), saved before the swap
    promoted_at: dt.datetime | None = None
    # The versions the swap writes, saved just before it; after it, the target's views.
    promoted_state: dict[str, str] = Field(default_factory=dict)
    # Rows the target's views held just before the swap (models with a row-count trigger): what the trigger
    # compares with, since a `run` of the target after apply moves it past the baseline.
    promoted_from_rows: dict[str, int] = Field(default_factory=dict)
    rolled_back_at: dt.datetime | None = None
    rollback_reason: str | None = None
    forced_reason: str | None = None  # promote --force --reason
    reports: list[str] = Field(default_factory=list)  # verification reports (HTML), relative to the project
    post_checks: list[PostCheck] = Field(default_factory=list)  # filled by promote, after the swap

    @property
    def was_promoted(self) -> bool:
        """A promotion started: some target may read the plan's versions until it is rolled back.

        ``promoted_to`` is saved before the swap, so a crash mid-promotion still counts;
        ``promoted_at`` alone covers plans promoted before ``promoted_to`` existed.
        """
        return self.promoted_to is not None or self.promoted_at is not None

    @property
    def rebuilt(self) -> list[ModelChange]:
        return [c for c in self.changes if c.rebuild]

    @property
    def is_empty(self) -> bool:
        return not self.changes
