"""The cluster DDL parses with ClickHouse's own parser and matches the embedded tables column for column."""

from __future__ import annotations

import re

import chdb
import pytest

from sinks.clickhouse.cluster_ddl import cluster_ddl, local_name
from sinks.clickhouse.rollups import ROLLUPS, TOKEN_COLUMN
from sinks.clickhouse.tables import TABLES, VIEWS


def _ast(statement: str) -> str:
    # EXPLAIN AST runs ClickHouse's parser only: ON CLUSTER and ReplicatedMergeTree need no cluster.
    return str(chdb.query(f"EXPLAIN AST {statement}", "TabSeparatedRaw"))


def test_every_statement_parses() -> None:
    statements = cluster_ddl("dsom")
    assert len(statements) == 1 + 2 * len(TABLES) + len(VIEWS) + 2 * len(ROLLUPS)
    for statement in statements:
        assert "ON CLUSTER '{cluster}'" in statement
        assert _ast(statement).startswith(("CreateQuery", "CreateDatabaseQuery", "Create")), statement


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_local_tables_are_replicated_copies_of_the_embedded_ones(table: object) -> None:
    from sinks.clickhouse.tables import Table

    assert isinstance(table, Table)
    statements = cluster_ddl("dsom")
    local = next(s for s in statements if f"`{local_name(table)}` ON CLUSTER" in s)
    ast = _ast(local)
    declared = re.findall(r"ColumnDeclaration (\S+)", ast)
    expected = [c.name for c in table.all_columns] + ([TOKEN_COLUMN] if table.tokened else [])
    assert declared == expected
    assert "Function ReplicatedMergeTree" in ast
    assert f"'/clickhouse/tables/{{shard}}/dsom/{local_name(table)}'" in local and "'{replica}'" in local
    assert "replicated_deduplication_window = 10000" in local and "non_replicated" not in local
    # indexes and projections survive
    assert local.count("INDEX ") == table.ddl("dsom").count("INDEX ")
    assert local.count("PROJECTION ") == table.ddl("dsom").count("PROJECTION ")
    distributed = next(s for s in statements if f"`{table.name}` ON CLUSTER" in s)
    assert "Function Distributed" in _ast(distributed)
    assert f"'{local_name(table)}', cityHash64(operator_id))" in distributed


@pytest.mark.parametrize("rollup", ROLLUPS, ids=lambda r: r.name)
def test_rollups_are_replicated_and_sharded_like_the_events_they_are_made_of(rollup: object) -> None:
    from sinks.clickhouse.rollups import Rollup

    assert isinstance(rollup, Rollup)
    statements = cluster_ddl("dsom")
    local = next(s for s in statements if f"`{rollup.name}_local` ON CLUSTER" in s)
    ast = _ast(local)
    assert re.findall(r"ColumnDeclaration (\S+)", ast) == [
        line.strip().split()[0] for line in rollup.columns.strip().split(",\n")]
    assert "Function ReplicatedAggregatingMergeTree" in ast
    assert f"'/clickhouse/tables/{{shard}}/dsom/{rollup.name}_local'" in local
    assert "replicated_deduplication_window = 10000" in local and "non_replicated" not in local
    distributed = next(s for s in statements if f"`{rollup.name}` ON CLUSTER" in s)
    assert f"'{rollup.name}_local', cityHash64({rollup.shard_by}))" in distributed
    # a column of its own: the operator's, or for the rollups without operators what they have
    assert rollup.shard_by in re.findall(r"ColumnDeclaration (\S+)", ast)
    has_operator = "operator_id LowCardinality" in rollup.columns
    assert rollup.shard_by == ("operator_id" if has_operator else "licence_kind")


def test_the_local_tables_work_on_one_node_without_replication(tmp_path: object) -> None:
    """Semantics, not just syntax: the same DDL, unreplicated, creates working tables in chdb."""
    from chdb import session

    sess = session.Session(str(tmp_path))
    try:
        for statement in cluster_ddl("dsom"):
            if "ENGINE = Distributed" in statement:
                continue
            plain = statement.replace(" ON CLUSTER '{cluster}'", "")
            plain = re.sub(r"Replicated(\w*)MergeTree\('[^']*', '\{replica\}'\)", r"\1MergeTree", plain)
            plain = plain.replace("replicated_deduplication_window", "non_replicated_deduplication_window")
            for table in TABLES:  # the views over the local tables, one node being the cluster
                plain = plain.replace(f"`dsom`.{table.name}\n", f"`dsom`.{local_name(table)}\n")
                plain = plain.replace(f"`dsom`.{table.name} ", f"`dsom`.{local_name(table)} ")
            sess.query(plain)
        tables = str(sess.query("SELECT name FROM system.tables WHERE database = 'dsom'", "CSV"))
        for table in TABLES:
            assert f'"{local_name(table)}"' in tables
        for rollup in ROLLUPS:
            assert f'"{rollup.name}_local"' in tables
        # the registry's view works on them: the newest record's segments of each entity
        sess.query("INSERT INTO dsom.registry_history_local (kind, entity_id, operator_id, valid_from, "
                   "valid_to, status, src_offset) VALUES "
                   "('licence', 'L-1', 'op-1', [0], [10], ['active'], 0), "
                   "('licence', 'L-1', 'op-1', [0, 5], [5, 10], ['active', 'suspended'], 1)")
        in_force = sess.query("SELECT status FROM dsom.registry_in_force ORDER BY valid_from", "CSV")
        assert str(in_force).split() == ['"active"', '"suspended"']
    finally:
        sess.close()
