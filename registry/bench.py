"""Registry at scale: import time, snapshot time and memory, the validator's cost per event with it loaded.

``python -m registry.bench [--operators 2000] [--halls 10] [--machines 25] [--sites 5] [--dsn DSN]``:
a national-size registry (by default 2,000 operators, 20,000 establishments, 500,000 machines,
10,000 sites) is imported in one transaction into a fresh database (SQLite under .run/ unless
``--dsn``), the validator's snapshot is built from it, and the bench's simulated traffic is
decided by both validator engines with the demo registry and with the large one (which holds the
demo operators too), so the difference is the cost of the registry's size.
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
import tracemalloc
from pathlib import Path
from typing import Any

from pipeline.core.processor import make_processor
from pipeline.operator.fleet import LICENCE_FROM_US, demo_registry
from pipeline.registry import Registry
from pipeline.settings import REPO_ROOT, TopicSettings, ValidationSettings
from pipeline.tools.bench_offline import ingest_records
from registry.core.access import Principal, PrincipalRole
from registry.seed import demo_edrpou, rows_of
from registry.service import RegistryService
from schemas import default_codec

KINDS = ("CASINO_ESTABLISHMENT", "ONLINE_CASINO", "BOOKMAKING", "SLOT_HALL", "ONLINE_POKER")


def national_rows(operators: int, halls: int, machines: int, sites: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for n in range(1, operators + 1):
        op, lic = f"op-b{n:05d}", f"LIC-B-{n:05d}"
        rows.append(
            {
                "kind": "operator",
                "operator_id": op,
                "legal_name": f"Bench operator {n}",
                "edrpou": demo_edrpou(100 + n),
                "since_us": LICENCE_FROM_US,
            }
        )
        rows.append(
            {
                "kind": "licence",
                "operator_id": op,
                "licence_id": lic,
                "licence_kind": KINDS[n % 5],
                "decision_ref": f"bench decision {n}",
                "valid_from_us": LICENCE_FROM_US,
            }
        )
        for h in range(1, halls + 1):
            hall = f"{op}-h{h:02d}"
            rows.append(
                {
                    "kind": "establishment",
                    "operator_id": op,
                    "establishment_id": hall,
                    "licence_id": lic,
                    "address": f"Kyiv, bench street {n}/{h}",
                    "since_us": LICENCE_FROM_US,
                }
            )
            for m in range(1, machines + 1):
                rows.append(
                    {
                        "kind": "equipment",
                        "operator_id": op,
                        "equipment_id": f"{hall}-m{m:03d}",
                        "establishment_id": hall,
                        "equipment_type": "slot_machine",
                        "manufacturer": "Bench",
                        "model": "B1",
                        "serial": f"{hall}-m{m:03d}",
                        "certificate": "CERT-B",
                        "certified_rtp_bp": 9450,
                        "since_us": LICENCE_FROM_US,
                    }
                )
        for s in range(1, sites + 1):
            rows.append(
                {
                    "kind": "site",
                    "operator_id": op,
                    "domain": f"b{n}-{s}.bench.ua",
                    "licence_id": lic,
                    "since_us": LICENCE_FROM_US,
                }
            )
    return rows


def per_event_us(registry: Registry, engine: str, recs: list[Any]) -> float:
    proc = make_processor(
        registry,
        ValidationSettings(engine=engine),  # type: ignore[arg-type]
        TopicSettings(),
        default_codec(),
    )
    states: dict[tuple[str, int], Any] = {}
    events = 0
    started = time.perf_counter()
    for topic, partition, offset, key, value, now in recs:
        state = states.get((topic, partition))
        if state is None:
            state = states[(topic, partition)] = proc.new_state(topic, partition)
        events += proc.process(state, offset, key, value, now).events_in
    return (time.perf_counter() - started) / events * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--operators", type=int, default=2000)
    ap.add_argument("--halls", type=int, default=10)
    ap.add_argument("--machines", type=int, default=25)
    ap.add_argument("--sites", type=int, default=5)
    ap.add_argument("--dsn", help="default: a fresh SQLite file under .run/registry-bench/")
    ap.add_argument("--events", type=int, default=200_000)
    args = ap.parse_args()
    dsn = args.dsn
    if dsn is None:
        path = Path(REPO_ROOT / ".run" / "registry-bench" / "registry.sqlite")
        for f in path.parent.glob("registry.sqlite*"):
            f.unlink()
        dsn = f"sqlite:///{path}"
    from registry.db.engine import make_engine, migrate  # noqa: PLC0415

    engine = make_engine(dsn)
    migrate(engine)
    svc = RegistryService(engine, b"bench-key")
    rows = national_rows(args.operators, args.halls, args.machines, args.sites) + rows_of(demo_registry(1))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["kind"]] = counts.get(r["kind"], 0) + 1
    print("rows: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()) + f" ({engine.dialect.name})")
    started = time.perf_counter()
    svc.add(Principal("bench", PrincipalRole.SYSTEM), rows, "bench import")
    took = time.perf_counter() - started
    print(
        f"import: {took:.1f} s, {len(rows) / took:,.0f} records/s (versions, audit and outbox rows included)"
    )
    started = time.perf_counter()
    report = svc.verify_audit()
    print(
        f"audit verify: {report.entries:,} entries in {time.perf_counter() - started:.1f} s, ok={report.ok}"
    )

    del rows  # the validator's process holds only its snapshot: so does the rest of the bench
    gc.collect()
    started = time.perf_counter()
    big = svc.snapshot()
    took = time.perf_counter() - started
    del big
    gc.collect()
    tracemalloc.start()
    big = svc.snapshot()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    _ = big.licence_index
    index = tracemalloc.get_traced_memory()[0] - held
    tracemalloc.stop()
    print(f"snapshot for the validator: {took:.1f} s; it holds {held / 2**20:.0f} MiB "
          f"(+{index / 2**20:.1f} MiB licence index); peak RSS of this process (the import included) "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    svc.engine.dispose()
    gc.collect()

    recs = ingest_records(args.events, 500)
    small = demo_registry(1)
    for eng in ("python", "native"):
        best = {
            name: min(per_event_us(reg, eng, recs) for _ in range(3))
            for name, reg in (("demo registry", small), ("large registry", big))
        }
        print(
            f"validator, {eng} engine: "
            + ", ".join(f"{v:.2f} µs/event with the {k}" for k, v in best.items())
        )


if __name__ == "__main__":
    main()
