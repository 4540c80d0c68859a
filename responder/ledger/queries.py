"""Read side of the ledger: forced-logout records, one action's history, the incident report, the event export.

Rows come back as plain dicts of JSON-friendly values so every output format renders the same data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select

from responder.ledger.schema import actions, events, findings, intakes, panics, sightings
from responder.ledger.store import NEEDS_A_PERSON, Ledger, State, iso

PENDING = "pending"  # an outcome filter value: not finished yet


@dataclass(frozen=True, slots=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    user: str | None = None
    provider: str | None = None
    trigger: str | None = None
    outcome: str | None = None
    intake: str | None = None
    panic: str | None = None
    action_ids: tuple[str, ...] | None = None


ACTION_COLUMNS = (
    "action_id",
    "created_at",
    "provider",
    "verb",
    "subject_id",
    "subject_login",
    "fingerprint",
    "kind",
    "trigger",
    "actor",
    "source",
    "reference",
    "artifact",
    "panic_id",
    "dry_run",
    "state",
    "outcome",
    "attempts",
    "verified",
    "finished_at",
    "next_attempt_at",
    "detail",
)


def _window(column: ColumnElement[datetime], filters: Filters) -> list[ColumnElement[bool]]:
    """since <= column < until, for whichever bounds are set."""
    bounds: list[ColumnElement[bool]] = []
    if filters.since:
        bounds.append(column >= filters.since)
    if filters.until:
        bounds.append(column < filters.until)
    return bounds


def _actions_query(filters: Filters) -> Select[Any]:
    query = select(
        actions,
        intakes.c.source,
        intakes.c.reference,
        intakes.c.artifact_name,
    ).select_from(actions.outerjoin(intakes, actions.c.intake_id == intakes.c.id))
    conditions = []
    conditions.extend(_window(actions.c.created_at, filters))
    if filters.user:
        conditions.append(or_(actions.c.subject_id == filters.user, actions.c.subject_login == filters.user))
    if filters.provider:
        conditions.append(actions.c.provider == filters.provider)
    if filters.trigger:
        conditions.append(actions.c.trigger == filters.trigger)
    if filters.outcome == PENDING:
        conditions.append(actions.c.state != State.DONE)
    elif filters.outcome:
        conditions.append(actions.c.outcome == filters.outcome)
    if filters.action_ids is not None:
        conditions.append(actions.c.id.in_(filters.action_ids))
    if filters.panic:
        conditions.append(actions.c.panic_id == filters.panic)
    if filters.intake:
        linked = (
            select(sightings.c.action_id)
            .join(findings, sightings.c.finding_id == findings.c.id)
            .where(findings.c.intake_id == filters.intake)
        )
        conditions.append(actions.c.id.in_(linked))
    return query.where(*conditions).order_by(actions.c.created_at, actions.c.id)


def _action_dict(row: Any) -> dict[str, Any]:
    return {
        "action_id": row.id,
        "created_at": iso(row.created_at),
        "provider": row.provider,
        "verb": row.verb,
        "subject_id": row.subject_id,
        "subject_login": row.subject_login,
        "fingerprint": row.fingerprint,
        "kind": row.kind,
        "trigger": row.trigger,
        "actor": row.actor,
        "source": row.source,
        "reference": row.reference,
        "artifact": row.artifact_name,
        "panic_id": row.panic_id,
        "dry_run": row.dry_run,
        "state": row.state,
        "outcome": row.outcome if row.state == State.DONE or row.outcome else None,
        "attempts": row.attempts,
        "verified": row.verified,
        "finished_at": iso(row.finished_at) if row.finished_at else None,
        "next_attempt_at": iso(row.next_attempt_at) if row.state != State.DONE else None,
        "detail": row.detail,
    }


def list_actions(ledger: Ledger, filters: Filters) -> list[dict[str, Any]]:
    with ledger.reader() as connection:
        return [_action_dict(row) for row in connection.execute(_actions_query(filters))]


def action_events(ledger: Ledger, action_id: str) -> list[dict[str, Any]]:
    with ledger.reader() as connection:
        rows = connection.execute(select(events).where(events.c.action_id == action_id).order_by(events.c.seq))
        return [_event_dict(row) for row in rows]


def show(ledger: Ledger, identifier: str) -> dict[str, Any] | None:
    """One action (with its events and every artifact it was seen in), or one intake (with its findings)."""
    with ledger.reader() as connection:
        found = connection.execute(_actions_query(Filters(action_ids=(identifier,)))).first()
        if found is not None:
            seen_in = connection.execute(
                select(intakes.c.id, intakes.c.received_at, intakes.c.source, intakes.c.reference, intakes.c.trigger)
                .select_from(
                    sightings.join(findings, sightings.c.finding_id == findings.c.id).join(
                        intakes, findings.c.intake_id == intakes.c.id
                    )
                )
                .where(sightings.c.action_id == identifier)
                .order_by(intakes.c.received_at)
            ).all()
            return {
                "action": _action_dict(found),
                "sightings": [
                    {
                        "intake_id": s.id,
                        "received_at": iso(s.received_at),
                        "source": s.source,
                        "reference": s.reference,
                        "trigger": s.trigger,
                    }
                    for s in seen_in
                ],
                "events": [
                    _event_dict(row)
                    for row in connection.execute(
                        select(events).where(events.c.action_id == identifier).order_by(events.c.seq)
                    )
                ],
            }
        intake = connection.execute(select(intakes).where(intakes.c.id == identifier)).first()
        if intake is None:
            return None
        rows = connection.execute(select(findings).where(findings.c.intake_id == identifier).order_by(findings.c.id))
        return {
            "intake": {
                "intake_id": intake.id,
                "received_at": iso(intake.received_at),
                "trigger": intake.trigger,
                "actor": intake.actor,
                "source": intake.source,
                "reference": intake.reference,
                "artifact": intake.artifact_name,
                "artifact_sha256": intake.artifact_sha256,
                "dry_run": intake.dry_run,
            },
            "findings": [
                {
                    "fingerprint": f.fingerprint,
                    "kind": f.kind,
                    "provider": f.provider,
                    "subject_id": f.subject_id,
                    "disposition": f.disposition,
                    "locations": f.locations,
                }
                for f in rows
            ],
            "actions": list_actions(ledger, Filters(intake=identifier)),
        }


def _seen_in_window(ledger: Ledger, filters: Filters) -> tuple[tuple[str, ...], dict[str, set[str]]]:
    """Actions with a sighting (an artifact received) or a panic inside the window, and for each action every
    artifact it was seen in there: a token first seen last month and again today belongs to today's report."""
    window = _window(intakes.c.received_at, filters)
    seen: dict[str, set[str]] = {}
    with ledger.reader() as connection:
        query = (
            select(sightings.c.action_id, intakes.c.reference, intakes.c.artifact_name)
            .select_from(
                sightings.join(findings, sightings.c.finding_id == findings.c.id).join(
                    intakes, findings.c.intake_id == intakes.c.id
                )
            )
            .where(*window)
        )
        for row in connection.execute(query):
            seen.setdefault(row.action_id, set()).add(row.reference or row.artifact_name)
        panic_window = [actions.c.panic_id.is_not(None), *_window(actions.c.created_at, filters)]
        for action_id in connection.execute(select(actions.c.id).where(*panic_window)).scalars():
            seen.setdefault(action_id, set())
    return tuple(seen), seen


