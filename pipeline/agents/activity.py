"""The activity agent: when each operator's source last sent an archived event, and how many.

The example of docs/agents.md (one file: its declaration, its state and its handler), and a
building block for supervision: a source silent while its licence is active shows here first.
It reads the archive and keeps, per source, the events archived and the newest event time, in
a changelog table; each archive record's source is published to the compacted
``<prefix>.activity`` topic (key ``<operator>|<source>``, JSON), so its latest value is the
source's activity. Not run by default (it decodes the whole archive): name it,
``dsom worker --agents validator,tax,sink,activity``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Message

from pipeline.agents.app import app
from pipeline.agents.topics import ARCHIVE, DEAD_LETTER
from pipeline.agents.transactional import Output, TransactionalAgent
from pipeline.core.state import state_key_prefix
from pipeline.kafka.admin import STATE_CONFIG
from schemas import ARCHIVE_BATCH, default_codec

ACTIVITY = app.topic("activity", config=STATE_CONFIG)


@dataclass
class SourceActivity:
    """The activity of the sources whose chains are in one archive partition."""

    topic: str
    partition: int
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # "<op>|<source>" -> figures

    def record(self, operator_id: str, source_id: str, events: list[dict[str, Any]],
               received_at_us: int) -> tuple[str, dict[str, Any]]:
        """Count one archive record's events; the source's key and its figures now."""
        key = f"{operator_id}|{source_id}"
        seen = self.sources.setdefault(key, {"operator_id": operator_id, "source_id": source_id,
                                             "events": 0, "last_event_at_us": 0, "last_received_at_us": 0})
        seen["events"] += len(events)
        seen["last_event_at_us"] = max([seen["last_event_at_us"],
                                        *(e["event"]["occurred_at_us"] for e in events)])
        seen["last_received_at_us"] = max(seen["last_received_at_us"], received_at_us)
        return key, seen

    def entry(self, key: str) -> tuple[bytes, bytes]:
        """The changelog entry that records ``key``'s figures."""
        return state_key_prefix(self.topic, self.partition) + key.encode(), orjson.dumps(self.sources[key])

    def apply(self, key: bytes, value: bytes | None) -> None:
        source = key[len(state_key_prefix(self.topic, self.partition)):].decode()
        if value is None:
            self.sources.pop(source, None)
        else:
            self.sources[source] = orjson.loads(value)


@app.agent(group="activity", reads=[ARCHIVE], writes=[ACTIVITY, DEAD_LETTER], tables=["activity-state"],
           default=False)
class ActivityAgent(TransactionalAgent):
    """Keeps when each operator's source last sent an archived event (an example agent)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._codec = default_codec()
        self._sources = self.table("activity-state", SourceActivity)
        self.events_counted = 0  # committed work only: what a metric would count

    def handle(self, msg: Message, now: int) -> Iterable[Output]:
        tp = (msg.topic() or "", msg.partition() or 0)
        _, batch = self._codec.decode(msg.value() or b"", expect=ARCHIVE_BATCH)
        key, figures = self._sources[tp].record(batch["operator_id"], batch["source_id"], batch["events"],
                                                batch["received_at_us"])
        yield ACTIVITY.full_name(self._s.topics), None, key.encode(), orjson.dumps(figures)
        yield from self._sources.changes(tp, [self._sources[tp].entry(key)])
        self.defer(len(batch["events"]))

    def after_commit(self, deferred: list[int]) -> None:
        self.events_counted += sum(deferred)
