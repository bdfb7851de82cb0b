"""The alert inboxes' rules (pure): who sees which alert, and an alert's case, folded from the audit log.

An alert (``ua.dsom.v1.Alert``, stored by the ClickHouse sink) has its own life, decided by the
alerts agent: open while its condition holds, RESOLVED when it ends. Handling it is people's
work, kept apart: in the regulator's inbox it can be acknowledged, assigned and resolved with a
note; the operator handles its own alerts in its cabinet the same way. Each action is an entry
in the registry's hash-chained audit log (kind ``alert``, the alert's ID, the action, the note),
and a case is nothing but those entries folded: the audit log is the only record of it.

The regulator and the operator each keep their own case of an alert (``side``): an operator
resolving a case in its cabinet does not close the regulator's.

Who sees what: an operator only its own operator's alerts, including the per-player
responsible-gambling alerts (it must act on them); the regulator's staff every alert but those,
of which they see the counts per operator (the aggregates), not the player references.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from web.access import REGULATOR_STAFF, Account, Role
from web.i18n import gettext as _

AUDIT_KIND = "alert"
ACTIONS = ("acknowledge", "assign", "resolve")
Side = Literal["regulator", "operator"]
# Per-player rules the operator acts on; the regulator sees them counted per operator only.
PLAYER_RULES = ("rg_score",)
NOTE_MAX = 2000
ASSIGNEE_MAX = 200


def side_of(account: Account) -> Side | None:
    """Whose inbox ``account`` works in (None: neither)."""
    if account.role is Role.OPERATOR and account.operator_id:
        return "operator"
    if account.role in REGULATOR_STAFF:
        return "regulator"
    return None


def may_see(account: Account, alert: dict[str, Any]) -> bool:
    """Whether ``account`` may see (and so act on) ``alert``."""
    side = side_of(account)
    if side == "operator":
        return bool(alert["operator_id"] == account.operator_id)
    return side == "regulator" and alert["rule"] not in PLAYER_RULES


def refusal(action: str, note: str, assignee: str) -> str | None:
    """Why this action cannot be recorded as given (None: it can), in words the person can act on."""
    if action not in ACTIONS:
        return _("Choose acknowledge, assign or resolve.")
    if len(note) > NOTE_MAX:
        return _("The note is too long (at most %(n)d characters).") % {"n": NOTE_MAX}
    if action == "assign" and not assignee.strip():
        return _("Name the person the alert is assigned to.")
    if len(assignee) > ASSIGNEE_MAX:
        return _("The assignee's name is too long (at most %(n)d characters).") % {"n": ASSIGNEE_MAX}
    if action == "resolve" and not note.strip():
        return _("Resolving an alert needs a note: what was found and done.")
    return None


def audit_detail(side: Side, alert: dict[str, Any], action: str, note: str, assignee: str) -> dict[str, Any]:
    """What the audit entry of an action holds (with the note as its reason)."""
    detail: dict[str, Any] = {
        "side": side,
        "operator_id": alert["operator_id"],
        "rule": alert["rule"],
        "alert_state": alert["state"],
    }
    if action == "assign":
        detail["assignee"] = assignee.strip()
    return detail


@dataclass
class Step:
    action: str
    by: str
    at_us: int
    note: str
    assignee: str | None


@dataclass
class Case:
    """One side's handling of one alert."""

    status: str = "new"  # new, acknowledged, assigned, resolved
    assignee: str | None = None
    steps: list[Step] = field(default_factory=list)

    def take(self, step: Step) -> None:
        """One more action; acknowledging or assigning a resolved case reopens it."""
        self.steps.append(step)
        if step.action == "assign":
            self.assignee = step.assignee
        if step.action == "resolve":
            self.status = "resolved"
        else:
            self.status = "assigned" if self.assignee else "acknowledged"


def cases(entries: Iterable[Any], side: Side) -> dict[str, Case]:
    """Each alert's case on ``side``, from audit rows of kind ``alert`` in log order.

    A row needs ``action``, ``entity_id``, ``principal``, ``at_us``, ``after`` (JSON) and ``reason``.
    """
    out: dict[str, Case] = {}
    for row in entries:
        detail = orjson.loads(row.after) if isinstance(row.after, str | bytes) else row.after
        if not isinstance(detail, dict) or detail.get("side") != side:
            continue
        action = str(row.action).removeprefix("alert_")
        if action not in ACTIONS:
            continue
        out.setdefault(row.entity_id, Case()).take(
            Step(action, row.principal, row.at_us, row.reason or "", detail.get("assignee"))
        )
    return out
