"""The cabinets' response times over the report data set: ``make cabinet-bench`` (CABINET_BENCH_EVENTS=...).

Fills a chdb folder once with the synthetic events of ``make report-bench`` (``dashboards.bench``:
events, payout taxes, rejections, rollups), or reuses the last one (``--reuse``); then serves the
web application with uvicorn, logs in by QES (the signature made here, as the browser's WebCrypto
would) as an analyst, a tax officer, an inspector and a law-enforcement officer, and times their
pages and API routes over HTTP, each many times with varying values: p50, p95 and the worst.
``--contention`` instead times receipt look-ups while two slow reports run, with one ClickHouse
connection and with ``--connections`` (the pages' pool, ``web.query_connections``), alternated.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import resource
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from pydantic import SecretStr

from dashboards import bench as report_bench
from dashboards.params import DAY_US, SECOND_US
from dashboards.reports import REPORTS
from dashboards.web.dashboard import Dashboard
from pipeline.settings import ClickHouseSettings, RegistrySettings, Settings
from registry.core.access import Principal, PrincipalRole
from registry.service import RegistryService, tax_number_key
from registry.staff import CaseStore, CaseVersion
from sinks.clickhouse import tables
from sinks.clickhouse.client import connect
from web.app import WebServer, app_from_settings, qes_dir
from web.login.core import challenge_message
from web.login.demo import Person, make_people

RUN_DEFAULT = Path(__file__).resolve().parent.parent / ".run" / "cabinet-bench"
RUN = RUN_DEFAULT
DB = report_bench.DB
PEOPLE = [
    Person("analyst", "Bench Analyst", "analyst", "3100000001"),
    Person("tax", "Bench Tax Officer", "tax", "3100000002"),
    Person("inspector", "Bench Inspector", "inspector", "3100000003"),
    Person("law", "Bench Investigator", "law", "3100000004"),
]
CASE = "BENCH-1"


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def fill(events: int, days: int, lookup_indexes: bool) -> dict[str, Any]:
    shutil.rmtree(RUN / "chdb", ignore_errors=True)
    RUN.mkdir(parents=True, exist_ok=True)
    client = connect(ClickHouseSettings(dsn=SecretStr(f"chdb://{RUN / 'chdb'}"), database=DB))
    now_us = int(time.time()) * SECOND_US
    if not lookup_indexes:  # to measure what the look-ups' projections and indexes cost the inserts
        tables.create_tables(client, DB)
        for table, elements in (
            ("events", tables.LOOKUP_ELEMENTS),
            ("tax_events", tables.TAX_LOOKUP_ELEMENTS),
        ):
            for element in elements:
                kind, name, _rest = element.split(" ", 2)
                client.command(f"ALTER TABLE {DB}.{table} DROP {kind} {name}")
        tables.LOOKUP_ELEMENTS = tables.TAX_LOOKUP_ELEMENTS = ()  # the fill's create_tables must not add them
    wall, cpu = time.monotonic(), cpu_s()
    # Written first too: a fill stopped half-way can still be measured (--reuse; the rows are counted).
    (RUN / "data.json").write_text(
        json.dumps({"now_us": now_us, "events": events, "days": days, "partial": True})
    )
    report_bench.fill(client, events, now_us - days * DAY_US, days * DAY_US)
    meta = {
        "now_us": now_us,
        "events": events,
        "days": days,
        "lookup_indexes": lookup_indexes,
        "fill_s": round(time.monotonic() - wall, 1),
        "fill_cpu_s": round(cpu_s() - cpu, 1),
    }
    (RUN / "data.json").write_text(json.dumps(meta))
    client.close()
    return meta


def webcrypto_sign(key: Any, message: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return bytes(r.to_bytes(32) + s.to_bytes(32))


def login(base: str, folder: Path, name: str) -> httpx.Client:
    """A session as the login page makes one: sign the challenge with the person's key file."""
    c = httpx.Client(base_url=base, timeout=120)
    page = c.get("/login").text
    fields = dict(re.findall(r'name="(csrftoken|challenge)" value="([^"]*)"', page))
    key = serialization.load_pem_private_key((folder / f"{name}.key").read_bytes(), None)
    sig = webcrypto_sign(key, challenge_message(fields["challenge"]))
    res = c.post(
        "/login",
        data={
            "csrftoken": fields["csrftoken"],
            "challenge": fields["challenge"],
            "certificate": base64.b64encode((folder / f"{name}.crt").read_bytes()).decode(),
            "signature": base64.b64encode(sig).decode(),
        },
    )
    if res.status_code != 303 or res.headers.get("location") == "/login":
        raise RuntimeError(f"{name} could not log in: {res.status_code}")
    return c


