"""Typed records of the registry, one per kind of entity, validated at every boundary (API, CLI, import).

A record is the content of one version of an entity; when it is true in the world and when the
registry learnt it are the version's (``registry.core.history``), not the record's.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from pipeline.core.model import LicenceKind
from registry.core.errors import Code, RegistryError, RegistryErrors
from registry.core.identifiers import (
    check_domain,
    check_edrpou,
    check_fingerprint,
    check_package,
    check_tax_number,
    tax_number_hash,
)

# Registry IDs: what events carry (establishment_id, equipment_id, ...), so the validator's limits.
Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]
Text = Annotated[str, Field(min_length=1, max_length=512)]
Edrpou = Annotated[str, AfterValidator(check_edrpou)]
Domain = Annotated[str, AfterValidator(check_domain)]
Package = Annotated[str, AfterValidator(check_package)]
Fingerprint = Annotated[str, AfterValidator(check_fingerprint)]
Micros = Annotated[int, Field(ge=0)]


class Kind(StrEnum):
    OPERATOR = "operator"
    LICENCE = "licence"
    ESTABLISHMENT = "establishment"
    EQUIPMENT = "equipment"
    SITE = "site"
    APP = "app"
    REPRESENTATIVE = "representative"


ASSET_KINDS = frozenset({Kind.ESTABLISHMENT, Kind.EQUIPMENT, Kind.SITE, Kind.APP, Kind.REPRESENTATIVE})


class Status(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # licences only
    REVOKED = "revoked"  # licences only
    INACTIVE = "inactive"  # everything but licences: deregistered


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    kind: Kind
    operator_id: Id
    status: Status = Status.ACTIVE

    @property
    def entity_id(self) -> str:
        raise NotImplementedError

    def natural_key(self) -> str | None:
        """What must be unique among entities of this kind besides the ID (e.g. a machine's serial)."""
        return None

    @model_validator(mode="after")
    def _status_fits_kind(self) -> _Record:
        licence = self.kind is Kind.LICENCE
        if not licence and self.status in (Status.SUSPENDED, Status.REVOKED):
            raise ValueError(f"status {self.status} is for licences; a {self.kind} is active or inactive")
        if licence and self.status is Status.INACTIVE:
            raise ValueError("a licence is active, suspended or revoked")
        return self


class OperatorRecord(_Record):
    kind: Literal[Kind.OPERATOR] = Kind.OPERATOR
    legal_name: Text
    edrpou: Edrpou

    @property
    def entity_id(self) -> str:
        return self.operator_id

    def natural_key(self) -> str | None:
        return self.edrpou


class LicenceRecord(_Record):
    kind: Literal[Kind.LICENCE] = Kind.LICENCE
    licence_id: Id  # the licence's number
    licence_kind: LicenceKind
    decision_ref: Text  # the regulator's decision that granted it
    valid_from_us: Micros
    valid_to_us: Micros | None = None  # None: open-ended
    status_reason: Text | None = None

    @property
    def entity_id(self) -> str:
        return self.licence_id

    @model_validator(mode="after")
    def _dates_and_reason(self) -> LicenceRecord:
        if self.valid_to_us is not None and self.valid_to_us <= self.valid_from_us:
            raise ValueError(f"valid_to_us {self.valid_to_us} must be after "
                             f"valid_from_us {self.valid_from_us}")
        if self.status is not Status.ACTIVE and not self.status_reason:
            raise ValueError(f"a {self.status} licence needs status_reason (the decision and why)")
        return self


class EstablishmentRecord(_Record):
    kind: Literal[Kind.ESTABLISHMENT] = Kind.ESTABLISHMENT
    establishment_id: Id
    licence_id: Id
    address: Text

    @property
    def entity_id(self) -> str:
        return self.establishment_id


class EquipmentType(StrEnum):
    SLOT_MACHINE = "slot_machine"
    GAMING_TABLE = "gaming_table"
    BETTING_TERMINAL = "betting_terminal"


class EquipmentRecord(_Record):
    kind: Literal[Kind.EQUIPMENT] = Kind.EQUIPMENT
    equipment_id: Id
    establishment_id: Id
    equipment_type: EquipmentType
    manufacturer: Text
    model: Text
    serial: Annotated[str, Field(min_length=1, max_length=64)]
    certificate: Text  # the conformity certificate's number
    # Certified return to player in basis points (9450 = 94.50 %): integers, like money.
    certified_rtp_bp: Annotated[int, Field(gt=0, le=10_000)]

    @property
    def entity_id(self) -> str:
        return self.equipment_id

    def natural_key(self) -> str | None:
        return f"{self.manufacturer.strip().lower()}\x1f{self.serial.strip().lower()}"


class SiteRecord(_Record):
    kind: Literal[Kind.SITE] = Kind.SITE
    domain: Domain
    licence_id: Id

    @property
    def entity_id(self) -> str:
        return self.domain


class Store(StrEnum):
    GOOGLE_PLAY = "google_play"
    APP_STORE = "app_store"
    OTHER = "other"


class AppRecord(_Record):
    kind: Literal[Kind.APP] = Kind.APP
    store: Store
    package_id: Package  # what events carry as app_id
    licence_id: Id

    @property
    def entity_id(self) -> str:
        return self.package_id


class Role(StrEnum):
    HEAD = "head"
    AUTHORISED = "authorised"


class RepresentativeRecord(_Record):
    """A person who acts for an operator. Their tax number is kept only as a keyed hash."""

    kind: Literal[Kind.REPRESENTATIVE] = Kind.REPRESENTATIVE
    representative_id: Id
    name: Text
    role: Role
    tax_number_hmac: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    cert_fingerprint: Fingerprint

    @property
    def entity_id(self) -> str:
        return self.representative_id


Record = (OperatorRecord | LicenceRecord | EstablishmentRecord | EquipmentRecord | SiteRecord | AppRecord
          | RepresentativeRecord)
RECORD_TYPES: dict[Kind, type[_Record]] = {
    Kind.OPERATOR: OperatorRecord, Kind.LICENCE: LicenceRecord, Kind.ESTABLISHMENT: EstablishmentRecord,
    Kind.EQUIPMENT: EquipmentRecord, Kind.SITE: SiteRecord, Kind.APP: AppRecord,
    Kind.REPRESENTATIVE: RepresentativeRecord,
}


def record_from_data(kind: str, data: dict[str, Any]) -> Record:
    """A stored record back as its type (stored data was validated when it was written)."""
    return RECORD_TYPES[Kind(kind)].model_validate(data)  # type: ignore[return-value]


CODE_OF_FIELD = {"edrpou": Code.INVALID_EDRPOU, "domain": Code.INVALID_DOMAIN}


def parse_record(data: dict[str, Any], tax_key: bytes | None = None) -> Record:
    """A record from untrusted input, or a :class:`RegistryError` naming the field and what was expected.

    A representative may be given with ``tax_number`` (10 digits): it is replaced by its keyed hash
    here, at the boundary, so the number itself is never stored, logged or published.
    """
    raw = dict(data)
    kind_value = raw.get("kind")
    try:
        kind = Kind(str(kind_value))
    except ValueError:
        raise RegistryError(Code.INVALID_FIELD, f"expected one of {', '.join(k.value for k in Kind)}, "
                                                f"got {str(kind_value)[:32]!r}", "kind") from None
    if kind is Kind.REPRESENTATIVE and "tax_number" in raw:
        number = raw.pop("tax_number")
        secret = number.get_secret_value() if isinstance(number, SecretStr) else str(number)
        if tax_key is None:
            raise RegistryError(Code.INVALID_FIELD, "no key to hash it with (registry.tax_number_key)",
                                "tax_number")
        try:
            raw["tax_number_hmac"] = tax_number_hash(tax_key, secret)
        except ValueError as exc:
            raise RegistryError(Code.INVALID_FIELD, str(exc), "tax_number") from None
    try:
        return RECORD_TYPES[kind].model_validate(raw)  # type: ignore[return-value]
    except ValidationError as exc:
        raise _first(exc) from None


def _first(exc: ValidationError) -> RegistryError:
    err = exc.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(p) for p in err["loc"]) or None
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "missing":
        msg = "required, missing"
    return RegistryError(CODE_OF_FIELD.get(field or "", Code.INVALID_FIELD), msg, field)


def parse_many(rows: list[dict[str, Any]], tax_key: bytes | None = None) -> list[Record]:
    """Every row parsed, or :class:`RegistryErrors` with each bad row's line (1-based)."""
    out: list[Record] = []
    errors: list[RegistryError] = []
    for n, row in enumerate(rows, 1):
        try:
            out.append(parse_record(row, tax_key))
        except RegistryError as e:
            errors.append(e.at_line(n))
    if errors:
        raise RegistryErrors(errors)
    return out


def check_tax_number_input(value: str) -> str:
    """For callers that take a tax number outside a record (the error names the field)."""
    try:
        return check_tax_number(value)
    except ValueError as exc:
        raise RegistryError(Code.INVALID_FIELD, str(exc), "tax_number") from None
