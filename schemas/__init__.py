"""The Avro contract operators integrate against, and its single-object codec."""

from schemas.codec import (
    ARCHIVE_BATCH,
    EVENT,
    EVENT_BATCH,
    RECEIPT_BATCH,
    Codec,
    MalformedRecordError,
    UnknownSchemaError,
    default_codec,
)

__all__ = [
    "ARCHIVE_BATCH",
    "EVENT",
    "EVENT_BATCH",
    "RECEIPT_BATCH",
    "Codec",
    "MalformedRecordError",
    "UnknownSchemaError",
    "default_codec",
]