def timed(label: str, repeats: int, call: Callable[[int], httpx.Response]) -> dict[str, Any]:
    times, cpu = [], []
    for i in range(repeats):
        t, c = time.perf_counter(), cpu_s()
        res = call(i)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((cpu_s() - c) * 1000)
        if res.status_code != 200:
            raise RuntimeError(f"{label}: HTTP {res.status_code}: {res.text[:300]}")
    times.sort()
    row = {
        "route": label,
        "n": repeats,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 1),
        "max_ms": round(times[-1], 1),
        # the whole process's CPU (client, server, chdb): what the request costs, whatever the load
        "cpu_p50_ms": round(statistics.median(cpu), 1),
    }
    print(
        f"  {label:<52} p50 {row['p50_ms']:>7.1f} ms   p95 {row['p95_ms']:>7.1f} ms   "
        f"max {row['max_ms']:>7.1f} ms   CPU p50 {row['cpu_p50_ms']:>6.1f} ms",
        flush=True,
    )
    return row


def measure(base: str, folder: Path, events: int, repeats: int) -> list[dict[str, Any]]:
    rnd = random.Random(14)
    ops = report_bench.OPERATORS
    out = []

    def token(c: httpx.Client) -> str:
        return str(c.cookies.get("csrftoken"))

    def get(
        c: httpx.Client, path: str, params: dict[str, str] | None = None
    ) -> Callable[[int], httpx.Response]:
        return lambda i: c.get(path, params=params)

    def lookup(c: httpx.Client, by: str, value: Callable[[], str]) -> Callable[[int], httpx.Response]:
        return lambda i: c.post(
            "/inspect", data={"csrftoken": token(c), "by": by, "value": value(), "reason": "cabinet bench"}
        )

    analyst = login(base, folder, "analyst")
    out.append(timed("GET /operational (page)", repeats, lambda i: analyst.get("/operational")))
    out.append(timed("GET /api/catalog", repeats, lambda i: analyst.get("/api/catalog")))
    for r in REPORTS:
        out.append(
            timed(
                f"GET /api/report/{r.name} (7 days)",
                repeats,
                get(analyst, f"/api/report/{r.name}", {"period": "7d"}),
            )
        )
    tax = login(base, folder, "tax")
    out.append(timed("GET /tax (GGR statements page)", repeats, lambda i: tax.get("/tax")))
    out.append(timed("GET /tax?table=payouts (page)", repeats, lambda i: tax.get("/tax?table=payouts")))
    out.append(
        timed(
            "GET /tax?table=payouts&player=... (page)",
            repeats,
            lambda i: tax.get("/tax", params={"table": "payouts", "player": f"p_{rnd.randrange(200_000)}"}),
        )
    )
    out.append(
        timed("GET /tax?table=discrepancies (page)", repeats, lambda i: tax.get("/tax?table=discrepancies"))
    )
    out.append(
        timed(
            "GET /api/tax/payouts?operator=... (JSON)",
            repeats,
            lambda i: tax.get("/api/tax/payouts", params={"operator": f"op-{rnd.randrange(ops):03d}"}),
        )
    )

    def machine() -> str:
        op = rnd.choice([o for o in range(ops) if o % 5 in (0, 3)])
        return f"op{op}-m-{rnd.randrange(400)}"

    values: dict[str, Callable[[], str]] = {
        "receipt": lambda: f"r{rnd.randrange(events)}",
        "bet": lambda: f"b{rnd.randrange(events // 2)}",
        "player": lambda: f"p_{rnd.randrange(200_000)}",
        "machine": machine,
        "site": lambda: f"op{rnd.choice([o for o in range(ops) if o % 5 not in (0, 3)])}.example.ua",
    }
    inspector = login(base, folder, "inspector")
    out.append(timed("GET /inspect (page)", repeats, lambda i: inspector.get("/inspect")))
    for by, value in values.items():
        out.append(
            timed(
                f"POST /inspect by {by} (audited)",
                repeats,
                lookup(inspector, by, value),
            )
        )
    out.append(
        timed(
            "POST /api/lookup by receipt (audited)",
            repeats,
            lambda i: inspector.post(
                "/api/lookup",
                headers={"x-csrftoken": token(inspector)},
                json={"by": "receipt", "value": values["receipt"](), "reason": "cabinet bench"},
            ),
        )
    )
    law = login(base, folder, "law")

    def law_lookup(by: str) -> Callable[[int], httpx.Response]:
        def call(i: int) -> httpx.Response:
            data = {
                "csrftoken": token(law),
                "case_id": CASE,
                "by": by,
                "value": values[by](),
                "reason": "bench",
            }
            return law.post("/inspect", data=data)

        return call

    for by in ("receipt", "player"):
        out.append(timed(f"POST /inspect by {by}, law, in a case (audited)", repeats, law_lookup(by)))
    return out


