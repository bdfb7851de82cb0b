"""An operator added to the registry while the validator runs: its topics created and read at once.

Consumers refresh every topic's metadata once a minute only (``metadata_refresh_interval_ms``);
the validator creates a new operator's topics and asks for them itself (docs/agents.md).
"""

from __future__ import annotations

import time

import pytest

from pipeline.kafka.admin import ensure_topics, operator_topics, system_topics
from pipeline.operator.fleet import demo_registry
from pipeline.registry import Registry
from pipeline.settings import Settings
from tests.integration.hostile import A, B, RawProducer, batch, event, receipts, validator, wait_for

pytestmark = pytest.mark.integration


def test_an_operator_new_to_the_registry_gets_its_topics_and_is_read_within_seconds(
        settings: Settings) -> None:
    assert settings.kafka.metadata_refresh_interval_ms == 60_000  # the production default
    registry = demo_registry(1)
    before = Registry(operators=tuple(o for o in registry.operators if o.operator_id != B))
    before.save(settings.registry_path)
    ensure_topics(settings, system_topics(settings)
                  + operator_topics(settings, [o.operator_id for o in before.operators]))

    def receipted(source: str) -> bool:
        return any(r.source == source for r in receipts(settings))

    with validator(settings):
        RawProducer(settings, A).send("s-a", batch([event(1)], "s-a"))
        wait_for("A's receipt: the validator runs with the registry of start-up", lambda: receipted("s-a"))
        registry.save(settings.registry_path)  # B appears (the file is looked at every 5 s)
        added = time.monotonic()
        RawProducer(settings, B).send("s-b", batch([event(1, operator=B)], "s-b", operator=B))
        wait_for("B's receipt", lambda: receipted("s-b"), timeout=60)
        took = time.monotonic() - added
    assert took < 45, took  # well inside the 60 s the periodic refresh alone could take
