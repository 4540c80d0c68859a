"""Ticket work in the ledger: source items (one per capture-like attachment), sweep cursors, named leases, and
webhook deliveries waiting to become items. Every state change commits with the event that records it.

Item states: pending (fetch, scan, record the intake) → revoking (the engine ends the credentials) →
replacing (sanitized copy in place of the original) → noting (internal note on the ticket) → done. `result`
says how an item ended: cleaned | no_credentials | not_a_capture | too_large | gone | failed | ours."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update

from responder.ledger.chain import EventType
from responder.ledger.schema import (
    actions,
    findings,
    leases,
    sightings,
    source_copies,
    source_items,
    sweep_cursors,
    webhook_deliveries,
)
from responder.ledger.store import Ledger, State, _retry_conflicts, _Tx
from responder.model import AttachmentRef


class ItemState:
    PENDING = "pending"
    REVOKING = "revoking"
    REPLACING = "replacing"
    NOTING = "noting"
    DONE = "done"


OPEN_STATES = (ItemState.PENDING, ItemState.REVOKING, ItemState.REPLACING, ItemState.NOTING)
_DETAIL_MAX = 500


@dataclass(frozen=True, slots=True)
class Item:
    """A claimed source item: what to work on, under which lease."""

    id: str
    source: str
    ref: AttachmentRef
    origin: str
    state: str
    intake_id: str | None
    attempts: int
    lease: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Delivery:
    """A recorded webhook delivery still to be turned into items."""

    id: str
    source: str
    ticket_id: str | None
    attachments: tuple[AttachmentRef, ...]


class SourceBook:
    """The ledger's ticket-work tables. Shares the Ledger's engine and transaction discipline."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    # ---- sweep cursors -----------------------------------------------------------------------------------

    def cursor(self, source: str) -> str | None:
        with self._ledger.reader() as connection:
            found = connection.execute(
                select(sweep_cursors.c.cursor).where(sweep_cursors.c.source == source)
            ).scalar_one_or_none()
        return found or None

    def last_checkpoint(self, source: str) -> datetime | None:
        """When the source's sweep last recorded a page or finished (schedules count from here)."""
        with self._ledger.reader() as connection:
            return connection.execute(
                select(sweep_cursors.c.updated_at).where(sweep_cursors.c.source == source)
            ).scalar_one_or_none()

    @_retry_conflicts
    def finished_listing(self, source: str) -> None:
        """A sweep listed everything: the checkpoint time moves even when no page came back."""
        with self._ledger.transaction() as tx:
            updated = tx.connection.execute(
                update(sweep_cursors).where(sweep_cursors.c.source == source).values(updated_at=tx.now)
            ).rowcount
            if not updated:
                tx.connection.execute(
                    insert(sweep_cursors).values(source=source, cursor="", pages=0, updated_at=tx.now)
                )

    @_retry_conflicts
    def record_page(
        self, source: str, refs: Sequence[AttachmentRef], cursor: str, origin: str = "sweep", lease: str = ""
    ) -> int:
        """The page's capture-like attachments as pending items, and the cursor after the page, in one
        transaction: a crash before it re-lists the page; after it, resumes with the next one. With `lease`
        ("sweep:<source>" owner), the write happens only while that lease is held. Returns new items."""
        with self._ledger.transaction() as tx:
            if lease and not self._holds(tx, f"sweep:{source}", lease):
                raise LeaseLost(f"the sweep lease of {source!r} was lost (another replica took it)")
            new = self._add_items(tx, source, refs, origin)
            updated = tx.connection.execute(
                update(sweep_cursors)
                .where(sweep_cursors.c.source == source)
                .values(cursor=cursor, pages=sweep_cursors.c.pages + 1, updated_at=tx.now)
            ).rowcount
            if not updated:
                tx.connection.execute(
                    insert(sweep_cursors).values(source=source, cursor=cursor, pages=1, updated_at=tx.now)
                )
        return new

    def _add_items(self, tx: _Tx, source: str, refs: Iterable[AttachmentRef], origin: str) -> int:
        new = 0
        for ref in refs:
            done = origin == "ours"
            row = tx.connection.execute(
                self._ledger._insert_ignore(source_items)
                .values(
                    id=str(uuid.uuid4()),
                    source=source,
                    ticket_id=ref.ticket_id[:200],
                    attachment_id=ref.attachment_id[:200],
                    comment_id=ref.comment_id[:200] if ref.comment_id else None,
                    name=ref.name[:500],
                    content_type=(ref.content_type or "")[:200] or None,
                    size=ref.size,
                    origin=origin,
                    state=ItemState.DONE if done else ItemState.PENDING,
                    result="ours" if done else None,
                    attempts=0,
                    next_attempt_at=tx.now,
                    detail="the sanitized copy responder attached" if done else "",
                    created_at=tx.now,
                    updated_at=tx.now,
                )
                .on_conflict_do_nothing()
                .returning(source_items.c.id)
            ).first()
            new += row is not None and not done
        return new

    # ---- leases ---------------------------------------------------------------------------------------------

    @_retry_conflicts
    def take_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Hold `name` for `seconds` unless someone else holds it; renews when `owner` already does."""
        with self._ledger.transaction() as tx:
            until = tx.now + timedelta(seconds=seconds)
            taken = tx.connection.execute(
                update(leases)
                .where(leases.c.name == name, or_(leases.c.owner == owner, leases.c.until < tx.now))
                .values(owner=owner, until=until, taken_at=tx.now)
            ).rowcount
            if taken:
                return True
            inserted = tx.connection.execute(
                self._ledger._insert_ignore(leases)
                .values(name=name, owner=owner, until=until, taken_at=tx.now)
                .on_conflict_do_nothing()
                .returning(leases.c.name)
            ).first()
            return inserted is not None

    @_retry_conflicts
    def release_lease(self, name: str, owner: str) -> None:
        with self._ledger.transaction() as tx:
            tx.connection.execute(delete(leases).where(leases.c.name == name, leases.c.owner == owner))

    @_retry_conflicts
    def reclaim_from_dead(self, alive: Callable[[str], bool]) -> int:
        """Free the sweep leases and item leases of processes that `alive` says are gone (a sweep killed on
        this host), instead of waiting for them to lapse. Returns how many were freed."""
        with self._ledger.transaction() as tx:
            item_owners = tx.connection.execute(
                select(source_items.c.lease_owner)
                .where(source_items.c.lease_owner.is_not(None), source_items.c.lease_until >= tx.now)
                .distinct()
            ).scalars()
            dead_items = [owner for owner in item_owners if not alive(owner)]
            sweep_owners = tx.connection.execute(select(leases.c.owner).where(leases.c.until >= tx.now)).scalars()
            dead_sweeps = [owner for owner in sweep_owners if not alive(owner)]
            freed = 0
            if dead_items:
                freed += tx.connection.execute(
                    update(source_items)
                    .where(source_items.c.lease_owner.in_(dead_items))
                    .values(lease_owner=None, lease_until=None)
                ).rowcount
            if dead_sweeps:
                freed += tx.connection.execute(delete(leases).where(leases.c.owner.in_(dead_sweeps))).rowcount
        return freed

    def lease_holder(self, name: str) -> tuple[str, datetime] | None:
        with self._ledger.reader() as connection:
            row = connection.execute(select(leases.c.owner, leases.c.until).where(leases.c.name == name)).first()
        return None if row is None else (row.owner, row.until)

    def _holds(self, tx: _Tx, name: str, owner: str) -> bool:
        row = tx.connection.execute(
            select(leases.c.owner).where(leases.c.name == name, leases.c.owner == owner, leases.c.until >= tx.now)
        ).first()
        return row is not None

    # ---- webhook deliveries → items ---------------------------------------------------------------------

    def waiting_deliveries(
        self, sources: Iterable[str], limit: int = 50, exclude: Sequence[str] = ()
    ) -> list[Delivery]:
        """The oldest waiting deliveries of these sources, but those in `exclude` (backing off)."""
        query = select(webhook_deliveries).where(
            webhook_deliveries.c.processed_at.is_(None), webhook_deliveries.c.source.in_(list(sources))
        )
        if exclude:
            query = query.where(webhook_deliveries.c.id.not_in(list(exclude)))
        with self._ledger.reader() as connection:
            rows = connection.execute(query.order_by(webhook_deliveries.c.received_at).limit(limit)).all()
        found = []
        for row in rows:
            refs = tuple(
                AttachmentRef(
                    ticket_id=row.ticket_id,
                    attachment_id=str(ref["id"]),
                    name=ref.get("name") or str(ref["id"]),
                    comment_id=ref.get("comment_id"),
                )
                for ref in json.loads(row.attachments)
                if ref.get("id") and row.ticket_id
            )
            found.append(Delivery(row.id, row.source, row.ticket_id, refs))
        return found

    @_retry_conflicts
    def deliver(self, delivery: Delivery, refs: Sequence[AttachmentRef]) -> int:
        """Turn a delivery into pending items (capture-like `refs` only) and mark it processed, once: a
        delivery another replica processed first adds nothing. Returns new items."""
        with self._ledger.transaction() as tx:
            marked = tx.connection.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id == delivery.id, webhook_deliveries.c.processed_at.is_(None))
                .values(processed_at=tx.now)
            ).rowcount
            return self._add_items(tx, delivery.source, refs, "webhook") if marked else 0

    # ---- the item queue --------------------------------------------------------------------------------

    @_retry_conflicts
    def claim(self, owner: str, limit: int, lease_seconds: float, sources: Iterable[str]) -> list[Item]:
        """Lease up to `limit` due items of these sources (PostgreSQL: rows another claimer holds are skipped)."""
        with self._ledger.transaction() as tx:
            now = tx.now
            query = (
                select(source_items)
                .where(
                    source_items.c.state != ItemState.DONE,
                    source_items.c.next_attempt_at <= now,
                    or_(source_items.c.lease_until.is_(None), source_items.c.lease_until < now),
                    (source_items.c.source + "").in_(list(sources)),
                )
                .order_by(source_items.c.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            claimed = []
            for row in tx.connection.execute(query).all():
                lease = f"{owner}/{uuid.uuid4().hex[:12]}"
                tx.connection.execute(
                    update(source_items)
                    .where(source_items.c.id == row.id)
                    .values(lease_owner=lease, lease_until=now + timedelta(seconds=lease_seconds), updated_at=now)
                )
                ref = AttachmentRef(
                    row.ticket_id, row.attachment_id, row.name, row.comment_id, row.content_type, row.size
                )
                claimed.append(
                    Item(row.id, row.source, ref, row.origin, row.state, row.intake_id, row.attempts, lease, row.detail)
                )
        return claimed

    def fetched(self, item: Item, intake_id: str, findings_count: int, name: str) -> Any:
        """A hook for Responder.intake: inside the intake's own transaction, the item moves to revoking (or is
        done when nothing was found) and `attachment_fetched` is recorded. Raises LeaseLost to roll back."""

        def apply(tx: _Tx) -> None:
            state = ItemState.REVOKING if findings_count else ItemState.DONE
            moved = tx.connection.execute(
                update(source_items)
                .where(source_items.c.id == item.id, source_items.c.lease_owner == item.lease)
                .values(
                    state=state,
                    result=None if findings_count else "no_credentials",
                    intake_id=intake_id,
                    attempts=0,
                    next_attempt_at=tx.now,
                    lease_owner=None,
                    lease_until=None,
                    detail=f"{findings_count} credential(s) found" if findings_count else "no credentials found",
                    updated_at=tx.now,
                )
            ).rowcount
            if not moved:
                raise LeaseLost("the item's lease was lost while it was being scanned")
            tx.event(
                EventType.ATTACHMENT_FETCHED,
                {**_ref_body(item), "findings": findings_count, "artifact_name": name},
                intake_id=intake_id,
            )

        return apply

    @_retry_conflicts
    def will_attach(self, item: Item, sha256: str) -> None:
        """Before the upload: the copy's bytes are ours (kept even if the upload fails; a digest holds no secret)."""
        with self._ledger.transaction() as tx:
            tx.connection.execute(
                self._ledger._insert_ignore(source_copies)
                .values(source=item.source, sha256=sha256, item_id=item.id, created_at=tx.now)
                .on_conflict_do_nothing()
            )

    def is_our_copy(self, source: str, sha256: str) -> bool:
        with self._ledger.reader() as connection:
            found = connection.execute(
                select(source_copies.c.item_id).where(
                    source_copies.c.source == source, source_copies.c.sha256 == sha256
                )
            ).first()
        return found is not None

    @_retry_conflicts
    def skipped(self, item: Item, result: str, detail: str) -> bool:
        """The item ends without an intake (not a capture, too large, gone, failed for good)."""
        with self._ledger.transaction() as tx:
            moved = self._move(tx, item, ItemState.DONE, result=result, detail=detail)
            if moved:
                tx.event(
                    EventType.ATTACHMENT_SKIPPED,
                    {**_ref_body(item), "result": result, "detail": detail[:_DETAIL_MAX]},
                    intake_id=item.intake_id,
                )
        return moved

    @_retry_conflicts
    def advance(self, item: Item, state: str, detail: str = "") -> bool:
        """Move on without an event (e.g. revoking → replacing once every action is done), keeping the lease
        so the same worker can take the next step at once."""
        with self._ledger.transaction() as tx:
            return self._move(tx, item, state, detail=detail, hold=True)

    @_retry_conflicts
    def replaced(self, item: Item, how: str, copy: AttachmentRef | None) -> bool:
        """The original is gone and the sanitized copy is on the ticket: the copy becomes an item of ours (a
        later sweep skips it) and the item moves to noting."""
        with self._ledger.transaction() as tx:
            moved = self._move(tx, item, ItemState.NOTING, detail=f"original {how}", hold=True)
            if moved:
                if copy is not None:
                    self._add_items(tx, item.source, [copy], "ours")
                tx.event(
                    EventType.ATTACHMENT_REPLACED,
                    {**_ref_body(item), "how": how, "copy": copy.attachment_id if copy else None},
                    intake_id=item.intake_id,
                )
        return moved

    @_retry_conflicts
    def noted(self, item: Item, lines: int) -> bool:
        """Done: the note is on the ticket (`lines` > 0), or the ticket takes none (closed; `lines` == 0)."""
        detail = "replaced and noted" if lines else "replaced; the ticket is closed, so the note is only in the ledger"
        with self._ledger.transaction() as tx:
            moved = self._move(tx, item, ItemState.DONE, result="cleaned", detail=detail)
            if moved:
                tx.event(
                    EventType.NOTE_ADDED,
                    {**_ref_body(item), "lines": lines, "on_ticket": bool(lines)},
                    intake_id=item.intake_id,
                )
        return moved

    @_retry_conflicts
    def later(self, item: Item, until: datetime, detail: str, *, count: bool) -> bool:
        """Release the item until `until`; `count` adds a failed attempt (waiting for the engine does not)."""
        with self._ledger.transaction() as tx:
            values: dict[str, Any] = {
                "next_attempt_at": until,
                "lease_owner": None,
                "lease_until": None,
                "detail": detail[:_DETAIL_MAX],
                "updated_at": tx.now,
            }
            if count:
                values["attempts"] = source_items.c.attempts + 1
            return _update_held(tx, item, values)

    def _move(
        self, tx: _Tx, item: Item, state: str, *, result: str | None = None, detail: str = "", hold: bool = False
    ) -> bool:
        """`hold`: keep the lease (the same worker goes on with the next step; a crash frees it at expiry)."""
        values: dict[str, Any] = {
            "state": state,
            "attempts": 0,
            "next_attempt_at": tx.now,
            "detail": detail[:_DETAIL_MAX],
            "updated_at": tx.now,
        }
        if not hold:
            values.update(lease_owner=None, lease_until=None)
        if result is not None:
            values["result"] = result
        if result == "ours":  # listed as a new attachment before the copy was recorded: it is ours all the same
            values["origin"] = "ours"
        return _update_held(tx, item, values)

    # ---- reads --------------------------------------------------------------------------------------------

    def intake_open_actions(self, intake_id: str) -> int:
        """Actions this intake's findings map to that are not done yet (the engine still has work)."""
        with self._ledger.reader() as connection:
            return int(
                connection.execute(
                    select(func.count(func.distinct(actions.c.id)))
                    .select_from(
                        findings.join(sightings, sightings.c.finding_id == findings.c.id).join(
                            actions, actions.c.id == sightings.c.action_id
                        )
                    )
                    .where(findings.c.intake_id == intake_id, actions.c.state != State.DONE)
                ).scalar_one()
            )

    def open_items(self, source: str) -> int:
        with self._ledger.reader() as connection:
            return int(
                connection.execute(
                    select(func.count())
                    .select_from(source_items)
                    .where(source_items.c.source == source, source_items.c.state != ItemState.DONE)
                ).scalar_one()
            )

    def results(self, source: str, since: datetime | None = None) -> Mapping[str, int]:
        """Items by result ("open" for unfinished), optionally only those created since a time."""
        condition = and_(source_items.c.source == source)
        if since is not None:
            condition = and_(condition, source_items.c.created_at >= since)
        with self._ledger.reader() as connection:
            rows = connection.execute(
                select(source_items.c.result, source_items.c.state, func.count())
                .where(condition)
                .group_by(source_items.c.result, source_items.c.state)
            ).all()
        counts: dict[str, int] = {}
        for result, state, count in rows:
            key = result if state == ItemState.DONE else "open"
            counts[key] = counts.get(key, 0) + count
        return counts

    def items(self, source: str | None = None, limit: int = 1000) -> list[Mapping[str, Any]]:
        query = select(source_items).order_by(source_items.c.created_at).limit(limit)
        if source is not None:
            query = query.where(source_items.c.source == source)
        with self._ledger.reader() as connection:
            return [dict(row._mapping) for row in connection.execute(query).all()]


def _update_held(tx: _Tx, item: Item, values: Mapping[str, Any]) -> bool:
    """Change the item only while this claim still holds it (another worker may have taken it after expiry)."""
    held = and_(source_items.c.id == item.id, source_items.c.lease_owner == item.lease)
    return bool(tx.connection.execute(update(source_items).where(held).values(**values)).rowcount)


class LeaseLost(Exception):
    """Another worker owns what this one was working on: stop, change nothing."""


def _ref_body(item: Item) -> dict[str, Any]:
    return {
        "item": item.id,
        "source": item.source,
        "ticket": item.ref.ticket_id,
        "attachment": item.ref.attachment_id,
        "name": item.ref.name,
        "origin": item.origin,
    }
