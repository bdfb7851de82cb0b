"""Operators' access keys (issue 14): the register the cabinet and ``dsom keys`` share, versioned.

Until now it was a JSON file beside the PKI (``<pki>/keys.json``), rewritten whole by each action:
two writers at once could lose a key. ``registry.access_keys.KeyStore`` imports such a file once.

Revision ID: 0003_access_keys
Revises: 0002_cabinet_staff
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_access_keys"
down_revision = "0002_cabinet_staff"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "access_keys",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("operator_id", sa.String(128), nullable=False),
        sa.Column("kafka_principal", sa.String(255), nullable=False),
        sa.Column("sandbox", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("not_after", sa.String(40), nullable=False),
        sa.Column("revoked_at", sa.String(40), nullable=True),
        sa.Column("handed_over_at", sa.String(40), nullable=True),
        sa.Column("replaces", sa.String(32), nullable=True),
        sa.Column("files", sa.Text, nullable=False),
        sa.Column("recorded_at_us", sa.BigInteger, nullable=False),
        sa.Column("principal", sa.String(255), nullable=False),
    )
    op.create_index("ix_access_keys_key_id", "access_keys", ["key_id"])
    op.create_index("ix_access_keys_operator_id", "access_keys", ["operator_id"])


def downgrade() -> None:
    op.drop_table("access_keys")
