"""Workflows: request labels (a JSON copy to return, an indexed table to filter on) and the
results a request or a result used (inputs, for provenance)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from finales.db.types import BigId, JSONType

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("labels", JSONType, nullable=True))
        batch_op.add_column(sa.Column("inputs", JSONType, nullable=True))
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inputs", JSONType, nullable=True))
    op.create_table(
        "request_labels",
        sa.Column("request_seq", BigId, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_seq"],
            ["requests.seq"],
            name=op.f("fk_request_labels_request_seq_requests"),
        ),
        sa.PrimaryKeyConstraint("request_seq", "key", name=op.f("pk_request_labels")),
    )
    with op.batch_alter_table("request_labels", schema=None) as batch_op:
        batch_op.create_index(
            "ix_request_labels_key_value", ["key", "value", "request_seq"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("request_labels", schema=None) as batch_op:
        batch_op.drop_index("ix_request_labels_key_value")
    op.drop_table("request_labels")
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.drop_column("inputs")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("inputs")
        batch_op.drop_column("labels")
