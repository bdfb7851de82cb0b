#!/usr/bin/env python3
"""A throwaway PostgreSQL cluster on 127.0.0.1 for tests and the demo, made with Debian's initdb/pg_ctl.

Standard library only, like kafka_local.py.

    python infra/postgres_local.py start|stop|status

Environment: DSOM_RUN_DIR (default <repo>/.run; data in $DSOM_RUN_DIR/postgres),
DSOM_POSTGRES_PORT (19450). ``start`` prints the DSN (superuser ``dsom``, trust authentication:
the server listens on 127.0.0.1 only, no Unix socket, and is for throwaway data).

PostgreSQL refuses to run as root: when started as root, initdb and the server run as the
``postgres`` user (created by Debian's package) through runuser, and the data folder is given
to that user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUN = Path(os.environ.get("DSOM_RUN_DIR", REPO / ".run")) / "postgres"
PORT = int(os.environ.get("DSOM_POSTGRES_PORT", "19450"))
DATA = RUN / "data"
USER = "dsom"


def binary(name: str) -> str:
    """The path of initdb or pg_ctl: on PATH, or in Debian's versioned folder (newest first)."""
    found = shutil.which(name)
    if found:
        return found
    for path in sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
        reverse=True,
    ):
        return path
    sys.exit(f"{name} not found: install PostgreSQL (apt-get install postgresql, or `make setup`)")


def as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def dsn() -> str:
    return f"postgresql://{USER}@127.0.0.1:{PORT}/postgres"


def start() -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(RUN, "postgres", "postgres")
    if not (DATA / "PG_VERSION").exists():
        subprocess.run(
            as_server_user(
                [
                    binary("initdb"),
                    "-D",
                    str(DATA),
                    "-U",
                    USER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "-N",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    opts = (
        f"-c listen_addresses=127.0.0.1 -c port={PORT} -c unix_socket_directories='' "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
    )
    subprocess.run(
        as_server_user(
            [
                binary("pg_ctl"),
                "-D",
                str(DATA),
                "-o",
                opts,
                "-l",
                str(RUN / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(dsn())


def stop() -> None:
    if (DATA / "postmaster.pid").exists():
        subprocess.run(
            as_server_user([binary("pg_ctl"), "-D", str(DATA), "-m", "fast", "-w", "stop"]),
            check=False,
            stdout=subprocess.DEVNULL,
        )


def status() -> int:
    if not (DATA / "PG_VERSION").exists():
        print("no cluster")
        return 1
    return subprocess.run(
        as_server_user([binary("pg_ctl"), "-D", str(DATA), "status"]), check=False
    ).returncode


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "status"
    if command == "start":
        start()
    elif command == "stop":
        stop()
    elif command == "status":
        sys.exit(status())
    else:
        sys.exit(__doc__)
