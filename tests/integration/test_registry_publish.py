"""The registry's outbox reaches the compacted ``<prefix>.registry`` topic, which gives the registry back."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]
from pydantic import SecretStr

from pipeline.kafka.config import client_config
from pipeline.settings import RegistrySettings, Settings
from registry.core.access import Principal, PrincipalRole
from registry.core.model import Status
from registry.publisher import Follower, Publisher
from registry.service import RegistryService
from tests.integration.registry.data import BASE

OFFICER = Principal("olena", PrincipalRole.OFFICER)
REGULATOR = Principal("board", PrincipalRole.REGULATOR)


def test_changes_are_published_compacted_and_followed(settings: Settings, tmp_path: Path) -> None:
    s = settings.model_copy(
        update={
            "registry": RegistrySettings(
                dsn=SecretStr(f"sqlite:///{tmp_path / 'registry.sqlite'}"),
                tax_number_key=SecretStr("k"),
                publish_interval_s=0.05,
            )
        }
    )
    svc = RegistryService.from_settings(s)
    svc.add(OFFICER, BASE)
    publisher = Publisher(s, svc)
    assert publisher.publish_once() == len(BASE) and publisher.publish_once() == 0

    tls = s.kafka.security_protocol == "SSL"
    admin = AdminClient(client_config(s.kafka_as("broker") if tls else s.kafka))
    (fut,) = admin.describe_configs([ConfigResource("topic", s.topics.registry)]).values()
    assert fut.result(30)["cleanup.policy"].value == "compact"

    follower = Follower(s)
    deadline = time.monotonic() + 30
    while not follower.at_end and time.monotonic() < deadline:
        follower.poll(0.2)
    now = time.time_ns() // 1000
    assert follower.registry(now) == svc.snapshot(now)

    stop = threading.Event()
    thread = threading.Thread(target=publisher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        svc.sanction(REGULATOR, "LIC-SH-1", Status.SUSPENDED, "KRAIL 8/2026")
        committed = time.monotonic()
        while time.monotonic() - committed < 10:
            follower.poll(0.05)
            lic = follower.registry().licence("op-1", "LIC-SH-1")
            if lic is not None and lic.stops:
                break
        delay = time.monotonic() - committed
    finally:
        stop.set()
        thread.join(10)
        publisher.close()
    print(f"registry change from commit to a follower: {delay * 1000:.0f} ms")
    assert delay < 2.0
    # A restarted publisher resumes after the last published change: nothing is sent twice.
    again = Publisher(s, svc)
    assert again.position == publisher.position and again.publish_once() == 0
    follower.close()
