"""Fixtures: a chdb folder per test (opened and closed again: one chdb folder per process at a time)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from pipeline.settings import ClickHouseSettings
from sinks.clickhouse.client import connect
from sinks.clickhouse.tables import create_tables

DB = "dsom"


@pytest.fixture
def ch_settings(tmp_path: Path) -> ClickHouseSettings:
    return ClickHouseSettings(dsn=SecretStr(f"chdb://{tmp_path / 'chdb'}"), database=DB, batch_max_rows=1000,
                              batch_max_wait_s=0.05)


@pytest.fixture
def ch(ch_settings: ClickHouseSettings) -> Iterator[Any]:
    """A chdb client with the sink's tables created."""
    client = connect(ch_settings)
    try:
        create_tables(client, DB)
        yield client
    finally:
        client.close()
