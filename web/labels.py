"""What the machine values a person sees are called, in the current language.

The values themselves (``pending``, ``ONLINE_CASINO``, ``silent``) stay stable machine strings in
the data, the exports and the API; pages show these labels and keep the value beside them
(``data-*`` attributes, the report tables' ``data-raw``) for scripts and tests.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime

from pipeline.contract.reasons import reason_texts
from pipeline.settings import ValidationSettings
from web.i18n import N_, current_locale, format_money, format_number, format_time, gettext

ROLES = {
    "operator": N_("operator representative"),
    "officer": N_("registry officer"),
    "regulator": N_("regulator"),
    "analyst": N_("analyst"),
    "tax": N_("tax officer"),
    # the roles the inspection, administration and law-enforcement cabinets add (issue 14)
    "inspector": N_("inspector"),
    "admin": N_("administrator"),
    "law": N_("law enforcement"),
}
PROPOSAL_STATES = {"pending": N_("pending"), "approved": N_("approved"), "rejected": N_("rejected")}
STATUSES = {
    "active": N_("active"),
    "suspended": N_("suspended"),
    "revoked": N_("revoked"),
    "inactive": N_("inactive"),
}
RECORD_KINDS = {
    "operator": N_("operator"),
    "licence": N_("licence"),
    "establishment": N_("establishment"),
    "equipment": N_("equipment"),
    "site": N_("website"),
    "app": N_("mobile app"),
    "representative": N_("representative"),
}
# What the audit log's entries are about: the registry's kinds, and the cabinets' own.
AUDIT_KINDS = {
    **RECORD_KINDS,
    "session": N_("session"),
    "report": N_("report"),
    "writer_schema": N_("writer schema"),
}
LICENCE_KINDS = {
    "CASINO_ESTABLISHMENT": N_("casino (establishment)"),
    "ONLINE_CASINO": N_("online casino"),
    "BOOKMAKING": N_("bookmaking"),
    "SLOT_HALL": N_("slot machine hall"),
    "ONLINE_POKER": N_("online poker"),
}
AUDIT_ACTIONS = {
    "login": N_("logged in"),
    "login_refused": N_("login refused"),
    "logout": N_("logged out"),
    "export": N_("export"),
    "propose": N_("proposal"),
    "approve": N_("approval"),
    "reject": N_("rejection"),
    "add": N_("entry"),
    "change": N_("change"),
    "sanction": N_("sanction"),
    "suspend": N_("suspension"),
    "revoke": N_("revocation"),
    "reinstate": N_("reinstatement"),
    "register_writer_schema": N_("writer schema registered"),
}
# The alerts (pipeline/data/alert_rules.json, pipeline/core/alerts.py), for the alerts inbox:
# each rule's title, the alert's severity, state and subject kind.
ALERT_RULES = {
    "source_silent": N_("A source has gone silent"),
    "sequence_gap": N_("Missing sequence numbers"),
    "rejection_rate": N_("High share of rejected events"),
    "late_data": N_("Late data"),
    "tax_discrepancy": N_("Winnings tax withheld differs from the tax due"),
    "unlicensed_activity": N_("Activity outside the licence"),
    "unregistered_asset": N_("Activity on unregistered equipment, site or app"),
    "aml_single": N_("Single operation at or above the financial monitoring threshold"),
    "aml_daily_total": N_("Daily total at or above the financial monitoring threshold"),
    "aml_structuring": N_("Suspected structuring of operations below the threshold"),
    "rtp_deviation": N_("Return to player deviates from the declared value"),
    "rg_score": N_("Signs of problem gambling"),
    "archive_guard": N_("Someone other than the system may change or erase the archive"),
}
ALERT_SEVERITIES = {"INFO": N_("information"), "WARNING": N_("warning"), "CRITICAL": N_("critical")}
ALERT_STATES = {"OPENED": N_("opened"), "UPDATED": N_("updated"), "RESOLVED": N_("resolved")}
ALERT_SUBJECTS = {
    "OPERATOR": N_("operator"),
    "SOURCE": N_("data source"),
    "PLAYER": N_("player (pseudonym)"),
    "MACHINE": N_("gaming machine"),
    "ARCHIVE": N_("archive of operations"),
}

# The kinds of event an operator sends (pipeline/core/model.py, EventKind), as receipts list them.
EVENT_KINDS = {
    "BET": N_("bet"),
    "WIN": N_("payout of winnings"),
    "REFUND": N_("refund of a bet"),
    "DEPOSIT": N_("deposit"),
    "WITHDRAWAL": N_("withdrawal"),
    "WITHDRAWAL_CANCELLED": N_("cancelled withdrawal"),
}
# The channel an event came by (pipeline/core/model.py, Channel), as the inspection look-up lists it.
CHANNELS = {"ESTABLISHMENT": N_("establishment"), "SITE": N_("website"), "APP": N_("mobile app")}
# A GGR statement's status (schemas/avro/ua.dsom.v1.GgrStatement.avsc, pipeline/core/statements.py):
# OPEN while its period runs, CLOSED once it has ended (later revisions stay CLOSED).
STATEMENT_STATUSES = {
    "OPEN": N_("open (the period is running)"),
    "CLOSED": N_("closed (the period has ended)"),
}
# The event columns the inspection look-up shows (web/lookup.py, SHOWN), as its table heads them.
EVENT_COLUMNS = {
    "occurred_at": N_("occurred"),
    "receipt_id": N_("receipt ID"),
    "operator_id": N_("operator"),
    "kind": N_("kind"),
    "amount": N_("amount"),
    "currency": N_("currency"),
    "licence_id": N_("licence"),
    "licence_kind": N_("licence kind"),
    "channel": N_("channel"),
    "site_id": N_("website"),
    "establishment_id": N_("establishment"),
    "equipment_id": N_("equipment"),
    "game_type": N_("game type"),
    "bet_ref": N_("bet reference"),
    "round_ref": N_("round reference"),
    "player_ref": N_("player reference"),
    "source_id": N_("source"),
    "seq": N_("sequence number"),
    "received_at": N_("received"),
    "tax_withheld_pit": N_("PIT withheld"),
    "tax_withheld_military": N_("military levy withheld"),
    "chain_id": N_("archive chain"),
    "chain_index": N_("position in the chain"),
    "src_partition": N_("Kafka partition"),
    "src_offset": N_("Kafka offset"),
}
# The tax officer's tables' columns (web/tax_records.py, TABLES), as the /tax page heads them and its
# exports label them (money columns are kopecks in the exports, hryvnias on the page).
TAX_COLUMNS = {
    "operator_id": N_("operator"),
    "period": N_("period"),
    "period_start": N_("period start"),
    "period_end": N_("period end"),
    "revision": N_("revision"),
    "status": N_("status"),
    "stakes": N_("stakes"),
    "refunds": N_("refunds"),
    "winnings": N_("winnings"),
    "ggr": N_("GGR"),
    "ggr_tax_rate_ppm": N_("GGR tax rate"),
    "ggr_tax_due": N_("GGR tax due"),
    "bets": N_("bets"),
    "payouts": N_("payouts"),
    "pit_due": N_("PIT due"),
    "pit_withheld": N_("PIT withheld"),
    "military_due": N_("military levy due"),
    "military_withheld": N_("military levy withheld"),
    "discrepancies": N_("discrepancies"),
    "discrepancy": N_("discrepancy"),
    "issued_at": N_("issued"),
    "occurred_at": N_("occurred"),
    "receipt_id": N_("receipt ID"),
    "licence_id": N_("licence"),
    "licence_kind": N_("licence kind"),
    "player_ref": N_("player reference"),
    "amount": N_("amount"),
    "pit_rate_ppm": N_("PIT rate"),
    "military_rate_ppm": N_("military levy rate"),
}
# The look-up's columns whose values are codes, each with its descriptions; and its UTC times.
EVENT_CODES = {"kind": EVENT_KINDS, "channel": CHANNELS, "licence_kind": LICENCE_KINDS}
EVENT_TIMES = frozenset({"occurred_at", "received_at"})
# Each rejection reason (pipeline/core/model.py, Reason) in a few words, where its description (a
# sentence, pipeline/contract/reasons.py) is too long: the Grafana legends of rejections by reason.
REASON_TITLES = {
    "unknown_schema": N_("unknown schema"),
    "malformed": N_("not strict Avro"),
    "wrong_key": N_("wrong record key"),
    "empty_batch": N_("empty batch"),
    "batch_too_large": N_("too many events in a batch"),
    "record_too_large": N_("record too large"),
    "invalid_source_id": N_("invalid source ID"),
    "wrong_partition": N_("wrong partition"),
    "unprocessable": N_("set aside for investigation"),
    "wrong_operator": N_("another operator named"),
    "invalid_sequence": N_("invalid sequence number"),
    "sequence_gap_expired": N_("too late to fill a gap"),
    "conflicting_duplicate": N_("repeat with other content"),
    "unknown_licence": N_("licence not registered"),
    "licence_kind_mismatch": N_("wrong licence kind"),
    "licence_inactive": N_("licence not in force"),
    "licence_suspended": N_("licence suspended or revoked"),
    "non_positive_amount": N_("zero or negative amount"),
    "absurd_amount": N_("amount too large"),
    "wrong_currency": N_("wrong currency"),
    "future_time": N_("time in the future"),
    "too_late": N_("too late"),
    "personal_data": N_("personal data"),
    "invalid_player_ref": N_("invalid player reference"),
    "missing_field": N_("missing field"),
    "field_not_allowed": N_("field not allowed"),
    "channel_not_allowed": N_("channel not allowed"),
    "unknown_bet": N_("unknown bet"),
    "invalid_tax": N_("invalid withheld tax"),
    "field_too_long": N_("field too long"),
    "duplicate_bet_ref": N_("bet reference reused"),
    "refund_exceeds_stake": N_("refund above the stake"),
}
# The data-quality issues that are not rejection reasons (dashboards/reports.py, DATA_QUALITY); the
# rejection reasons' descriptions are the contract's (pipeline/contract/reasons.py, :func:`reason`).
DATA_QUALITY_ISSUES = {"sequence_gap": N_("sequence numbers missing"), "late_data": N_("late data")}
# Why the archive cannot prove a receipt (pipeline/archive_logs.py, ProofUnavailable.code).
PROOF_REFUSALS = {
    "not_covered": N_("The receipt is in no archive record covered by a checkpoint yet (unknown, rejected, "
                      "or newer than the last checkpoint): retry after the next checkpoint."),
    "log_short": N_("The archive partition no longer matches its signed checkpoint: the archive must be "
                    "checked (dsom verify-archive)."),
    "two_logs": N_("The two checkpoints are of two different logs."),
    "foreign_log": N_("The checkpoint is not of a log of this archive."),
}
# The figures an alert carries (pipeline/core/watch.py: ``amounts`` in kopecks, ``measures``).
ALERT_AMOUNTS = {
    "amount": N_("amount"),
    "threshold": N_("threshold"),
    "day_total": N_("total for the day"),
    "near_threshold_total": N_("total of the operations just under the threshold"),
    "day_loss": N_("player's loss for the day"),
    "stakes": N_("stakes"),
    "paid": N_("paid out"),
    "last_payout": N_("last payout"),
    "last_shortfall": N_("tax not withheld on the last payout"),
}
ALERT_MEASURES = {
    "hours_late": N_("hours late"),
    "near_threshold_operations": N_("operations just under the threshold"),
    "score": N_("responsible-gambling score"),
    "marker_loss_chasing": N_("marker: chasing losses"),
    "marker_daily_loss": N_("marker: loss for the day"),
    "marker_spend_growth": N_("marker: growth of spending"),
    "marker_deposit_velocity": N_("marker: frequent deposits"),
    "marker_session_length": N_("marker: long session"),
    "marker_night_play": N_("marker: night play"),
    "marker_cancelled_withdrawals": N_("marker: cancelled withdrawals"),
    "deposits": N_("deposits"),
    "cancelled_withdrawals": N_("cancelled withdrawals"),
    "session_hours": N_("longest session, hours"),
    "spins": N_("spins"),
    "observed_rtp": N_("observed RTP"),
    "certified_rtp": N_("certified RTP"),
    "z": N_("z statistic"),
    "deviation_points": N_("deviation, percentage points"),
    "log_evidence": N_("evidence (natural logarithm)"),
    "log_threshold": N_("evidence needed (natural logarithm)"),
    "test_spins": N_("spins tested"),
    "silent_minutes": N_("minutes without events"),
    "open_gaps": N_("open gaps"),
    "open_minutes": N_("minutes open"),
    "rejected_percent": N_("rejected, percent"),
    "operations": N_("operations"),
}

# A registry record's fields (registry/core/model.py), as the cabinets list them; values of the
# fields with a fixed set of values are labelled too (FIELD_VALUES), times are written in Kyiv time.
RECORD_FIELDS = {
    "legal_name": N_("legal name"),
    "edrpou": N_("EDRPOU code"),
    "status": N_("status"),
    "status_reason": N_("status reason"),
    "licence_id": N_("licence"),
    "licence_kind": N_("licence kind"),
    "decision_ref": N_("decision"),
    "valid_from_us": N_("valid from"),
    "valid_to_us": N_("valid until"),
    "establishment_id": N_("establishment"),
    "address": N_("address"),
    "equipment_id": N_("equipment"),
    "equipment_type": N_("equipment type"),
    "manufacturer": N_("manufacturer"),
    "model": N_("model"),
    "serial": N_("serial number"),
    "certificate": N_("conformity certificate"),
    "certified_rtp_bp": N_("certified RTP (basis points)"),
    "domain": N_("domain"),
    "store": N_("app store"),
    "package_id": N_("package"),
    "representative_id": N_("representative"),
    "name": N_("name"),
    "role": N_("role"),
    "cert_fingerprint": N_("certificate fingerprint"),
    "proposal_id": N_("proposal"),
}
FIELD_VALUES: dict[str, dict[str, str]] = {
    "status": STATUSES,
    "licence_kind": LICENCE_KINDS,
    "equipment_type": {
        "slot_machine": N_("slot machine"),
        "gaming_table": N_("gaming table"),
        "betting_terminal": N_("betting terminal"),
    },
    "store": {"google_play": N_("Google Play"), "app_store": N_("App Store"), "other": N_("other store")},
    "role": {"head": N_("head"), "authorised": N_("authorised person")},
}


# Why the registry refused a change (registry/core/errors.py, Code): the headline a cabinet shows
# before the registry's own detail (which names fields and values, and stays as the registry wrote it).
REGISTRY_REFUSALS = {
    "invalid_field": N_("A field is not valid"),
    "invalid_edrpou": N_("The EDRPOU code is not valid"),
    "invalid_domain": N_("The domain name is not valid"),
    "overlapping_licence": N_("The licence overlaps another licence of the same kind"),
    "duplicate_serial": N_("Equipment with this serial number is already registered"),
    "already_registered": N_("Already registered"),
    "unknown_operator": N_("Unknown operator"),
    "unknown_entity": N_("No such entry in the registry"),
    "foreign_asset": N_("The entry belongs to another operator"),
    "not_authorised": N_("Not authorised to make this change"),
    "four_eyes": N_("The same person may not propose and decide (four-eyes rule)"),
    "already_decided": N_("The proposal has already been decided"),
    "invalid_transition": N_("This change of status is not allowed"),
    "incompatible_schema": N_("The schema is not compatible"),
}


# Values of the reports' text columns (dashboards/reports.py), by column name.
REPORT_VALUES: dict[str, dict[str, str]] = {
    "licence_kind": LICENCE_KINDS,
    "status": {
        "ok": N_("ok"),
        "silent": N_("silent"),
        "unlicensed activity": N_("unlicensed activity"),
        "not in registry": N_("not in registry"),
    },
    "severity": {"high": N_("high"), "medium": N_("medium"), "low": N_("low")},
    "alert": {
        "silent_operator": N_("silent operator"),
        "unlicensed_activity": N_("unlicensed activity"),
        "unregistered_asset": N_("unregistered asset"),
        "tax_discrepancy": N_("winnings tax discrepancy"),
        "high_rejection_rate": N_("high share of rejected events"),
        "sequence_gaps": N_("missing sequence numbers"),
        "very_late_data": N_("very late data"),
    },
    "category": {"rejection": N_("rejection"), "gap": N_("gap"), "late": N_("late data")},
    "level": {"game": N_("game"), "machine": N_("machine")},
    "granularity": {
        "minute": N_("minutes"),
        "hour": N_("hours"),
        "day": N_("days (UTC)"),
        "month": N_("months (UTC)"),
        "kyiv_day": N_("days (Kyiv)"),
        "kyiv_month": N_("months (Kyiv)"),
    },
    "asset_type": {
        "establishment": N_("establishment"),
        "equipment": N_("equipment"),
        "site": N_("website"),
        "app": N_("mobile app"),
    },
}


# The reports' ``detail`` texts are written by their SQL in English (dashboards/reports.py); the
# report pages' script says them in the reader's language by these patterns (JavaScript regular
# expressions with named groups; each group's value formatted by its kind: time, number, percent).
DETAILS: tuple[tuple[str, str, dict[str, str]], ...] = (
    (r"^last (?<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(\.\d+)?$", N_("last at %(at)s"), {"at": "time"}),
    (r"^(?<n>\d+) source\(s\) with gaps$", N_("%(n)s source(s) with gaps"), {"n": "number"}),
    (r"^up to (?<hours>[\d.]+) h late$", N_("up to %(hours)s h late"), {"hours": "number"}),
    (r"^licence (?<licence>.+): no events for ever$", N_("licence %(licence)s: no events ever"), {}),
    (r"^licence (?<licence>.+): no events for (?<s>\d+) s$", N_("licence %(licence)s: no events for %(s)s s"),
     {"s": "number"}),
    (r"^events rejected as outside the licence$", N_("events rejected as outside the licence"), {}),
    (r"^(?<r>\d+) rejected as outside the licence, (?<a>\d+) accepted while no licence of their kind "
     r"was in force$",
     N_("%(r)s rejected as outside the licence, %(a)s accepted while no licence of their kind was in force"),
     {"r": "number", "a": "number"}),
    (r"^withheld off by (?<k>-?\d+) kopecks in all$", N_("withheld off by %(k)s kopecks in all"),
     {"k": "number"}),
    (r"^(?<pct>[\d.]+) % of events rejected$", N_("%(pct)s of events rejected"), {"pct": "percent"}),
    (r"^(?<n>\d+) source\(s\) missing sequence numbers$", N_("%(n)s source(s) missing sequence numbers"),
     {"n": "number"}),
    (r"^hours late: beyond the 72 h operators have after an outage$",
     N_("hours late: beyond the 72 h operators have after an outage"), {}),
)


def details() -> list[dict[str, object]]:
    return [{"pattern": p, "text": gettext(t), "kinds": k} for p, t, k in DETAILS]


def label(table: dict[str, str], value: str) -> str:
    """``value``'s label from ``table`` in the current language; an unknown value as it is."""
    text = table.get(value)
    return gettext(text) if text else value


