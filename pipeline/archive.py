"""Read the archive topic back and verify every hash chain in it (the tamper-evidence check)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pipeline.core.chain import ChainBroken, ChainHead, Link, verify
from pipeline.kafka.reader import read_to_end, topic_partitions
from pipeline.settings import Settings
from schemas import ARCHIVE_BATCH, default_codec
from schemas.codec import encode_event_body


@dataclass
class ArchiveReport:
    events: int = 0
    records: int = 0
    chains: dict[str, ChainHead] = field(default_factory=dict)
    per_operator: Counter[str] = field(default_factory=Counter)
    event_ids: Counter[tuple[str, str, int]] = field(default_factory=Counter)  # (operator, source, seq)
    receipt_ids: set[str] = field(default_factory=set)


def verify_archive(settings: Settings) -> ArchiveReport:
    """Verify every chain from genesis; raise :class:`ChainBroken` naming the first break."""
    codec = default_codec()
    report = ArchiveReport()
    group = settings.topics.reader_group
    tps = topic_partitions(settings.kafka, settings.topics.archive.replace(".", r"\."), group=group)
    for msg in read_to_end(settings.kafka, tps, group=group):
        _, batch = codec.decode(msg.value() or b"", expect=ARCHIVE_BATCH)
        chain_id = batch["chain_id"]
        links = [Link(e["chain_index"], e["prev_hash"], e["hash"], e["receipt_id"],
                      encode_event_body(e["event"])) for e in batch["events"]]
        try:
            report.chains[chain_id] = verify(links, report.chains.get(chain_id))
        except ChainBroken as exc:
            raise ChainBroken(f"chain {chain_id} at archive {msg.partition()}:{msg.offset()}: {exc}") from exc
        report.records += 1
        report.events += len(links)
        report.per_operator[batch["operator_id"]] += len(links)
        for e in batch["events"]:
            report.event_ids[(batch["operator_id"], batch["source_id"], e["event"]["seq"])] += 1
            report.receipt_ids.add(e["receipt_id"])
    return report
