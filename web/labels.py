"""What the machine values a person sees are called, in the current language.

The values themselves (``pending``, ``ONLINE_CASINO``, ``silent``) stay stable machine strings in
the data, the exports and the API; pages show these labels and keep the value beside them
(``data-*`` attributes, the report tables' ``data-raw``) for scripts and tests.
"""

from __future__ import annotations

from web.i18n import N_, gettext

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
