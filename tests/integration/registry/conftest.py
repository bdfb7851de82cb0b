"""The registry's database fixtures: every test runs on a SQLite file and on a real PostgreSQL.

PostgreSQL is a throwaway cluster (infra/postgres_local.py) under DSOM_RUN_DIR, on
DSOM_POSTGRES_PORT, started once per session and stopped afterwards; each test gets a database
of its own.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from registry.db.engine import make_engine, migrate
from registry.service import RegistryService

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "infra" / "postgres_local.py"
T0 = 1_780_000_000_000_000  # 2026-05-28 UTC


@pytest.fixture(scope="session", autouse=True)
def kafka_broker() -> str:
    """The database tests need no broker (this overrides the integration suite's check)."""
    return ""


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    env = {**os.environ, "DSOM_RUN_DIR": os.environ.get("DSOM_RUN_DIR", str(REPO / ".run" / "test"))}
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "start"], env=env, check=True, capture_output=True, text=True
    )
    try:
        yield out.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([sys.executable, str(SCRIPT), "stop"], env=env, check=False)


def fresh_database(server_dsn: str) -> str:
    name = f"t{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_dsn.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.sqlite'}"
    return fresh_database(request.getfixturevalue("postgres_server"))


class Clock:
    """Registry time for tests: a microsecond later at every reading, or set by hand."""

    def __init__(self) -> None:
        self.t = T0
        self._tick = itertools.count()

    def __call__(self) -> int:
        self.t += 1
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(dsn: str, clock: Clock) -> Iterator[RegistryService]:
    engine = make_engine(dsn)
    migrate(engine)
    yield RegistryService(engine, b"test-key", clock)
    engine.dispose()


ServiceFactory = Callable[[], RegistryService]
