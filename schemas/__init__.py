"""The Avro contract operators integrate against, and its single-object codec."""

from schemas.codec import (
    ALERT,
    ARCHIVE_BATCH,
    EVENT,
    EVENT_BATCH,
    GGR_STATEMENT,
    PAYOUT_TAX_BATCH,
    RECEIPT_BATCH,
    TAX_DISCREPANCY,
    Codec,
    MalformedRecordError,
    UnknownSchemaError,
    default_codec,
)

__all__ = [
    "ALERT",
    "ARCHIVE_BATCH",
    "EVENT",
    "EVENT_BATCH",
    "GGR_STATEMENT",
    "PAYOUT_TAX_BATCH",
    "RECEIPT_BATCH",
    "TAX_DISCREPANCY",
    "Codec",
    "MalformedRecordError",
    "UnknownSchemaError",
    "default_codec",
]
