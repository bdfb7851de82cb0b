"""The registry of declared agents, and what the rest of dsom reads from it."""

from __future__ import annotations

import re
from typing import Any, cast

from pipeline.agents.app import app
from pipeline.kafka.lag import agent_groups
from pipeline.security.acls import pipeline_grants
from pipeline.settings import Settings, TopicSettings

T = TopicSettings(prefix="dsom")


def test_the_default_agents_and_their_groups() -> None:
    assert app.default_agents() == ["validator", "checkpointer", "tax", "sink"]
    assert "activity" in [a.name for a in app.agents()]  # declared, run only when named
    assert [T.agent_group(a) for a in app.default_agents()] == ["dsom-validator", "dsom-checkpointer",
                                                               "dsom-tax", "dsom-sink-clickhouse"]


def test_lag_covers_every_topic_an_agent_reads() -> None:
    patterns = {agent: pattern for agent, _, pattern in agent_groups(Settings(), app.default_agents())}
    assert all(re.fullmatch(patterns["validator"], t) for t in ("dsom.ingest.op-a", "dsom.sandbox.op-a"))
    assert all(re.fullmatch(patterns["sink"], t) for t in ("dsom.archive", "dsom.receipts.op-a",
                                                           "dsom.tax-events"))
    assert not any(re.fullmatch(patterns["validator"], t) for t in ("dsom.archive", "dsom.receipts.x"))
    assert re.fullmatch(patterns["tax"], "dsom.archive")
    assert not re.fullmatch(patterns["tax"], "dsom.archives")


def test_topics_created_for_the_default_agents() -> None:
    s = Settings(topics=TopicSettings(archive_partitions=6, state_partitions=4))
    created = {t.topic: t for t in app.new_topics(s)}
    # dsom.alerts: the sink stores it for the cabinets' inboxes, so it exists even before the alerts agent.
    assert set(created) == {"dsom.archive", "dsom.dead-letter", "dsom.validator-state", "dsom.tax-events",
                            "dsom.tax-state", "dsom.checkpoints", "dsom.checkpointer-state", "dsom.alerts",
                            "dsom.registry"}
    assert created["dsom.archive"].num_partitions == 6 and created["dsom.tax-state"].num_partitions == 4
    # the sink reads the registry's topic (the reports join it): one partition, compacted
    assert created["dsom.registry"].num_partitions == 1
    assert created["dsom.registry"].config["cleanup.policy"] == "compact"
    assert created["dsom.archive"].config["retention.ms"] == "-1"
    assert created["dsom.validator-state"].config["cleanup.policy"] == "compact"


def test_each_transactional_agent_gets_its_own_transactional_ids() -> None:
    grants = pipeline_grants(T, app.agents())
    ids = {g.name for g in grants if g.resource == "TRANSACTIONAL_ID"}
    assert ids == {"dsom-validator-", "dsom-checkpointer-", "dsom-tax-", "dsom-activity-", "dsom-alerts-"}


def test_the_validator_reads_ahead_only_what_its_setting_allows() -> None:
    """A backlog in the consumer's first-in-first-out queue delays every other operator's records."""
    from pipeline.agents.validator import ValidatorAgent  # noqa: PLC0415
    from tests.pipeline.agents.fakes import FakeKafka  # noqa: PLC0415

    settings = Settings(metrics_port=0, validator_read_ahead_kbytes=512)
    agent = ValidatorAgent(settings, clients=FakeKafka().clients)
    conf = cast(Any, agent.consumer()).conf
    assert conf["queued.max.messages.kbytes"] == 512
    assert conf["partition.assignment.strategy"] == "cooperative-sticky"
