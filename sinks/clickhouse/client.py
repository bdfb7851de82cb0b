"""Open a clickhouse-connect client on embedded chdb or a ClickHouse server, from one DSN setting.

``chdb:///abs/folder`` runs the real ClickHouse engine in this process on that folder (created
if missing); ``http(s)://user:password@host:8123`` talks to a server. The DSN may hold a
password: it is never logged nor put in an error message.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.binding import quote_identifier
from clickhouse_connect.driver.client import Client

from pipeline.settings import ClickHouseSettings

CHDB_SCHEME = "chdb://"
_IN_MEMORY = ("", ":memory:", "memory")


class ClickHouseUnavailableError(RuntimeError):
    """ClickHouse could not be opened; the message says why without revealing the DSN's secrets."""


def connect(settings: ClickHouseSettings) -> Client:
    """A client whose default database is ``settings.database`` (created if missing)."""
    dsn = settings.dsn.get_secret_value()
    if dsn.startswith(CHDB_SCHEME):
        _tune_chdb_allocator(settings.chdb_dirty_decay_ms)
        client = _open_chdb(dsn[len(CHDB_SCHEME):])
    else:
        client = _open_server(dsn)
    try:
        client.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(settings.database)}")
        client.database = settings.database
    except Exception:
        client.close()
        raise
    return client


def is_chdb(settings: ClickHouseSettings) -> bool:
    return settings.dsn.get_secret_value().startswith(CHDB_SCHEME)


def redacted(dsn: str) -> str:
    """The DSN without user, password, path or query: safe to print."""
    if dsn.startswith(CHDB_SCHEME):
        return dsn.split("?", 1)[0]
    parts = urlsplit(dsn)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _tune_chdb_allocator(dirty_decay_ms: int) -> None:
    """Have chdb's jemalloc give freed pages back after ``dirty_decay_ms`` (see the setting).

    jemalloc reads ``JE_MALLOC_CONF`` (chdb's prefixed copy of ``MALLOC_CONF``) once, when the
    library loads; its options override ClickHouse's built-in ones one by one. One set by hand
    is left alone.
    """
    if "chdb" not in sys.modules:
        os.environ.setdefault("JE_MALLOC_CONF", f"dirty_decay_ms:{dirty_decay_ms}")


def _open_chdb(location: str) -> Client:
    if location in _IN_MEMORY:
        return clickhouse_connect.get_client(dsn="chdb://:memory:")
    folder = Path(location.split("?", 1)[0]).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return clickhouse_connect.get_client(dsn=f"{CHDB_SCHEME}{folder}")
    except Exception as exc:
        owner = _lock_owner(folder)
        if owner is not None:
            raise ClickHouseUnavailableError(
                f"the chdb folder {folder} is owned by another process (the running pipeline?"
                f"{' pid ' + owner if owner else ''}): only one process may open it. Stop that "
                "process, or ask it (its /metrics, its summary) instead of opening the folder"
            ) from exc
        match = re.search(r"already initialized with path '([^']*)'", str(exc))
        if match:
            raise ClickHouseUnavailableError(
                f"this process already runs chdb on {match.group(1)}; one process can open only one "
                f"chdb folder at a time (close every client of it before opening {folder})") from exc
        raise ClickHouseUnavailableError(f"cannot open chdb in {folder}: {exc}") from exc


def _lock_owner(folder: Path) -> str | None:
    """If another process holds the engine lock on ``folder``, its pid ('' if unknown); else None.

    The ClickHouse engine flock()s ``<folder>/status`` and writes its pid there. Only called
    after opening failed: a flock from this very process would conflict with its own engine.
    """
    status = folder / "status"
    try:
        fd = os.open(status, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = status.read_text(errors="replace")
            match = re.search(r"PID:\s*(\d+)", text)
            return match.group(1) if match else ""
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _open_server(dsn: str) -> Client:
    try:
        return clickhouse_connect.get_client(dsn=dsn)
    except Exception as exc:
        # The cause is kept for the traceback: clickhouse-connect's own messages name the
        # host and port, never the credentials.
        raise ClickHouseUnavailableError(
            f"cannot connect to ClickHouse at {redacted(dsn)}: {type(exc).__name__}") from exc
