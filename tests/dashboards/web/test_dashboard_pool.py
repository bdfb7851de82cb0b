"""The pages' ClickHouse connections: concurrent requests' queries run in parallel, one per connection."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dashboards.web.dashboard import Dashboard


class Client:
    """A client that takes 0.2 s per query and remembers the most queries it ever ran at once."""

    def __init__(self, shared: dict[str, int], lock: threading.Lock) -> None:
        self.running = 0
        self.shared, self.lock = shared, lock

    def query(self, sql: str, **_: Any) -> Any:
        self.running += 1
        assert self.running == 1, "two queries at once on one connection"
        with self.lock:
            self.shared["now"] += 1
            self.shared["most"] = max(self.shared["most"], self.shared["now"])
        time.sleep(0.2)
        with self.lock:
            self.shared["now"] -= 1
        self.running -= 1
        return type("Result", (), {"column_names": ("x",), "result_rows": [(1,)]})()


def most_at_once(connections: int, requests: int) -> int:
    shared, lock = {"now": 0, "most": 0}, threading.Lock()
    clients = [Client(shared, lock) for _ in range(connections)]
    d = Dashboard(clients[0], "db", readers=clients[1:])
    with ThreadPoolExecutor(requests) as pool:
        answers = list(pool.map(lambda _: d.query("SELECT 1", {}), range(requests)))
    assert answers == [(["x"], [(1,)])] * requests
    return shared["most"]


def test_queries_run_in_parallel_one_per_connection() -> None:
    assert most_at_once(1, 4) == 1  # one connection: one query at a time, as under the lock of before
    assert most_at_once(3, 6) == 3  # never two on one connection (Client asserts it), three at once
