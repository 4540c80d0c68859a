"""Which intakes and panics are finished and worth a notice, among those recorded since a point in time.

An intake (not a rehearsal) qualifies once every action it planned is done, and either one of them ended
revoked or failed (it held a live credential) or one of its credentials needs a person (no provider, no way at
the provider, no known user): someone must hear of those most of all. A panic qualifies once all of its actions
are done and at least one was real, whatever the outcomes: a panic where every session had already ended is
still news to the people who asked for it. Both action sets are fixed when the intake or panic is recorded, so
"finished" never turns back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from responder.ledger.chain import EventType
from responder.ledger.schema import actions, events, findings, intakes, panics
from responder.ledger.store import NEEDS_A_PERSON, Ledger, State
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
        waiting: set[str] = set()
        for start in range(0, len(window), _IN_CHUNK):
            chunk = [r.id for r in window[start : start + _IN_CHUNK]]
            intake_rows += _intake_states(connection, chunk)
            waiting |= _needing_a_person(connection, chunk)
        received = {r.id: r.received_at for r in window}
        # A panic can have tens of thousands of actions: existence checks (the open one through the partial
        # index on open panic actions) instead of counting them on every poll.
        panic_open = (
            select(actions.c.id).where(actions.c.panic_id == panics.c.id, actions.c.state != State.DONE).exists()
        )
        panic_real = (
            select(actions.c.id).where(actions.c.panic_id == panics.c.id, actions.c.dry_run.is_(False)).exists()
        )
        panic_rows = connection.execute(
            select(panics.c.id, panics.c.requested_at, panic_open.label("open"), panic_real.label("real")).where(
                panics.c.requested_at >= since
            )
        ).all()
    planned = {r.id for r in intake_rows}
    ready = [
        SubjectRef("intake", r.id, received[r.id]) for r in intake_rows if not r.open and (r.live or r.id in waiting)
    ]
    ready += [SubjectRef("intake", i, received[i]) for i in waiting - planned]  # nothing planned: nothing to wait for
    ready += [SubjectRef("panic", r.id, r.requested_at) for r in panic_rows if not r.open and r.real]
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


def _needing_a_person(connection: Connection, intake_ids: list[str]) -> set[str]:
    """The intakes that first recorded a credential nobody could end automatically."""
    query = (
        select(findings.c.intake_id)
        .where(findings.c.intake_id.in_(intake_ids), findings.c.disposition.in_(NEEDS_A_PERSON))
        .distinct()
    )
    return set(connection.execute(query).scalars())