def report(ledger: Ledger, filters: Filters) -> dict[str, Any]:
    """Who was affected by which artifacts, what was revoked, what failed, what is pending, and which
    credentials were found that nothing is configured to revoke."""
    action_ids, artifacts_of = _seen_in_window(ledger, filters)
    rows = list_actions(ledger, replace(filters, since=None, until=None, action_ids=action_ids))
    users: dict[tuple[str, str], dict[str, Any]] = {}
    rehearsals = sum(1 for row in rows if row["dry_run"])
    for row in rows:
        if row["dry_run"]:
            continue  # a rehearsal affected nobody
        key = (row["provider"], row["subject_id"] or f"(unknown user; credential {str(row['fingerprint'])[:8]})")
        entry = users.setdefault(
            key,
            {
                "provider": key[0],
                "subject_id": row["subject_id"],
                "subject_login": row["subject_login"],
                "artifacts": set(),
                "revoked": 0,
                "already_invalid": 0,
                "failed": 0,
                "pending": 0,
                "unsupported": 0,
                "not_verified_dead": 0,
            },
        )
        if row["subject_login"]:
            entry["subject_login"] = row["subject_login"]
        entry["artifacts"].update(artifacts_of.get(row["action_id"], ()))
        if row["panic_id"]:
            entry["artifacts"].add(f"panic {row['panic_id'][:8]}")
        outcome = row["outcome"] if row["state"] == State.DONE else None
        if outcome is None:
            entry["pending"] += 1
        elif outcome in ("failed_permanent", "failed_transient"):
            entry["failed"] += 1
        elif outcome in entry:
            entry[outcome] += 1
        if outcome in ("revoked", "already_invalid") and row["verified"] is not True:
            entry["not_verified_dead"] += 1
    with ledger.reader() as connection:
        query = select(findings.c.fingerprint, findings.c.kind, findings.c.family, intakes.c.reference).join(
            intakes, findings.c.intake_id == intakes.c.id
        )
        query = query.where(findings.c.disposition.in_(NEEDS_A_PERSON))
        query = query.where(*_window(intakes.c.received_at, filters))
        unhandled = [
            {"fingerprint": r.fingerprint, "kind": r.kind, "family": r.family, "artifact": r.reference}
            for r in connection.execute(query)
        ]
    affected = sorted(users.values(), key=lambda u: (u["provider"], u["subject_login"] or u["subject_id"] or ""))
    for entry in affected:
        entry["artifacts"] = sorted(entry["artifacts"])
    return {
        "since": iso(filters.since) if filters.since else None,
        "until": iso(filters.until) if filters.until else None,
        "actions": len(rows) - rehearsals,
        "dry_run_actions": rehearsals,
        "users": affected,
        "unhandled_findings": unhandled,
        "panics": _panics(ledger, filters),
    }


