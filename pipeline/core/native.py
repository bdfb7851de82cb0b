"""The compiled validator engine (``pipeline/native``) behind :class:`RecordProcessor`'s interface.

The Rust code decides a whole record without a Python object per event; Python stays the
reference (``pipeline/core/processor.py``) and is called for what is rare: the reason and
detail of an event the stateless rules reject, and records the compiled decoder does not take
(not an EventBatch, or not strict Avro), which the reference rejects with its own detail.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import dsom_native

from pipeline.core import personal_data_words as words
from pipeline.core.model import Reason
from pipeline.core.personal_data import GLUED_DOMAINS
from pipeline.core.processor import UNDECODABLE, Outcome, RecordProcessor
from pipeline.core.validation import EventValidator
from pipeline.registry import Registry
from pipeline.settings import TopicSettings, ValidationSettings
from schemas import ARCHIVE_BATCH, EVENT_BATCH, RECEIPT_BATCH, Codec
from schemas.codec import enum_prefix_versions, load_type
from schemas.evolution import WriterSchemas

log = logging.getLogger(__name__)


def player_ref_rules() -> dsom_native.PlayerRefRules:
    """The compiled fast path of ``pipeline.core.personal_data``, given the same word lists."""
    labels = [(a, b) for a, b in (d.split(".") for d in words.MAIL_DOMAINS)]
    return dsom_native.PlayerRefRules(sorted(words.FIRST_NAMES), list(words.SURNAME_ENDINGS),
                                      list(GLUED_DOMAINS), labels, sorted(words.TOP_LEVEL_DOMAINS),
                                      (words.YEAR_MIN, words.YEAR_MAX))


class NativeRecordProcessor:
    """Decides records with ``dsom_native.Validator`` against ``dsom_native.ValidatorState``s."""

    def __init__(self, registry: Registry, validation: ValidationSettings, topics: TopicSettings,
                 codec: Codec, writers: WriterSchemas | None = None) -> None:
        self._topics = topics
        self._conflict_window = validation.conflict_window_per_source
        self._python = RecordProcessor(registry, validation, topics, codec, writers)
        rules = EventValidator(registry, validation)

        def check(operator_id: str, ev: dict[str, Any], now_us: int) -> tuple[str, str] | None:
            rejection = rules.check(operator_id, ev, now_us)
            return None if rejection is None else (str(rejection.reason), rejection.detail)

        # EventBatch versions read byte for byte (the current one, and older ones with fewer
        # EventKind symbols: an older producer's records take the fast path as they are).
        batches = [(t.header, kinds) for t, kinds in enum_prefix_versions(EVENT_BATCH, "EventKind")]
        licences = [(op.operator_id, lic.licence_id, str(lic.kind), lic.valid_from_us, lic.valid_to_us,
                     [(s.from_us, s.to_us) for s in lic.stops])
                    for op in registry.operators for lic in op.licences]
        v = validation
        self._native = dsom_native.Validator(
            (batches, load_type(RECEIPT_BATCH).header, load_type(ARCHIVE_BATCH).header), licences,
            v.currency, v.max_amount_kopecks, v.future_skew_us, v.late_window_us, v.bet_horizon_us,
            v.max_open_gaps_per_source, v.max_events_per_batch, check, player_ref_rules())

    def reject_record(self, topic: str, partition: int, offset: int, reason: Reason, detail: str,
                      now_us: int, source_id: str | None = None) -> Outcome:
        return self._python.reject_record(topic, partition, offset, reason, detail, now_us, source_id)

    def new_state(self, topic: str, partition: int) -> dsom_native.ValidatorState:
        return dsom_native.ValidatorState(topic, partition, self._conflict_window)

    def process(self, state: dsom_native.ValidatorState, offset: int, key: bytes | None, value: bytes,
                now_us: int) -> Outcome:
        operator_id = self._topics.operator_of(state.topic)
        # A registered writer schema's record is resolved into dsom's EventBatch by the reference
        # first: the compiled decoder reads only that, and both engines then decide the same bytes.
        resolved = self._python.resolve(state.topic, state.partition, offset, value, now_us)
        if isinstance(resolved, Outcome):
            return resolved
        value = resolved
        got = self._native.process(state, operator_id, offset, key, value, now_us)
        if got is None:
            # Not taken by Rust: the Python reference rejects it (unknown_schema, or malformed
            # with its diagnosis as the detail), so the details are written in one place.
            decoded = self._python.decode(state.topic, state.partition, offset, value, now_us)
            if isinstance(decoded, Outcome):
                return decoded
            # A decoder disagreement (a bug): rejecting the record keeps the partition moving,
            # where raising would stop it on this record for good; the operator may resend.
            log.error("%s:%d: the Python decoder takes this record but the native decoder does not; "
                      "rejected as malformed", state.topic, offset)
            return self._python.reject_record(
                state.topic, state.partition, offset, Reason.MALFORMED, UNDECODABLE, now_us)
        return Outcome(operator_id, got.receipts_key, got.receipts, got.archive, got.changelog,
                       got.events_in, got.duplicates, Counter(got.accepted), Counter(got.rejected))
