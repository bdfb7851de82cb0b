"""The short chaos run of ``make test``: one of each fault under live traffic, nothing lost or doubled."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from pipeline.kafka.admin import ensure_topics, operator_topics
from pipeline.kafka.config import client_config
from pipeline.settings import Settings
from pipeline.tools.chaos import run_chaos
from pipeline.tools.chaos_plan import FREEZE_BROKER, KILL_BROKER, SHORT, schedule, worker_sigkills

pytestmark = pytest.mark.integration


def test_topics_get_three_replicas_two_in_sync_and_no_unclean_election(kafka_cluster: str) -> None:
    s = Settings()
    s = s.model_copy(update={"kafka": s.kafka_as("broker"),
                             "topics": s.topics.model_copy(update={"prefix": f"t{uuid.uuid4().hex[:8]}"})})
    ensure_topics(s, operator_topics(s, ["op-probe"]))
    admin = AdminClient(client_config(s.kafka))
    meta = admin.list_topics(timeout=30)
    assert len(meta.brokers) == 3
    topic = s.topics.ingest("op-probe")
    assert all(len(p.replicas) == 3 for p in meta.topics[topic].partitions.values())
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    config = admin.describe_configs([resource])[resource].result(30)
    assert config["min.insync.replicas"].value == "2"
    assert config["unclean.leader.election.enable"].value == "false"


def test_faults_under_live_traffic_lose_nothing_and_count_nothing_twice(kafka_cluster: str,
                                                                       tmp_path: Path) -> None:
    figures = run_chaos(SHORT, seed=16, rate=800.0, run_dir=tmp_path / "chaos")
    faults = schedule(SHORT, 16)
    assert {f["kind"] for f in figures["faults"]} == {f.kind for f in faults}
    assert {KILL_BROKER, FREEZE_BROKER} <= {f["kind"] for f in figures["faults"]}
    assert figures["worker_sigkills"] == worker_sigkills(faults) >= 3
    assert figures["replication_factor"] == 3 and figures["min_insync_replicas"] == 2
    v = figures["verdict"]
    assert v["events"] > 10_000 and v["lost"] == 0 and v["doubled"] == 0 and v["wrong_outcome"] == 0, v
    assert figures["ok"], figures
