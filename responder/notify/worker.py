"""NotifyWorker: find finished intakes and panics worth a notice, queue one per notifier, deliver with retries.

Safe to run in every replica at once: the outbox decides who sends what (see responder/notify/outbox.py)."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from responder.ledger.store import Ledger, utc_now
from responder.notify.delivery import DeliveryFailed, Notifier
from responder.notify.notice import Notice, SubjectKind, notice_for_intake, notice_for_panic
from responder.notify.notifiers import build_notifiers
from responder.notify.outbox import Claim, Outbox, Owed
from responder.notify.settings import NotifierConfig
from responder.notify.subjects import survey
from responder.settings import Settings

log = structlog.get_logger("responder.notify")

# A subject is recorded with the time its transaction began and becomes visible when it commits; the survey
# window never starts later than this before now, so one committed late is still found.
SETTLE_MARGIN = timedelta(hours=1)
ADVANCE_STEP = timedelta(minutes=5)
LEASE_SECONDS = 300.0
CLAIM_BATCH = 5  # each claim's lease must outlast the batch's deliveries (an SMTP exchange has several timeouts)
RETRY_FIRST_SECONDS = 30.0
RETRY_MAX_SECONDS = 3600.0


def retry_delay(attempt: int) -> timedelta:
    """Wait after failed delivery number `attempt`: 30 s, 1 min, 2 min, … doubling, at most an hour."""
    return timedelta(seconds=min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2 ** (attempt - 1)))


@dataclass(frozen=True, slots=True)
class NotifyStats:
    queued: int = 0  # rows this run inserted (notices newly owed)
    sent: int = 0
    retried: int = 0  # deliveries that failed and were rescheduled
    failed: int = 0  # notices given up after their notifier's max_attempts


class NotifyWorker:
    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        *,
        notifiers: Mapping[str, Notifier] | None = None,
        clock: Callable[[], datetime] = utc_now,
        owner: str | None = None,
    ) -> None:
        """Builds each configured notifier (reading its secrets: a ConfigError here is an operator's to fix)
        unless `notifiers` is given."""
        self._configs: dict[str, NotifierConfig] = {c.name: c for c in settings.notifiers}
        self._notifiers = dict(notifiers) if notifiers is not None else build_notifiers(settings.notifiers)
        self._ledger = ledger
        self._outbox = Outbox(ledger)
        self._clock = clock
        self._poll_seconds = settings.engine.poll_seconds
        self._owner = owner or f"notify:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def close(self) -> None:
        for notifier in self._notifiers.values():
            notifier.close()

    def run(self, stop_event: threading.Event, poll_seconds: float | None = None) -> None:
        """Poll until `stop_event` is set. A failing run (the database away) is logged and tried again."""
        wait = self._poll_seconds if poll_seconds is None else poll_seconds
        while not stop_event.is_set():
            try:
                self.run_once()
            except Exception as exc:  # keep notifying after a bad moment; the error says what (never a secret)
                log.error("notify_run_failed", error=type(exc).__name__, detail=str(exc)[:300])
            stop_event.wait(wait)

    def run_once(self, now: datetime | None = None) -> NotifyStats:
        if not self._notifiers:
            return NotifyStats()
        now = now or self._clock()
        queued = self._queue(now)
        sent = retried = failed = 0
        notices: dict[tuple[str, str], Notice | None] = {}
        while claims := self._outbox.claim(self._owner, self._notifiers, now, CLAIM_BATCH, LEASE_SECONDS):
            for claim in claims:
                result = self._deliver(claim, notices, now)
                sent += result == "sent"
                retried += result == "retried"
                failed += result == "failed"
        return NotifyStats(queued, sent, retried, failed)

    def _queue(self, now: datetime) -> int:
        since = self._outbox.since(now)
        found = survey(self._ledger, since)
        wanted = [
            Owed(subject.kind, subject.id, name)
            for subject in found.ready
            for name in self._notifiers
            if subject.kind in self._on(name)
        ]
        queued = self._outbox.enqueue(self._outbox.missing(wanted), now) if wanted else 0
        # Rows are committed above before the window moves past their subjects.
        settled_until = now - SETTLE_MARGIN
        if found.earliest_open is not None:
            settled_until = min(settled_until, found.earliest_open)
        if settled_until - since >= ADVANCE_STEP:  # not a write on every poll
            self._outbox.advance(settled_until)
        return queued

    def _on(self, name: str) -> tuple[str, ...]:
        config = self._configs.get(name)
        return config.on if config is not None else ("intake", "panic")

    def _max_attempts(self, name: str) -> int:
        config = self._configs.get(name)
        return config.max_attempts if config is not None else NotifierConfig.model_fields["max_attempts"].default

    def _listed(self, name: str) -> int:
        config = self._configs.get(name)
        return config.max_listed if config is not None else NotifierConfig.model_fields["max_listed"].default

    def _notice(self, kind: SubjectKind, subject_id: str, listed: int) -> Notice | None:
        build = notice_for_intake if kind == "intake" else notice_for_panic
        return build(self._ledger, subject_id, listed)

    def _deliver(self, claim: Claim, notices: dict[tuple[str, str], Notice | None], now: datetime) -> str:
        notifier = self._notifiers[claim.notifier]
        listed = self._listed(claim.notifier)
        key = (f"{claim.kind}:{claim.subject_id}", str(listed))
        if key not in notices:
            notices[key] = self._notice(claim.kind, claim.subject_id, listed)
        notice = notices[key]
        where = {"notifier": claim.notifier, "subject": claim.kind, "id": claim.subject_id, "attempt": claim.attempt}
        if notice is None:  # cannot happen while the ledger keeps its rows; never retried
            self._outbox.fail(claim, f"no {claim.kind} {claim.subject_id} in the ledger")
            log.error("notification_failed", **where, error="subject not in the ledger")
            return "failed"
        try:
            notifier.send(notice, claim.delivery_id)
        except Exception as exc:  # DeliveryFailed, or a notifier's bug: retried either way, never left leased
            error = str(exc) if isinstance(exc, DeliveryFailed) else f"the notifier raised {type(exc).__name__}"
            if claim.attempt >= self._max_attempts(claim.notifier):
                self._outbox.fail(claim, error)
                log.error("notification_failed", **where, error=error)
                return "failed"
            at = now + retry_delay(claim.attempt)
            self._outbox.retry(claim, error, at)
            log.warning("notification_retry", **where, error=error, next_attempt_at=at.isoformat())
            return "retried"
        if not self._outbox.sent(claim, self._clock()):
            log.warning("notification_lease_lost", **where)  # sent; the lease had run out meanwhile
        log.info("notification_sent", **where)
        return "sent"


def start_in_background(settings: Settings, ledger: Ledger, stop: threading.Event) -> Callable[[float], None] | None:
    """With [[notifiers]] configured: the outbox worker on a daemon thread until `stop` is set. Returns the
    function that waits for it and closes its notifiers (None when nothing is configured). A notifier whose
    secret cannot be read raises ConfigError here, at start, not at the first message."""
    if not settings.notifiers:
        return None
    worker = NotifyWorker(settings, ledger)
    thread = threading.Thread(target=worker.run, args=(stop,), name="notify", daemon=True)
    thread.start()

    def finish(timeout: float) -> None:
        stop.set()
        thread.join(timeout)
        worker.close()

    return finish
