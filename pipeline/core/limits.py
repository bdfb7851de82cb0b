r"""The contract's size limits, and the largest output a record within them can produce.

Every output the validator writes for one ingest record (its receipts, its archive batch,
each changelog entry) is bounded by the record's own size and event count: the receipts
echo the events' ``operator_ref`` (bytes of the record) plus a fixed part per event with a
detail of at most :data:`MAX_DETAIL_BYTES`; the archive holds the events' bytes as sent plus
a fixed part per event; the bets changelog entry holds each accepted BET's ``bet_ref`` as
JSON (at most 6 bytes per byte: orjson writes a control character as ``\u00XX``), and the
content digests entry at most a run and 8 bytes of digest (in base64) per event. So with the
record limit and the event limit, :func:`worst_case_output_bytes` is an upper bound for
anything valid or not, and the validator's output topics accept messages of
:data:`OUTPUT_MESSAGE_BYTES`. ``tests/pipeline/core/test_limits.py`` builds the worst records
and checks both engines stay within the bound.
"""

from __future__ import annotations

# A rejection's detail is cut to this many bytes of UTF-8 (at a character boundary).
MAX_DETAIL_BYTES = 256
# The validator's output topics (receipts, archive, state) and its producer accept this much.
OUTPUT_MESSAGE_BYTES = 16 * 1024 * 1024

_TOPIC = 249  # Kafka's longest topic name
_LONG = 10  # an Avro long, at most
_JSON_INT = 20  # a 64-bit integer in JSON, sign included
_RECEIPT_ID = 36
_HASH = 32
_SOURCE_ID = 64  # ASCII, by the source ID rule
_NAME = 1 + _TOPIC + 16  # a length-prefixed name (topic, chain ID, operator)


def cap_detail(detail: str) -> str:
    """``detail`` cut to at most MAX_DETAIL_BYTES of UTF-8, never inside a character."""
    raw = detail.encode()
    if len(raw) <= MAX_DETAIL_BYTES:
        return detail
    return raw[:MAX_DETAIL_BYTES].decode(errors="ignore")


def worst_case_output_bytes(max_record_bytes: int, max_events: int, max_open_gaps: int) -> dict[str, int]:
    """An upper bound on each output one record can produce, in bytes (value plus key)."""
    r, n = max_record_bytes, max_events
    header = 10 + 4 * _NAME + 3 * _LONG + 2 * _LONG  # single-object header, names, numbers, array blocks
    receipt = ((1 + _LONG) + 2 + 1 + (1 + _RECEIPT_ID) + (1 + 1 + 32) + (1 + 2 + MAX_DETAIL_BYTES)
               + (1 + 1 + 10) + 2 * (1 + _LONG)
               + (1 + 1 + _RECEIPT_ID))  # seq, operator_ref's union and length, status, ..., first_receipt_id
    archived = (1 + _RECEIPT_ID) + _LONG + 2 * _HASH
    seqs = 32 + 2 * (max_open_gaps + 1) * (_JSON_INT + 1) + _JSON_INT
    # [["<source>","<bet_ref>",<time>,<stake>],...]: the bet_ref's JSON is at most 6x its bytes
    bet = 8 + (2 + _SOURCE_ID) + 2 + 3 * (_JSON_INT + 1)
    # {"r":[[<index>,<seq>,<length>],...],"d":"<base64>"}: a run per event at worst, 8 bytes of digest
    digest_run = 3 + 3 * (_JSON_INT + 1) + 11
    return {
        "receipts": header + r + n * receipt,
        "archive": header + r + n * archived,
        "seq_entry": _NAME + _SOURCE_ID + seqs,
        "bets_entry": _NAME + 2 + 6 * r + n * bet,
        "digests_entry": _NAME + 6 + _JSON_INT + _SOURCE_ID + 16 + n * digest_run,
    }
