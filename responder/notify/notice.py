"""What a notification says about one finished intake or panic, read from the ledger.

Built only from ids, logins, counts, outcomes, operator-readable details and 8-hex fingerprint prefixes: the
ledger holds no raw credential, and a message never quotes anything that could be one (no panic reason, no
artifact content). A panic of thousands of users becomes counts plus the first `listed` users and failures;
the aggregation runs in SQL, so its actions are never loaded one by one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, distinct, func, or_, select
from sqlalchemy.engine import Connection

from responder.ledger.chain import EventType
from responder.ledger.schema import actions, events, findings, intakes, panics
from responder.ledger.store import NEEDS_A_PERSON, Ledger, iso
from responder.model import OutcomeStatus

SCHEMA_VERSION = 1
SubjectKind = Literal["intake", "panic"]

# Outcomes that leave a credential working (a person must act), and the ones that make an intake worth telling.
NOT_ENDED = (
    OutcomeStatus.FAILED_PERMANENT.value,
    OutcomeStatus.FAILED_TRANSIENT.value,
    OutcomeStatus.UNSUPPORTED.value,
)
LIVE = (OutcomeStatus.REVOKED.value, *NOT_ENDED)
_DEAD = (OutcomeStatus.REVOKED.value, OutcomeStatus.ALREADY_INVALID.value)
_DETAIL_CHARS = 300


def credential_label(fingerprint: str | None) -> str | None:
    """The only form of a fingerprint a message carries: its first 8 hex digits."""
    return fingerprint[:8] if fingerprint else None


@dataclass(frozen=True, slots=True)
class Affected:
    """One user at one provider instance, or (user_id None) a credential whose user nobody could tell."""

    provider: str
    user_id: str | None
    login: str
    credential: str | None = None  # fingerprint prefix, only when the user is unknown

    @property
    def label(self) -> str:
        if self.user_id is None:
            return f"{self.provider}: unknown user (credential {self.credential})"
        if self.login and self.login != self.user_id:
            return f"{self.provider}: {self.login} ({self.user_id})"
        return f"{self.provider}: {self.user_id}"


@dataclass(frozen=True, slots=True)
class Tally:
    provider: str
    verb: str
    outcome: str
    count: int


@dataclass(frozen=True, slots=True)
class Failure:
    """An action that left a credential or session working: refused, given up, unsupported, or reported ended
    by the IdP while verification found it still working (`still_works`)."""

    action_id: str
    provider: str
    verb: str
    user_id: str | None
    login: str
    credential: str | None
    outcome: str
    detail: str
    still_works: bool = False


@dataclass(frozen=True, slots=True)
class Unhandled:
    """A credential in the artifact that nothing configured could end: a person must."""

    credential: str
    kind: str
    provider: str | None
    disposition: str


@dataclass(frozen=True, slots=True)
class Notice:
    kind: SubjectKind
    id: str
    recorded_at: datetime
    trigger: str
    actor: str
    source: str  # intake: where the artifact came from (cli, upload, a [[sources]] name); panic: "panic"
    reference: str  # intake: ticket / attachment / upload reference; panic: its scope and selector
    artifact: str | None  # intake: the file name
    provider: str | None  # panic: the instance it ran at
    tallies: tuple[Tally, ...]
    affected_count: int
    affected: tuple[Affected, ...]  # the first `listed`
    failure_count: int
    failures: tuple[Failure, ...]  # the first `listed`
    unhandled_count: int = 0
    unhandled: tuple[Unhandled, ...] = ()
    seen_again: int = 0  # intake: credentials whose actions an earlier artifact's intake already planned

    def count(self, outcome: str) -> int:
        return sum(t.count for t in self.tallies if t.outcome == outcome)

    @property
    def actions(self) -> int:
        return sum(t.count for t in self.tallies)

    @property
    def lookup(self) -> str:
        """The command that shows everything behind this notice."""
        if self.kind == "panic":
            return f"responder ledger list --panic {self.id}"
        return f"responder ledger show {self.id}"

    def as_json(self) -> dict[str, Any]:
        """The webhook body: stable keys, versioned by `schema_version`."""
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "id": self.id,
            "recorded_at": iso(self.recorded_at),
            "trigger": self.trigger,
            "actor": self.actor,
            "source": self.source,
            "reference": self.reference,
            "artifact": self.artifact,
            "provider": self.provider,
            "actions": self.actions,
            "outcomes": [
                {"provider": t.provider, "verb": t.verb, "outcome": t.outcome, "count": t.count} for t in self.tallies
            ],
            "affected_count": self.affected_count,
            "affected": [
                {"provider": a.provider, "user_id": a.user_id, "login": a.login, "credential": a.credential}
                for a in self.affected
            ],
            "failure_count": self.failure_count,
            "failures": [
                {
                    "action_id": f.action_id,
                    "provider": f.provider,
                    "verb": f.verb,
                    "user_id": f.user_id,
                    "login": f.login,
                    "credential": f.credential,
                    "outcome": f.outcome,
                    "still_works": f.still_works,
                    "detail": f.detail,
                }
                for f in self.failures
            ],
            "unhandled_count": self.unhandled_count,
            "unhandled": [
                {"credential": u.credential, "kind": u.kind, "provider": u.provider, "disposition": u.disposition}
                for u in self.unhandled
            ],
            "seen_again": self.seen_again,
            "lookup": self.lookup,
        }


def planned_by(intake_id: str) -> Select[tuple[str]]:
    """The ids of the actions an intake planned itself (not those it only sighted again), through the chain's
    `action_planned` events, which are indexed by intake."""
    return select(events.c.action_id).where(
        events.c.intake_id == intake_id, events.c.type == EventType.ACTION_PLANNED.value
    )


def notice_for_intake(ledger: Ledger, intake_id: str, listed: int = 20) -> Notice | None:
    """The notice for one intake: the actions it planned (not rehearsals), and how many credentials in it had
    already been handled after an earlier artifact. None when there is no such intake."""
    with ledger.reader() as connection:
        intake = connection.execute(select(intakes).where(intakes.c.id == intake_id)).first()
        if intake is None:
            return None
        own = and_(actions.c.id.in_(planned_by(intake_id)), actions.c.dry_run.is_(False))
        planned = set(connection.execute(planned_by(intake_id)).scalars())
        # A credential seen again: its `finding_recorded` event lists actions, none of them planned by this
        # intake (an earlier one did). The sightings say the same but are not indexed by intake.
        recorded = connection.execute(
            select(events.c.body).where(
                events.c.intake_id == intake_id, events.c.type == EventType.FINDING_RECORDED.value
            )
        ).scalars()
        mapped = [set(json.loads(body).get("actions") or ()) for body in recorded]
        seen_again = sum(1 for ids in mapped if ids and not ids & planned)
        needs_person = and_(findings.c.intake_id == intake_id, findings.c.disposition.in_(NEEDS_A_PERSON))
        unhandled_count = connection.execute(
            select(func.count()).select_from(findings).where(needs_person)
        ).scalar_one()
        unhandled_rows = connection.execute(
            select(findings.c.fingerprint, findings.c.kind, findings.c.provider, findings.c.disposition)
            .where(needs_person)
            .order_by(findings.c.id)
            .limit(listed)
        ).all()
        affected_count, affected = _affected(connection, own, listed)
        failure_count, failures = _failures(connection, own, listed)
        return Notice(
            kind="intake",
            id=intake.id,
            recorded_at=intake.received_at,
            trigger=intake.trigger,
            actor=intake.actor,
            source=intake.source,
            reference=intake.reference,
            artifact=intake.artifact_name,
            provider=None,
            tallies=_tallies(connection, own),
            affected_count=affected_count,
            affected=affected,
            failure_count=failure_count,
            failures=failures,
            unhandled_count=int(unhandled_count),
            unhandled=tuple(Unhandled(r.fingerprint[:8], r.kind, r.provider, r.disposition) for r in unhandled_rows),
            seen_again=seen_again,
        )


def notice_for_panic(ledger: Ledger, panic_id: str, listed: int = 20) -> Notice | None:
    """The notice for one panic request: counts over all of its actions, the first `listed` users and
    failures. None when there is no such panic."""
    with ledger.reader() as connection:
        panic = connection.execute(select(panics).where(panics.c.id == panic_id)).first()
        if panic is None:
            return None
        own = and_(actions.c.panic_id == panic_id, actions.c.dry_run.is_(False))
        affected_count, affected = _affected(connection, own, listed)
        failure_count, failures = _failures(connection, own, listed)
        reference = "all users" if panic.scope == "all" else f"{panic.scope}: {panic.selector}"
        return Notice(
            kind="panic",
            id=panic.id,
            recorded_at=panic.requested_at,
            trigger="panic",
            actor=panic.actor,
            source="panic",
            reference=reference,
            artifact=None,
            provider=panic.provider,
            tallies=_tallies(connection, own),
            affected_count=affected_count,
            affected=affected,
            failure_count=failure_count,
            failures=failures,
        )


def _tallies(connection: Connection, own: ColumnElement[bool]) -> tuple[Tally, ...]:
    outcome = func.coalesce(actions.c.outcome, "pending")
    query = (
        select(actions.c.provider, actions.c.verb, outcome.label("outcome"), func.count().label("n"))
        .where(own)
        .group_by(actions.c.provider, actions.c.verb, outcome)
        .order_by(actions.c.provider, actions.c.verb, outcome)
    )
    return tuple(Tally(r.provider, r.verb, r.outcome, int(r.n)) for r in connection.execute(query))


def _affected(connection: Connection, own: ColumnElement[bool], listed: int) -> tuple[int, tuple[Affected, ...]]:
    """Distinct users (per instance), then credentials nobody could name a user for."""
    # coalesce(): not indexable on purpose, so SQLite reads the subject's own actions and filters them, instead
    # of walking the subject index over every action in the ledger that names no user.
    known = and_(own, func.coalesce(actions.c.subject_id, "") != "")
    unknown = and_(own, func.coalesce(actions.c.subject_id, "") == "")
    users = (
        select(actions.c.provider, actions.c.subject_id, func.max(actions.c.subject_login).label("login"))
        .where(known)
        .group_by(actions.c.provider, actions.c.subject_id)
    )
    user_count = connection.execute(select(func.count()).select_from(users.subquery())).scalar_one()
    nameless = select(actions.c.provider, actions.c.fingerprint).where(unknown).distinct()
    nameless_count = connection.execute(select(func.count()).select_from(nameless.subquery())).scalar_one()
    shown = [
        Affected(r.provider, r.subject_id, r.login or "")
        for r in connection.execute(
            users.order_by(actions.c.provider, func.max(actions.c.subject_login), actions.c.subject_id).limit(listed)
        )
    ]
    if len(shown) < listed:
        rows = connection.execute(
            nameless.order_by(actions.c.provider, actions.c.fingerprint).limit(listed - len(shown))
        )
        shown.extend(Affected(r.provider, None, "", credential_label(r.fingerprint) or "?") for r in rows)
    return int(user_count) + int(nameless_count), tuple(shown)


def _failures(connection: Connection, own: ColumnElement[bool], listed: int) -> tuple[int, tuple[Failure, ...]]:
    still_works = and_(actions.c.outcome.in_(_DEAD), actions.c.verified.is_(False))
    failed = and_(own, or_(actions.c.outcome.in_(NOT_ENDED), still_works))
    count = connection.execute(select(func.count(distinct(actions.c.id))).where(failed)).scalar_one()
    rows = connection.execute(
        select(actions)
        .where(failed)
        .order_by(actions.c.provider, actions.c.subject_login, actions.c.created_at, actions.c.id)
        .limit(listed)
    )
    return int(count), tuple(
        Failure(
            action_id=r.id,
            provider=r.provider,
            verb=r.verb,
            user_id=r.subject_id,
            login=r.subject_login or "",
            credential=credential_label(r.fingerprint),
            outcome=r.outcome,
            detail=_bounded(_detail(r.detail, still_works=r.outcome in _DEAD)),
            still_works=r.outcome in _DEAD,
        )
        for r in rows
    )


def _detail(detail: str, *, still_works: bool) -> str:
    if not still_works:
        return detail
    return "; ".join(part for part in (detail, "verification found it still working") if part)


def _bounded(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"
