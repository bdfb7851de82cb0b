"""The consumer loop's own metadata asks: only for topics it awaits, until it has seen them."""

from __future__ import annotations

import time

from pipeline.agents.activity import ActivityAgent
from pipeline.agents.validator import ValidatorAgent
from pipeline.settings import Settings
from tests.pipeline.agents.fakes import FakeKafka
from tests.pipeline.agents.test_transactional import ARCHIVE, archived, run_until


def test_the_loop_asks_for_all_metadata_only_while_it_awaits_a_topic() -> None:
    kafka = FakeKafka()
    archived(kafka, "s1", 3)
    agent = ActivityAgent(Settings(metrics_port=0), clients=kafka.clients)
    run_until(agent, lambda: kafka.committed == {(ARCHIVE, 0): 1})
    assert kafka.metadata_asks == 0  # nothing awaited: the periodic refresh is librdkafka's

    kafka = FakeKafka()
    agent = ActivityAgent(Settings(metrics_port=0), clients=kafka.clients)
    agent.expect_topics(["dsom.archive-new"])
    created_at: list[int] = []

    def created_after_two_asks() -> bool:
        if kafka.metadata_asks >= 2 and not created_at:
            kafka.topics_created.append("dsom.archive-new")
            created_at.append(kafka.metadata_asks)
        return bool(created_at) and not agent.awaited_topics

    run_until(agent, created_after_two_asks, timeout=15)
    asks = kafka.metadata_asks
    assert asks == created_at[0] + 1  # the ask after its creation saw it
    run_until(agent, lambda: time.sleep(1.2) is None)  # longer than the next ask would have waited
    assert kafka.metadata_asks == asks


def test_the_validator_creates_and_awaits_the_topics_of_operators_new_to_the_registry() -> None:
    kafka = FakeKafka()
    agent = ValidatorAgent(Settings(metrics_port=0), clients=kafka.clients)
    agent._operators_appeared({"op-a", "op-b"})  # start-up: provisioned with the registry
    assert kafka.topics_created == [] and not agent.awaited_topics
    agent._operators_appeared({"op-a", "op-b", "op-new"})
    assert set(kafka.topics_created) == {"dsom.ingest.op-new", "dsom.receipts.op-new", "dsom.sandbox.op-new",
                                         "dsom.sandbox-receipts.op-new"}
    assert agent.awaited_topics == {"dsom.ingest.op-new", "dsom.sandbox.op-new"}
    agent._operators_appeared({"op-a", "op-b", "op-new"})  # a reload with nobody new
    assert len(kafka.topics_created) == 4
