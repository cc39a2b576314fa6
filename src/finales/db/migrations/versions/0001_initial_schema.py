"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import finales.db.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "capabilities",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("quantity", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "request_schema",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "result_schema",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", finales.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capabilities")),
        sa.UniqueConstraint("quantity", "method", "version", name="uq_capabilities_qmv"),
    )
    op.create_table(
        "capability_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("quantity", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("at", finales.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_capability_events")),
    )
    with op.batch_alter_table("capability_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_capability_events_qm", ["quantity", "method", "seq"], unique=False
        )

    op.create_table(
        "idempotency_keys",
        sa.Column("principal_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column(
            "body",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", finales.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("contact", sa.String(length=500), nullable=False),
        sa.Column("created_at", finales.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.create_table(
        "offer_sets",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("at", finales.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_offer_sets_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_offer_sets")),
    )
    with op.batch_alter_table("offer_sets", schema=None) as batch_op:
        batch_op.create_index("ix_offer_sets_tenant", ["tenant_id", "seq"], unique=False)

    op.create_table(
        "principals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("created_at", finales.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_principals_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_principals")),
        sa.UniqueConstraint("name", name=op.f("uq_principals_name")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("principal_id", sa.String(length=36), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", finales.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name=op.f("fk_api_keys_principal_id_principals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )
    op.create_table(
        "offers",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "offer_set", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("quantity", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=200), nullable=False),
        sa.Column(
            "limitations",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["offer_set"], ["offer_sets.seq"], name=op.f("fk_offers_offer_set_offer_sets")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_offers_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_offers")),
    )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offers_offer_set"), ["offer_set"], unique=False)

    op.create_table(
        "requests",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("quantity", sa.String(length=200), nullable=False),
        sa.Column(
            "methods",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "capability_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("requester_principal_id", sa.String(length=36), nullable=False),
        sa.Column("requester_tenant_id", sa.String(length=36), nullable=True),
        sa.Column("parent_request_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", finales.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["requester_principal_id"],
            ["principals.id"],
            name=op.f("fk_requests_requester_principal_id_principals"),
        ),
        sa.ForeignKeyConstraint(
            ["requester_tenant_id"],
            ["tenants.id"],
            name=op.f("fk_requests_requester_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_requests")),
        sa.UniqueConstraint("id", name=op.f("uq_requests_id")),
    )
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_requests_parent_request_id"), ["parent_request_id"], unique=False
        )

    op.create_table(
        "request_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "request_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("at", finales.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("lease_expires_at", finales.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_seq"], ["requests.seq"], name=op.f("fk_request_events_request_seq_requests")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_request_events")),
    )
    with op.batch_alter_table("request_events", schema=None) as batch_op:
        batch_op.create_index("ix_request_events_request", ["request_seq", "seq"], unique=False)

    op.create_table(
        "request_methods",
        sa.Column(
            "request_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("method", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_seq"], ["requests.seq"], name=op.f("fk_request_methods_request_seq_requests")
        ),
        sa.PrimaryKeyConstraint("request_seq", "method", name=op.f("pk_request_methods")),
    )
    with op.batch_alter_table("request_methods", schema=None) as batch_op:
        batch_op.create_index("ix_request_methods_method", ["method", "request_seq"], unique=False)

    op.create_table(
        "request_state",
        sa.Column(
            "request_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("quantity", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reserved_by", sa.String(length=36), nullable=True),
        sa.Column("lease_expires_at", finales.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", finales.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_seq"], ["requests.seq"], name=op.f("fk_request_state_request_seq_requests")
        ),
        sa.PrimaryKeyConstraint("request_seq", name=op.f("pk_request_state")),
    )
    with op.batch_alter_table("request_state", schema=None) as batch_op:
        batch_op.create_index(
            "ix_request_state_lease", ["status", "lease_expires_at"], unique=False
        )
        batch_op.create_index(
            "ix_request_state_status_q", ["status", "quantity", "request_seq"], unique=False
        )

    op.create_table(
        "results",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column(
            "request_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("quantity", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=200), nullable=False),
        sa.Column(
            "parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("capability_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("principal_id", sa.String(length=36), nullable=False),
        sa.Column("supersedes", sa.String(length=36), nullable=True),
        sa.Column("created_at", finales.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["capability_id"],
            ["capabilities.id"],
            name=op.f("fk_results_capability_id_capabilities"),
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name=op.f("fk_results_principal_id_principals")
        ),
        sa.ForeignKeyConstraint(
            ["request_seq"], ["requests.seq"], name=op.f("fk_results_request_seq_requests")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_results_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_results")),
        sa.UniqueConstraint("id", name=op.f("uq_results_id")),
    )
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.create_index("ix_results_qm", ["quantity", "method", "seq"], unique=False)
        batch_op.create_index(batch_op.f("ix_results_request_seq"), ["request_seq"], unique=False)

    op.create_table(
        "result_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "result_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("at", finales.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["result_seq"], ["results.seq"], name=op.f("fk_result_events_result_seq_results")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_result_events")),
    )
    with op.batch_alter_table("result_events", schema=None) as batch_op:
        batch_op.create_index("ix_result_events_result", ["result_seq", "seq"], unique=False)

    op.create_table(
        "result_state",
        sa.Column(
            "result_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("superseded_by", sa.String(length=36), nullable=True),
        sa.Column("updated_at", finales.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["result_seq"], ["results.seq"], name=op.f("fk_result_state_result_seq_results")
        ),
        sa.PrimaryKeyConstraint("result_seq", name=op.f("pk_result_state")),
    )
    with op.batch_alter_table("result_state", schema=None) as batch_op:
        batch_op.create_index("ix_result_state_status", ["status", "result_seq"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("result_state", schema=None) as batch_op:
        batch_op.drop_index("ix_result_state_status")

    op.drop_table("result_state")
    with op.batch_alter_table("result_events", schema=None) as batch_op:
        batch_op.drop_index("ix_result_events_result")

    op.drop_table("result_events")
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_results_request_seq"))
        batch_op.drop_index("ix_results_qm")

    op.drop_table("results")
    with op.batch_alter_table("request_state", schema=None) as batch_op:
        batch_op.drop_index("ix_request_state_status_q")
        batch_op.drop_index("ix_request_state_lease")

    op.drop_table("request_state")
    with op.batch_alter_table("request_methods", schema=None) as batch_op:
        batch_op.drop_index("ix_request_methods_method")

    op.drop_table("request_methods")
    with op.batch_alter_table("request_events", schema=None) as batch_op:
        batch_op.drop_index("ix_request_events_request")

    op.drop_table("request_events")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requests_parent_request_id"))

    op.drop_table("requests")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offers_offer_set"))

    op.drop_table("offers")
    op.drop_table("api_keys")
    op.drop_table("principals")
    with op.batch_alter_table("offer_sets", schema=None) as batch_op:
        batch_op.drop_index("ix_offer_sets_tenant")

    op.drop_table("offer_sets")
    op.drop_table("tenants")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("capability_events", schema=None) as batch_op:
        batch_op.drop_index("ix_capability_events_qm")

    op.drop_table("capability_events")
    op.drop_table("capabilities")
