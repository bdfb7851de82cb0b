"""The archive's Merkle logs read back from Kafka: checkpoints checked, proofs built for receipts.

Thin I/O around pipeline.core.archive_log, .merkle and .checkpoint. Every check here turns a
problem into a finding (a sentence naming the partition, offset or record range), never a
traceback: the archive is evidence, and a reader must be able to say what is wrong with it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition

from pipeline.core.archive_log import leaf_data, log_origin, partition_of_origin, record_leaf
from pipeline.core.checkpoint import Checkpoint, NoteError, Verifier, verify_checkpoint
from pipeline.core.merkle import CompactRange, MerkleTree, consistency_proof, inclusion_proof
from pipeline.kafka.reader import read_to_end, topic_partitions
from pipeline.security.archive_key import VKEY_FILE, load_verifier
from pipeline.settings import Settings

PROOF_FORMAT = "dsom-proof/1"


@dataclass(frozen=True)
class SignedHead:
    """A checkpoint that verified, and where it was found (``checkpoints p@offset`` or a file)."""

    checkpoint: Checkpoint
    note: str
    where: str


def verifier_of(settings: Settings, vkey: Path | None = None) -> Verifier:
    return load_verifier(vkey or settings.archive_key_dir / VKEY_FILE)


def log_prefix(settings: Settings) -> str:
    return log_origin(settings.archive.origin, settings.topics.archive, 0)[:-2]


def check_notes(settings: Settings, verifier: Verifier, notes: Iterable[tuple[str, str]],
                findings: list[str]) -> dict[int, list[SignedHead]]:
    """The notes (with where each was found) that verify, by archive partition; findings for the rest."""
    heads: dict[int, list[SignedHead]] = {}
    prefix = log_prefix(settings)
    for where, note in notes:
        try:
            cp = verify_checkpoint(note, verifier)
        except NoteError as exc:
            findings.append(f"checkpoint {where}: {exc}")
            continue
        partition = partition_of_origin(cp.origin, prefix)
        if partition is None:
            findings.append(f"checkpoint {where}: origin {cp.origin!r} is not a log of this archive "
                            f"({prefix}/N)")
            continue
        heads.setdefault(partition, []).append(SignedHead(cp, note, where))
    return heads


def read_checkpoint_notes(settings: Settings) -> list[tuple[str, str]]:
    """Every note on the checkpoints topic, in order per partition, with ``topic p@offset``."""
    group = settings.topics.reader_group
    tps = topic_partitions(settings.kafka, settings.topics.checkpoints.replace(".", r"\."), group=group)
    out = []
    for msg in read_to_end(settings.kafka, tps, group=group):
        where = f"{msg.topic()} {msg.partition()}@{msg.offset()}"
        # The record's key and partition are not trusted: the signed origin names the log.
        out.append((where, (msg.value() or b"").decode("utf-8", "replace")))
    return out


@dataclass
class LogReport:
    """What the tree check found, per archive partition."""

    leaves: dict[int, int] = field(default_factory=dict)  # records read per partition
    verified: dict[int, int] = field(default_factory=dict)  # largest checkpoint size that matched
    checkpoints: int = 0


class TreeCheck:
    """Feeds archive records, partition by partition in offset order, against the signed heads.

    Roots are compared as the log reaches each checkpoint's size (a compact range per
    partition: memory does not grow with the log).
    """

    def __init__(self, heads: dict[int, list[SignedHead]]) -> None:
        self._heads = {p: sorted(hs, key=lambda h: h.checkpoint.size) for p, hs in heads.items()}
        self._trees: dict[int, CompactRange] = {}
        self._first_unverified: dict[int, int] = {}  # offset of the first leaf after the last match
        self._next: dict[int, int] = dict.fromkeys(self._heads, 0)
        self.report = LogReport(checkpoints=sum(len(h) for h in self._heads.values()))
        self.findings: list[str] = []
        self._good: dict[int, int] = {}
        self._broken: set[int] = set()

    def add(self, partition: int, offset: int, key: bytes, value: bytes) -> None:
        tree = self._trees.setdefault(partition, CompactRange())
        if tree.size == self._good.get(partition, 0):
            self._first_unverified[partition] = offset
        tree.append(record_leaf(partition, offset, key, value))
        heads = self._heads.get(partition, [])
        i = self._next.get(partition, 0)
        while i < len(heads) and heads[i].checkpoint.size <= tree.size:  # size 0: nothing to check
            if heads[i].checkpoint.size == tree.size:
                self._compare(partition, heads[i], tree, offset)
            i += 1
        self._next[partition] = i

    def _compare(self, partition: int, head: SignedHead, tree: CompactRange, offset: int) -> None:
        size = head.checkpoint.size
        if partition in self._broken:  # every later checkpoint differs too: one finding says it
            return
        if tree.root() == head.checkpoint.root:
            self._good[partition] = size
            self.report.verified[partition] = size
            return
        good = self._good.get(partition, 0)
        self._broken.add(partition)
        self.findings.append(
            f"archive partition {partition}: its first {size} records do not match checkpoint {head.where}: "
            f"a record among leaves {good}..{size - 1} "
            f"(offsets {self._first_unverified[partition]}..{offset} as read now) "
            f"was changed, removed, inserted or reordered"
            + (f" (the log matched its checkpoint of size {good})" if good else ""))

    def finish(self) -> LogReport:
        for partition, heads in self._heads.items():
            size = self._trees[partition].size if partition in self._trees else 0
            self.report.leaves[partition] = size
            for head in heads[self._next.get(partition, 0):]:
                want = head.checkpoint.size
                if want == 0:
                    continue
                self.findings.append(
                    f"archive partition {partition}: {size} records, but checkpoint {head.where} "
                    f"signed {want}: leaves {size}..{want - 1} are missing (truncated, deleted or lost)")
                break  # the later ones say the same
        for partition, tree in self._trees.items():
            self.report.leaves[partition] = tree.size
        return self.report


def save_notes(path: Path, notes: Iterable[str]) -> int:
    """Append notes to a witness file (the format :func:`~pipeline.core.checkpoint.split_notes` reads)."""
    notes = list(notes)
    with path.open("a", encoding="utf-8") as out:
        for note in notes:
            out.write(note + "\n")
    return len(notes)


# -- proofs --

Records = Iterable[tuple[int, bytes, bytes]]  # (offset, key, value) of one partition, in offset order


def read_partition(settings: Settings, partition: int) -> Records:
    tp = TopicPartition(settings.topics.archive, partition)
    for msg in read_to_end(settings.kafka, [tp], group=settings.topics.reader_group):
        yield msg.offset() or 0, msg.key() or b"", msg.value() or b""


def latest_heads(settings: Settings, verifier: Verifier,
                 notes: Iterable[tuple[str, str]] | None = None) -> dict[int, SignedHead]:
    findings: list[str] = []
    notes = read_checkpoint_notes(settings) if notes is None else notes
    heads = check_notes(settings, verifier, notes, findings)
    return {p: max(hs, key=lambda h: h.checkpoint.size) for p, hs in heads.items()}


# Why no proof can be given: stable codes, which the cabinets describe in the reader's language
# (web/labels.py, PROOF_REFUSALS); the exceptions' messages are the command line's English.
NOT_COVERED = "not_covered"
LOG_SHORT = "log_short"
TWO_LOGS = "two_logs"
FOREIGN_LOG = "foreign_log"
PROOF_REFUSAL_CODES = (NOT_COVERED, LOG_SHORT, TWO_LOGS, FOREIGN_LOG)


class ProofUnavailable(LookupError):
    """No proof can be given (yet): the receipt is unknown or not covered by a checkpoint (``code``)."""

    def __init__(self, code: str, message: str, partition: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.partition = partition


class LogShort(ProofUnavailable):
    """The partition holds fewer records than a checkpoint signed, or no longer matches it."""

    def __init__(self, partition: int, message: str) -> None:
        super().__init__(LOG_SHORT, message, partition)


def prove_inclusion(records: Records, partition: int, head: SignedHead,
                    receipt_id: str) -> dict[str, Any] | None:
    """The inclusion proof of the record holding ``receipt_id``, against ``head``; None if none holds it.

    ``records``: one partition, read from its start; those after the checkpoint are not read.

    Reads the records once, keeping 64 bytes per record for the tree: the price of keeping no index.
    """
    needle = receipt_id.encode()
    tree = MerkleTree()
    found: tuple[int, bytes] | None = None
    for offset, key, value in records:
        if tree.size == head.checkpoint.size:
            break
        if found is None and needle in value:  # receipt IDs are stored as their UTF-8 bytes
            found = (tree.size, leaf_data(partition, offset, key, value))
        tree.append(record_leaf(partition, offset, key, value))
    if found is None:
        return None
    if tree.size < head.checkpoint.size:
        raise LogShort(partition, f"archive partition {partition} has {tree.size} records, fewer than its "
                       f"checkpoint's {head.checkpoint.size}: run dsom verify-archive")
    index, data = found
    return {"format": PROOF_FORMAT, "kind": "inclusion", "receipt_id": receipt_id,
            "checkpoint": head.note, "leaf_index": index, "tree_size": head.checkpoint.size,
            "leaf": base64.b64encode(data).decode(),
            "proof": [base64.b64encode(h).decode()
                      for h in inclusion_proof(tree, index, head.checkpoint.size)]}


NOT_COVERED_TEXT = ("is in no archive record covered by a checkpoint yet (unknown, rejected, or newer than "
                    "the last checkpoint: retry after the next one)")


def inclusion(settings: Settings, receipt_id: str, verifier: Verifier,
              partitions: Iterable[int] | None = None) -> dict[str, Any]:
    """The inclusion proof of the archive record holding ``receipt_id`` in its partition's latest checkpoint.

    Costs one read of each partition searched, up to its checkpoint (docs/archive.md).
    """
    heads = latest_heads(settings, verifier)
    for partition in sorted(heads) if partitions is None else partitions:
        head = heads.get(partition)
        if head is None:
            continue
        doc = prove_inclusion(read_partition(settings, partition), partition, head, receipt_id)
        if doc is not None:
            return doc
    raise ProofUnavailable(NOT_COVERED, f"receipt {receipt_id} {NOT_COVERED_TEXT}")


def prove_consistency(records: Records, partition: int, old_note: str, old: Checkpoint, new_note: str,
                      new: Checkpoint) -> dict[str, Any]:
    """The consistency proof from ``old`` to ``new``: this partition's checkpoints, verified already."""
    if old.size > new.size:
        old_note, new_note, old, new = new_note, old_note, new, old
    tree = MerkleTree()
    for offset, key, value in records:
        if tree.size == new.size:
            break
        tree.append(record_leaf(partition, offset, key, value))
    if tree.size < new.size or tree.root(new.size) != new.root:
        raise LogShort(partition, f"archive partition {partition} no longer matches the checkpoint of size "
                       f"{new.size}: run dsom verify-archive")
    return {"format": PROOF_FORMAT, "kind": "consistency", "old": old_note, "new": new_note,
            "proof": [base64.b64encode(h).decode() for h in consistency_proof(tree, old.size, new.size)]}


def consistency(settings: Settings, old_note: str, new_note: str, verifier: Verifier) -> dict[str, Any]:
    """The consistency proof between two checkpoints of the same partition's log."""
    old, new = verify_checkpoint(old_note, verifier), verify_checkpoint(new_note, verifier)
    if old.origin != new.origin:
        raise ProofUnavailable(TWO_LOGS, f"the checkpoints are of two logs: {old.origin} and {new.origin}")
    partition = partition_of_origin(new.origin, log_prefix(settings))
    if partition is None:
        raise ProofUnavailable(FOREIGN_LOG, f"{new.origin} is not a log of this archive")
    return prove_consistency(read_partition(settings, partition), partition, old_note, old, new_note, new)
