"""Decide every event of one ingest record: decode, deduplicate, validate, receipt, chain.

Pure apart from the state it is handed: the caller supplies the record and the time, and
writes the returned receipts, archive batch and changelog entries atomically (one Kafka
transaction), so a record's effects happen exactly once even if it is processed twice.
"""

from __future__ import annotations

import io
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastavro import schemaless_reader

from pipeline.core.chain import LINK_RULE, Provenance
from pipeline.core.conflicts import ContentWindow, conflict_detail, content_digest, duplicate_detail
from pipeline.core.dedup import Seen
from pipeline.core.limits import cap_detail
from pipeline.core.model import EventKind, Reason
from pipeline.core.receipts import RecordReceiptIds, receipt_id
from pipeline.core.state import BetKey, ChangelogEntry, PartitionState
from pipeline.core.validation import EventValidator, Rejection, quoted
from pipeline.registry import Registry
from pipeline.settings import TopicSettings, ValidationSettings
from schemas import EVENT_BATCH, Codec, MalformedRecordError, UnknownSchemaError
from schemas.codec import HEADER_LEN, MAGIC, load_type
from schemas.diagnose import diagnose
from schemas.evolution import WriterSchemas, java_order
from schemas.raw import encode_archive_batch, encode_receipt_batch, event_bodies

log = logging.getLogger(__name__)

Decoded = tuple[dict[str, Any], list[bytes]]  # the EventBatch, and each event's Avro bytes as sent
# The malformed detail when the decoders disagree (a bug of ours, logged), rather than the operator's.
UNDECODABLE = "the batch could not be decoded by the validator; send it again, and report it if this repeats"


@dataclass
class Outcome:
    """Everything one ingest record produces, encoded; empty lists/None mean nothing to write."""

    operator_id: str
    receipts_key: bytes = b""  # the batch's source_id (empty when the record did not decode)
    receipts_value: bytes | None = None  # single-object ReceiptBatch
    archive_value: bytes | None = None  # single-object ArchiveBatch
    changelog: list[ChangelogEntry] = field(default_factory=list)
    events_in: int = 0
    duplicates: int = 0
    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)


class Processor(Protocol):
    """A validator engine: its own partition state, and records decided against it."""

    def new_state(self, topic: str, partition: int) -> Any: ...

    def process(self, state: Any, offset: int, key: bytes | None, value: bytes,
                now_us: int) -> Outcome: ...

    def reject_record(self, topic: str, partition: int, offset: int, reason: Reason, detail: str,
                      now_us: int, source_id: str | None = None) -> Outcome: ...


def make_processor(registry: Registry, validation: ValidationSettings, topics: TopicSettings,
                   codec: Codec, writers: WriterSchemas | None = None) -> Processor:
    """The engine ``validation.engine`` names: the compiled one, or this Python reference.

    ``writers``: operators' registered writer schemas, whose records are resolved first.
    """
    if validation.engine == "native":
        from pipeline.core.native import NativeRecordProcessor  # noqa: PLC0415 - needs the built crate

        return NativeRecordProcessor(registry, validation, topics, codec, writers)
    return RecordProcessor(registry, validation, topics, codec, writers)


