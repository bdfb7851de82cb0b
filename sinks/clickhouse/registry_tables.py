"""The licence and asset registry as ClickHouse tables, so regulatory reports can join against it.

The registry file (``Settings.registry_path``) is the source; these tables are a copy that
``sync_registry`` replaces whenever the file's content differs from what is stored. The
registry is small (operators, licences, and their venues), so a whole-table replace is simpler
and safer than computing changes.
"""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.binding import quote_identifier

from pipeline.registry import Registry

REGISTRY_LICENCES = """
CREATE TABLE IF NOT EXISTS {db}.registry_licences (
    operator_id LowCardinality(String),
    operator_name String,
    licence_id String,
    licence_kind LowCardinality(String),
    valid_from DateTime64(6, 'UTC'),
    valid_to Nullable(DateTime64(6, 'UTC'))
) ENGINE = MergeTree ORDER BY (operator_id, licence_id)
"""

REGISTRY_ASSETS = """
CREATE TABLE IF NOT EXISTS {db}.registry_assets (
    operator_id LowCardinality(String),
    asset_type LowCardinality(String),
    asset_id String
) ENGINE = MergeTree ORDER BY (operator_id, asset_type, asset_id)
"""

LICENCE_COLUMNS = ("operator_id", "operator_name", "licence_id", "licence_kind", "valid_from", "valid_to")
ASSET_COLUMNS = ("operator_id", "asset_type", "asset_id")
ASSET_TYPES = ("establishment", "equipment", "site", "app")
TIME = "DateTime64(6, 'UTC')"
LC = "LowCardinality(String)"


def create_registry_tables(client: Any, database: str) -> None:
    db = quote_identifier(database)
    client.command(REGISTRY_LICENCES.format(db=db))
    client.command(REGISTRY_ASSETS.format(db=db))


def licence_rows(registry: Registry) -> list[tuple[str, str, str, str, int, int | None]]:
    """One row per licence; times in UTC microseconds."""
    return sorted((op.operator_id, op.name, lic.licence_id, str(lic.kind), lic.valid_from_us, lic.valid_to_us)
                  for op in registry.operators for lic in op.licences)


def asset_rows(registry: Registry) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for op in registry.operators:
        for asset_type, ids in zip(ASSET_TYPES, (op.establishments, op.equipment, op.sites, op.apps),
                                   strict=True):
            rows.extend((op.operator_id, asset_type, asset_id) for asset_id in ids)
    return sorted(rows)


def sync_registry(client: Any, database: str, registry: Registry) -> bool:
    """Make the registry tables hold exactly ``registry``; True if they had to change."""
    create_registry_tables(client, database)
    db = quote_identifier(database)
    licences, assets = licence_rows(registry), asset_rows(registry)
    stored_licences = client.query(
        f"SELECT operator_id, operator_name, licence_id, licence_kind, toUnixTimestamp64Micro(valid_from), "
        f"if(valid_to IS NULL, NULL, toUnixTimestamp64Micro(assumeNotNull(valid_to))) "
        f"FROM {db}.registry_licences ORDER BY ALL").result_rows
    stored_assets = client.query(
        f"SELECT operator_id, asset_type, asset_id FROM {db}.registry_assets ORDER BY ALL").result_rows
    if [tuple(r) for r in stored_licences] == licences and [tuple(r) for r in stored_assets] == assets:
        return False
    client.command(f"TRUNCATE TABLE {db}.registry_licences")
    client.command(f"TRUNCATE TABLE {db}.registry_assets")
    if licences:
        client.insert("registry_licences", licences, column_names=LICENCE_COLUMNS, database=database,
                      column_type_names=[LC, "String", "String", LC, TIME, f"Nullable({TIME})"])
    if assets:
        client.insert("registry_assets", assets, column_names=ASSET_COLUMNS, database=database,
                      column_type_names=[LC, LC, "String"])
    return True