def _panics(ledger: Ledger, filters: Filters) -> list[dict[str, Any]]:
    with ledger.reader() as connection:
        query = select(panics).order_by(panics.c.requested_at)
        query = query.where(*_window(panics.c.requested_at, filters))
        return [_panic_dict(p) for p in connection.execute(query)]


def panic_request(ledger: Ledger, panic_id: str) -> dict[str, Any] | None:
    """One panic request as recorded (who, why, scope), or None."""
    with ledger.reader() as connection:
        found = connection.execute(select(panics).where(panics.c.id == panic_id)).first()
    return None if found is None else _panic_dict(found)


def recent_panics(ledger: Ledger, limit: int = 20) -> list[dict[str, Any]]:
    """The newest panic requests, newest first."""
    with ledger.reader() as connection:
        query = select(panics).order_by(panics.c.requested_at.desc()).limit(limit)
        return [_panic_dict(p) for p in connection.execute(query)]


def _panic_dict(p: Any) -> dict[str, Any]:
    return {
        "panic_id": p.id,
        "requested_at": iso(p.requested_at),
        "actor": p.actor,
        "provider": p.provider,
        "scope": p.scope,
        "selector": p.selector,
        "reason": p.reason,
    }


def _event_dict(row: Any) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "ts": row.ts,
        "type": row.type,
        "intake_id": row.intake_id,
        "action_id": row.action_id,
        "body": json.loads(row.body),
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


def export_events(ledger: Ledger, filters: Filters, batch: int = 2000) -> Iterator[dict[str, Any]]:
    """Every event in chain order with its hashes, so an export can be verified on its own."""
    last = 0
    with ledger.reader() as connection:
        while True:
            query = select(events).where(events.c.seq > last).order_by(events.c.seq).limit(batch)
            if filters.since:
                query = query.where(events.c.ts >= iso(filters.since))
            if filters.until:
                query = query.where(events.c.ts < iso(filters.until))
            rows = connection.execute(query).all()
            if not rows:
                return
            for row in rows:
                yield _event_dict(row)
            last = rows[-1].seq
