"""The registry's one error type: a reason code, the field at fault, and what was expected."""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    """Why a change was refused. Stable strings: the API and the CLI show them as they are."""

    INVALID_FIELD = "invalid_field"
    INVALID_EDRPOU = "invalid_edrpou"
    INVALID_DOMAIN = "invalid_domain"
    OVERLAPPING_LICENCE = "overlapping_licence"
    DUPLICATE_SERIAL = "duplicate_serial"
    ALREADY_REGISTERED = "already_registered"
    UNKNOWN_OPERATOR = "unknown_operator"
    UNKNOWN_ENTITY = "unknown_entity"
    FOREIGN_ASSET = "foreign_asset"
    NOT_AUTHORISED = "not_authorised"
    FOUR_EYES = "four_eyes"
    ALREADY_DECIDED = "already_decided"
    INVALID_TRANSITION = "invalid_transition"
    INCOMPATIBLE_SCHEMA = "incompatible_schema"  # a writer schema dsom cannot read by Avro's rules


class RegistryError(ValueError):
    """A refused change. Nothing of the request was written."""

    def __init__(self, code: Code, message: str, field: str | None = None, line: int | None = None) -> None:
        where = (f"line {line}: " if line is not None else "") + (f"{field}: " if field else "")
        super().__init__(f"{code}: {where}{message}")
        self.code = code
        self.field = field
        self.line = line
        self.message = message

    def at_line(self, line: int) -> RegistryError:
        return RegistryError(self.code, self.message, self.field, line)

    def as_dict(self) -> dict[str, str | int | None]:
        return {"code": str(self.code), "field": self.field, "line": self.line, "message": self.message}


class RegistryErrors(ValueError):
    """Several refusals found in one request (a bulk import reports them all, writes nothing)."""

    def __init__(self, errors: list[RegistryError]) -> None:
        shown = "; ".join(str(e) for e in errors[:20])
        more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        super().__init__(f"{len(errors)} error(s), nothing written: {shown}{more}")
        self.errors = errors
