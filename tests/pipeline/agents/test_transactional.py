"""The transactional loop without a broker: commit, abort-and-rewind, restore, set-aside, after_commit.

Driven through the example agent (pipeline/agents/activity.py) on an in-memory Kafka.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, cast

import orjson
import pytest

from pipeline.agents import transactional
from pipeline.agents.activity import ActivityAgent
from pipeline.agents.app import AgentSpec, App, OperatorTopics
from pipeline.agents.transactional import TransactionalAgent
from pipeline.settings import Settings
from tests.pipeline.agents.fakes import FakeKafka
from tests.sinks.clickhouse.samples import archive_batch, event

ARCHIVE = "dsom.archive"
ACTIVITY = "dsom.activity"
STATE = "dsom.activity-state"


def run_until(agent: TransactionalAgent, done: Callable[[], bool], timeout: float = 10.0) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            agent.run(stop)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.005)
    stop.set()
    thread.join(10)
    assert not errors, errors
    assert done(), "timed out"


def run_until_raises(agent: TransactionalAgent, timeout: float = 10.0) -> BaseException | None:
    stop = threading.Event()
    raised: list[BaseException] = []

    def target() -> None:
        try:
            agent.run(stop)
        except BaseException as exc:  # noqa: BLE001 - returned
            raised.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout)
    stop.set()
    thread.join(10)
    return raised[0] if raised else None


def archived(kafka: FakeKafka, source: str, events: int, partition: int = 0) -> None:
    value = archive_batch([event(seq=i + 1) for i in range(events)], source_id=source)
    kafka.append(ARCHIVE, partition, b"chain", value)


def latest(kafka: FakeKafka) -> dict[str, dict[str, int]]:
    """The activity topic as compaction would keep it: the last value per key."""
    return {key.decode(): orjson.loads(value) for key, value in kafka.records(ACTIVITY)
            if key is not None and value is not None}


@pytest.fixture
def settings() -> Settings:
    return Settings(metrics_port=0)


def test_outputs_changelog_and_offsets_commit_together(settings: Settings) -> None:
    kafka = FakeKafka()
    archived(kafka, "s1", 3)
    archived(kafka, "s2", 2, partition=1)
    archived(kafka, "s1", 4)
    agent = ActivityAgent(settings, clients=kafka.clients)
    run_until(agent, lambda: kafka.committed == {(ARCHIVE, 0): 2, (ARCHIVE, 1): 1})
    assert {k: v["events"] for k, v in latest(kafka).items()} == {"op-a|s1": 7, "op-a|s2": 2}
    assert len(kafka.records(STATE)) == 3  # one changelog entry per record, in the same transactions
    assert agent.events_counted == 9
    assert {ACTIVITY, STATE, ARCHIVE} <= set(kafka.topics_created)


def test_a_failed_commit_aborts_rewinds_and_counts_nothing_twice(settings: Settings) -> None:
    kafka = FakeKafka()
    archived(kafka, "s1", 3)
    archived(kafka, "s1", 4)
    kafka.fail_next_commit = True
    agent = ActivityAgent(settings, clients=kafka.clients)
    run_until(agent, lambda: kafka.committed.get((ARCHIVE, 0)) == 2)
    assert kafka.aborts == 1
    assert latest(kafka)["op-a|s1"]["events"] == 7  # the state was rebuilt, not counted on top
    assert agent.events_counted == 7  # after_commit saw the aborted transaction's work not at all


def test_a_rewind_waits_for_a_moving_group_coordinator(settings: Settings) -> None:
    kafka = FakeKafka()
    archived(kafka, "s1", 3)
    archived(kafka, "s1", 4)
    kafka.fail_next_commit = True
    kafka.coordinator_moves = 2  # the rewind's offset lookup fails twice, then answers
    agent = ActivityAgent(settings, clients=kafka.clients)
    run_until(agent, lambda: kafka.committed.get((ARCHIVE, 0)) == 2)  # run_until fails on a raise
    assert kafka.aborts == 1 and kafka.coordinator_moves == 0
    assert latest(kafka)["op-a|s1"]["events"] == 7 and agent.events_counted == 7


def test_a_commit_kafka_says_to_ask_again_is_one_watched_call(settings: Settings) -> None:
    # Each attempt ends within its own timeout: watched one by one, a commit that kept failing
    # so would stall the agent without the supervisor ever seeing it stuck.
    kafka = FakeKafka()
    archived(kafka, "s1", 3)
    kafka.commit_retriable_failures = 3
    agent = ActivityAgent(settings, clients=kafka.clients)
    watched: list[tuple[str, float] | None] = []
    kafka.on_commit_attempt = lambda: watched.append(agent.stuck())
    run_until(agent, lambda: kafka.committed.get((ARCHIVE, 0)) == 1)
    assert kafka.commit_attempts == 4 and kafka.aborts == 0  # asked again, not given up
    assert [w[0] if w else None for w in watched] == ["commit_transaction"] * 4
    first, last = watched[0], watched[-1]
    assert first is not None and last is not None
    assert last[1] - first[1] >= 0.1 + 0.2 + 0.4  # one watch, since the first attempt
    assert agent.events_counted == 3


def test_a_commit_that_keeps_failing_ends_the_agent_and_its_successor_counts_once(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # librdkafka keeps such a commit pending and refuses an abort (_CONFLICT): a new producer's
    # init_transactions resolves it, so the agent fails, for the supervisor to restart it.
    monkeypatch.setattr(transactional, "COMMIT_RETRY_S", 0.3)
    kafka = FakeKafka()
    archived(kafka, "s1", 3)
    archived(kafka, "s1", 4)
    kafka.commit_retriable_failures = 1_000_000
    raised = run_until_raises(ActivityAgent(settings, clients=kafka.clients))
    assert isinstance(raised, RuntimeError) and "commit still failed after 0 s" in str(raised), raised
    assert kafka.committed == {} and kafka.aborts == 0
    kafka.commit_retriable_failures = 0
    successor = ActivityAgent(settings, clients=kafka.clients)
    run_until(successor, lambda: kafka.committed.get((ARCHIVE, 0)) == 2)
    assert latest(kafka)["op-a|s1"]["events"] == 7 and successor.events_counted == 7


def test_a_call_is_watched_against_its_own_timeout(settings: Settings) -> None:
    agent = ActivityAgent(settings, clients=FakeKafka().clients)
    assert agent.stuck() is None
    with agent._calling("send_offsets_to_transaction", 30.0):
        call = agent.stuck()
    assert call is not None and call[0] == "send_offsets_to_transaction" and -30.5 < call[1] < -29.0
    assert agent.stuck() is None


def test_an_agent_whose_consumer_stops_handing_over_records_fails_to_be_restarted(settings: Settings) -> None:
    kafka = FakeKafka()
    archived(kafka, "s1", 3)
    archived(kafka, "s2", 2, partition=1)
    archived(kafka, "s2", 2, partition=1)
    archived(kafka, "s2", 2, partition=1)
    kafka.not_fetched = {(ARCHIVE, 1)}
    agent = ActivityAgent(settings.model_copy(update={"agent_stalled_after_s": 0.3}), clients=kafka.clients)
    raised = run_until_raises(agent)
    assert isinstance(raised, transactional.AgentStalled), raised
    assert "in 1 of its 2 partitions" in str(raised)
    assert "dsom.archive/1 (committed to 0, records to 3)" in str(raised)
    assert kafka.committed == {(ARCHIVE, 0): 1}  # the other partition went on; nothing was lost
    assert kafka.offset_looks >= 1 and kafka.record_reads >= 1


def test_commit_markers_past_the_last_record_are_not_taken_for_waiting_records(settings: Settings) -> None:
    # Several validators write an operator's archive partition: their commit markers interleave,
    # and a partition read to its end can end two or more offsets past its committed offset.
    kafka = FakeKafka()
    archived(kafka, "s1", 3)
    archived(kafka, "s2", 2, partition=1)
    kafka.markers = {(ARCHIVE, 0): 3}
    agent = ActivityAgent(settings.model_copy(update={"agent_stalled_after_s": 0.2}), clients=kafka.clients)
    assert run_until_raises(agent, timeout=1.5) is None
    assert kafka.committed == {(ARCHIVE, 0): 1, (ARCHIVE, 1): 1}
    assert kafka.record_reads >= 1  # partition 0 was read, and held no record


def test_an_idle_agent_is_not_taken_for_a_stalled_one(settings: Settings) -> None:
    kafka = FakeKafka()
    archived(kafka, "s1", 3)
    archived(kafka, "s2", 2, partition=1)
    agent = ActivityAgent(settings.model_copy(update={"agent_stalled_after_s": 0.2}), clients=kafka.clients)
    assert run_until_raises(agent, timeout=1.5) is None  # every record committed, then idle
    assert kafka.committed == {(ARCHIVE, 0): 1, (ARCHIVE, 1): 1}
    # Looked at a few times while idle (a period apart), not at every poll; nothing to read.
    assert 1 <= kafka.offset_looks <= 10 and kafka.record_reads == 0  # polls: every 10 ms


def test_a_new_owner_restores_the_state_from_the_changelog(settings: Settings) -> None:
    kafka = FakeKafka()
    archived(kafka, "s1", 3)
    first = ActivityAgent(settings, clients=kafka.clients)
    run_until(first, lambda: kafka.committed.get((ARCHIVE, 0)) == 1)
    archived(kafka, "s1", 5)
    second = ActivityAgent(settings, clients=kafka.clients)
    run_until(second, lambda: kafka.committed.get((ARCHIVE, 0)) == 2)
    assert latest(kafka)["op-a|s1"]["events"] == 8
    assert second.events_counted == 5


def test_a_rebalance_restores_only_the_partitions_gained(settings: Settings) -> None:
    """Incremental (cooperative) rebalancing: a kept partition keeps its state, unreplayed."""
    from pipeline.core.state import state_partition  # noqa: PLC0415

    kafka = FakeKafka()
    archived(kafka, "s1", 3)
    archived(kafka, "s2", 2, partition=1)
    agent = ActivityAgent(settings, clients=kafka.clients)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()

    def wait(done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 10
        while not done() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert done(), "timed out"

    try:
        wait(lambda: kafka.committed == {(ARCHIVE, 0): 1, (ARCHIVE, 1): 1})
        n = settings.topics.state_partitions
        first = sorted(kafka.replays)
        assert first == sorted({(STATE, state_partition(ARCHIVE, p, n)) for p in (0, 1)})
        consumer = agent._consumer
        assert consumer is not None
        cast(Any, consumer).rebalance(revoke=[(ARCHIVE, 1)])  # another member takes partition 1
        wait(lambda: (ARCHIVE, 1) not in cast(Any, consumer).positions)
        archived(kafka, "s1", 4)
        archived(kafka, "s2", 5, partition=1)
        wait(lambda: kafka.committed.get((ARCHIVE, 0)) == 2)
        assert sorted(kafka.replays) == first  # partition 0 was kept: its state was not replayed
        assert kafka.committed[(ARCHIVE, 1)] == 1  # no longer ours
        assert latest(kafka)["op-a|s1"]["events"] == 7
        cast(Any, consumer).rebalance(assign=[(ARCHIVE, 1)])  # and gives it back
        wait(lambda: kafka.committed.get((ARCHIVE, 1)) == 2)
        assert kafka.replays[len(first):] == [(STATE, state_partition(ARCHIVE, 1, n))]
        assert latest(kafka)["op-a|s2"]["events"] == 7  # restored from the changelog, then counted
    finally:
        stop.set()
        thread.join(10)
    assert agent.events_counted == 14


def test_an_abort_restores_only_the_partitions_its_records_changed(settings: Settings) -> None:
    from pipeline.core.state import state_partition  # noqa: PLC0415

    kafka = FakeKafka()
    archived(kafka, "s1", 3)
    archived(kafka, "s2", 2, partition=1)
    agent = ActivityAgent(settings, clients=kafka.clients)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while kafka.committed != {(ARCHIVE, 0): 1, (ARCHIVE, 1): 1} and time.monotonic() < deadline:
            time.sleep(0.005)
        replayed = len(kafka.replays)
        kafka.fail_next_commit = True
        archived(kafka, "s1", 4)  # partition 0 only: the failing transaction holds nothing of 1
        while kafka.committed.get((ARCHIVE, 0)) != 2 and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        stop.set()
        thread.join(10)
    assert kafka.aborts == 1
    n = settings.topics.state_partitions
    assert kafka.replays[replayed:] == [(STATE, state_partition(ARCHIVE, 0, n))]
    assert latest(kafka)["op-a|s1"]["events"] == 7 and latest(kafka)["op-a|s2"]["events"] == 2


def test_a_rewind_asks_only_the_aborted_polls_partitions(settings: Settings) -> None:
    """With a thousand operators an agent owns 4,000 partitions: the rewind must not ask for all."""
    kafka = FakeKafka()
    for p in range(6):
        archived(kafka, f"s{p}", 1, partition=p)
    run_until(ActivityAgent(settings, clients=kafka.clients), lambda: len(kafka.committed) == 6)
    archived(kafka, "s0", 4)
    archived(kafka, "s3", 2, partition=3)
    kafka.fail_next_commit = True
    agent = ActivityAgent(settings, clients=kafka.clients)
    run_until(agent, lambda: kafka.committed[(ARCHIVE, 0)] == 2 and kafka.committed[(ARCHIVE, 3)] == 2)
    assert kafka.aborts == 1
    assert kafka.offset_lookups == [[(ARCHIVE, 0), (ARCHIVE, 3)]]
    assert latest(kafka)["op-a|s0"]["events"] == 5 and latest(kafka)["op-a|s3"]["events"] == 3
    assert agent.events_counted == 6


def test_an_abort_mid_poll_rewinds_the_polls_unprocessed_records_too(settings: Settings) -> None:
    """Records retried one per transaction: a failure rewinds the rest of the poll, and only it."""
    kafka = FakeKafka()
    archived(kafka, "s9", 1, partition=2)  # owned, but not in the poll that fails
    run_until(ActivityAgent(settings, clients=kafka.clients), lambda: kafka.committed == {(ARCHIVE, 2): 1})
    archived(kafka, "s1", 3)
    archived(kafka, "bad", 1)  # Kafka refuses its output for good: its transactions fail
    archived(kafka, "s1", 4)
    archived(kafka, "s2", 2, partition=1)
    archived(kafka, "s2", 5, partition=1)
    kafka.refuse = lambda topic, key: topic == ACTIVITY and key == b"op-a|bad"
    agent = ActivityAgent(settings, clients=kafka.clients)
    run_until(agent, lambda: kafka.committed.get((ARCHIVE, 0)) == 3
              and kafka.committed.get((ARCHIVE, 1)) == 2)
    # The whole poll failed once (the refused output's record becomes a suspect), then the
    # suspect failed alone with the poll's last three records not yet processed: both rewinds
    # took the poll's partitions, 0 and 1, and not partition 2.
    assert kafka.aborts == 2
    assert kafka.offset_lookups == [[(ARCHIVE, 0), (ARCHIVE, 1)]] * 2
    letters = [orjson.loads(v or b"") for _, v in kafka.records("dsom.dead-letter")]
    assert [(d["partition"], d["offset"]) for d in letters] == [(0, 1)]
    counts = latest(kafka)
    assert counts["op-a|s1"]["events"] == 7 and counts["op-a|s2"]["events"] == 7 and "op-a|bad" not in counts
    assert agent.events_counted == 14  # each good record once: none lost, none counted twice
    outputs = [key for key, _ in kafka.records(ACTIVITY)]
    assert sorted(outputs) == sorted([b"op-a|s9", b"op-a|s1", b"op-a|s1", b"op-a|s2", b"op-a|s2"])


def test_a_record_the_handler_cannot_process_is_set_aside(settings: Settings) -> None:
    kafka = FakeKafka()
    archived(kafka, "s1", 3)
    kafka.append(ARCHIVE, 0, b"chain", b"not avro")
    archived(kafka, "s1", 2)
    agent = ActivityAgent(settings, clients=kafka.clients)
    run_until(agent, lambda: kafka.committed.get((ARCHIVE, 0)) == 3)
    letters = [orjson.loads(v or b"") for _, v in kafka.records("dsom.dead-letter")]
    assert [(d["agent"], d["offset"]) for d in letters] == [("activity", 1)]
    assert latest(kafka)["op-a|s1"]["events"] == 5


def test_a_table_must_be_declared(settings: Settings) -> None:
    app = App()

    @app.agent(group="g", reads=[OperatorTopics("ingest")], tables=["declared"])
    class OddAgent(ActivityAgent):
        pass

    with pytest.raises(ValueError, match="table 'activity-state' is not declared"):
        OddAgent(settings, clients=FakeKafka().clients)
    spec: AgentSpec = app.get("odd")
    assert spec.consumer_group(settings.topics) == "dsom-g"
    assert spec.read_pattern(settings.topics) == r"(?:^dsom\.ingest\..+)"


def test_polls_wait_batch_max_wait_ms_not_a_fixed_tenth_of_a_second() -> None:
    # librdkafka's batch consume waits its whole timeout unless the batch fills: at live rates
    # every receipt waited the former fixed 100 ms before its transaction began.
    kafka = FakeKafka()
    archived(kafka, "s1", 3)
    agent = ActivityAgent(Settings(metrics_port=0, batch_max_wait_ms=7), clients=kafka.clients)
    run_until(agent, lambda: kafka.committed == {(ARCHIVE, 0): 1})
    consumer = kafka.consumers[-1]
    assert consumer.waits and set(consumer.waits) == {0.007}


class CatchingUpActivity(ActivityAgent):
    """The example agent with the validator's pausing of partitions catching up (3 records)."""

    def catch_up_records(self) -> int:
        return 3


