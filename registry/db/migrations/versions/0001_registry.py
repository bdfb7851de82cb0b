"""The registry: versions, proposals, decisions, audit log, outbox.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "registry_versions",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("entity_id", sa.String(255), nullable=False),
        sa.Column("operator_id", sa.String(128), nullable=False),
        sa.Column("natural_key", sa.String(255)),
        sa.Column("valid_from_us", sa.BigInteger, nullable=False),
        sa.Column("valid_to_us", sa.BigInteger),
        sa.Column("recorded_at_us", sa.BigInteger, nullable=False),
        sa.Column("principal", sa.String(255), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_versions_entity", "registry_versions", ["kind", "entity_id", "recorded_at_us"])
    op.create_index("ix_versions_natural", "registry_versions", ["kind", "natural_key"])
    op.create_index("ix_registry_versions_operator_id", "registry_versions", ["operator_id"])
    op.create_table(
        "registry_proposals",
        sa.Column("proposal_id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("operator_id", sa.String(128), nullable=False),
        sa.Column("proposer", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("entity_id", sa.String(255), nullable=False),
        sa.Column("is_new", sa.Boolean, nullable=False),
        sa.Column("valid_from_us", sa.BigInteger, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("recorded_at_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_registry_proposals_operator_id", "registry_proposals", ["operator_id"])
    op.create_table(
        "registry_decisions",
        sa.Column("proposal_id", SEQ, sa.ForeignKey("registry_proposals.proposal_id"), primary_key=True),
        sa.Column("decided_by", sa.String(255), nullable=False),
        sa.Column("approved", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("recorded_at_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("principal", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("entity_id", sa.String(255), nullable=False),
        sa.Column("before", sa.Text, nullable=False),
        sa.Column("after", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "registry_outbox",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("recorded_at_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("registry_outbox", "audit_log", "registry_decisions", "registry_proposals",
                  "registry_versions"):
        op.drop_table(table)
