"""Registry records straight into ``registry_history``, for tests and benchmarks.

The sink fills the table from ``<prefix>.registry`` (``rows.add_registry_record``); this writes the
same rows from records in hand, without a broker.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sinks.clickhouse.rows import Columns, add_registry_record
from sinks.clickhouse.tables import REGISTRY_HISTORY


def insert_registry_records(client: Any, database: str, records: Iterable[tuple[bytes, bytes]],
                            topic: str = "registry", first_offset: int = 0) -> int:
    """Store ``records`` (key, value), as if read from ``topic`` at consecutive offsets; the rows stored."""
    cols = Columns(REGISTRY_HISTORY)
    for offset, (key, value) in enumerate(records, first_offset):
        add_registry_record(cols, key, value, topic, 0, offset)
    if cols.rows:
        client.insert(REGISTRY_HISTORY.name, cols.as_lists(), column_names=REGISTRY_HISTORY.column_names,
                      database=database, column_type_names=REGISTRY_HISTORY.column_types,
                      column_oriented=True)
    return cols.rows
