"""The two changes the demo ships: a good churn-definition change and a bad one.

Each is a text replacement in ``models/marts/account_health.sql`` of the demo
project, so a user can read exactly what changed (and undo it by hand).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MODEL_FILE = Path("models/marts/account_health.sql")


@dataclass(frozen=True)
class Change:
    name: str
    objective: str
    before: str
    after: str
    # Promote even when apply's checks fail, with this reason: the bad change is forced past the gate
    # so the demo shows the post-promotion trigger rolling prod back by itself.
    force_reason: str | None = None

    def apply(self, project_dir: Path) -> bool:
        """Edit the model; False when the text is not there (already applied or edited by hand)."""
        path = project_dir / MODEL_FILE
        text = path.read_text(encoding="utf-8")
        if self.before not in text:
            return False
        path.write_text(text.replace(self.before, self.after, 1), encoding="utf-8")
        return True

    def revert(self, project_dir: Path) -> bool:
        path = project_dir / MODEL_FILE
        text = path.read_text(encoding="utf-8")
        if self.after not in text:
            return False
        path.write_text(text.replace(self.after, self.before, 1), encoding="utf-8")
        return True


CHURN_DEFINITION = Change(
    name="churn definition",
    objective="Weigh failed payments more in the churn risk score: they predict churn better than tickets.",
    before="+ 0.7 * least(failed_payments_90d, 4)",
    after="+ 1.1 * least(failed_payments_90d, 4)",
)

DROP_UNKNOWN_INDUSTRY = Change(
    name="drop unknown industry",
    objective="Leave accounts with an unknown industry out of account health.",
    before="select * from intermediate.int_customer_spine where is_crm_matched\n",
    after="select * from intermediate.int_customer_spine where is_crm_matched and industry <> 'unknown'\n",
    force_reason="demo: forced past the failed row-count check to show the automatic rollback",
)
