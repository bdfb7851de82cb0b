"""The minimal registry of operators and their licences that the validator checks against."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from pipeline.core.model import LicenceKind


class Stop(BaseModel):
    """A stretch of the licence's validity during which the regulator stopped it."""

    model_config = ConfigDict(frozen=True)

    status: Literal["suspended", "revoked"]
    from_us: int
    to_us: int | None = None  # None: until further notice (a revocation is never lifted)

    def contains(self, t_us: int) -> bool:
        return self.from_us <= t_us and (self.to_us is None or t_us < self.to_us)


class Licence(BaseModel):
    """A licence's validity and the stretches of it the regulator suspended or revoked.

    The stops are kept apart from the validity, not cut out of it, so that an event in a
    suspension is told ``licence_suspended`` (the regulator's decision), not ``licence_inactive``
    (the licence's own dates), and late events are judged by the status in force when they
    happened.
    """

    model_config = ConfigDict(frozen=True)

    licence_id: str
    kind: LicenceKind
    valid_from_us: int = 0
    valid_to_us: int | None = None  # None: open-ended
    stops: tuple[Stop, ...] = ()  # sorted, not overlapping

    def active_at(self, t_us: int) -> bool:
        """Within its validity dates (whatever its status)."""
        return self.valid_from_us <= t_us and (self.valid_to_us is None or t_us < self.valid_to_us)

    def stop_at(self, t_us: int) -> Stop | None:
        """The suspension or revocation in force at ``t_us``, if any."""
        return next((s for s in self.stops if s.contains(t_us)), None)


class Operator(BaseModel):
    model_config = ConfigDict(frozen=True)

    operator_id: str
    name: str
    licences: tuple[Licence, ...]
    # Where the operator may take bets (the real registries hold establishments, equipment,
    # websites and mobile apps). Activity elsewhere is accepted but reported to the regulator.
    establishments: tuple[str, ...] = ()
    equipment: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    apps: tuple[str, ...] = ()


class Registry(BaseModel):
    """Operators by ID; loaded from a JSON file the demo (or an administrator) writes."""

    # cached_property needs a writable __dict__: lookups are built once, the data stays frozen.
    model_config = ConfigDict(frozen=True, ignored_types=(cached_property,))

    operators: tuple[Operator, ...]

    def operator(self, operator_id: str) -> Operator | None:
        return self._operators.get(operator_id)

    def licence(self, operator_id: str, licence_id: str) -> Licence | None:
        return self.licence_index.get((operator_id, licence_id))

    @cached_property
    def _operators(self) -> dict[str, Operator]:
        return {op.operator_id: op for op in self.operators}

    @cached_property
    def licence_index(self) -> dict[tuple[str, str], Licence]:
        """Licences by (operator, licence ID).

        Hot paths keep the dict itself: a lookup through the model's attributes costs more than
        the dict lookup (it was 10 % of the validator).
        """
        return {(op.operator_id, lic.licence_id): lic for op in self.operators for lic in op.licences}

    @classmethod
    def load(cls, path: Path) -> Registry:
        if not path.exists():
            raise FileNotFoundError(
                f"operator registry {path} not found: run `dsom registry seed` or set DSOM_REGISTRY_PATH"
            )
        return cls.model_validate_json(path.read_bytes())

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2))
        tmp.replace(path)
