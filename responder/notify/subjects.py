"""Which intakes and panics are finished and worth a notice, among those recorded since a point in time.

An intake qualifies once every action it planned is done and at least one of them was real (not a rehearsal)
and ended revoked or failed: it held a live credential. A panic qualifies once all of its actions are done and
at least one was real and ended revoked or failed. Both action sets are fixed when the intake or panic is
recorded, so "finished" never turns back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from responder.ledger.chain import EventType
from responder.ledger.schema import actions, events, intakes, panics
from responder.ledger.store import Ledger, State
from responder.notify.notice import LIVE, SubjectKind

_IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class SubjectRef:
    kind: SubjectKind
    id: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class Survey:
    ready: tuple[SubjectRef, ...]  # finished and qualifying, oldest first
    earliest_open: datetime | None  # when the oldest one still being worked on was recorded


def survey(ledger: Ledger, since: datetime) -> Survey:
    with ledger.reader() as connection:
        window = connection.execute(
            select(intakes.c.id, intakes.c.received_at).where(
                intakes.c.received_at >= since, intakes.c.dry_run.is_(False)
            )
        ).all()
        intake_rows: list[Any] = []
        for start in range(0, len(window), _IN_CHUNK):
            intake_rows += _intake_states(connection, [r.id for r in window[start : start + _IN_CHUNK]])
        received = {r.id: r.received_at for r in window}
        # A panic can have tens of thousands of actions: existence checks (the open one through the partial
        # index on open panic actions) instead of counting them on every poll.
        panic_open = (
            select(actions.c.id).where(actions.c.panic_id == panics.c.id, actions.c.state != State.DONE).exists()
        )
        panic_live = (
            select(actions.c.id)
            .where(actions.c.panic_id == panics.c.id, actions.c.dry_run.is_(False), actions.c.outcome.in_(LIVE))
            .exists()
        )
        panic_rows = connection.execute(
            select(panics.c.id, panics.c.requested_at, panic_open.label("open"), panic_live.label("live")).where(
                panics.c.requested_at >= since
            )
        ).all()
    ready = [SubjectRef("intake", r.id, received[r.id]) for r in intake_rows if not r.open and r.live]
    ready += [SubjectRef("panic", r.id, r.requested_at) for r in panic_rows if not r.open and r.live]
    ready.sort(key=lambda s: (s.recorded_at, s.id))
    open_since = [received[r.id] for r in intake_rows if r.open] + [r.requested_at for r in panic_rows if r.open]
    return Survey(tuple(ready), min(open_since, default=None))


def _intake_states(connection: Connection, intake_ids: list[str]) -> Sequence[Any]:
    """Per intake: how many of the actions it planned are still open, and how many were live. Only the actions
    each intake planned itself (a credential seen again was told about with its first), found through their
    `action_planned` events, which are indexed by intake (the sightings are not)."""
    still_open = func.sum(case((actions.c.state != State.DONE, 1), else_=0))
    live = func.sum(case((actions.c.outcome.in_(LIVE), 1), else_=0))
    query = (
        select(events.c.intake_id.label("id"), still_open.label("open"), live.label("live"))
        .join(actions, actions.c.id == events.c.action_id)
        .where(events.c.intake_id.in_(intake_ids), events.c.type == EventType.ACTION_PLANNED.value)
        .group_by(events.c.intake_id)
    )
    return connection.execute(query).all()
