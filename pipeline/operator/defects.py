"""Bad input for the simulator: one defect per event, and records the pipeline rejects whole."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import orjson

from pipeline.core.model import ALLOWED_CHANNELS, Channel, EventKind, LicenceKind, Reason
from pipeline.settings import DAY_US, HOUR_US

# Each bad event carries exactly one of these defects, and the reason is its receipt's.
BAD_EVENT_REASONS = (
    Reason.WRONG_CURRENCY, Reason.NON_POSITIVE_AMOUNT, Reason.ABSURD_AMOUNT, Reason.FUTURE_TIME,
    Reason.TOO_LATE, Reason.PERSONAL_DATA, Reason.UNKNOWN_LICENCE, Reason.LICENCE_KIND_MISMATCH,
    Reason.UNKNOWN_BET, Reason.MISSING_FIELD, Reason.REFUND_EXCEEDS_STAKE,
)
# The kind a bad event must be built as; the others are a BET or a DEPOSIT. A REFUND_EXCEEDS_STAKE
# one starts as a full refund of a bet the source placed (and dsom accepted) shortly before.
BAD_EVENT_KIND: dict[Reason, EventKind] = {Reason.UNKNOWN_BET: EventKind.WIN,
                                           Reason.MISSING_FIELD: EventKind.BET,
                                           Reason.REFUND_EXCEEDS_STAKE: EventKind.REFUND}
BAD_RECORD_REASONS = (Reason.UNKNOWN_SCHEMA, Reason.MALFORMED, Reason.WRONG_OPERATOR)
ABSURD_ABOVE = 10_000_000_000  # kopecks: ValidationSettings.max_amount_kopecks
UNKNOWN_LICENCE = "LIC-NOPE-9999"
OTHER_OPERATOR = "op-someone-else-1"
_NAMES = ("ivan.petrenko", "olena.kovalenko", "taras.shevchuk", "maria.bondar")


def personal_ref(rng: random.Random) -> str:
    """What a careless operator puts in player_ref: a phone, an e-mail, a card or tax number."""
    form = rng.randrange(4)
    if form == 0:
        return "+38050" + "".join(rng.choices("0123456789", k=7))
    if form == 1:
        return f"{rng.choice(_NAMES)}{rng.randrange(100)}@example.com"
    if form == 2:  # a Visa or Mastercard number (its last digit made the Luhn check digit)
        return with_check_digit(rng.choice("45") + "".join(rng.choices("0123456789", k=15))[:-1], luhn_digit)
    # an RNOKPP (tax ID): a birth date from 1950 to 2005 (days since 31 Dec 1899) and the check digit
    digits = "".join(rng.choices("0123456789", k=10))
    return with_check_digit(f"{18_263 + int(digits[:5]) % 20_089:05d}{digits[5:9]}", rnokpp_digit)


def luhn_digit(body: str) -> int:
    """The digit that makes ``body`` + it pass the Luhn check."""
    total = sum((d * 2 - 9 if d > 4 else d * 2) if i % 2 == 0 else d
                for i, d in enumerate(int(c) for c in reversed(body)))
    return -total % 10


def rnokpp_digit(body: str) -> int:
    """The RNOKPP check digit of its first nine digits."""
    return sum(w * int(d) for w, d in zip((-1, 5, 7, 9, 4, 6, 10, 5, 7), body, strict=True)) % 11 % 10


def with_check_digit(body: str, digit: Callable[[str], int]) -> str:
    return body + str(digit(body))


def spoil(ev: dict[str, Any], reason: Reason, rng: random.Random, now_us: int, source_id: str) -> None:
    """Give a valid event exactly one defect, the one ``reason`` names.

    ``ev`` must already be of kind ``BAD_EVENT_KIND[reason]`` where that is set.
    """
    if reason is Reason.WRONG_CURRENCY:
        ev["currency"] = "USD"
    elif reason is Reason.NON_POSITIVE_AMOUNT:
        ev["amount"] = -rng.randrange(0, 10_000)  # 0 or below
    elif reason is Reason.ABSURD_AMOUNT:
        ev["amount"] = ABSURD_ABOVE + 1 + rng.randrange(10**12)
    elif reason is Reason.FUTURE_TIME:
        ev["occurred_at_us"] = now_us + HOUR_US
    elif reason is Reason.TOO_LATE:
        ev["occurred_at_us"] = now_us - 10 * DAY_US
    elif reason is Reason.PERSONAL_DATA:
        ev["player_ref"] = personal_ref(rng)
    elif reason is Reason.UNKNOWN_LICENCE:
        ev["licence_id"] = UNKNOWN_LICENCE
    elif reason is Reason.LICENCE_KIND_MISMATCH:
        # Another kind that allows this channel too, so the kind is the only thing wrong.
        channel, own = Channel(ev["channel"]), LicenceKind(ev["licence_kind"])
        others = [k for k in LicenceKind if k is not own and channel in ALLOWED_CHANNELS[k]]
        ev["licence_kind"] = str(rng.choice(others))
    elif reason is Reason.UNKNOWN_BET:
        assert ev["kind"] == EventKind.WIN and ev["tax_withheld_pit"] is not None
        ev["bet_ref"] = f"{source_id}-never-{ev['seq']}"
    elif reason is Reason.MISSING_FIELD:
        assert ev["kind"] == EventKind.BET
        ev["bet_ref"] = None
    elif reason is Reason.REFUND_EXCEEDS_STAKE:
        # ``ev`` refunds its bet's whole stake: 1 % to 100 % more is above what is refundable,
        # whatever was refunded before.
        assert ev["kind"] == EventKind.REFUND
        ev["amount"] += max(1, ev["amount"] * rng.randint(1, 100) // 100)
    else:
        raise ValueError(f"no event defect for {reason}")


def unknown_schema_bytes(rng: random.Random, operator_id: str, source_id: str, header: bytes) -> bytes:
    """Bytes that name no known schema: JSON, or the Avro marker with a foreign fingerprint."""
    if rng.random() < 0.5:
        return orjson.dumps({"operator_id": operator_id, "source_id": source_id, "events": []})
    fingerprint = header[2:]
    while fingerprint == header[2:]:
        fingerprint = bytes(rng.randrange(256) for _ in range(8))
    return header[:2] + fingerprint + b"\x02" + source_id.encode()


def truncated(record: bytes, header_len: int, rng: random.Random) -> bytes:
    """A valid EventBatch header with its body cut short: ``malformed``."""
    return record[: header_len + rng.randrange(1, len(record) - header_len)]
