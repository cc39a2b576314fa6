"""Revocable credentials: disabled principals, token generations, revoked API keys, and the
audit history of the principals

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from finales.db.types import BigId, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("principals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("token_generation", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "principal_events",
        sa.Column("seq", BigId, autoincrement=True, nullable=False),
        sa.Column("principal_id", sa.String(length=36), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_principal_events_principal_id_principals"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_principal_events")),
    )
    with op.batch_alter_table("principal_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_principal_events_principal", ["principal_id", "seq"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("principal_events", schema=None) as batch_op:
        batch_op.drop_index("ix_principal_events_principal")
    op.drop_table("principal_events")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("revoked_at")
    with op.batch_alter_table("principals", schema=None) as batch_op:
        batch_op.drop_column("token_generation")
        batch_op.drop_column("disabled_at")
