"""The cross-record rules of a change: references exist and belong to the same operator, keys are unique.

:class:`Known` is what the registry holds now (only the keys the rules need); the checks run over a
whole batch before anything is written, so a bulk import with one bad row writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from registry.core.errors import Code, RegistryError, RegistryErrors
from registry.core.history import overlaps
from registry.core.model import (
    AppRecord,
    EquipmentRecord,
    EstablishmentRecord,
    Kind,
    LicenceRecord,
    Record,
    SiteRecord,
    Status,
)

# The order a batch is applied in, so a file may list a machine before its hall.
KIND_ORDER = {k: n for n, k in enumerate((Kind.OPERATOR, Kind.LICENCE, Kind.ESTABLISHMENT, Kind.EQUIPMENT,
                                          Kind.SITE, Kind.APP, Kind.REPRESENTATIVE))}
# What other records refer to (an import checks them first); nothing refers to the other kinds.
PARENT_KINDS = frozenset({Kind.OPERATOR, Kind.LICENCE, Kind.ESTABLISHMENT})


@dataclass
class Known:
    """The registry's current keys: owners of every entity, natural keys, licences' validity."""

    owners: dict[tuple[Kind, str], str] = field(default_factory=dict)  # (kind, id) -> operator
    natural: dict[tuple[Kind, str], str] = field(default_factory=dict)  # (kind, natural key) -> id
    licences: dict[str, tuple[int, int | None]] = field(default_factory=dict)  # id -> validity
    inactive_operators: set[str] = field(default_factory=set)

    def add(self, rec: Record) -> None:
        self.owners[(rec.kind, rec.entity_id)] = rec.operator_id
        key = rec.natural_key()
        if key is not None:
            self.natural[(rec.kind, key)] = rec.entity_id
        if isinstance(rec, LicenceRecord):
            self.licences[rec.licence_id] = (rec.valid_from_us, rec.valid_to_us)
        if rec.kind is Kind.OPERATOR:
            (self.inactive_operators.add if rec.status is Status.INACTIVE
             else self.inactive_operators.discard)(rec.operator_id)

    def merge(self, other: Known) -> None:
        """Add what ``other`` knows (``other`` wins where both know a key)."""
        self.owners.update(other.owners)
        self.natural.update(other.natural)
        self.licences.update(other.licences)
        self.inactive_operators |= other.inactive_operators


def _ref(known: Known, rec: Record, kind: Kind, ref_id: str, name: str) -> None:
    owner = known.owners.get((kind, ref_id))
    if owner is None:
        raise RegistryError(Code.UNKNOWN_ENTITY, f"no {kind} {ref_id!r} is registered", name)
    if owner != rec.operator_id:
        raise RegistryError(Code.FOREIGN_ASSET, f"{kind} {ref_id!r} belongs to another operator", name)


def check_record(known: Known, rec: Record, *, new: bool) -> None:
    """Raise the first rule ``rec`` breaks against ``known``. ``new``: an addition, not a new version."""
    existing_owner = known.owners.get((rec.kind, rec.entity_id))
    if new and existing_owner is not None:
        if isinstance(rec, LicenceRecord):
            lo, hi = known.licences[rec.licence_id]
            if overlaps(lo, hi, rec.valid_from_us, rec.valid_to_us):
                raise RegistryError(Code.OVERLAPPING_LICENCE,
                                    f"licence {rec.licence_id} is already registered for a period that "
                                    f"overlaps {rec.valid_from_us}..{rec.valid_to_us}; change its version "
                                    "instead", "licence_id")
        raise RegistryError(Code.ALREADY_REGISTERED, f"{rec.kind} {rec.entity_id!r} is already registered; "
                            "change it with a new version", "entity_id")
    if not new:
        if existing_owner is None:
            raise RegistryError(Code.UNKNOWN_ENTITY, f"no {rec.kind} {rec.entity_id!r} is registered",
                                "entity_id")
        if existing_owner != rec.operator_id:
            raise RegistryError(Code.FOREIGN_ASSET, f"{rec.kind} {rec.entity_id!r} belongs to "
                                f"{existing_owner}; records never move between operators", "operator_id")
    if rec.kind is not Kind.OPERATOR:
        if (Kind.OPERATOR, rec.operator_id) not in known.owners:
            raise RegistryError(Code.UNKNOWN_OPERATOR, f"no operator {rec.operator_id!r} is registered",
                                "operator_id")
        if new and rec.operator_id in known.inactive_operators:
            raise RegistryError(Code.UNKNOWN_OPERATOR, f"operator {rec.operator_id!r} is deregistered",
                                "operator_id")
    key = rec.natural_key()
    if key is not None:
        holder = known.natural.get((rec.kind, key))
        if holder is not None and holder != rec.entity_id:
            if isinstance(rec, EquipmentRecord):
                raise RegistryError(Code.DUPLICATE_SERIAL, f"serial {rec.serial!r} of {rec.manufacturer} is "
                                    f"already registered as {holder}", "serial")
            raise RegistryError(Code.ALREADY_REGISTERED, f"already registered as {holder}", "edrpou")
    if isinstance(rec, EstablishmentRecord | SiteRecord | AppRecord):
        _ref(known, rec, Kind.LICENCE, rec.licence_id, "licence_id")
    if isinstance(rec, EquipmentRecord):
        _ref(known, rec, Kind.ESTABLISHMENT, rec.establishment_id, "establishment_id")


def check_lines(known: Known, records: Sequence[tuple[int, Record]], *,
                new: bool = True) -> tuple[list[int], list[RegistryError]]:
    """Check records (each with its input line) as applied in :data:`KIND_ORDER`.

    Returns the indexes of the records that pass, in that order, and every other record's error
    (with its line); ``known`` is updated with the records that pass.
    """
    order = sorted(range(len(records)), key=lambda i: KIND_ORDER[records[i][1].kind])
    passed: list[int] = []
    errors: list[RegistryError] = []
    for i in order:
        line, rec = records[i]
        try:
            check_record(known, rec, new=new)
        except RegistryError as e:
            errors.append(e.at_line(line))
            continue
        known.add(rec)
        passed.append(i)
    return passed, errors


def check_batch(known: Known, records: Sequence[Record], *, new: bool = True) -> list[int]:
    """Check a batch as applied in :data:`KIND_ORDER`; return that order (indexes into ``records``).

    ``known`` is updated as the batch is applied. Raises :class:`RegistryErrors` with every row's
    error (line numbers 1-based, as in the input) when any row breaks a rule.
    """
    order, errors = check_lines(known, list(enumerate(records, 1)), new=new)
    if errors:
        raise RegistryErrors(sorted(errors, key=lambda e: e.line or 0))
    return order
