"""The registry's tables. Rows are only ever inserted: versions, proposals, decisions, audit and outbox.

History is one table for the seven kinds: the typed records (``registry.core.model``) are the
schema of ``data``, checked at every boundary, so one bitemporal mechanism (and one index) serves
every kind, and a new attribute needs no migration of history.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite numbers rows itself only for INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
SEQ = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class VersionRow(Base):
    """One version of one entity: content, its world-time validity, and when the registry recorded it."""

    __tablename__ = "registry_versions"
    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(String(255))
    operator_id: Mapped[str] = mapped_column(String(128), index=True)
    natural_key: Mapped[str | None] = mapped_column(String(255))
    valid_from_us: Mapped[int] = mapped_column(BigInteger)
    valid_to_us: Mapped[int | None] = mapped_column(BigInteger)
    recorded_at_us: Mapped[int] = mapped_column(BigInteger)
    principal: Mapped[str] = mapped_column(String(255))
    data: Mapped[str] = mapped_column(Text)  # the record, JSON
    __table_args__ = (Index("ix_versions_entity", "kind", "entity_id", "recorded_at_us"),
                      Index("ix_versions_natural", "kind", "natural_key"))


class ProposalRow(Base):
    """A change an operator (or officer) proposed; it takes effect only when approved."""

    __tablename__ = "registry_proposals"
    proposal_id: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    operator_id: Mapped[str] = mapped_column(String(128), index=True)
    proposer: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(String(255))
    is_new: Mapped[bool]
    valid_from_us: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[str] = mapped_column(Text)
    recorded_at_us: Mapped[int] = mapped_column(BigInteger)


class DecisionRow(Base):
    """An officer's approval or rejection of a proposal: at most one per proposal (the unique key)."""

    __tablename__ = "registry_decisions"
    proposal_id: Mapped[int] = mapped_column(SEQ, primary_key=True)
    decided_by: Mapped[str] = mapped_column(String(255))
    approved: Mapped[bool]
    reason: Mapped[str] = mapped_column(Text)
    recorded_at_us: Mapped[int] = mapped_column(BigInteger)


class AuditRow(Base):
    """Who did what, when and why, chained by hash; prev_hash is unique, so the chain cannot fork."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(SEQ, primary_key=True)
    at_us: Mapped[int] = mapped_column(BigInteger)
    principal: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(String(255))
    before: Mapped[str] = mapped_column(Text)  # JSON
    after: Mapped[str] = mapped_column(Text)  # JSON
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64))


class OutboxRow(Base):
    """An entity's history to publish, written in the transaction that changed it (transactional outbox)."""

    __tablename__ = "registry_outbox"
    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(300))
    value: Mapped[str] = mapped_column(Text)
    recorded_at_us: Mapped[int] = mapped_column(BigInteger)


class StaffRow(Base):
    """One version of a staff account (the regulator's and the tax service's people).

    The newest per name is in force. Inserted only, so the history of who held which role stays;
    each change is also in the audit log.
    """

    __tablename__ = "cabinet_staff"
    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    display_name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    tax_number_hmac: Mapped[str] = mapped_column(String(64))
    cert_fingerprint: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool]
    recorded_at_us: Mapped[int] = mapped_column(BigInteger)
    principal: Mapped[str] = mapped_column(String(255))


class CaseRow(Base):
    """One version of a law-enforcement case the regulator granted: who, what is in scope, until when.

    The newest per case ID is in force (a withdrawal is a version with ``active`` false).
    """

    __tablename__ = "cabinet_cases"
    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(128), index=True)
    granted_to: Mapped[str] = mapped_column(String(128), index=True)  # a staff name (role law)
    operators: Mapped[str] = mapped_column(Text)  # JSON list; empty: none
    subjects: Mapped[str] = mapped_column(Text)  # JSON list of player references; empty: any
    basis: Mapped[str] = mapped_column(Text)  # the request's reference (court ruling, investigator's letter)
    expires_at_us: Mapped[int] = mapped_column(BigInteger)
    active: Mapped[bool]
    recorded_at_us: Mapped[int] = mapped_column(BigInteger)
    principal: Mapped[str] = mapped_column(String(255))


class AccessKeyRow(Base):
    """One version of an operator's access key (``pipeline.security.keys.AccessKey``).

    The newest per key ID is in force: issuing inserts the first version, handing the bundle over
    and revoking insert the next ones, each in a transaction that also writes its audit entry, so
    two requests or two processes (the cabinet and ``dsom keys``) can neither lose a key nor both
    take one bundle.
    """

    __tablename__ = "access_keys"
    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    operator_id: Mapped[str] = mapped_column(String(128), index=True)
    kafka_principal: Mapped[str] = mapped_column(String(255))  # the certificate's CN
    sandbox: Mapped[bool]
    state: Mapped[str] = mapped_column(String(16))  # active, revoked
    serial: Mapped[str] = mapped_column(String(64))
    not_after: Mapped[str] = mapped_column(String(40))  # ISO 8601, as the register always kept it
    revoked_at: Mapped[str | None] = mapped_column(String(40))
    handed_over_at: Mapped[str | None] = mapped_column(String(40))
    replaces: Mapped[str | None] = mapped_column(String(32))
    files: Mapped[str] = mapped_column(Text)  # JSON: where the certificate, key and stores are kept
    recorded_at_us: Mapped[int] = mapped_column(BigInteger)
    principal: Mapped[str] = mapped_column(String(255))  # who made this version