def translated(table: dict[str, str]) -> dict[str, str]:
    return {value: gettext(text) for value, text in table.items()}


@functools.cache
def _reasons(locale: str) -> dict[str, str]:
    """Every rejection reason's description in ``locale``: the contract's own table, one per code."""
    return {
        str(code): (text.uk if locale == "uk" else text.en)
        for code, text in reason_texts(ValidationSettings()).items()
    }


def reasons() -> dict[str, str]:
    return _reasons(current_locale())


def reason(code: str) -> str:
    """A rejection reason's description in the current language (the code itself if unknown)."""
    return reasons().get(code, code)


def issues() -> dict[str, str]:
    """The data-quality report's issues: every rejection reason and the other issues, described."""
    return {**reasons(), **translated(DATA_QUALITY_ISSUES)}


def issue(code: str) -> str:
    return issues().get(code, code)


def _python_pattern(js: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\(\?<(\w+)>", r"(?P<\1>", js))


_DETAIL_PATTERNS = tuple((_python_pattern(p), t, k) for p, t, k in DETAILS)


def _utc_us(text: str) -> int:
    """A UTC time as ClickHouse or the cabinets' JSON write it, as microseconds.

    ``2026-11-09 23:09:59`` or ``2026-11-09T23:09:59.123456Z``; no offset means UTC.
    """
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return int(at.timestamp()) * 1_000_000 + at.microsecond


def moment(text: str | None) -> str:
    """A UTC time written as text (a ClickHouse row's) in Kyiv time with its offset; '' for none."""
    return format_time(_utc_us(text)) if text else ""


_FORMATS: dict[str, Callable[[str], str]] = {
    "time": lambda v: format_time(_utc_us(v)),
    "number": lambda v: format_number(float(v) if "." in v else int(v)),
    "percent": lambda v: format_number(float(v), 2) + "\u00a0%",
}


def detail(text: str) -> str:
    """A report's English ``detail`` in the current language, by :data:`DETAILS` (as the pages' script does).

    A text no pattern matches is returned as it is.
    """
    for pattern, template, kinds in _DETAIL_PATTERNS:
        m = pattern.match(text)
        if m:
            values = {k: _FORMATS[kinds[k]](v) if k in kinds else v for k, v in m.groupdict().items()}
            return gettext(template) % values
    return text


def alert_figures(amounts: dict[str, int], measures: dict[str, float]) -> dict[str, tuple[str, str]]:
    """An alert's figures by their stable name: each one's label and value in the current language.

    Amounts are kopecks, shown as hryvnias; measures are numbers.
    """
    out = {k: (label(ALERT_AMOUNTS, k), format_money(int(v))) for k, v in sorted(amounts.items())}
    for k, v in sorted(measures.items()):
        number = int(v) if float(v).is_integer() else round(float(v), 4)
        out[k] = (label(ALERT_MEASURES, k), format_number(number))
    return out


# The validator's receipt ``detail`` texts (pipeline/core/validation.py, processor.py, admission.py,
# conflicts.py, agents/validator.py), said in Ukrainian on the cabinet pages: Python regular
# expressions over the English the engines write (byte-identical in Python and Rust), each group's
# value kept as written, or labelled by :data:`_DETAIL_LABELS`. The receipt itself keeps the English;
# English pages show it as it is. The decoder's ``malformed`` and ``unknown_schema`` details and
# ``personal_data``'s hints are said by ``web.machine_texts`` (which tries these first).
RECEIPT_DETAILS: tuple[tuple[str, str], ...] = (
    (r"licence (?P<licence>.+) is not registered to (?P<operator>.+)",
     N_("licence %(licence)s is not registered to operator %(operator)s")),
    (r"licence (?P<licence>.+) is for (?P<licence_kind>.+), not (?P<sent_kind>.+)",
     N_("licence %(licence)s is for «%(licence_kind)s», not «%(sent_kind)s»")),
    (r"licence (?P<licence>.+) was not active when the event occurred",
     N_("licence %(licence)s was not in force when the event occurred")),
    (r"licence (?P<licence>.+) was (?P<status>.+) by the regulator from (?P<since>.+) "
     r"when the event occurred",
     N_("when the event occurred, licence %(licence)s was «%(status)s» by the regulator's decision, "
        "from %(since)s (UTC)")),
    (r"(?P<licence_kind>.+) licence does not allow channel (?P<channel>.+)",
     N_("a licence of kind «%(licence_kind)s» does not allow the channel %(channel)s")),
    (r"(?P<field>.+) is required for channel (?P<channel>.+)",
     N_("the field %(field)s is required for the channel %(channel)s")),
    (r"amount (?P<amount>.+) must be > 0 kopecks", N_("the amount %(amount)s must be above 0 kopecks")),
    (r"amount (?P<amount>.+) exceeds (?P<max>.+) kopecks",
     N_("the amount %(amount)s exceeds %(max)s kopecks")),
    (r"currency (?P<currency>.+), expected (?P<expected>.+)",
     N_("currency %(currency)s, where %(expected)s is expected")),
    (r"occurred_at is (?P<s>.+) s in the future", N_("occurred_at is %(s)s s ahead of the system's clock")),
    (r"occurred_at is (?P<h>.+) h old, beyond the (?P<window>.+) h late window",
     N_("occurred_at is %(h)s h old, beyond the late window of %(window)s h")),
    (r"player_ref must be 8-64 characters of A-Z a-z 0-9 _ -",
     N_("player_ref must be 8 to 64 characters of A-Z a-z 0-9 _ -")),
    (r"(?P<field>.+) is longer than (?P<max>.+)",
     N_("the field %(field)s is longer than %(max)s characters")),
    (r"(?P<field>.+) is required for (?P<event_kind>.+)",
     N_("the field %(field)s is required for a «%(event_kind)s» event")),
    (r"tax_withheld_pit and tax_withheld_military are required for WIN",
     N_("tax_withheld_pit and tax_withheld_military are required for a payout of winnings (WIN)")),
    (r"withheld tax must be >= 0 and not exceed the amount paid",
     N_("withheld tax must be 0 or more and not exceed the amount paid out")),
    (r"withheld tax is only allowed on WIN, not (?P<event_kind>.+)",
     N_("withheld tax is given only on a payout of winnings (WIN), not on «%(event_kind)s»")),
    (r"seq (?P<seq>.+) must be >= 1", N_("sequence number %(seq)s must be 1 or more")),
    (r"seq (?P<seq>.+) is below (?P<below>.+), where this source's old gaps were closed; it was either "
     r"decided long ago or is too late to fill a gap",
     N_("sequence number %(seq)s is below %(below)s, under which this source's old gaps were closed: "
        "the event was decided long ago, or it is too late to fill the gap")),
    (r"seq (?P<seq>.+) was already decided with other content \(receipt (?P<receipt>.+)\); that first "
     r"event stands: a changed event needs a new seq",
     N_("sequence number %(seq)s was already decided with other content (receipt %(receipt)s); the "
        "first event stands: send a changed event with a new sequence number")),
    (r"batch claims operator (?P<claimed>.+) on (?P<operator>.+)'s topic",
     N_("the batch names operator %(claimed)s on the topic of operator %(operator)s")),
    (r"the Kafka record key must be the batch's source_id",
     N_("the Kafka record key must be the batch's source_id")),
    (r"a batch must carry at least one event", N_("a batch must carry at least one event")),
    (r"(?P<n>.+) events; at most (?P<max>.+)", N_("%(n)s events in the batch; at most %(max)s")),
    (r"bet_ref (?P<bet>.+) was already used by an accepted BET",
     N_("bet_ref %(bet)s was already used by an accepted bet (BET)")),
    (r"(?P<event_kind>.+) references bet_ref (?P<bet>.+), which this source has not placed \(or placed "
     r"beyond the bet horizon\)",
     N_("a «%(event_kind)s» event refers to bet_ref %(bet)s, which this source has not accepted (or "
        "accepted beyond the bet horizon)")),
    (r"refund of (?P<amount>.+) kopecks exceeds the (?P<left>.+) kopecks still refundable on bet_ref "
     r"(?P<bet>.+) \(stake (?P<stake>.+) kopecks, refunded (?P<refunded>.+) kopecks\)",
     N_("a refund of %(amount)s kopecks exceeds the %(left)s kopecks still refundable on bet_ref %(bet)s "
        "(stake %(stake)s kopecks, refunded %(refunded)s kopecks)")),
    (r"the record is (?P<bytes>.+) bytes; at most (?P<max>.+) \(split the batch into smaller ones\)",
     N_("the record is %(bytes)s bytes; at most %(max)s (split the batch into smaller ones)")),
    (r"the record key \(the batch's source_id\) must be (?P<rule>.+)",
     N_("the record key (the batch's source_id) must be 1 to 64 characters of A-Z a-z 0-9 . _ : -")),
    (r"source (?P<source>.+) belongs on partition (?P<home>.+), not (?P<partition>.+): murmur2 of the "
     r"record key modulo (?P<n>.+) partitions, as Kafka's Java client partitions by default; nothing in "
     r"this record was counted, send it there",
     N_("source %(source)s belongs on partition %(home)s, not %(partition)s (murmur2 of the record key "
        "modulo %(n)s partitions, as Kafka's Java client partitions by default); nothing in this record "
        "was counted: send it to that partition")),
    (r"dsom could not process this record and set it aside for investigation; nothing in it was "
     r"counted: send its events again in a new record",
     N_("the system could not process this record and set it aside for investigation; nothing in it "
        "was counted: send its events again in a new record")),
)
_DETAIL_LABELS = {"licence_kind": LICENCE_KINDS, "sent_kind": LICENCE_KINDS, "event_kind": EVENT_KINDS,
                  "status": STATUSES}
_RECEIPT_PATTERNS = tuple((re.compile(p), t) for p, t in RECEIPT_DETAILS)


def receipt_detail(text: str) -> str | None:
    """The validator's ``detail`` in the current language.

    None where it is to be shown as written: an English page, or a detail no pattern covers.
    """
    if current_locale() == "en":
        return None
    for pattern, template in _RECEIPT_PATTERNS:
        m = pattern.fullmatch(text)
        if m:
            return gettext(template) % {
                k: label(_DETAIL_LABELS[k], v) if k in _DETAIL_LABELS else v for k, v in m.groupdict().items()
            }
    return None
