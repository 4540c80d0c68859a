"""The notification outbox in the ledger: which notices are owed, claimed, sent or given up.

One row per (intake or panic, notifier), unique: replicas that find the same finished intake insert it once
(insert-or-ignore), and a row is sent only by whoever holds its lease (FOR UPDATE SKIP LOCKED on PostgreSQL;
SQLite's writers are serialised by BEGIN IMMEDIATE). A sender that dies mid-delivery leaves its lease to run
out, and the row is tried again: a crash at the wrong moment can repeat a message, never lose it.

`ledger_meta.notify_since` is set on the first run, so turning notifications on does not mail the history; it
then moves forward past subjects that are settled, so each poll surveys only recent ones."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from responder.ledger.schema import ledger_meta, notifications
from responder.ledger.store import Ledger, iso
from responder.notify.notice import SubjectKind

SINCE_KEY = "notify_since"
PENDING = "pending"
SENT = "sent"
FAILED = "failed"
_ERROR_CHARS = 500
_IN_CHUNK = 500
# Fixed forever: delivery ids (webhook header, email Message-ID) are derived from it.
_DELIVERY_NAMESPACE = uuid.UUID("b3f4c0e2-55a1-4f7e-9d8c-2a61e0c4d7f1")


def delivery_id(kind: str, subject_id: str, notifier: str) -> str:
    """The same for every retry of one notice through one notifier, on every replica."""
    return str(uuid.uuid5(_DELIVERY_NAMESPACE, f"{kind}\x1f{subject_id}\x1f{notifier}"))


@dataclass(frozen=True, slots=True)
class Owed:
    kind: SubjectKind
    subject_id: str
    notifier: str


@dataclass(frozen=True, slots=True)
class Claim:
    row_id: int
    kind: SubjectKind
    subject_id: str
    notifier: str
    attempt: int  # the number of this delivery (1 for the first)
    lease: str

    @property
    def delivery_id(self) -> str:
        return delivery_id(self.kind, self.subject_id, self.notifier)


def _parse(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class Outbox:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def _insert_ignore(self, table: Any) -> Any:
        return (postgresql.insert if self._ledger.dialect == "postgresql" else sqlite.insert)(table)

    def since(self, now: datetime) -> datetime:
        """When notifications start: the first run's time, stored once (the first replica's wins), or later
        once the outbox has moved past settled subjects. Read without the write lock on every poll."""
        with self._ledger.reader() as connection:
            stored = connection.execute(
                select(ledger_meta.c.value).where(ledger_meta.c.name == SINCE_KEY)
            ).scalar_one_or_none()
        if stored is None:
            with self._ledger.transaction() as tx:
                tx.connection.execute(
                    self._insert_ignore(ledger_meta).values(name=SINCE_KEY, value=iso(now)).on_conflict_do_nothing()
                )
                stored = tx.connection.execute(
                    select(ledger_meta.c.value).where(ledger_meta.c.name == SINCE_KEY)
                ).scalar_one()
        return _parse(stored)

    def advance(self, to: datetime) -> None:
        """Move `notify_since` forward (never back). Fixed-width ISO text sorts like the times it holds."""
        with self._ledger.transaction() as tx:
            tx.connection.execute(
                update(ledger_meta)
                .where(ledger_meta.c.name == SINCE_KEY, ledger_meta.c.value < iso(to))
                .values(value=iso(to))
            )

    def missing(self, wanted: Sequence[Owed]) -> list[Owed]:
        """Those of `wanted` that have no row yet."""
        present: set[tuple[str, str, str]] = set()
        with self._ledger.reader() as connection:
            for kind in {o.kind for o in wanted}:
                ids = sorted({o.subject_id for o in wanted if o.kind == kind})
                for start in range(0, len(ids), _IN_CHUNK):
                    rows = connection.execute(
                        select(notifications.c.subject_id, notifications.c.notifier).where(
                            notifications.c.subject_kind == kind,
                            notifications.c.subject_id.in_(ids[start : start + _IN_CHUNK]),
                        )
                    )
                    present.update((kind, r.subject_id, r.notifier) for r in rows)
        return [o for o in wanted if (o.kind, o.subject_id, o.notifier) not in present]

    def enqueue(self, owed: Iterable[Owed], now: datetime) -> int:
        """Insert a pending row for each, unless one exists (another replica's). Returns how many are new.
        Always in key order, so two replicas inserting the same rows queue instead of deadlocking."""
        inserted = 0
        with self._ledger.transaction() as tx:
            for row in sorted(owed, key=lambda o: (o.kind, o.subject_id, o.notifier)):
                statement = (
                    self._insert_ignore(notifications)
                    .values(
                        subject_kind=row.kind,
                        subject_id=row.subject_id,
                        notifier=row.notifier,
                        state=PENDING,
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                    .on_conflict_do_nothing()
                    .returning(notifications.c.id)
                )
                if tx.connection.execute(statement).first() is not None:
                    inserted += 1
        return inserted

    def claim(
        self, owner: str, notifiers: Collection[str], now: datetime, limit: int, lease_seconds: float
    ) -> list[Claim]:
        """Lease up to `limit` due rows of these notifiers, each under its own token, counting the attempt."""
        if not notifiers:
            return []
        with self._ledger.transaction() as tx:
            lease_free = or_(notifications.c.lease_until.is_(None), notifications.c.lease_until < now)
            query = (
                select(notifications)
                .where(
                    notifications.c.state == PENDING,
                    notifications.c.next_attempt_at <= now,
                    lease_free,
                    notifications.c.notifier.in_(sorted(notifiers)),
                )
                .order_by(notifications.c.next_attempt_at, notifications.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            claimed: list[Claim] = []
            until = now + timedelta(seconds=lease_seconds)
            for row in tx.connection.execute(query).all():
                lease = f"{owner}/{uuid.uuid4().hex[:12]}"
                tx.connection.execute(
                    update(notifications)
                    .where(notifications.c.id == row.id)
                    .values(attempts=row.attempts + 1, lease_owner=lease, lease_until=until)
                )
                claimed.append(Claim(row.id, row.subject_kind, row.subject_id, row.notifier, row.attempts + 1, lease))
        return claimed

    def sent(self, claim: Claim, now: datetime) -> bool:
        return self._finish(claim, state=SENT, sent_at=now)

    def retry(self, claim: Claim, error: str, at: datetime) -> bool:
        return self._finish(claim, state=PENDING, next_attempt_at=at, last_error=error[:_ERROR_CHARS])

    def fail(self, claim: Claim, error: str) -> bool:
        return self._finish(claim, state=FAILED, last_error=error[:_ERROR_CHARS])

    def _finish(self, claim: Claim, **values: Any) -> bool:
        """Record how a delivery went, if the lease is still ours. False: it ran out and another took the row."""
        with self._ledger.transaction() as tx:
            changed = tx.connection.execute(
                update(notifications)
                .where(and_(notifications.c.id == claim.row_id, notifications.c.lease_owner == claim.lease))
                .values(lease_owner=None, lease_until=None, **values)
            ).rowcount
        return bool(changed)
