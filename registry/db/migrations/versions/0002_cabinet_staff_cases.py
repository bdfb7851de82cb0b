"""The cabinets' staff accounts and law-enforcement cases (issue 14), versioned, inserted only.

Revision ID: 0002_cabinet_staff
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_cabinet_staff"
down_revision = "0001"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cabinet_staff",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("display_name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("tax_number_hmac", sa.String(64), nullable=False),
        sa.Column("cert_fingerprint", sa.String(64), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("recorded_at_us", sa.BigInteger, nullable=False),
        sa.Column("principal", sa.String(255), nullable=False),
    )
    op.create_index("ix_cabinet_staff_name", "cabinet_staff", ["name"])
    op.create_table(
        "cabinet_cases",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(128), nullable=False),
        sa.Column("granted_to", sa.String(128), nullable=False),
        sa.Column("operators", sa.Text, nullable=False),
        sa.Column("subjects", sa.Text, nullable=False),
        sa.Column("basis", sa.Text, nullable=False),
        sa.Column("expires_at_us", sa.BigInteger, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("recorded_at_us", sa.BigInteger, nullable=False),
        sa.Column("principal", sa.String(255), nullable=False),
    )
    op.create_index("ix_cabinet_cases_case_id", "cabinet_cases", ["case_id"])
    op.create_index("ix_cabinet_cases_granted_to", "cabinet_cases", ["granted_to"])


def downgrade() -> None:
    op.drop_table("cabinet_cases")
    op.drop_table("cabinet_staff")
