"""How long the validator takes to pick up one registry change, with a national-size topic behind it.

``python -m registry.follow_bench [--operators 2000] [--halls 10] [--machines 25] [--sites 5]``:
the topic's records of a national-size registry (one per entity, as compaction leaves them,
built from ``registry.bench.national_rows`` without a database or a broker) are applied to a
``LicenceView`` as the validator's follower does at start; then one licence is suspended and
the time to apply that record, build the registry and a new engine (both engines) is measured,
beside the old way, a whole rebuild from every record. ``--assets``: the view as the alerts agent
keeps it (assets too).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections import defaultdict
from typing import Any

from pipeline.core.processor import make_processor
from pipeline.settings import TopicSettings, ValidationSettings
from registry.bench import national_rows
from registry.core.history import Version
from registry.core.snapshot import LicenceView, decode_value, registry_from_records, topic_key, topic_value
from schemas import default_codec

ID_FIELD = {"operator": "operator_id", "licence": "licence_id", "establishment": "establishment_id",
            "equipment": "equipment_id", "site": "domain", "app": "app_id"}


def topic_records(rows: list[dict[str, Any]], t_us: int) -> list[tuple[bytes, bytes]]:
    """One record per entity, each with one version valid from ``t_us`` (as compaction leaves them)."""
    histories: dict[tuple[str, str], list[Version]] = defaultdict(list)
    for seq, row in enumerate(rows, 1):
        kind = row["kind"]
        entity = str(row.get(ID_FIELD[kind]) or row.get("site_id") or seq)
        data = {**row, "status": "active"}
        version = Version(seq, kind, entity, row["operator_id"], t_us, None, t_us, data)
        histories[(kind, entity)].append(version)
    return [(topic_key(k, e), topic_value(v)) for (k, e), v in histories.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--operators", type=int, default=2000)
    ap.add_argument("--halls", type=int, default=10)
    ap.add_argument("--machines", type=int, default=25)
    ap.add_argument("--sites", type=int, default=5)
    ap.add_argument("--assets", action="store_true", help="keep the assets too (the alerts agent's view)")
    a = ap.parse_args()
    t0 = 1_700_000_000_000_000
    records = topic_records(national_rows(a.operators, a.halls, a.machines, a.sites), t0)
    print(f"{len(records):,} topic records")

    view = LicenceView(assets=a.assets)
    started = time.perf_counter()
    for key, value in records:
        view.apply(key, value, t0 + 1)
    registry = view.registry()
    took = time.perf_counter() - started
    tracemalloc.start()
    again = LicenceView(assets=a.assets)
    for key, value in records:
        again.apply(key, value, t0 + 1)
    again.registry()
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del again
    print(f"start: all records applied and the registry built in {took:.2f} s; "
          f"{len(registry.operators):,} operators; the view holds {memory / 2**20:.1f} MiB")

    lic = next(v for k, v in records if k.startswith(b"licence/"))
    (version,) = decode_value(lic)
    suspended = Version(version.seq + 10**7, "licence", version.entity_id, version.operator_id, t0 + 5,
                        None, t0 + 5, {**version.data, "status": "suspended"})
    change = (topic_key("licence", version.entity_id), topic_value([version, suspended]))
    codec = default_codec()
    for engine in ("python", "native"):
        settings = ValidationSettings(engine=engine)
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            view.apply(*change, t0 + 6)
            make_processor(view.registry(), settings, TopicSettings(), codec)
            best = min(best, time.perf_counter() - started)
        print(f"one change picked up ({engine} engine): {best * 1000:.1f} ms "
              "(apply, registry, new engine; best of 5)")

    started = time.perf_counter()
    registry_from_records([*records, change], t0 + 6)
    print(f"the same by a whole rebuild from every record: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