class RecordProcessor:
    """Turns ingest records into outcomes, given each partition's state (the reference engine)."""

    def __init__(self, registry: Registry, validation: ValidationSettings,
                 topics: TopicSettings, codec: Codec, writers: WriterSchemas | None = None) -> None:
        self._validator = EventValidator(registry, validation)
        self._v = validation
        self._topics = topics
        self._codec = codec
        self._writers = writers or WriterSchemas()
        self._batch = load_type(EVENT_BATCH)

    def new_state(self, topic: str, partition: int) -> PartitionState:
        return PartitionState(topic, partition, conflict_window=self._v.conflict_window_per_source)

    def decode(self, topic: str, partition: int, offset: int, value: bytes,
               now_us: int) -> Decoded | Outcome:
        """The record's EventBatch and event bytes, or the outcome rejecting it whole.

        No state is touched. Only strict Avro is taken (``schemas/diagnose.py`` says what that is).
        """
        try:
            _, batch = self._codec.decode(value, expect=EVENT_BATCH)
        except UnknownSchemaError as exc:
            detail = str(exc)
            if detail.startswith("unknown schema fingerprint"):  # both byte orders, and what to do
                fp = value[2:HEADER_LEN]
                detail = (f"unknown schema fingerprint {fp.hex()} (Java prints {java_order(fp)}): not dsom's "
                          f"EventBatch; register your writer schema: dsom schema register --operator "
                          f"{self._topics.operator_of(topic)} FILE")
            return self.reject_record(topic, partition, offset, Reason.UNKNOWN_SCHEMA, detail, now_us)
        except MalformedRecordError:
            bodies = None
        else:
            bodies = event_bodies(value)  # None: fastavro reads it, but it is not strict
        if bodies is None:
            return self.reject_record(topic, partition, offset, Reason.MALFORMED,
                                      malformed_detail(topic, offset, value), now_us)
        return batch, bodies

    def resolve(self, topic: str, partition: int, offset: int, value: bytes, now_us: int) -> bytes | Outcome:
        """The record in dsom's current EventBatch, or the outcome rejecting it.

        Only a record written with a writer schema the operator registered is rewritten; any
        other is returned as it is.

        Both engines decide the resolved bytes, so they decide alike; the archive and the chain
        hold the events as dsom's schema writes them. A slower path (fastavro's resolution in
        Python) taken only by records whose writer schema is not dsom's own.
        """
        fp = value[2:HEADER_LEN]
        if not self._writers or fp == self._batch.fingerprint or value[:2] != MAGIC:
            return value
        writer = self._writers.get(self._topics.operator_of(topic), fp)
        if writer is None:
            return value
        buf = io.BytesIO(value)
        buf.seek(HEADER_LEN)
        try:
            record = schemaless_reader(buf, writer.parsed, self._batch.schema)
            if buf.tell() != len(value) or not isinstance(record, dict):
                raise ValueError("bytes after the record")
            return self._codec.encode(EVENT_BATCH, record)
        except Exception:  # fastavro raises many types on bad input
            return self.reject_record(topic, partition, offset, Reason.MALFORMED, (
                f"the record does not decode with the writer schema you registered as {fp.hex()} "
                f"(Java prints {java_order(fp)}): truncated, trailing bytes, or not Avro binary"), now_us)

    def process(self, state: PartitionState, offset: int, key: bytes | None, value: bytes,
                now_us: int) -> Outcome:
        resolved = self.resolve(state.topic, state.partition, offset, value, now_us)
        if isinstance(resolved, Outcome):
            return resolved
        value = resolved
        decoded = self.decode(state.topic, state.partition, offset, value, now_us)
        if isinstance(decoded, Outcome):
            return decoded
        batch, bodies = decoded
        operator_id = self._topics.operator_of(state.topic)
        out = Outcome(operator_id)
        receipts: list[dict[str, Any]] = []
        source_id: str = batch["source_id"]
        events: list[dict[str, Any]] = batch["events"]
        out.events_in = len(events)
        record_rejection = self._check_record(operator_id, key, batch)
        if record_rejection and record_rejection.reason is not Reason.WRONG_OPERATOR:
            return self._reject_record(state.topic, state.partition, offset, out,
                                       record_rejection.reason, record_rejection.detail, now_us,
                                       source_id)
        out.changelog.extend(state.expire_bets(now_us - self._v.bet_horizon_us))
        seqs = state.seqs(source_id)
        window = state.window(source_id)
        ids = RecordReceiptIds(state.topic, state.partition, offset)
        provenance = Provenance(operator_id, source_id, state.topic, state.partition, offset)
        archived: list[dict[str, Any]] = []
        archive_bodies: list[bytes] = []  # each archived event's Avro bytes
        new_bets: list[tuple[str, str, int, int]] = []
        refunds: dict[BetKey, None] = {}  # bets this record refunded, in order
        for index, ev in enumerate(events):
            seq = ev["seq"]
            rejection: Rejection | None = None
            first: str | None = None  # a repeat's first receipt ID
            if seq < 1:
                rejection = Rejection(Reason.INVALID_SEQUENCE, f"seq {seq} must be >= 1")
            else:
                seen = seqs.take(seq)
                if seen is Seen.DUPLICATE:
                    first, rejection = _repeat(state, window, seq, bodies[index])
                    if rejection is None:  # a plain repeat: counted nowhere, the first stands
                        out.duplicates += 1
                        receipts.append(_receipt(ev, ids(index), None, first, duplicate_detail(
                            seq, first, self._v.conflict_window_per_source)))
                        continue
                elif seen is Seen.GAP_EXPIRED:
                    rejection = Rejection(
                        Reason.SEQUENCE_GAP_EXPIRED,
                        f"seq {seq} is below {seqs.expired_below}, where this source's old gaps "
                        "were closed; it was either decided long ago or is too late to fill a gap")
                elif window is not None:  # decided now: accepted or rejected, its content is kept
                    window.add(offset, index, seq, content_digest(bodies[index]))
            rid = ids(index)
            rejection = (rejection or record_rejection
                         or self._validator.check(operator_id, ev, now_us)
                         or self._check_bet(state, source_id, ev))
            if rejection:
                out.rejected[rejection.reason] += 1
                receipts.append(_receipt(ev, rid, rejection, first))
                continue
            out.accepted[ev["kind"]] += 1
            receipts.append(_receipt(ev, rid, None))
            if ev["kind"] == EventKind.BET:
                new_bets.append((source_id, ev["bet_ref"], ev["occurred_at_us"], ev["amount"]))
                state.place_bet(offset, (source_id, ev["bet_ref"]), ev["amount"])  # visible now
            elif ev["kind"] == EventKind.REFUND and state.refundable((source_id, ev["bet_ref"])):
                state.refund((source_id, ev["bet_ref"]), ev["amount"])
                refunds[(source_id, ev["bet_ref"])] = None
            body = bodies[index]  # strict Avro: the event's canonical encoding, as sent
            archive_bodies.append(body)
            index_in_chain, prev_hash, digest = state.chain.append(provenance, seq, rid, body)
            archived.append({"receipt_id": rid, "chain_index": index_in_chain,
                             "prev_hash": prev_hash, "hash": digest, "event": ev})
        out.changelog.extend(self._state_changes(state, source_id, offset, new_bets, refunds, archived))
        out.changelog.extend(state.window_changes(source_id, offset))
        if receipts:
            out.receipts_key = source_id.encode()
            out.receipts_value = encode_receipt_batch(self._receipt_batch(
                state.topic, state.partition, offset, operator_id, source_id, receipts, now_us))
        if archived:
            out.archive_value = encode_archive_batch({
                "chain_id": state.chain_id, "operator_id": operator_id, "source_id": source_id,
                "ingest_topic": state.topic, "ingest_partition": state.partition,
                "ingest_offset": offset, "received_at_us": now_us, "link_rule": LINK_RULE,
                "events": archived,
            }, archive_bodies)
        return out

    def _check_record(self, operator_id: str, key: bytes | None,
                      batch: dict[str, Any]) -> Rejection | None:
        if batch["operator_id"] != operator_id:
            return Rejection(Reason.WRONG_OPERATOR,
                             f"batch claims operator {quoted(batch['operator_id'])} on {operator_id}'s topic")
        if key is None or key.decode(errors="replace") != batch["source_id"]:
            return Rejection(Reason.WRONG_KEY, "the Kafka record key must be the batch's source_id")
        if not batch["events"]:
            return Rejection(Reason.EMPTY_BATCH, "a batch must carry at least one event")
        if len(batch["events"]) > self._v.max_events_per_batch:
            return Rejection(Reason.BATCH_TOO_LARGE,
                             f"{len(batch['events'])} events; at most {self._v.max_events_per_batch}")
        return None

    @staticmethod
    def _check_bet(state: PartitionState, source_id: str, ev: dict[str, Any]) -> Rejection | None:
        kind = ev["kind"]
        if kind == EventKind.BET and (source_id, ev["bet_ref"]) in state.bets:
            return Rejection(Reason.DUPLICATE_BET_REF,
                             f"bet_ref {ev['bet_ref']!r} was already used by an accepted BET")
        if kind in (EventKind.WIN, EventKind.REFUND) and (source_id, ev["bet_ref"]) not in state.bets:
            return Rejection(Reason.UNKNOWN_BET,
                             f"{kind} references bet_ref {ev['bet_ref']!r}, which this source "
                             "has not placed (or placed beyond the bet horizon)")
        if kind == EventKind.REFUND:
            # Refundable = stake - refunds accepted so far; payouts (WIN) do not change it.
            known = state.refundable((source_id, ev["bet_ref"]))
            if known is not None and ev["amount"] > known[0] - known[1]:
                stake, refunded = known
                return Rejection(Reason.REFUND_EXCEEDS_STAKE,
                                 f"refund of {ev['amount']} kopecks exceeds the {stake - refunded} "
                                 f"kopecks still refundable on bet_ref {ev['bet_ref']!r} "
                                 f"(stake {stake} kopecks, refunded {refunded} kopecks)")
        return None

    def _state_changes(self, state: PartitionState, source_id: str, offset: int,
                       new_bets: list[tuple[str, str, int, int]], refunds: dict[BetKey, None],
                       archived: list[dict[str, Any]]) -> list[ChangelogEntry]:
        changes: list[ChangelogEntry] = []
        seqs = state.seqs(source_id)
        seqs.close_oldest_gaps(self._v.max_open_gaps_per_source)
        changes.append(state.seq_entry(source_id))
        if new_bets:
            changes.append(state.add_bets(offset, new_bets))
        changes.extend(state.refund_entry(key) for key in refunds)  # after the bets they refer to
        if archived:
            changes.append(state.chain_entry())
        return changes

    def reject_record(self, topic: str, partition: int, offset: int, reason: Reason, detail: str,
                      now_us: int, source_id: str | None = None) -> Outcome:
        """The outcome rejecting a whole record (no state is touched)."""
        return self._reject_record(topic, partition, offset, Outcome(self._topics.operator_of(topic)),
                                   reason, detail, now_us, source_id)

    def _reject_record(self, topic: str, partition: int, offset: int, out: Outcome, reason: Reason,
                       detail: str, now_us: int, source_id: str | None = None) -> Outcome:
        out.rejected[reason] += 1
        receipt = {"seq": None, "operator_ref": None, "status": "REJECTED",
                   "receipt_id": receipt_id(topic, partition, offset, -1),
                   "reason": str(reason), "detail": cap_detail(detail), "kind": None, "amount": None,
                   "occurred_at_us": None, "first_receipt_id": None}
        out.receipts_key = (source_id or "").encode()
        out.receipts_value = encode_receipt_batch(self._receipt_batch(
            topic, partition, offset, out.operator_id, source_id, [receipt], now_us))
        return out

    @staticmethod
    def _receipt_batch(topic: str, partition: int, offset: int, operator_id: str,
                       source_id: str | None, receipts: list[dict[str, Any]],
                       now_us: int) -> dict[str, Any]:
        return {"operator_id": operator_id, "source_id": source_id, "ingest_topic": topic,
                "ingest_partition": partition, "ingest_offset": offset,
                "processed_at_us": now_us, "receipts": receipts}


