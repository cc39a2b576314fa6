"""The schema. Record tables (capabilities, tenants, offers, requests, results) are
immutable rows; every state change is a row in an ``*_events`` table. ``request_state`` and
``result_state`` are projections of the events for fast queries: they change only in the
transaction that appends the event driving them and can be rebuilt from the events
(``finales.services.integrity``)."""

from __future__ import annotations

import sqlalchemy as sa

from finales.db.types import BigId, JSONType, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = sa.MetaData(naming_convention=NAMING)

ID = sa.String(36)


def _pk() -> sa.Column[int]:
    return sa.Column("seq", BigId, primary_key=True, autoincrement=True)


principals = sa.Table(
    "principals",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("tenant_id", ID, sa.ForeignKey("tenants.id"), nullable=True),
    sa.Column("password_hash", sa.String(255), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # Administration changes these in place; principal_events keeps what changed, by whom.
    sa.Column("disabled_at", UTCDateTime, nullable=True),
    # Tokens carry the generation they were issued under: raising it ends them all.
    sa.Column("token_generation", sa.Integer, nullable=False, server_default="0"),
)

# The audit history of the principals and their keys: who created, disabled, re-enabled,
# changed the role or password of whom, and which keys and tokens were revoked. Never a secret.
principal_events = sa.Table(
    "principal_events",
    metadata,
    _pk(),
    sa.Column("principal_id", ID, sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Index("ix_principal_events_principal", "principal_id", "seq"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("principal_id", ID, sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)

capabilities = sa.Table(
    "capabilities",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("quantity", sa.String(200), nullable=False),
    sa.Column("method", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("request_schema", JSONType, nullable=False),
    sa.Column("result_schema", JSONType, nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    # Its requests wait in awaiting_approval until an admin or approver decides.
    sa.Column("requires_approval", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("quantity", "method", "version", name="uq_capabilities_qmv"),
)

capability_events = sa.Table(
    "capability_events",
    metadata,
    _pk(),
    sa.Column("quantity", sa.String(200), nullable=False),
    sa.Column("method", sa.String(200), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Index("ix_capability_events_qm", "quantity", "method", "seq"),
)

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("contact", sa.String(500), nullable=False, default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
)

# PUT /tenants/{id}/offers appends a new offer set; a tenant's offers are its latest set.
offer_sets = sa.Table(
    "offer_sets",
    metadata,
    _pk(),
    sa.Column("tenant_id", ID, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Index("ix_offer_sets_tenant", "tenant_id", "seq"),
)

offers = sa.Table(
    "offers",
    metadata,
    _pk(),
    sa.Column("offer_set", BigId, sa.ForeignKey("offer_sets.seq"), nullable=False, index=True),
    sa.Column("tenant_id", ID, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("quantity", sa.String(200), nullable=False),
    sa.Column("method", sa.String(200), nullable=False),
    sa.Column("limitations", JSONType, nullable=False),
)

requests = sa.Table(
    "requests",
    metadata,
    _pk(),
    sa.Column("id", ID, nullable=False, unique=True),
    sa.Column("quantity", sa.String(200), nullable=False),
    sa.Column("methods", JSONType, nullable=False),
    sa.Column("parameters", JSONType, nullable=False),
    sa.Column("capability_ids", JSONType, nullable=False),
    sa.Column("requester_principal_id", ID, sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("requester_tenant_id", ID, sa.ForeignKey("tenants.id"), nullable=True),
    sa.Column("parent_request_id", ID, nullable=True, index=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # Workflows (migration 0005; NULL on older rows: no labels, no inputs). The labels are
    # returned from here with the request; request_labels holds them again to filter on.
    sa.Column("labels", JSONType, nullable=True),
    sa.Column("inputs", JSONType, nullable=True),  # ids of the results the request used
    sa.Index("ix_requests_created", "created_at", "seq"),  # where ?since= listings start
)

# A request's labels, one row per key: ?label=key:value reads (key, value) from the index
# instead of scanning the JSON of every request. Written with the request, never changed.
request_labels = sa.Table(
    "request_labels",
    metadata,
    sa.Column("request_seq", BigId, sa.ForeignKey("requests.seq"), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
    sa.Index("ix_request_labels_key_value", "key", "value", "request_seq"),
)

# One row per acceptable method, so that filters and the hand-out can join on (quantity, method).
request_methods = sa.Table(
    "request_methods",
    metadata,
    sa.Column("request_seq", BigId, sa.ForeignKey("requests.seq"), primary_key=True),
    sa.Column("method", sa.String(200), primary_key=True),
    sa.Index("ix_request_methods_method", "method", "request_seq"),
)

request_events = sa.Table(
    "request_events",
    metadata,
    _pk(),
    sa.Column("request_seq", BigId, sa.ForeignKey("requests.seq"), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("tenant_id", ID, nullable=True),
    sa.Column("from_status", sa.String(20), nullable=True),
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    sa.Index("ix_request_events_request", "request_seq", "seq"),
)

request_state = sa.Table(
    "request_state",
    metadata,
    sa.Column("request_seq", BigId, sa.ForeignKey("requests.seq"), primary_key=True),
    sa.Column("quantity", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reserved_by", ID, nullable=True),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_request_state_status_q", "status", "quantity", "request_seq"),
    # Listings filtered by status read their page in seq order from here, and the hand-out
    # walks pending requests: cost follows the page and the live queue, not the history.
    sa.Index("ix_request_state_status_seq", "status", "request_seq"),
    sa.Index("ix_request_state_lease", "status", "lease_expires_at"),
)

results = sa.Table(
    "results",
    metadata,
    _pk(),
    sa.Column("id", ID, nullable=False, unique=True),
    sa.Column("request_seq", BigId, sa.ForeignKey("requests.seq"), nullable=False, index=True),
    sa.Column("quantity", sa.String(200), nullable=False),
    sa.Column("method", sa.String(200), nullable=False),
    sa.Column("parameters", JSONType, nullable=False),
    sa.Column("data", JSONType, nullable=False),
    sa.Column("capability_id", ID, sa.ForeignKey("capabilities.id"), nullable=False),
    sa.Column("tenant_id", ID, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("principal_id", ID, sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("supersedes", ID, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("inputs", JSONType, nullable=True),  # ids of the results it used (0005)
    sa.Index("ix_results_qm", "quantity", "method", "seq"),
    sa.Index("ix_results_created", "created_at", "seq"),  # where ?since= listings start
)

result_events = sa.Table(
    "result_events",
    metadata,
    _pk(),
    sa.Column("result_seq", BigId, sa.ForeignKey("results.seq"), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("from_status", sa.String(20), nullable=True),
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Index("ix_result_events_result", "result_seq", "seq"),
)

result_state = sa.Table(
    "result_state",
    metadata,
    sa.Column("result_seq", BigId, sa.ForeignKey("results.seq"), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("superseded_by", ID, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_result_state_status", "status", "result_seq"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("principal_id", ID, primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("body", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

RECORD_TABLES = (
    "capabilities",
    "tenants",
    "offer_sets",
    "offers",
    "requests",
    "request_methods",
    "request_labels",
    "results",
)
EVENT_TABLES = ("capability_events", "request_events", "result_events", "principal_events")
PROJECTION_TABLES = ("request_state", "result_state")