def chdb_client() -> Any:
    return connect(ClickHouseSettings(dsn=SecretStr(f"chdb://{RUN / 'chdb'}"), database=DB))


def contention(
    settings: Settings,
    registry: RegistryService,
    folder: Path,
    events: int,
    connections: int,
    repeats: int,
    port: int,
) -> list[dict[str, Any]]:
    """Receipt look-ups while two analysts' slow reports run: 1 connection against ``connections``.

    Alternated twice, as the load on the machine changes. What the pages' connection pool
    (``web.query_connections``) changes: with one connection a look-up waits for a report to finish.
    """
    rnd = random.Random(15)
    rounds = (1, connections) * 2
    return [contended(settings, registry, folder, events, n, repeats, rnd, port) for n in rounds]


def contended(
    settings: Settings,
    registry: RegistryService,
    folder: Path,
    events: int,
    connections: int,
    repeats: int,
    rnd: random.Random,
    port: int,
) -> dict[str, Any]:
    clients = [chdb_client() for _ in range(connections)]
    app = app_from_settings(settings, Dashboard(clients[0], DB, readers=clients[1:]), registry)
    server = WebServer(app, "127.0.0.1", port).start()
    stop = threading.Event()
    reports = [0]

    def slow(c: httpx.Client) -> None:
        while not stop.is_set():
            c.get("/api/report/player_activity", params={"period": "7d"}).raise_for_status()
            reports[0] += 1

    inspector = login(server.url, folder, "inspector")
    analysts = [login(server.url, folder, "analyst") for _ in range(2)]
    threads = [threading.Thread(target=slow, args=(a,)) for a in analysts]
    try:
        for t in threads:
            t.start()
        time.sleep(1.0)  # both reports under way
        started = time.monotonic()
        row = timed(
            f"POST /api/lookup by receipt, 2 reports running, {connections} conn.",
            repeats,
            lambda i: inspector.post(
                "/api/lookup",
                headers={"x-csrftoken": str(inspector.cookies.get("csrftoken"))},
                json={"by": "receipt", "value": f"r{rnd.randrange(events)}", "reason": "bench"},
            ),
        )
        row["reports_per_s"] = round(reports[0] / (time.monotonic() - started), 2)
        print(f"    (meanwhile {row['reports_per_s']} player_activity reports/s)", flush=True)
    finally:
        stop.set()
        for t in threads:
            t.join()
        server.stop()
        for c in clients:
            c.close()
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=report_bench.DAYS)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--port", type=int, default=0, help="the web application's port (0: any free one)")
    ap.add_argument("--reuse", action="store_true", help="measure the data of the last run again")
    ap.add_argument("--fill-only", action="store_true")
    ap.add_argument(
        "--without-lookup-indexes",
        action="store_true",
        help="fill without the look-ups' projections and indexes (to measure their insert cost)",
    )
    ap.add_argument("--dir", type=Path, default=RUN_DEFAULT, help="where the data set and results are kept")
    ap.add_argument(
        "--contention",
        action="store_true",
        help="only time look-ups while slow reports run, with 1 and --connections ClickHouse connections",
    )
    ap.add_argument("--connections", type=int, default=Settings().web.query_connections)
    args = ap.parse_args(argv)
    global RUN
    RUN = args.dir
    meta_path = RUN / "data.json"
    if args.reuse and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        print(f"== reusing {meta['events']:,} events in {RUN / 'chdb'}")
    else:
        print(
            f"== filling {RUN / 'chdb'} with {args.events:,} synthetic events (dashboards.bench)", flush=True
        )
        meta = fill(args.events, args.days, not args.without_lookup_indexes)
        print(f"   filled in {meta['fill_s']:,} s ({meta['fill_cpu_s']:,} s CPU)")
    if args.fill_only:
        return 0
    # A fresh registry and demo people each run; the events stay.
    for stale in ("registry.sqlite", "pki"):
        p = RUN / stale
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    settings = Settings(
        pki_dir=RUN / "pki", registry=RegistrySettings(dsn=SecretStr(f"sqlite:///{RUN / 'registry.sqlite'}"))
    )
    registry = RegistryService.from_settings(settings)
    system = Principal("cabinet-bench", PrincipalRole.SYSTEM)
    folder = qes_dir(settings)
    make_people(folder, PEOPLE, tax_number_key(settings))
    client = connect(ClickHouseSettings(dsn=SecretStr(f"chdb://{RUN / 'chdb'}"), database=DB))
    if args.contention:  # (the client stays open: the engine and its caches stay up between rounds)
        results = contention(
            settings, registry, folder, meta["events"], args.connections, args.repeats, args.port
        )
        (RUN / "contention.json").write_text(json.dumps({**meta, "contention": results}, indent=1))
        print(f"   figures in {RUN / 'contention.json'}")
        return 0
    readers = [chdb_client() for _ in range(args.connections - 1)]
    # (imports the staff file)
    app = app_from_settings(settings, Dashboard(client, DB, readers=readers), registry)
    CaseStore(registry).put(
        system,
        CaseVersion(
            CASE,
            "law",
            tuple(f"op-{o:03d}" for o in range(0, 50, 2)),
            (),
            "bench request",
            meta["now_us"] + 30 * DAY_US,
            True,
            0,
            "",
        ),
        "case_grant",
        "bench request",
    )
    server = WebServer(app, "127.0.0.1", args.port).start()
    sizes = {
        str(t): int(n)
        for t, n in client.query(
            f"SELECT table, sum(rows) FROM system.parts WHERE database = '{DB}' AND active AND table IN "
            "('events', 'tax_events', 'rejections') GROUP BY table ORDER BY table"
        ).result_rows
    }
    print(f"== {server.url}: rows {sizes}; each route {args.repeats} times over HTTP, after one warm-up")
    try:
        measure(server.url, folder, meta["events"], 1)  # warm-up: first queries load marks and indexes
        cpu = cpu_s()
        results = measure(server.url, folder, meta["events"], args.repeats)
        cpu = cpu_s() - cpu
    finally:
        server.stop()
        for c in (client, *readers):
            c.close()
    worst = max(results, key=lambda r: r["p95_ms"])
    over = [r["route"] for r in results if r["p95_ms"] > 300]
    print(
        f"== slowest p95: {worst['route']} at {worst['p95_ms']:,} ms; over 300 ms: {over or 'none'}; "
        f"{cpu:,.1f} s CPU for {len(results) * args.repeats} requests"
    )
    (RUN / "results.json").write_text(
        json.dumps({**meta, "rows": sizes, "routes": results, "cpu_s": round(cpu, 1)}, indent=1)
    )
    print(f"   figures in {RUN / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