def malformed_detail(topic: str, offset: int, value: bytes) -> str:
    """The ``malformed`` detail of an EventBatch record the decoders refused: what is wrong, where."""
    detail = diagnose(value, EVENT_BATCH)
    if detail is None:  # the decoders and the diagnosis disagree: a bug here, not the operator's
        log.error("%s:%d: the EventBatch decoders refuse this record but its diagnosis finds it "
                  "strict; rejected as malformed", topic, offset)
        return UNDECODABLE
    return detail


def _repeat(state: PartitionState, window: ContentWindow | None, seq: int,
            body: bytes) -> tuple[str | None, Rejection | None]:
    """A repeat of ``seq``: the first's receipt ID (if still in the window), and a rejection.

    The rejection is None for a plain repeat, else the conflict: the content differs from the first's.
    """
    found = window.find(seq) if window is not None else None
    if found is None:
        return None, None
    digest, offset, index = found
    first = receipt_id(state.topic, state.partition, offset, index)
    if digest == content_digest(body):
        return first, None
    return first, Rejection(Reason.CONFLICTING_DUPLICATE, conflict_detail(seq, first))


def _receipt(ev: dict[str, Any], rid: str, rejection: Rejection | None, first: str | None = None,
             duplicate: str | None = None) -> dict[str, Any]:
    """An event's receipt: ACCEPTED, REJECTED (``rejection``) or DUPLICATE (its ``duplicate`` detail)."""
    status = "REJECTED" if rejection else "DUPLICATE" if duplicate is not None else "ACCEPTED"
    return {
        "seq": ev["seq"], "operator_ref": ev["operator_ref"], "status": status, "receipt_id": rid,
        "reason": str(rejection.reason) if rejection else None,
        "detail": cap_detail(rejection.detail) if rejection else duplicate,
        "kind": ev["kind"], "amount": ev["amount"], "occurred_at_us": ev["occurred_at_us"],
        "first_receipt_id": first,
    }
