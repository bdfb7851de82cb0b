"""The alerts agent on the in-memory Kafka: alerts written exactly once across an aborted commit.

Deposits just under the AML threshold, in two archive records: the second must open the
structuring alert (a suspicion) and the day total's (a threshold report) once each, although
its first transaction fails (the loop aborts, restores the state from the changelog and reads
the record again), and a new owner must restore both the player's figures and the open alerts.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import pytest

from pipeline.agents.alerts import AlertsAgent
from pipeline.core.watch import ArchiveWatch
from pipeline.registry import Licence, Operator, Registry
from pipeline.settings import Settings
from registry.core.history import Version
from registry.core.snapshot import records_of, topic_key, topic_value
from schemas import ALERT, default_codec
from tests.pipeline.agents.fakes import FakeKafka
from tests.pipeline.agents.test_transactional import run_until
from tests.sinks.clickhouse.samples import NOW_US, archive_batch, event

ARCHIVE = "dsom.archive"
ALERTS = "dsom.alerts"
STATE = "dsom.alerts-state"
PLAYER = "p_SMURF0001"
SUBJECT = f"op-a|{PLAYER}"
UAH = 100


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(metrics_port=0, registry_path=tmp_path / "no-registry.json")


def deposit(kafka: FakeKafka, seq: int, amount: int) -> None:
    ev = event(seq=seq, kind="DEPOSIT", amount=amount, player_ref=PLAYER, game_type=None, round_ref=None,
               bet_ref=None, occurred_at_us=NOW_US - 60_000_000 + seq)
    kafka.append(ARCHIVE, 0, b"chain", archive_batch([ev], first_index=seq))


def alerts(kafka: FakeKafka) -> list[tuple[str, str]]:
    codec = default_codec()
    return [(a["rule"], a["state"]) for a in
            (codec.decode(v or b"", expect=ALERT)[1] for _, v in kafka.records(ALERTS))]


def snapshot(agent: AlertsAgent, into: dict[str, object]) -> bool:
    """Keep a copy of the agent's archive-partition state while it owns it (True once kept)."""
    try:
        watch = agent._watches[(ARCHIVE, 0)]
    except KeyError:  # stopped: the partition's state is dropped
        return bool(into)
    assert isinstance(watch, ArchiveWatch)
    into.update(player=copy.deepcopy(watch.players.get(SUBJECT)), open=sorted(watch.book.open))
    return True


def test_alerts_are_written_once_across_an_aborted_commit_and_restored_by_a_new_owner(
    settings: Settings,
) -> None:
    kafka = FakeKafka()
    deposit(kafka, 1, 49_000 * UAH)  # just under UAH 55,000: no alert yet
    first = AlertsAgent(settings, clock=lambda: NOW_US, clients=kafka.clients)
    run_until(first, lambda: kafka.committed.get((ARCHIVE, 0)) == 1)
    assert alerts(kafka) == []
    assert kafka.records(STATE)  # the player's figures are in the changelog

    deposit(kafka, 2, 49_000 * UAH)  # the second: structuring, and the day total reached
    kafka.fail_next_commit = True
    second = AlertsAgent(settings, clock=lambda: NOW_US, clients=kafka.clients)
    state: dict[str, object] = {}
    run_until(second, lambda: kafka.committed.get((ARCHIVE, 0)) == 2 and snapshot(second, state))
    assert kafka.aborts == 1
    assert Counter(alerts(kafka)) == {("aml_structuring", "OPENED"): 1, ("aml_daily_total", "OPENED"): 1}
    assert Counter((a["rule"], a["state"]) for a in second.alerts_written) == Counter(alerts(kafka))
    assert state["player"]["near"] == 2  # type: ignore[index]  # restored after the abort, not added to

    deposit(kafka, 3, 45_000 * UAH)  # a third owner: the open alerts come back from the changelog
    state = {}
    third = AlertsAgent(settings, clock=lambda: NOW_US, clients=kafka.clients)
    run_until(third, lambda: kafka.committed.get((ARCHIVE, 0)) == 3 and snapshot(third, state))
    assert state["open"] == [f"aml_daily_total|{SUBJECT}", f"aml_structuring|{SUBJECT}"]
    assert state["player"]["near"] == 3  # type: ignore[index]
    assert state["player"]["total"] == 143_000 * UAH  # type: ignore[index]
    # Same clock: the figures changed, but within a minute of the last record: no UPDATED yet.
    assert Counter(alerts(kafka)) == {("aml_structuring", "OPENED"): 1, ("aml_daily_total", "OPENED"): 1}
    assert third.alerts_written == []


def test_the_registry_comes_from_its_topic_with_its_assets(settings: Settings) -> None:
    """Like the validator, the agent reads <prefix>.registry (assets included), not the file."""
    kafka = FakeKafka()
    lic = Licence(licence_id="LIC-OC-1", kind="ONLINE_CASINO")
    op = Operator(operator_id="op-a", name="A", licences=(lic,), sites=("casino.example.ua",))
    for key, value in records_of(Registry(operators=(op,))):
        kafka.append(settings.topics.registry, 0, key, value)
    kafka.append(ARCHIVE, 0, b"chain", archive_batch([event(seq=1)], first_index=1))  # a registered site
    agent = AlertsAgent(settings, clock=lambda: NOW_US, clients=kafka.clients)
    run_until(agent, lambda: kafka.committed.get((ARCHIVE, 0)) == 1)
    assert ("unregistered_asset", "OPENED") not in alerts(kafka)
    # the site is deregistered in the registry: the next event on it is on an unregistered site
    deregistered = records_of(Registry(operators=(op.model_copy(update={"sites": ()}),)))
    site = topic_key("site", "casino.example.ua")
    data = {"kind": "site", "operator_id": "op-a", "licence_id": "LIC-OC-1"}
    versions = [Version(1, "site", "casino.example.ua", "op-a", 0, None, 1, data),
                Version(9, "site", "casino.example.ua", "op-a", 0, None, 9, {**data, "status": "inactive"})]
    assert site not in dict(deregistered)
    kafka.append(settings.topics.registry, 0, site, topic_value(versions))
    kafka.append(ARCHIVE, 0, b"chain", archive_batch([event(seq=2)], first_index=2))
    agent = AlertsAgent(settings, clock=lambda: NOW_US, clients=kafka.clients)
    run_until(agent, lambda: kafka.committed.get((ARCHIVE, 0)) == 2)
    assert ("unregistered_asset", "OPENED") in alerts(kafka)
