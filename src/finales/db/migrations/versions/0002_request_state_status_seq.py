"""request_state (status, request_seq) index for status listings and the hand-out

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("request_state", schema=None) as batch_op:
        batch_op.create_index(
            "ix_request_state_status_seq", ["status", "request_seq"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("request_state", schema=None) as batch_op:
        batch_op.drop_index("ix_request_state_status_seq")
