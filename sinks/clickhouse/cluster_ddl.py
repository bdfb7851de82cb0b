"""DDL for a ClickHouse cluster (shards x replicas), generated from the embedded tables' definitions.

Each table of :data:`~sinks.clickhouse.tables.TABLES` becomes, ``ON CLUSTER``:

- ``<name>_local``: the same columns, indexes and projections, on ``ReplicatedMergeTree`` (one
  replica path per shard, from the ``{shard}``/``{replica}`` macros the ClickHouse operator sets),
  with ``replicated_deduplication_window`` in place of the embedded
  ``non_replicated_deduplication_window``: a retried insert with the same token is dropped by
  every replica of the shard;
- ``<name>``: a ``Distributed`` table over them, sharded by operator, so that one operator's rows
  (and a batch's, which the sink cuts per partition and so per operator) land on one shard.

The sink must insert with ``insert_distributed_sync = 1`` through the Distributed table (or into
``_local`` tables itself): an asynchronous distributed insert would acknowledge before the shard
has stored, and the insert deduplication token would not reach the shard's replicas.
Pure: builds strings; ``python -m sinks.clickhouse.cluster_ddl`` prints them.
"""

from __future__ import annotations

import re

from clickhouse_connect.driver.binding import quote_identifier

from sinks.clickhouse.tables import TABLES, VIEWS, Table

CLUSTER = "{cluster}"  # the operator's macro for the installation's cluster name
DEDUP_WINDOW = 10_000


def local_name(table: Table) -> str:
    return f"{table.name}_local"


def replicated_engine(table: Table, database: str) -> str:
    """The table's engine clause with ``ReplicatedMergeTree`` and replicated deduplication."""
    engine = table.engine
    if not engine.startswith("ENGINE = MergeTree"):
        raise ValueError(f"{table.name}: only MergeTree tables are replicated, not "
                         f"{engine.splitlines()[0]}")
    path = f"/clickhouse/tables/{{shard}}/{database}/{local_name(table)}"
    engine = engine.replace("ENGINE = MergeTree", f"ENGINE = ReplicatedMergeTree('{path}', '{{replica}}')",
                            1)
    engine, n = re.subn(r"non_replicated_deduplication_window\s*=\s*\d+",
                        f"replicated_deduplication_window = {DEDUP_WINDOW}", engine)
    if n != 1:
        raise ValueError(f"{table.name}: expected one non_replicated_deduplication_window setting")
    return engine


def local_ddl(table: Table, database: str) -> str:
    embedded = table.ddl(database)
    head, _, rest = embedded.partition(" (\n")
    body = rest[: rest.rindex("\n)\n") + 3]
    name = f"{quote_identifier(database)}.{quote_identifier(local_name(table))}"
    return (f"CREATE TABLE IF NOT EXISTS {name} ON CLUSTER '{CLUSTER}' (\n{body}"
            f"{replicated_engine(table, database)}")


def distributed_ddl(table: Table, database: str) -> str:
    db = quote_identifier(database)
    return (f"CREATE TABLE IF NOT EXISTS {db}.{quote_identifier(table.name)} ON CLUSTER '{CLUSTER}' "
            f"AS {db}.{quote_identifier(local_name(table))}\n"
            f"ENGINE = Distributed('{CLUSTER}', '{database}', '{local_name(table)}', "
            "cityHash64(operator_id))")


def cluster_ddl(database: str = "dsom") -> list[str]:
    """Every statement, in order: the database, then per table its local and its Distributed table."""
    out = [f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)} ON CLUSTER '{CLUSTER}'"]
    for table in TABLES:
        out += [local_ddl(table, database), distributed_ddl(table, database)]
    db = quote_identifier(database)
    for view in VIEWS:  # over the Distributed tables, so they read every shard
        head, sep, rest = view.format(db=db).partition(" AS\n")
        out.append(f"{head} ON CLUSTER '{CLUSTER}'{sep}{rest}")
    return out


if __name__ == "__main__":
    print(";\n\n".join(cluster_ddl()) + ";")
