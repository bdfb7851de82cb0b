"""DDL for a ClickHouse cluster (shards x replicas), generated from the embedded tables' definitions.

Each table of :data:`~sinks.clickhouse.tables.TABLES`, and each roll-up of
:data:`~sinks.clickhouse.rollups.ROLLUPS`, becomes, ``ON CLUSTER``:

- ``<name>_local``: the same columns, indexes and projections, on ``Replicated*MergeTree`` (one
  replica path per shard, from the ``{shard}``/``{replica}`` macros the ClickHouse operator sets),
  with ``replicated_deduplication_window`` in place of the embedded
  ``non_replicated_deduplication_window``: a retried insert with the same token is dropped by
  every replica of the shard;
- ``<name>``: a ``Distributed`` table over them, sharded by operator, so that one operator's rows
  (and a batch's, which the sink cuts per partition and so per operator) land on one shard, and
  so do the roll-up rows made from them.

The registry's history (``registry_history``, one row per registry record) is sharded by operator
like the rest; its view ``registry_in_force`` is among the views.

The sink inserts with ``insert_distributed_sync = 1`` (sinks/clickhouse/writer.py, rollups.py):
an asynchronous distributed insert would acknowledge before the shard has stored, and the insert
deduplication token would not reach the shard's replicas.
Pure: builds strings; ``python -m sinks.clickhouse.cluster_ddl`` prints them.
"""

from __future__ import annotations

import re

from clickhouse_connect.driver.binding import quote_identifier

from sinks.clickhouse.rollups import ROLLUPS, Rollup
from sinks.clickhouse.tables import TABLES, VIEWS, Table

CLUSTER = "{cluster}"  # the operator's macro for the installation's cluster name
DEDUP_WINDOW = 10_000


def local_name(table: Table) -> str:
    return f"{table.name}_local"


def replicated_engine(engine: str, name: str, database: str, *, shard: str = "{shard}",
                      window: int = DEDUP_WINDOW) -> str:
    """``engine`` (a ``*MergeTree`` clause) replicated, with replicated deduplication of inserts."""
    path = f"/clickhouse/tables/{shard}/{database}/{name}"
    engine, n = re.subn(r"^ENGINE = (\w*)MergeTree(\(\))?(?=\s|$)",
                        lambda m: f"ENGINE = Replicated{m.group(1)}MergeTree('{path}', '{{replica}}')",
                        engine)
    if n != 1:
        raise ValueError(f"{name}: only MergeTree tables are replicated, not {engine.splitlines()[0]}")
    engine, n = re.subn(r"non_replicated_deduplication_window\s*=\s*\d+",
                        f"replicated_deduplication_window = {window}", engine)
    if n != 1:
        raise ValueError(f"{name}: expected one non_replicated_deduplication_window setting")
    return engine


def local_ddl(table: Table, database: str) -> str:
    embedded = table.ddl(database)
    head, _, rest = embedded.partition(" (\n")
    body = rest[: rest.rindex("\n)\n") + 3]
    name = f"{quote_identifier(database)}.{quote_identifier(local_name(table))}"
    return (f"CREATE TABLE IF NOT EXISTS {name} ON CLUSTER '{CLUSTER}' (\n{body}"
            f"{replicated_engine(table.engine, local_name(table), database)}")


def distributed_ddl(table: Table | Rollup, database: str) -> str:
    db = quote_identifier(database)
    local = f"{table.name}_local"
    shard = table.shard_by if isinstance(table, Rollup) else "operator_id"
    return (f"CREATE TABLE IF NOT EXISTS {db}.{quote_identifier(table.name)} ON CLUSTER '{CLUSTER}' "
            f"AS {db}.{quote_identifier(local)}\n"
            f"ENGINE = Distributed('{CLUSTER}', '{database}', '{local}', "
            f"cityHash64({shard}))")


def rollup_local_ddl(rollup: Rollup, database: str) -> str:
    local = f"{rollup.name}_local"
    name = f"{quote_identifier(database)}.{quote_identifier(local)}"
    return (f"CREATE TABLE IF NOT EXISTS {name} ON CLUSTER '{CLUSTER}' ({rollup.columns})\n"
            f"{replicated_engine(rollup.engine, local, database)}")


def cluster_ddl(database: str = "dsom") -> list[str]:
    """Every statement, in order: the database, the tables, the views, the roll-ups."""
    out = [f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)} ON CLUSTER '{CLUSTER}'"]
    for table in TABLES:
        out += [local_ddl(table, database), distributed_ddl(table, database)]
    db = quote_identifier(database)
    for view in VIEWS:  # over the Distributed tables, so they read every shard
        head, sep, rest = view.format(db=db).partition(" AS\n")
        out.append(f"{head} ON CLUSTER '{CLUSTER}'{sep}{rest}")
    for rollup in ROLLUPS:
        out += [rollup_local_ddl(rollup, database), distributed_ddl(rollup, database)]
    return out


if __name__ == "__main__":
    print(";\n\n".join(cluster_ddl()) + ";")
