"""What a record must satisfy before any engine decodes it: size, source ID and home partition.

Checked by the validator agent ahead of the engine, so both engines share one decision and a
record that fails costs nothing but its receipt. Pure: the caller passes the record's
coordinates and the limits.
"""

from __future__ import annotations

import re

from pipeline.core.model import Reason
from pipeline.core.partitioning import home_partition
from pipeline.core.validation import Rejection

# A source ID is also the record key and a part of state keys and receipts: short, and of
# characters that need no escaping in any of them.
SOURCE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
SOURCE_ID_RULE = "1-64 characters of A-Z a-z 0-9 . _ : -"


def admit(key: bytes | None, value: bytes, partition: int, home_partitions: int,
          max_record_bytes: int) -> Rejection | None:
    """Why the record at ``partition`` must be rejected whole before decoding, or None.

    ``home_partitions`` is the partition count the topic was created with: a source's home
    is fixed by it (``pipeline.core.partitioning``). A record without a key is left to the
    engine, which rejects it as ``wrong_key``.
    """
    if len(value) > max_record_bytes:
        return Rejection(Reason.RECORD_TOO_LARGE,
                         f"the record is {len(value)} bytes; at most {max_record_bytes} "
                         "(split the batch into smaller ones)")
    if key is None:
        return None
    if not SOURCE_ID.fullmatch(key):
        return Rejection(Reason.INVALID_SOURCE_ID,
                         f"the record key (the batch's source_id) must be {SOURCE_ID_RULE}")
    home = home_partition(key, home_partitions)
    if home != partition:
        return Rejection(Reason.WRONG_PARTITION,
                         f"source {key.decode()!r} belongs on partition {home}, not {partition}: "
                         f"murmur2 of the record key modulo {home_partitions} partitions, as Kafka's "
                         "Java client partitions by default; nothing in this record was counted, "
                         "send it there")
    return None
