"""What an alert looks like when delivered: the signed webhook request and the e-mail, no I/O.

Webhooks (docs/alerts.md, "Delivery", says how a receiver verifies them): the body is the alert
as JSON plus its ``idempotency_key``; the request carries

- ``X-Dsom-Timestamp``: the Unix time of signing, in seconds;
- ``X-Dsom-Signature``: ``v1=`` and the hex HMAC-SHA256, keyed with the receiver's secret, of
  ``<timestamp>.`` followed by the body's bytes;
- ``Idempotency-Key``: the same key as in the body.

Delivery is at least once: the same alert record may arrive again (after a crash before the
delivery loop committed its offsets, or a retry of a request whose answer was lost), always
with the same key, which is ``<alert_id>:<state>:<at_us>`` (one key per record of an alert's
lifecycle). Signing the timestamp with the body lets a receiver refuse replays older than its
tolerance (:data:`TOLERANCE_S`).
"""

from __future__ import annotations

import hashlib
import hmac
from email.message import EmailMessage
from typing import Any

import orjson

SIGNATURE_HEADER = "X-Dsom-Signature"
TIMESTAMP_HEADER = "X-Dsom-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TOLERANCE_S = 300
SEVERITIES = ("INFO", "WARNING", "CRITICAL")


def idempotency_key(alert: dict[str, Any]) -> str:
    """One key per record of an alert's lifecycle: the same on every re-delivery of that record."""
    return f"{alert['alert_id']}:{alert['state']}:{alert['at_us']}"


def body(alert: dict[str, Any]) -> bytes:
    """The webhook body: the alert record and its idempotency key, as JSON (keys sorted)."""
    return orjson.dumps(dict(alert, idempotency_key=idempotency_key(alert)), option=orjson.OPT_SORT_KEYS)


def signature(secret: bytes, timestamp: int, payload: bytes) -> str:
    """``v1=`` and the hex HMAC-SHA256 of ``<timestamp>.<payload>`` under ``secret``."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + payload, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def headers(secret: bytes, timestamp: int, payload: bytes, key: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, payload),
        IDEMPOTENCY_HEADER: key,
    }


def verify(secret: bytes, timestamp: str, signed: str, payload: bytes, now_s: int,
           tolerance_s: int = TOLERANCE_S) -> bool:
    """What a receiver does: the signature matches (in constant time) and the timestamp is recent."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now_s - ts) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, ts, payload), signed)


def wanted(alert: dict[str, Any], min_severity: str) -> bool:
    """Whether an alert is at or above the severity to deliver."""
    return SEVERITIES.index(alert["severity"]) >= SEVERITIES.index(min_severity)


def mail(alert: dict[str, Any], sender: str, recipients: list[str], subject: str, text: str) -> EmailMessage:
    """The alert as a plain-text e-mail (UTF-8) with its words; its Message-ID is the idempotency key's.

    The words are ``web.alert_mail``'s (Ukrainian first, then English); mail systems dedupe on the ID.
    """
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{idempotency_key(alert).replace(':', '.')}@dsom>"  # no ':' in a msg-id
    msg["Content-Language"] = "uk, en"
    msg.set_content(text)
    return msg
