"""What an alert e-mail says: Ukrainian first, then English, times in Kyiv time. No I/O.

The people who receive alerts are officials (docs/alerts.md, "Delivery"): the subject and the
first part are in Ukrainian, the second in English, from the same catalogs and tables as the
cabinets (``web.labels``: rule titles, severities, states, subject kinds, figures). Machine values
stay beside their words (the rule's code, the alert ID, the idempotency key) so that mail filters
and programs keep working. The alert's ``summary`` is the alerts agent's English sentence
(pipeline/core/watch.py): the Ukrainian part says it in Ukrainian (``web.machine_texts``), the English
part as written.
"""

from __future__ import annotations

import json
from typing import Any

from web import i18n, labels, machine_texts
from web.i18n import N_, gettext

PARTS = ("uk", "en")
# The lines of one language's part, in order; each is translated in its part's language.
_SUBJECT_LINE = N_("%(title)s: %(subject)s (severity: %(severity)s; %(state)s)")
_HEADER = N_("dsom monitoring alert")
_RULE = N_("Rule: %(title)s (%(rule)s, rules of %(version)s)")
_SEVERITY = N_("Severity: %(severity)s")
_STATE = N_("State: %(state)s")
_SUBJECT = N_("Subject: %(kind)s %(subject)s, operator %(operator)s")
_OPENED = N_("Opened: %(at)s, Kyiv time")
_CHANGED = N_("This change: %(at)s, Kyiv time")
_FIGURES = N_("Figures:")
_SUMMARY = N_("The system's description: %(summary)s")
_KEY = N_("Alert %(alert)s; idempotency key %(key)s")


def _figures(alert: dict[str, Any]) -> tuple[dict[str, int], dict[str, float]]:
    """The alert's amounts and measures: dicts in the delivered record, JSON text in ClickHouse's."""
    amounts, measures = alert.get("amounts") or {}, alert.get("measures") or {}
    return (json.loads(amounts) if isinstance(amounts, str) else amounts,
            json.loads(measures) if isinstance(measures, str) else measures)


def _in(locale: str, fn: Any, *args: Any) -> Any:
    token = i18n.use(locale)
    try:
        return fn(*args)
    finally:
        i18n.reset(token)


def _subject(alert: dict[str, Any]) -> str:
    return gettext(_SUBJECT_LINE) % {
        "title": labels.label(labels.ALERT_RULES, alert["rule"]), "subject": alert["subject"],
        "severity": labels.label(labels.ALERT_SEVERITIES, alert["severity"]),
        "state": labels.label(labels.ALERT_STATES, alert["state"])}


def subject(alert: dict[str, Any]) -> str:
    """``[dsom] <the rule's title>: <subject> (рівень: критичний; відкрито) [CRITICAL OPENED <rule>]``."""
    return f"[dsom] {_in('uk', _subject, alert)} [{alert['severity']} {alert['state']} {alert['rule']}]"


def _part(alert: dict[str, Any], key: str) -> list[str]:
    amounts, measures = _figures(alert)
    lines = [
        gettext(_HEADER),
        "",
        gettext(_RULE) % {"title": labels.label(labels.ALERT_RULES, alert["rule"]), "rule": alert["rule"],
                          "version": alert["rule_version"]},
        gettext(_SEVERITY) % {"severity": labels.label(labels.ALERT_SEVERITIES, alert["severity"])},
        gettext(_STATE) % {"state": labels.label(labels.ALERT_STATES, alert["state"])},
        gettext(_SUBJECT) % {"kind": labels.label(labels.ALERT_SUBJECTS, alert["subject_kind"]),
                             "subject": alert["subject"], "operator": alert["operator_id"]},
        gettext(_OPENED) % {"at": i18n.format_time(int(alert["opened_at_us"]))},
        gettext(_CHANGED) % {"at": i18n.format_time(int(alert["at_us"]))},
    ]
    figures = labels.alert_figures(amounts, measures)
    if figures:
        lines += [gettext(_FIGURES), *(f"  {name}: {value}" for name, value in figures.values())]
    summary = machine_texts.alert_summary(alert["summary"]) or alert["summary"]
    lines += [gettext(_SUMMARY) % {"summary": summary}, gettext(_KEY) % {"alert": alert["alert_id"],
                                                                                 "key": key}]
    return lines


def text(alert: dict[str, Any], key: str) -> str:
    """The plain-text body: the Ukrainian part, a rule, the English part."""
    uk, en = (_in(locale, _part, alert, key) for locale in PARTS)
    return "\n".join([*uk, "", "— English —", "", *en]) + "\n"
