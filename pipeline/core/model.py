"""The vocabulary shared by the validator, receipts, sinks and reports."""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    BET = "BET"
    WIN = "WIN"
    REFUND = "REFUND"
    DEPOSIT = "DEPOSIT"
    WITHDRAWAL = "WITHDRAWAL"
    # A withdrawal cancelled after it was reported: the money is back on the player's balance.
    # Event version 2 (schemas/README.md); a wallet flow, not part of GGR (docs/tax.md).
    WITHDRAWAL_CANCELLED = "WITHDRAWAL_CANCELLED"


class LicenceKind(StrEnum):
    CASINO_ESTABLISHMENT = "CASINO_ESTABLISHMENT"
    ONLINE_CASINO = "ONLINE_CASINO"
    BOOKMAKING = "BOOKMAKING"
    SLOT_HALL = "SLOT_HALL"
    ONLINE_POKER = "ONLINE_POKER"


class Channel(StrEnum):
    ESTABLISHMENT = "ESTABLISHMENT"
    SITE = "SITE"
    APP = "APP"


class Reason(StrEnum):
    """Rejection reason codes an operator reads in its receipts (documented in schemas/README.md)."""

    # The whole Kafka record
    UNKNOWN_SCHEMA = "unknown_schema"
    MALFORMED = "malformed"
    WRONG_OPERATOR = "wrong_operator"
    WRONG_KEY = "wrong_key"
    EMPTY_BATCH = "empty_batch"
    BATCH_TOO_LARGE = "batch_too_large"
    RECORD_TOO_LARGE = "record_too_large"
    INVALID_SOURCE_ID = "invalid_source_id"
    WRONG_PARTITION = "wrong_partition"
    UNPROCESSABLE = "unprocessable"
    # One event
    INVALID_SEQUENCE = "invalid_sequence"
    SEQUENCE_GAP_EXPIRED = "sequence_gap_expired"
    CONFLICTING_DUPLICATE = "conflicting_duplicate"
    UNKNOWN_LICENCE = "unknown_licence"
    LICENCE_KIND_MISMATCH = "licence_kind_mismatch"
    LICENCE_INACTIVE = "licence_inactive"
    LICENCE_SUSPENDED = "licence_suspended"
    NON_POSITIVE_AMOUNT = "non_positive_amount"
    ABSURD_AMOUNT = "absurd_amount"
    WRONG_CURRENCY = "wrong_currency"
    FUTURE_TIME = "future_time"
    TOO_LATE = "too_late"
    PERSONAL_DATA = "personal_data"
    INVALID_PLAYER_REF = "invalid_player_ref"
    MISSING_FIELD = "missing_field"
    FIELD_NOT_ALLOWED = "field_not_allowed"
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"
    UNKNOWN_BET = "unknown_bet"
    INVALID_TAX = "invalid_tax"
    FIELD_TOO_LONG = "field_too_long"
    DUPLICATE_BET_REF = "duplicate_bet_ref"
    REFUND_EXCEEDS_STAKE = "refund_exceeds_stake"


# Where each licence kind may take bets (the law ties establishments and online to different kinds).
ALLOWED_CHANNELS: dict[LicenceKind, frozenset[Channel]] = {
    LicenceKind.CASINO_ESTABLISHMENT: frozenset({Channel.ESTABLISHMENT}),
    LicenceKind.SLOT_HALL: frozenset({Channel.ESTABLISHMENT}),
    LicenceKind.ONLINE_CASINO: frozenset({Channel.SITE, Channel.APP}),
    LicenceKind.ONLINE_POKER: frozenset({Channel.SITE, Channel.APP}),
    LicenceKind.BOOKMAKING: frozenset({Channel.ESTABLISHMENT, Channel.SITE, Channel.APP}),
}

GAME_EVENT_KINDS = frozenset({EventKind.BET, EventKind.WIN, EventKind.REFUND})
