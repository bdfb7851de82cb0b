"""The archive's proofs over HTTP: what ``dsom proof`` and ``dsom archive checkpoints`` give.

Every answer is checkable by ``tools/verify_proof.py`` with the verifier key alone (docs/archive.md):

- ``GET /api/proofs/key``: the verifier key (a note verifier key string);
- ``GET /api/proofs/checkpoints``: the latest signed checkpoint of every archive partition;
- ``GET /api/proofs/inclusion/{receipt_id}``: the inclusion proof of the archive record holding
  an ACCEPTED receipt. An operator asks for its own receipts only; regulator staff for any
  (``?operator=`` narrows the read to that operator's partition);
- ``GET /api/proofs/consistency/{partition}?old=N&new=M``: the consistency proof between two
  checkpoints of one partition's log (``new`` defaults to the latest).

A receipt is found without an index: all of an operator's records are in one archive partition
(``archive_partition``), and a proof needs every leaf of that partition up to its checkpoint
anyway, so the route reads that one partition once (``pipeline.archive_logs.prove_inclusion``);
an index from receipt to leaf would save the search, not that read.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Annotated, Any

from confluent_kafka import KafkaException
from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import PlainTextResponse

from pipeline.archive_logs import (
    NOT_COVERED,
    LogShort,
    ProofUnavailable,
    Records,
    SignedHead,
    check_notes,
    prove_consistency,
    prove_inclusion,
    read_checkpoint_notes,
    read_partition,
    verifier_of,
)
from pipeline.core.archive_log import archive_partition, parse_leaf_data
from pipeline.core.checkpoint import Verifier
from pipeline.security.archive_key import ArchiveKeyError
from pipeline.settings import Settings
from schemas import ARCHIVE_BATCH, default_codec
from web import labels
from web.access import Role
from web.deps import CurrentAccount
from web.i18n import gettext as _

router = APIRouter(prefix="/api/proofs")


@contextmanager
def _unreadable() -> Iterator[None]:
    """Kafka out of reach: a 503 that says so, not a server error (the proofs need the archive)."""
    try:
        yield
    except KafkaException as exc:
        raise HTTPException(503, _("the archive cannot be read now: {error}").format(error=exc)) from exc


class ArchiveProofs:
    """One deployment's archive, read for proofs: Kafka here, the proofs in ``pipeline.archive_logs``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def verifier(self) -> Verifier:
        try:
            return verifier_of(self.settings)
        except ArchiveKeyError as exc:
            raise HTTPException(503, _("the archive's verifier key is not installed here: {error}")
                                .format(error=exc)) from exc

    def notes(self) -> list[tuple[str, str]]:
        with _unreadable():
            return read_checkpoint_notes(self.settings)

    def records(self, partition: int) -> Records:
        with _unreadable():
            return read_partition(self.settings, partition)

    def heads(self) -> dict[int, list[SignedHead]]:
        """Every checkpoint that verifies, by partition, smallest first (others are left out)."""
        found = check_notes(self.settings, self.verifier(), self.notes(), [])
        return {p: sorted(hs, key=lambda h: h.checkpoint.size) for p, hs in sorted(found.items())}

    def inclusion(self, receipt_id: str, operator_id: str | None) -> dict[str, Any] | None:
        """The proof of the receipt's record in its partition's latest checkpoint; None if none holds it.

        With ``operator_id``, only that operator's partition is read, and only its records count.
        """
        heads = self.heads()
        partitions = sorted(heads) if operator_id is None else [
            archive_partition(operator_id, self.settings.topics.archive_partitions)]
        for partition in partitions:
            if partition not in heads:
                continue
            doc = prove_inclusion(self.records(partition), partition, heads[partition][-1], receipt_id)
            if doc is not None:
                return doc if operator_id in (None, _record_operator(doc)) else None
        return None

    def consistency(self, partition: int, old: SignedHead, new: SignedHead) -> dict[str, Any]:
        return prove_consistency(self.records(partition), partition, old.note, old.checkpoint, new.note,
                                 new.checkpoint)


@cache
def _from_environment() -> ArchiveProofs:
    return ArchiveProofs(Settings())


def archive_proofs() -> ArchiveProofs:
    """The archive of this process's settings (``DSOM_*``); tests override this dependency."""
    return _from_environment()


Proofs = Annotated[ArchiveProofs, Depends(archive_proofs)]


def _record_operator(proof: dict[str, Any]) -> str | None:
    """The operator the proven record names (None if it does not decode: such a record proves nothing)."""
    try:
        _, _, _, value = parse_leaf_data(base64.b64decode(proof["leaf"]))
        return str(default_codec().decode(value, expect=ARCHIVE_BATCH)[1]["operator_id"])
    except ValueError:
        return None


def _refused(exc: ProofUnavailable) -> str:
    """Why no proof: the code's description in the reader's language, and the partition it is about."""
    why = labels.label(labels.PROOF_REFUSALS, exc.code)
    if exc.partition is None:
        return why
    return _("Archive partition {partition}: {why}").format(partition=exc.partition, why=why)


@router.get("/key", response_class=PlainTextResponse)
def verifier_key(proofs: Proofs) -> str:
    return proofs.verifier().vkey() + "\n"


@router.get("/checkpoints")
def latest_checkpoints(proofs: Proofs) -> dict[str, Any]:
    latest = {p: hs[-1] for p, hs in proofs.heads().items()}
    return {"checkpoints": [{"partition": p, "origin": h.checkpoint.origin, "size": h.checkpoint.size,
                             "note": h.note} for p, h in latest.items()]}


@router.get("/inclusion/{receipt_id}")
def inclusion_proof(receipt_id: str, who: CurrentAccount, proofs: Proofs,
                    operator: str | None = None) -> dict[str, Any]:
    if who.role is Role.OPERATOR:
        if operator not in (None, who.operator_id):
            raise HTTPException(403, _("an operator may ask for proofs of its own receipts only"))
        operator = who.operator_id
    try:
        proof = proofs.inclusion(receipt_id, operator)
    except LogShort as exc:
        raise HTTPException(409, _refused(exc)) from exc
    if proof is None:  # also another operator's receipt: not even its existence is told
        raise HTTPException(404, _("Receipt {receipt}: {why}").format(
            receipt=receipt_id, why=labels.label(labels.PROOF_REFUSALS, NOT_COVERED)))
    return proof


@router.get("/consistency/{partition}")
def consistency_proof(partition: int, old: int, proofs: Proofs, new: int | None = None) -> dict[str, Any]:
    heads = proofs.heads().get(partition, [])
    if not heads:
        raise HTTPException(404, _("archive partition {partition} has no signed checkpoint").format(
            partition=partition))
    by_size = {h.checkpoint.size: h for h in heads}
    wanted = [old, heads[-1].checkpoint.size if new is None else new]
    missing = [n for n in wanted if n not in by_size]
    if missing:
        sizes = sorted(by_size)
        shown = ", ".join(map(str, sizes[-20:])) + (_(" (the last 20)") if len(sizes) > 20 else "")
        raise HTTPException(404, _("archive partition {partition} has no checkpoint of size {size}; its "
                                   "signed sizes: {sizes}").format(partition=partition, size=missing[0],
                                                                   sizes=shown))
    try:
        return proofs.consistency(partition, by_size[wanted[0]], by_size[wanted[1]])
    except LogShort as exc:
        raise HTTPException(409, _refused(exc)) from exc
