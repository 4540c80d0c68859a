"""Ledger tables (SQLAlchemy Core). Alembic migrations create them; this module is the single description.

Nothing here holds a raw credential or an artifact body; `actions.sealed` is AES-GCM ciphertext and is
emptied when the action ends."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; stored naive UTC so SQLite and PostgreSQL agree."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# The hash-chained, append-only record of everything that happened. `seq` is assigned under the chain lock.
events = Table(
    "events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("ts", String(32), nullable=False),  # ISO 8601 UTC with microseconds, exactly as hashed
    Column("type", String(40), nullable=False),
    Column("intake_id", String(36), index=True),
    Column("action_id", String(36), index=True),
    Column("body", Text, nullable=False),  # canonical JSON
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
)

# One row: the newest event's seq and hash. Locked (FOR UPDATE) by every transaction that appends.
chain_head = Table(
    "chain_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

intakes = Table(
    "intakes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("source", String(100), nullable=False),
    Column("reference", String(500), nullable=False),  # ticket/attachment/upload id or file name
    Column("artifact_name", String(500), nullable=False),
    Column("artifact_sha256", String(64), nullable=False),
    Column("artifact_size", Integer, nullable=False),
    Column("reader", String(40), nullable=False),
    Column("dry_run", Boolean, nullable=False),
)

findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("intake_id", ForeignKey("intakes.id"), nullable=False, index=True),
    Column("fingerprint", String(64), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("detector", String(80), nullable=False),
    Column("revocable", Boolean, nullable=False),
    Column("family", String(32)),
    Column("provider", String(100)),
    Column("subject_id", String(300)),
    # planned | needs_subject | no_provider | unhandled | not_revocable | no_action | expired
    Column("disposition", String(32), nullable=False),
    Column("locations", Integer, nullable=False),
    UniqueConstraint("intake_id", "fingerprint"),
)

panics = Table(
    "panics",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("provider", String(100), nullable=False),
    Column("scope", String(16), nullable=False),  # user | group | all
    Column("selector", String(300), nullable=False),
)

actions = Table(
    "actions",
    metadata,
    Column("id", String(36), primary_key=True),  # the idempotency key (uuid5)
    Column("verb", String(40), nullable=False),
    Column("provider", String(100), nullable=False, index=True),
    Column("fingerprint", String(64), index=True),
    Column("kind", String(32)),
    Column("subject_id", String(300), index=True),
    Column("subject_login", String(300)),
    Column("trigger", String(16), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("intake_id", ForeignKey("intakes.id")),
    Column("panic_id", ForeignKey("panics.id"), index=True),
    Column("dry_run", Boolean, nullable=False),
    Column("state", String(16), nullable=False),  # planned | running | verifying | done
    Column("outcome", String(32)),
    Column("detail", Text, nullable=False, default=""),
    Column("attempts", Integer, nullable=False, default=0),
    Column("provider_request_id", String(200)),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(120)),
    Column("lease_until", UTCDateTime),
    Column("sealed", LargeBinary),
    Column("verified", Boolean),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("verified_at", UTCDateTime),
    Index("ix_actions_due", "state", "next_attempt_at"),
    # Claims read open actions in next_attempt_at order and stop at LIMIT: without these, a panic of thousands
    # re-sorted every open row on each claim (quadratic). Partial: done actions, the bulk, are not in them.
    Index(
        "ix_actions_open",
        "next_attempt_at",
        sqlite_where=text("state <> 'done'"),
        postgresql_where=text("state <> 'done'"),
    ),
    Index(
        "ix_actions_panic_open",
        "panic_id",
        "next_attempt_at",
        sqlite_where=text("state <> 'done'"),
        postgresql_where=text("state <> 'done'"),
    ),
)

# Each time a finding maps onto an action (a second upload of the same token is a second sighting).
sightings = Table(
    "sightings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("action_id", ForeignKey("actions.id"), nullable=False, index=True),
    Column("finding_id", ForeignKey("findings.id"), nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
    UniqueConstraint("action_id", "finding_id"),
)

# Facts about the ledger itself, e.g. the ids of the keys it was started with (hosts must agree on them).
ledger_meta = Table(
    "ledger_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
)

# Each webhook delivery whose signature checked out: the ticket and attachment references it announced (ids,
# names, URLs without query string or capability token), fetched later by the source's connector. One row per
# vendor delivery id and one per signed content, so a redelivery or a replay is recorded once, on any replica.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("source", String(100), nullable=False),  # the configured [[sources]] name
    Column("plugin", String(40), nullable=False),
    Column("delivery_id", String(200)),  # the vendor's id of the delivery or event, when it sends one
    Column("signed_sha256", String(64), nullable=False),  # SHA-256 of exactly what the signature covers
    Column("event", String(100)),
    Column("ticket_id", String(200)),
    Column("attachments", Text, nullable=False),  # canonical JSON list of {id, name, url, comment_id}
    # Set once the connector has turned the delivery into source items (same transaction): null = waiting.
    Column("processed_at", UTCDateTime),
    UniqueConstraint("source", "delivery_id"),
    UniqueConstraint("source", "signed_sha256"),
    Index(
        "ix_webhook_deliveries_waiting",
        "received_at",
        sqlite_where=text("processed_at IS NULL"),
        postgresql_where=text("processed_at IS NULL"),
    ),
)

# One row per capture-like attachment a source announced (webhook) or a sweep listed: the unit of ticket
# work. `state` moves pending → revoking (its intake is recorded; the engine ends the credentials) → replacing
# (sanitized copy in place of the original) → noting (internal note) → done; `result` says how it ended. Unique per
# (source, attachment), so a webhook and a sweep, or two replicas, never process one attachment twice.
source_items = Table(
    "source_items",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("source", String(100), nullable=False),
    Column("ticket_id", String(200), nullable=False),
    Column("attachment_id", String(200), nullable=False),
    Column("comment_id", String(200)),
    Column("name", String(500), nullable=False),
    Column("content_type", String(200)),
    Column("size", Integer),
    Column("origin", String(16), nullable=False),  # sweep | webhook | ours (a sanitized copy we attached)
    Column("state", String(16), nullable=False),
    # cleaned | no_credentials | not_a_capture | too_large | gone | failed | ours
    Column("result", String(32)),
    Column("intake_id", String(36)),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(120)),
    Column("lease_until", UTCDateTime),
    Column("detail", String(500), nullable=False),  # operator-readable, never a secret
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("source", "attachment_id"),
    Index(
        "ix_source_items_open",
        "next_attempt_at",
        sqlite_where=text("state <> 'done'"),
        postgresql_where=text("state <> 'done'"),
    ),
)

# Where each source's sweep stands: the vendor's own cursor (opaque, not a credential), written after every
# page in the same transaction as that page's items, so a crash resumes at the first page not recorded.
sweep_cursors = Table(
    "sweep_cursors",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("cursor", Text, nullable=False),
    Column("pages", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# The SHA-256 of every sanitized copy responder is about to attach (written before the upload): a sweep that
# lists the copy before the item recorded it (a crash between the vendor's answer and the ledger write) knows
# it for ours by its bytes, and skips it instead of scanning it as a new capture.
source_copies = Table(
    "source_copies",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("item_id", String(36), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Named leases (e.g. "sweep:support"): one holder at a time across replicas, until it lapses.
leases = Table(
    "leases",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("owner", String(120), nullable=False),
    Column("until", UTCDateTime, nullable=False),
    Column("taken_at", UTCDateTime, nullable=False),
)

# The notification outbox: one row per (intake or panic, configured notifier), unique, so replicas that find
# the same finished intake insert it once and only the claimer of the row sends. `state` pending → sent, or
# failed after the notifier's attempts; `last_error` is operator-readable (status, host), never a secret.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject_kind", String(8), nullable=False),  # intake | panic
    Column("subject_id", String(36), nullable=False),
    Column("notifier", String(100), nullable=False),  # the configured [[notifiers]] name
    Column("state", String(16), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(120)),
    Column("lease_until", UTCDateTime),
    Column("last_error", String(500)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    UniqueConstraint("subject_kind", "subject_id", "notifier"),
    Index(
        "ix_notifications_pending",
        "next_attempt_at",
        sqlite_where=text("state = 'pending'"),
        postgresql_where=text("state = 'pending'"),
    ),
)
