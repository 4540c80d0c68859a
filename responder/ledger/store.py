"""The Ledger facade: the system of record and the durable work queue.

Every state change and the event that records it commit in one transaction, so the chain and the tables
never disagree. Events are appended last in each transaction, under the chain-head row lock; row locks on
actions are always taken before it, so two writers cannot deadlock."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, and_, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from responder.errors import ConfigError
from responder.ledger import database
from responder.ledger.chain import GENESIS, ChainReport, EventType, canonical_json, event_hash
from responder.ledger.schema import (
    actions,
    chain_head,
    events,
    findings,
    intakes,
    ledger_meta,
    panics,
    sightings,
    webhook_deliveries,
)
from responder.model import Outcome, Subject


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class State:
    PLANNED = "planned"
    RUNNING = "running"
    VERIFYING = "verifying"
    DONE = "done"


# Finding dispositions that leave a live-able credential for a person to end: no configured provider, no way
# at the provider, or no way to tell which user it belongs to.
NEEDS_A_PERSON = ("no_provider", "unhandled", "needs_subject")


@dataclass(frozen=True, slots=True)
class IntakeRecord:
    id: str
    trigger: str
    actor: str
    source: str
    reference: str
    artifact_name: str
    artifact_sha256: str
    artifact_size: int
    reader: str
    dry_run: bool
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PlannedAction:
    id: str
    verb: str
    provider: str
    fingerprint: str | None
    kind: str | None
    subject: Subject | None
    trigger: str
    actor: str
    dry_run: bool
    sealed: bytes | None = field(default=None, repr=False)
    intake_id: str | None = None
    panic_id: str | None = None


@dataclass(frozen=True, slots=True)
class FindingRecord:
    fingerprint: str
    kind: str
    detector: str
    revocable: bool
    family: str | None
    provider: str | None
    subject_id: str | None
    disposition: str  # planned | needs_subject | no_provider | unhandled | not_revocable | no_action | expired
    locations: int
    actions: tuple[PlannedAction, ...] = ()


@dataclass(frozen=True, slots=True)
class PanicRecord:
    id: str
    actor: str
    reason: str
    provider: str
    scope: str
    selector: str


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A verified webhook delivery: what it announced, never its body. `attachments` are {id, name, url,
    comment_id} mappings whose URLs carry no query string or capability token."""

    id: str
    source: str
    plugin: str
    delivery_id: str | None
    signed_sha256: str
    event: str | None
    ticket_id: str | None
    attachments: tuple[Mapping[str, str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording an intake or panic changed: actions newly planned and actions only sighted again."""

    planned: tuple[str, ...]
    sighted_again: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Claimed:
    id: str
    verb: str
    provider: str
    fingerprint: str | None
    kind: str | None
    subject: Subject | None
    dry_run: bool
    sealed: bytes | None = field(repr=False)
    attempt: int  # the number of the call about to be made (execute stage)
    verifying: bool  # outcome already recorded; only verification is left
    interrupted: bool  # a previous holder's lease ran out mid-call: the IdP may already have acted
    lease: str = ""  # this claim's own token: a later claim of the same row (even by this process) differs
    planned_at: datetime | None = None  # when the action was recorded (for the planned → finished latency)


_INTAKE_COLUMNS = (
    "trigger",
    "actor",
    "source",
    "reference",
    "artifact_name",
    "artifact_sha256",
    "artifact_size",
    "reader",
    "dry_run",
)
_PANIC_COLUMNS = ("actor", "reason", "provider", "scope", "selector")


class _Tx:
    """One transaction plus the events it will append at commit."""

    def __init__(self, connection: Connection, now: datetime) -> None:
        self.connection = connection
        self.now = now
        self.pending: list[tuple[EventType, str | None, str | None, dict[str, Any]]] = []

    def event(
        self, type_: EventType, body: Mapping[str, Any], intake_id: str | None = None, action_id: str | None = None
    ) -> None:
        self.pending.append((type_, intake_id, action_id, dict(body)))

    def append_events(self) -> None:
        if not self.pending:
            return
        head = self.connection.execute(select(chain_head).where(chain_head.c.id == 1).with_for_update()).one()
        seq, prev = head.seq, head.hash
        ts = iso(max(self.now, utc_now()))  # taken under the chain lock, so timestamps follow seq
        rows = []
        for type_, intake_id, action_id, body in self.pending:
            seq += 1
            digest = event_hash(seq, ts, type_.value, intake_id, action_id, body, prev)
            rows.append(
                {
                    "seq": seq,
                    "ts": ts,
                    "type": type_.value,
                    "intake_id": intake_id,
                    "action_id": action_id,
                    "body": canonical_json(body),
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
        self.connection.execute(insert(events), rows)
        self.connection.execute(update(chain_head).where(chain_head.c.id == 1).values(seq=seq, hash=prev))


_CONFLICT_STATES = frozenset({"40P01", "40001"})  # PostgreSQL deadlock_detected, serialization_failure


def _is_conflict(exc: OperationalError) -> bool:
    """A transaction lost a race and can simply run again (not a broken database)."""
    state = getattr(exc.orig, "sqlstate", None)
    return state in _CONFLICT_STATES or "database is locked" in str(exc.orig)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _retry_conflicts(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run a whole unit of work again after a deadlock or serialization failure (its transaction rolled back)."""
    retrying = Retrying(
        retry=retry_if_exception(lambda exc: isinstance(exc, OperationalError) and _is_conflict(exc)),
        stop=stop_after_attempt(8),
        wait=wait_random_exponential(multiplier=0.05, max=2.0),
        reraise=True,
    )

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        return retrying(method, *args, **kwargs)

    return wrapper


class Ledger:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self._clock = clock

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def reader(self) -> Connection:
        """A connection for reads only; on SQLite it does not take the write lock."""
        return self.engine.connect().execution_options(readonly=True)

    @contextmanager
    def transaction(self) -> Iterator[_Tx]:
        try:
            with self.engine.begin() as connection:
                tx = _Tx(connection, self._clock())
                yield tx
                tx.append_events()
        except OperationalError as exc:
            if _is_conflict(exc):
                raise  # retried by @_retry_conflicts around the whole unit of work
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise ConfigError(f"ledger at {database.shown(self.engine.url)} failed: {reason}") from None

    # ---- intake and panic: plan actions, record sightings -------------------------------------------

    @_retry_conflicts
    def record_intake(
        self,
        intake: IntakeRecord,
        finding_records: Sequence[FindingRecord],
        also: Callable[[_Tx], None] | None = None,
    ) -> Recorded:
        """`also` runs in the same transaction (e.g. a ticket item moving on), so both happen or neither."""
        with self.transaction() as tx:
            columns = {name: getattr(intake, name) for name in _INTAKE_COLUMNS}
            tx.connection.execute(insert(intakes).values(id=intake.id, received_at=tx.now, **columns))
            tx.event(
                EventType.ARTIFACT_RECEIVED,
                {**columns, "findings": len(finding_records), "warnings": list(intake.warnings)},
                intake_id=intake.id,
            )
            planned = {action.id: action for record in finding_records for action in record.actions}
            new, again = self._plan(tx, list(planned.values()))
            for record in finding_records:
                finding_id = tx.connection.execute(
                    insert(findings)
                    .values(
                        intake_id=intake.id,
                        fingerprint=record.fingerprint,
                        kind=record.kind,
                        detector=record.detector,
                        revocable=record.revocable,
                        family=record.family,
                        provider=record.provider,
                        subject_id=record.subject_id,
                        disposition=record.disposition,
                        locations=record.locations,
                    )
                    .returning(findings.c.id)
                ).scalar_one()
                for action in record.actions:
                    tx.connection.execute(
                        self._insert_ignore(sightings)
                        .values(action_id=action.id, finding_id=finding_id, seen_at=tx.now)
                        .on_conflict_do_nothing()
                    )
                tx.event(
                    EventType.FINDING_RECORDED,
                    {
                        "fingerprint": record.fingerprint,
                        "kind": record.kind,
                        "detector": record.detector,
                        "revocable": record.revocable,
                        "family": record.family,
                        "provider": record.provider,
                        "subject_id": record.subject_id,
                        "disposition": record.disposition,
                        "locations": record.locations,
                        "actions": [a.id for a in record.actions],
                    },
                    intake_id=intake.id,
                )
            if also is not None:
                also(tx)
        return Recorded(tuple(new), tuple(again))

    @_retry_conflicts
    def record_panic(self, panic: PanicRecord, planned_actions: Sequence[PlannedAction]) -> Recorded:
        """A panic request and its actions, once per panic id: the same id recorded again (the page's form sent
        to two replicas) records nothing and returns nothing new."""
        with self.transaction() as tx:
            columns = {name: getattr(panic, name) for name in _PANIC_COLUMNS}
            inserted = tx.connection.execute(
                self._insert_ignore(panics)
                .values(id=panic.id, requested_at=tx.now, **columns)
                .on_conflict_do_nothing()
                .returning(panics.c.id)
            ).first()
            if inserted is None:
                return Recorded((), ())
            tx.event(
                EventType.PANIC_REQUESTED,
                {"panic_id": panic.id, **columns, "actions": [a.id for a in planned_actions]},
            )
            new, again = self._plan(tx, planned_actions)
        return Recorded(tuple(new), tuple(again))

    @_retry_conflicts
    def record_sweep(self, started: bool, body: Mapping[str, Any]) -> None:
        with self.transaction() as tx:
            tx.event(EventType.SWEEP_STARTED if started else EventType.SWEEP_FINISHED, body)

    @_retry_conflicts
    def record_delivery(self, delivery: DeliveryRecord) -> bool:
        """Record a verified webhook delivery and its `webhook_received` event, or nothing when the source
        already has this delivery id or this signed content (a redelivery or a replay). The unique
        constraints decide, not a prior look-up, so two replicas receiving the same delivery agree.
        Returns whether it was new."""
        with self.transaction() as tx:
            attachments = [dict(reference) for reference in delivery.attachments]
            columns = {
                "source": delivery.source,
                "plugin": delivery.plugin,
                "delivery_id": delivery.delivery_id,
                "signed_sha256": delivery.signed_sha256,
                "event": delivery.event,
                "ticket_id": delivery.ticket_id,
            }
            inserted = tx.connection.execute(
                self._insert_ignore(webhook_deliveries)
                .values(id=delivery.id, received_at=tx.now, attachments=canonical_json(attachments), **columns)
                .on_conflict_do_nothing()
                .returning(webhook_deliveries.c.id)
            ).first()
            if inserted is None:
                return False
            tx.event(EventType.WEBHOOK_RECEIVED, {"delivery": delivery.id, **columns, "attachments": attachments})
        return True

    def _plan(self, tx: _Tx, planned_actions: Sequence[PlannedAction]) -> tuple[list[str], list[str]]:
        """Insert each action unless its key exists. Always in key order: two transactions planning the same
        keys lock them in the same order, so they queue instead of deadlocking."""
        new: list[str] = []
        again: list[str] = []
        for action in sorted(planned_actions, key=lambda a: a.id):
            statement = self._insert_ignore(actions).values(
                id=action.id,
                verb=action.verb,
                provider=action.provider,
                fingerprint=action.fingerprint,
                kind=action.kind,
                subject_id=action.subject.user_id if action.subject else None,
                subject_login=action.subject.login if action.subject else None,
                trigger=action.trigger,
                actor=action.actor,
                intake_id=action.intake_id,
                panic_id=action.panic_id,
                dry_run=action.dry_run,
                state=State.PLANNED,
                detail="",
                attempts=0,
                next_attempt_at=tx.now,
                sealed=action.sealed,
                created_at=tx.now,
                updated_at=tx.now,
            )
            inserted = tx.connection.execute(statement.on_conflict_do_nothing().returning(actions.c.id)).first()
            if inserted is not None:
                new.append(action.id)
                tx.event(
                    EventType.ACTION_PLANNED,
                    {
                        "verb": action.verb,
                        "provider": action.provider,
                        "fingerprint": action.fingerprint,
                        "kind": action.kind,
                        "subject_id": action.subject.user_id if action.subject else None,
                        "subject_login": action.subject.login if action.subject else None,
                        "trigger": action.trigger,
                        "actor": action.actor,
                        "panic_id": action.panic_id,
                        "dry_run": action.dry_run,
                        "credential_sealed": action.sealed is not None,
                    },
                    intake_id=action.intake_id,
                    action_id=action.id,
                )
            else:
                again.append(action.id)
        return new, again

    def _insert_ignore(self, table: Any) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # ---- the work queue ----------------------------------------------------------------------------

    @_retry_conflicts
    def claim(
        self,
        owner: str,
        limit: int,
        lease_seconds: float,
        only: Collection[str] | None = None,
        *,
        providers: Collection[str] | None = None,
        exclude: Collection[str] = (),
        panic_id: str | None = None,
    ) -> list[Claimed]:
        """Lease up to `limit` due actions, each under its own lease token. PostgreSQL: rows locked by another
        claimer are skipped. `providers` limits claims to instances this process can act on; `exclude` skips
        actions this process still has in hand; `panic_id` limits claims to one panic's actions (a panic of
        thousands of users is not passed around as a list of ids)."""
        with self.transaction() as tx:
            now = tx.now
            lease_free = or_(actions.c.lease_until.is_(None), actions.c.lease_until < now)
            # Every open action is planned, running or verifying, and a running or verifying one was due when it
            # was claimed, so "due" is one range: that lets the partial open-action indexes serve the claim in
            # next_attempt_at order, stopping at LIMIT (no sort of every open row).
            due = and_(actions.c.state != State.DONE, actions.c.next_attempt_at <= now)
            query = select(actions).where(due, lease_free)
            if only is not None:
                query = query.where(actions.c.id.in_(list(only)))
            if panic_id is not None:
                query = query.where(actions.c.panic_id == panic_id)
            if providers is not None:
                # `provider || ''`: not indexable on purpose, so SQLite reads open actions through
                # ix_actions_open in claim order instead of picking the provider index and sorting them all.
                query = query.where((actions.c.provider + "").in_(list(providers)))
            if exclude:
                query = query.where(actions.c.id.not_in(list(exclude)))
            query = query.order_by(actions.c.next_attempt_at).limit(limit).with_for_update(skip_locked=True)
            rows = tx.connection.execute(query).all()
            claimed: list[Claimed] = []
            until = now + timedelta(seconds=lease_seconds)
            for row in rows:
                verifying = row.state == State.VERIFYING
                attempts = row.attempts if verifying else row.attempts + 1
                lease = f"{owner}/{uuid.uuid4().hex[:12]}"
                tx.connection.execute(
                    update(actions)
                    .where(actions.c.id == row.id)
                    .values(
                        state=State.VERIFYING if verifying else State.RUNNING,
                        attempts=attempts,
                        lease_owner=lease,
                        lease_until=until,
                        updated_at=now,
                    )
                )
                subject = Subject(row.provider, row.subject_id, row.subject_login or "") if row.subject_id else None
                claimed.append(
                    Claimed(
                        id=row.id,
                        verb=row.verb,
                        provider=row.provider,
                        fingerprint=row.fingerprint,
                        kind=row.kind,
                        subject=subject,
                        dry_run=row.dry_run,
                        sealed=row.sealed,
                        attempt=attempts,
                        verifying=verifying,
                        interrupted=row.state == State.RUNNING,
                        lease=lease,
                        planned_at=row.created_at,
                    )
                )
        return claimed

    @_retry_conflicts
    def free_leases_of_dead(self, alive: Callable[[str], bool]) -> int:
        """Make the actions leased by processes `alive` says are gone (killed on this host) claimable now,
        instead of when their leases lapse. Returns how many."""
        with self.transaction() as tx:
            holders = tx.connection.execute(
                select(actions.c.lease_owner)
                .where(
                    actions.c.state != State.DONE, actions.c.lease_until >= tx.now, actions.c.lease_owner.is_not(None)
                )
                .distinct()
            ).scalars()
            dead = [lease for lease in holders if not alive(lease)]
            if not dead:
                return 0
            return int(
                tx.connection.execute(
                    update(actions).where(actions.c.lease_owner.in_(dead)).values(lease_until=tx.now)
                ).rowcount
            )

    @_retry_conflicts
    def next_attempt(self, action_id: str, lease: str, lease_seconds: float) -> int | None:
        """Count one more call before it is made (a crash mid-call still counts it). None: lease lost."""
        with self.transaction() as tx:
            row = tx.connection.execute(
                update(actions)
                .where(actions.c.id == action_id, actions.c.lease_owner == lease)
                .values(
                    attempts=actions.c.attempts + 1,
                    lease_until=tx.now + timedelta(seconds=lease_seconds),
                    updated_at=tx.now,
                )
                .returning(actions.c.attempts)
            ).first()
        return None if row is None else int(row.attempts)

    @_retry_conflicts
    def record_attempt(
        self,
        action_id: str,
        lease: str,
        attempt: int,
        outcome: Outcome,
        *,
        final: bool,
        retry_at: datetime | None = None,
        note: str = "",
        called: bool = True,
        renew_for: float = 300.0,
        verification: tuple[bool | None, str] | None = None,
    ) -> bool:
        """Record one call's result (`attempt_made`) and, when final, the outcome (`outcome_recorded`).
        Credentials reported dead go on to verification under the same lease, renewed, unless `verification`
        (dead, detail) is given: then it is recorded too (`verification_recorded`) and the action is done.
        Everything else is done and its sealed value erased. `called=False`: nothing reached the IdP (given up,
        unusable, rehearsal), so no attempt event, and the attempts column is set back to the calls really made.
        Returns False when the lease was lost (another claim owns the action now)."""
        detail = "; ".join(part for part in (outcome.detail, note) if part)
        with self.transaction() as tx:
            values: dict[str, Any] = {"updated_at": tx.now, "detail": detail}
            if not called:
                values["attempts"] = attempt
            if outcome.provider_request_id:
                values["provider_request_id"] = outcome.provider_request_id
            if outcome.subject is not None:
                values["subject_id"] = outcome.subject.user_id
                values["subject_login"] = outcome.subject.login
            verified_now = final and outcome.status.credential_dead and verification is not None
            if verified_now and verification is not None:
                values.update(
                    outcome=outcome.status.value,
                    state=State.DONE,
                    verified=verification[0],
                    verified_at=tx.now,
                    sealed=None,
                    finished_at=tx.now,
                    lease_owner=None,
                    lease_until=None,
                )
            elif final:
                values["outcome"] = outcome.status.value
                if outcome.status.credential_dead:
                    renewed = tx.now + timedelta(seconds=renew_for)
                    values.update(state=State.VERIFYING, next_attempt_at=tx.now, lease_until=renewed)
                else:
                    values.update(state=State.DONE, sealed=None, finished_at=tx.now, lease_owner=None, lease_until=None)
            elif retry_at is not None:
                values.update(state=State.PLANNED, next_attempt_at=retry_at, lease_owner=None, lease_until=None)
            changed = tx.connection.execute(
                update(actions).where(actions.c.id == action_id, actions.c.lease_owner == lease).values(**values)
            ).rowcount
            if not changed:
                return False
            if called:
                tx.event(
                    EventType.ATTEMPT_MADE,
                    {
                        "attempt": attempt,
                        "status": outcome.status.value,
                        "detail": detail,
                        "provider_request_id": outcome.provider_request_id or None,
                        "retry_after": outcome.retry_after,
                        "rescheduled_for": iso(retry_at) if retry_at else None,
                    },
                    action_id=action_id,
                )
            if final:
                subject = outcome.subject
                tx.event(
                    EventType.OUTCOME_RECORDED,
                    {
                        "outcome": outcome.status.value,
                        "attempts": attempt,
                        "detail": detail,
                        "subject_id": subject.user_id if subject else None,
                        "subject_login": subject.login if subject else None,
                    },
                    action_id=action_id,
                )
            if verified_now and verification is not None:
                _verification_recorded(tx, action_id, *verification)
        return True

    @_retry_conflicts
    def defer(self, action_id: str, lease: str, until: datetime, *, uncount: bool) -> bool:
        """Hand a claimed action back untouched (the IdP asked everyone to wait): no call was made, so no
        event is written, and the attempt counted at claim time is taken back."""
        with self.transaction() as tx:
            values: dict[str, Any] = {
                "next_attempt_at": until,
                "lease_owner": None,
                "lease_until": None,
                "updated_at": tx.now,
            }
            if uncount:
                values.update(state=State.PLANNED, attempts=actions.c.attempts - 1)
            changed = tx.connection.execute(
                update(actions).where(actions.c.id == action_id, actions.c.lease_owner == lease).values(**values)
            ).rowcount
        return bool(changed)

    @_retry_conflicts
    def record_verification(self, action_id: str, lease: str, dead: bool | None, detail: str) -> bool:
        with self.transaction() as tx:
            changed = tx.connection.execute(
                update(actions)
                .where(actions.c.id == action_id, actions.c.lease_owner == lease)
                .values(
                    state=State.DONE,
                    verified=dead,
                    verified_at=tx.now,
                    finished_at=tx.now,
                    sealed=None,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=tx.now,
                )
            ).rowcount
            if not changed:
                return False
            _verification_recorded(tx, action_id, dead, detail)
        return True

    def due_or_leased(self, only: Collection[str] | None = None, panic_id: str | None = None) -> int:
        """Actions that are due now or held by a lease (possibly a dead worker's, which will run out)."""
        now = self._clock()
        with self.reader() as connection:
            query = (
                select(func.count())
                .select_from(actions)
                .where(
                    or_(
                        actions.c.state == State.RUNNING,
                        actions.c.lease_until >= now,
                        and_(actions.c.state.in_((State.PLANNED, State.VERIFYING)), actions.c.next_attempt_at <= now),
                    )
                )
            )
            if only is not None:
                query = query.where(actions.c.id.in_(list(only)))
            if panic_id is not None:
                query = query.where(actions.c.panic_id == panic_id)
            return int(connection.execute(query).scalar_one())

    @_retry_conflicts
    def pin_key(self, name: str, key_id: str, how_to_fix: str) -> None:
        """The first process records each key's id; every later one must present the same key, or nothing it
        seals would open elsewhere and its fingerprints would not match (a second host with its own key)."""
        with self.transaction() as tx:
            stored = tx.connection.execute(
                select(ledger_meta.c.value).where(ledger_meta.c.name == f"{name}_key_id")
            ).scalar_one_or_none()
            if stored is None:
                tx.connection.execute(
                    self._insert_ignore(ledger_meta)
                    .values(name=f"{name}_key_id", value=key_id)
                    .on_conflict_do_nothing()
                )
            elif stored != key_id:
                raise ConfigError(
                    f"this ledger was started with another {name} key (id {stored}; this process has {key_id}): "
                    f"{how_to_fix}"
                )

    # ---- the chain ---------------------------------------------------------------------------------

    def verify_chain(self, batch: int = 5000) -> ChainReport:
        """Recompute every hash in order. Names the first row whose hash, link or number is wrong."""
        prev, expected_seq, checked = GENESIS, 1, 0
        with self.reader() as connection:
            head = connection.execute(select(chain_head).where(chain_head.c.id == 1)).one()
            last = 0
            while True:
                # Only up to the head read above: events appended meanwhile belong to the next verification.
                window = (events.c.seq > last) & (events.c.seq <= head.seq)
                rows = connection.execute(select(events).where(window).order_by(events.c.seq).limit(batch)).all()
                if not rows:
                    break
                for row in rows:
                    if row.seq != expected_seq:
                        return ChainReport(
                            checked, head.seq, head.hash, expected_seq, f"event {expected_seq} is missing"
                        )
                    try:
                        body = json.loads(row.body)
                    except ValueError:
                        return ChainReport(checked, head.seq, head.hash, row.seq, "body is not JSON")
                    if row.prev_hash != prev:
                        return ChainReport(
                            checked, head.seq, head.hash, row.seq, "link to the previous event is broken"
                        )
                    digest = event_hash(row.seq, row.ts, row.type, row.intake_id, row.action_id, body, prev)
                    if digest != row.hash:
                        return ChainReport(checked, head.seq, head.hash, row.seq, "content does not match its hash")
                    prev, expected_seq, last = digest, expected_seq + 1, row.seq
                    checked += 1
        if head.seq != checked or head.hash != prev:
            return ChainReport(
                checked,
                head.seq,
                head.hash,
                checked + 1 if head.seq > checked else None,
                f"chain head says event {head.seq} but the chain ends at event {checked}",
            )
        return ChainReport(checked, head.seq, head.hash)


def _verification_recorded(tx: _Tx, action_id: str, dead: bool | None, detail: str) -> None:
    """The one producer of `verification_recorded` (with the outcome, or later on its own)."""
    tx.event(EventType.VERIFICATION_RECORDED, {"dead": dead, "detail": detail}, action_id=action_id)
