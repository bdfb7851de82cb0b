"""The alert e-mail's words: Ukrainian first, then English, Kyiv time, machine values kept."""

from __future__ import annotations

from typing import Any

from web import alert_mail, i18n

# 2026-10-25 00:30 UTC: the night the clocks go back, 03:30 EEST, then 2026-10-25 02:30 UTC, 04:30 EET
OPENED_US, CHANGED_US = 1_792_888_200_000_000, 1_792_895_400_000_000


def alert(**over: Any) -> dict[str, Any]:
    return {"alert_id": "a-1", "state": "UPDATED", "rule": "rejection_rate", "rule_version": "2020-01-01",
            "severity": "WARNING", "subject_kind": "SOURCE", "subject": "op-1|s-1", "operator_id": "op-1",
            "opened_at_us": OPENED_US, "at_us": CHANGED_US,
            "amounts": {}, "measures": {"rejected_percent": 7.25, "operations": 1200},
            "summary": "op-1|s-1: 7.3 % of 1200 operations rejected over 15 min", **over}


def test_the_mail_is_ukrainian_first_then_english_in_kyiv_time() -> None:
    a = alert()
    subject = alert_mail.subject(a)
    assert subject.startswith(
        "[dsom] Висока частка відхилених подій: op-1|s-1 (рівень: попередження; оновлено)")
    assert subject.endswith("[WARNING UPDATED rejection_rate]")
    body = alert_mail.text(a, "a-1:UPDATED:1")
    uk, en = body.split("— English —")
    assert "Правило: Висока частка відхилених подій (rejection_rate, редакція правил від 2020-01-01)" in uk
    assert "Відкрито: 25.10.2026, 03:30:00 (UTC+03:00), за київським часом" in uk
    # after the clocks went back
    assert "Ця зміна: 25.10.2026, 04:30:00 (UTC+02:00), за київським часом" in uk
    assert "частка відхилених, відсотків: 7,25" in uk and "операції: 1\u00a0200" in uk
    assert "Rule: High share of rejected events (rejection_rate, rules of 2020-01-01)" in en
    assert "Opened: 25/10/2026, 03:30:00 (UTC+03:00), Kyiv time" in en and "operations: 1,200" in en
    # the agent's sentence said in Ukrainian, and as written in the English part
    assert "Опис системи: op-1|s-1: відхилено 7,3\u00a0% із 1\u00a0200 операцій за 15 хв" in uk
    assert a["summary"] not in uk and a["summary"] in en and "a-1:UPDATED:1" in en
    assert i18n.current_locale() == "uk"  # the parts' languages did not leak


def test_figures_stored_as_json_text_read_the_same() -> None:
    """ClickHouse keeps an alert's figures as JSON text (the inboxes read them so)."""
    as_text = alert(measures='{"operations": 1200}', amounts='{"threshold": 40000000}')
    body = alert_mail.text(as_text, "k")
    assert "поріг: 400\u00a0000,00 грн" in body and "threshold: UAH 400,000.00" in body
