"""The example agent (pipeline/agents/activity.py) on the real broker, behind the validator."""

from __future__ import annotations

import threading

import orjson
import pytest

from pipeline.agents.activity import ActivityAgent
from pipeline.operator.producer import OperatorProducer
from pipeline.settings import Settings
from tests.integration.conftest import as_operator, read_all
from tests.integration.hostile import A, event, seed, validator, wait_for

pytestmark = pytest.mark.integration


def test_the_activity_agent_follows_the_archive(settings: Settings) -> None:
    seed(settings)
    with OperatorProducer(as_operator(settings, A), A) as producer:
        producer.send("src-1", [event(i) for i in range(1, 6)])
        producer.send("src-2", [event(i) for i in range(1, 3)])
        producer.send("src-1", [event(i) for i in range(6, 9)])
    topic = f"{settings.topics.prefix}.activity"

    def latest() -> dict[str, int]:
        return {(m.key() or b"").decode(): orjson.loads(m.value() or b"")["events"]
                for m in read_all(settings, "^" + topic.replace(".", r"\.") + "$")}

    stop = threading.Event()
    agent = ActivityAgent(settings)
    thread = threading.Thread(target=agent.run, args=(stop,))
    with validator(settings):
        thread.start()
        try:
            wait_for("the activity of both sources", lambda: latest() == {f"{A}|src-1": 8, f"{A}|src-2": 2})
        finally:
            stop.set()
            thread.join(60)
    assert not thread.is_alive()
    assert agent.events_counted == 10
