"""Read the archive topic back and verify it: hash chains, Merkle logs, signed checkpoints.

Each partition's log is checked against its checkpoints on the checkpoints topic and against
checkpoints kept elsewhere (witnesses), see docs/archive.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from confluent_kafka import KafkaException, Message

from pipeline.archive_logs import LogReport, TreeCheck, check_notes, read_checkpoint_notes
from pipeline.core.chain import ChainBroken, ChainHead, links_of, verify
from pipeline.core.checkpoint import Verifier
from pipeline.kafka.reader import read_to_end, topic_partitions
from pipeline.settings import Settings
from schemas import ARCHIVE_BATCH, default_codec
from schemas.codec import Codec


@dataclass
class ArchiveReport:
    events: int = 0
    records: int = 0
    chains: dict[str, ChainHead] = field(default_factory=dict)
    per_operator: Counter[str] = field(default_factory=Counter)
    event_ids: Counter[tuple[str, str, int]] = field(default_factory=Counter)  # (operator, source, seq)
    receipt_ids: set[str] = field(default_factory=set)
    # Everything that does not verify, each naming where; empty means the archive verified.
    findings: list[str] = field(default_factory=list)
    logs: LogReport | None = None  # the Merkle logs' check, when a verifier key was given


def verify_archive(settings: Settings, verifier: Verifier | None = None,
                   witness: Iterable[tuple[str, str]] = ()) -> ArchiveReport:
    """Verify every chain from genesis and, with ``verifier``, every partition's log.

    ``witness``: (where, note) of checkpoints saved outside the system; each must verify and
    match the archive as it is now, like those on the checkpoints topic.
    """
    codec = default_codec()
    report = ArchiveReport()
    trees: TreeCheck | None = None
    if verifier is not None:
        heads = check_notes(settings, verifier, [*read_checkpoint_notes(settings), *witness], report.findings)
        trees = TreeCheck(heads)
    broken: set[str] = set()
    group = settings.topics.reader_group
    tps = topic_partitions(settings.kafka, settings.topics.archive.replace(".", r"\."), group=group)
    try:
        for msg in read_to_end(settings.kafka, tps, group=group):
            _check_record(msg, codec, report, trees, broken)
    except (KafkaException, TimeoutError) as exc:  # e.g. a batch the broker cannot return (corrupt)
        report.findings.append(f"reading the archive stopped: {exc}; what follows was not checked")
    if trees is not None:
        report.logs = trees.finish()
        report.findings.extend(trees.findings)
    return report


def _check_record(msg: Message, codec: Codec, report: ArchiveReport, trees: TreeCheck | None,
                  broken: set[str]) -> None:
    partition, offset, value = msg.partition() or 0, msg.offset() or 0, msg.value() or b""
    where = f"archive {partition}:{offset}"
    if trees is not None:  # the leaf is the record's bytes, whatever they hold
        trees.add(partition, offset, msg.key() or b"", value)
    report.records += 1
    try:
        _, batch = codec.decode(value, expect=ARCHIVE_BATCH)
        chain_id = batch["chain_id"]
        links = links_of(batch)
    except Exception as exc:  # noqa: BLE001 - whatever is on disk, the answer is a finding
        report.findings.append(f"{where}: not a readable archive batch ({type(exc).__name__}: {exc})")
        return
    if chain_id not in broken:
        try:
            report.chains[chain_id] = verify(links, report.chains.get(chain_id))
        except ChainBroken as exc:
            # Reported once; the rest of this chain cannot be checked against its genesis.
            report.findings.append(f"chain {chain_id} at {where}: {exc}")
            broken.add(chain_id)
    report.events += len(links)
    report.per_operator[batch["operator_id"]] += len(links)
    for e in batch["events"]:
        report.event_ids[(batch["operator_id"], batch["source_id"], e["event"]["seq"])] += 1
        report.receipt_ids.add(e["receipt_id"])