def live_records(kafka: FakeKafka, polls: int) -> None:
    """A record for the live operator (partition 0) arrives while each of the first polls is decided."""
    left = [polls]

    def arrive() -> None:
        if left[0] > 0:
            left[0] -= 1
            archived(kafka, "live", 1)

    kafka.after_poll = arrive


def test_a_partition_catching_up_is_paused_while_its_poll_is_decided_never_longer() -> None:
    """A backlog's partition gives way to the others' fetches, and is read on with nothing lost."""
    settings = Settings(metrics_port=0, batch_max_records=2)
    kafka = FakeKafka()
    archived(kafka, "live", 1)  # partition 0: live, a record arriving during every poll
    for n in range(8):
        archived(kafka, "backlog", n + 1, partition=1)  # partition 1: 8 records behind
    live_records(kafka, 6)
    agent = CatchingUpActivity(settings, clients=kafka.clients)
    run_until(agent, lambda: kafka.committed == {(ARCHIVE, 0): 7, (ARCHIVE, 1): 8})
    consumer = cast(Any, kafka.consumers[0])
    # Paused whenever it was 3 or more records behind and the live partition had one waiting.
    assert len(consumer.pauses) >= 2 and all(p == [(ARCHIVE, 1)] for p in consumer.pauses)
    assert consumer.paused_at_poll == []  # resumed before every poll (where rebalances happen)
    assert kafka.paused_at_commit and not any(kafka.paused_at_commit)  # and before every commit
    assert latest(kafka)["op-a|backlog"]["events"] == sum(range(1, 9))
    assert latest(kafka)["op-a|live"]["events"] == 7
    assert agent.events_counted == sum(range(1, 9)) + 7  # each record once


def test_nothing_is_paused_while_the_live_partitions_have_nothing_waiting() -> None:
    """A saturated bench's tail: a partition caught up and idle starves nobody; no refetching."""
    settings = Settings(metrics_port=0, batch_max_records=2)
    kafka = FakeKafka()
    archived(kafka, "live", 1)
    for n in range(8):
        archived(kafka, "backlog", n + 1, partition=1)
    agent = CatchingUpActivity(settings, clients=kafka.clients)
    run_until(agent, lambda: kafka.committed == {(ARCHIVE, 0): 1, (ARCHIVE, 1): 8})
    assert cast(Any, kafka.consumers[0]).pauses == []
    assert agent.events_counted == sum(range(1, 9)) + 1


def test_an_abort_while_a_partition_is_paused_rewinds_it_and_counts_each_record_once() -> None:
    settings = Settings(metrics_port=0, batch_max_records=2)
    kafka = FakeKafka()
    archived(kafka, "live", 1)
    archived(kafka, "backlog", 1, partition=1)
    kafka.append(ARCHIVE, 1, b"chain", b"not avro")  # fails in the handler while 1 is paused
    for _ in range(6):
        archived(kafka, "backlog", 2, partition=1)
    live_records(kafka, 6)
    agent = CatchingUpActivity(settings, clients=kafka.clients)
    run_until(agent, lambda: kafka.committed == {(ARCHIVE, 0): 7, (ARCHIVE, 1): 8})
    consumer = cast(Any, kafka.consumers[0])
    assert consumer.seeks_while_paused == [(ARCHIVE, 1)]  # the failed poll's rewind, to its commit
    assert consumer.paused_at_poll == [] and not any(kafka.paused_at_commit)
    letters = [orjson.loads(v or b"") for _, v in kafka.records("dsom.dead-letter")]
    assert [(d["partition"], d["offset"]) for d in letters] == [(1, 1)]
    assert latest(kafka)["op-a|backlog"]["events"] == 1 + 6 * 2
    assert agent.events_counted == 1 + 12 + 7  # each good record once


def test_a_transaction_near_the_session_timeout_names_the_setting_that_helps() -> None:
    from pipeline.agents.transactional import slow_transaction_hint

    assert slow_transaction_hint(2.0, 10_000) == ""  # slow, but far from losing the group
    hint = slow_transaction_hint(5.0, 10_000)
    assert "10000 ms" in hint and "DSOM_KAFKA__SESSION_TIMEOUT_MS" in hint
    assert slow_transaction_hint(5.0, 30_000) == ""  # the raised timeout leaves room
