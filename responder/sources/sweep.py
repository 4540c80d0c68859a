"""The sweep of old tickets: list what changed since the last checkpoint, page by page, under a lease so one
replica sweeps a source at a time. Each page's captures become source items and the cursor moves on in one
transaction; the ticket work (fetch, scan, revoke, clean) is TicketWork's, here or on any other replica.

A rehearsal (`dry_run`) records no item and moves no cursor: it fetches and scans each capture, records a
dry-run intake, and changes nothing at the IdP or on the ticket."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from sqlalchemy import func, select

from responder.errors import ResponderError, SourceError
from responder.interfaces import Source
from responder.ledger.schema import actions, findings, sightings, source_items
from responder.ledger.sources import LeaseLost
from responder.ledger.store import NEEDS_A_PERSON
from responder.model import SweepPage
from responder.sources.pipeline import TicketWork

log = structlog.get_logger("responder.sweep")

LISTING_RESTARTS = 8  # transient failures in a row before a sweep gives up (it resumes from its checkpoint)


class SweepBusy(ResponderError):
    """Another process holds this source's sweep lease."""

    exit_code = 5


@dataclass
class SweepProgress:
    """What a sweep has done so far, for a progress bar or log lines."""

    source: str
    started: datetime
    since: datetime | None
    pages: int = 0
    tickets: int = 0
    captures: int = 0  # new capture items recorded (or, rehearsing, fetched)
    reached: datetime | None = None  # newest change time listed, when the source says
    first_reached: datetime | None = None  # the first page's, where a sweep without --since began
    listing_done: bool = False
    stopped: bool = False


@dataclass
class SweepSummary:
    source: str
    dry_run: bool
    started: datetime
    finished: datetime
    tickets: int
    captures: int
    credentials: int
    revoked: int
    already_dead: int
    failures: int
    cleaned: int
    open_items: int
    skipped: dict[str, int] = field(default_factory=dict)
    needs_a_person: int = 0  # credentials found that no provider can end, or whose user is unknown
    stopped: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat(),
            "seconds": round((self.finished - self.started).total_seconds(), 3),
            "tickets_seen": self.tickets,
            "captures_found": self.captures,
            "credentials": self.credentials,
            "revoked": self.revoked,
            "already_dead": self.already_dead,
            "failures": self.failures,
            "captures_cleaned": self.cleaned,
            "still_open": self.open_items,
            "needs_a_person": self.needs_a_person,
            "skipped": dict(sorted(self.skipped.items())),
            "stopped_early": self.stopped,
        }


class Sweeper:
    """Lists one source. `owner` names this process in the lease (host/pid/uuid)."""

    def __init__(
        self,
        work: TicketWork,
        source: Source,
        owner: str,
        *,
        lease_seconds: float = 300,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._work = work
        self._book = work.book
        self._source = source
        self._owner = owner
        self._lease_name = f"sweep:{source.name}"
        self._lease_seconds = lease_seconds
        self._sleep = sleep

    def list_changes(
        self,
        since: datetime | None = None,
        *,
        stop: threading.Event | None = None,
        on_progress: Callable[[SweepProgress], None] | None = None,
    ) -> SweepProgress:
        """Record every capture changed after the checkpoint (or after `since`, which restarts the sweep
        from that date). Raises SweepBusy when another process holds the lease."""
        if not self._book.take_lease(self._lease_name, self._owner, self._lease_seconds):
            holder = self._book.lease_holder(self._lease_name)
            until = f" until {holder[1]:%Y-%m-%d %H:%M:%S} UTC" if holder else ""
            raise SweepBusy(
                f"source {self._source.name} is being swept by {holder[0] if holder else 'another process'}{until}"
            )
        progress = SweepProgress(self._source.name, datetime.now(UTC), since)
        self._work.responder.ledger.record_sweep(True, {"source": self._source.name, "since": _iso(since)})
        listed = threading.Event()
        heartbeat = threading.Thread(target=self._keep_lease, args=(listed,), name="sweep-lease", daemon=True)
        heartbeat.start()
        try:
            cursor = None if since is not None else self._book.cursor(self._source.name)
            for page in self._pages(cursor, since):
                if not self._book.take_lease(self._lease_name, self._owner, self._lease_seconds):
                    raise LeaseLost(f"the sweep lease of {self._source.name!r} was taken by another process")
                picked = self._work.captures(self._source.name).pick(page.attachments)
                new = self._book.record_page(self._source.name, picked, page.cursor, lease=self._owner)
                progress.pages += 1
                progress.tickets += page.tickets
                progress.captures += new
                progress.reached = page.reached or progress.reached
                progress.first_reached = progress.first_reached or page.reached
                if on_progress:
                    on_progress(progress)
                if stop is not None and stop.is_set() and not page.done:
                    progress.stopped = True
                    break
            progress.listing_done = not progress.stopped
            if progress.listing_done:
                self._book.finished_listing(self._source.name)
        finally:
            listed.set()
            heartbeat.join()
            self._book.release_lease(self._lease_name, self._owner)
            self._work.responder.ledger.record_sweep(
                False,
                {
                    "source": self._source.name,
                    "pages": progress.pages,
                    "tickets": progress.tickets,
                    "captures": progress.captures,
                    "complete": progress.listing_done,
                },
            )
        if on_progress:
            on_progress(progress)
        return progress

    def _keep_lease(self, listed: threading.Event) -> None:
        """Renew the lease while a long page is listed (a page of slow per-ticket calls can outlast it)."""
        while not listed.wait(self._lease_seconds / 3):
            try:
                if not self._book.take_lease(self._lease_name, self._owner, self._lease_seconds):
                    return  # taken over: the next checkpoint raises LeaseLost
            except ResponderError as exc:
                log.warning("sweep_lease_renewal_failed", source=self._source.name, error=str(exc))

    def _pages(self, cursor: str | None, since: datetime | None) -> Iterator[SweepPage]:
        """The source's pages; after a transient failure, listing starts again from the last page handed
        out (the core's checkpoint), after the source's Retry-After or a backoff."""
        failures = 0
        while True:
            try:
                for page in self._source.changed_since(cursor, since):
                    failures = 0
                    yield page
                    cursor, since = page.cursor, None
                return
            except SourceError as exc:
                failures += 1
                if not exc.transient or failures >= LISTING_RESTARTS:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else min(60.0, 2.0**failures)
                log.warning("sweep_listing_retry", source=self._source.name, wait=wait, error=str(exc))
                self._sleep(wait)

    def rehearse(
        self,
        since: datetime | None = None,
        *,
        stop: threading.Event | None = None,
        on_progress: Callable[[SweepProgress], None] | None = None,
    ) -> Rehearsal:
        """A dry run: list from the checkpoint (or `since`), fetch and scan each capture, record dry-run
        intakes; no item, no cursor, no call that changes anything. The engine rehearses the actions."""
        progress = SweepProgress(self._source.name, datetime.now(UTC), since)
        capture_filter = self._work.captures(self._source.name)
        rehearsal = Rehearsal(progress)
        cursor = None if since is not None else self._book.cursor(self._source.name)
        for page in self._pages(cursor, since):
            for ref in capture_filter.pick(page.attachments):
                found = self._work.rehearse_one(self._source, ref)
                if found is not None:
                    rehearsal.intakes.append(found[0])
                    rehearsal.credentials += found[1]
                    rehearsal.actions.extend(found[2])
                    progress.captures += 1
            progress.pages += 1
            progress.tickets += page.tickets
            progress.reached = page.reached or progress.reached
            if on_progress:
                on_progress(progress)
            if stop is not None and stop.is_set():
                progress.stopped = True
                break
        progress.listing_done = not progress.stopped
        return rehearsal


@dataclass
class Rehearsal:
    progress: SweepProgress
    intakes: list[str] = field(default_factory=list)
    credentials: int = 0
    actions: list[str] = field(default_factory=list)  # the rehearsal's own actions, and only those, are run

    def summary(self, work: TicketWork) -> SweepSummary:
        """Once the engine has rehearsed the intakes' actions."""
        outcomes = _outcomes(work, self.intakes)
        return SweepSummary(
            source=self.progress.source,
            dry_run=True,
            started=self.progress.started,
            finished=datetime.now(UTC),
            tickets=self.progress.tickets,
            captures=self.progress.captures,
            credentials=self.credentials,
            revoked=outcomes.get("dry_run", 0),
            already_dead=outcomes.get("expired", 0),
            failures=outcomes.get("failed_permanent", 0) + outcomes.get("failed_transient", 0),
            cleaned=0,
            open_items=0,
            stopped=self.progress.stopped,
            needs_a_person=outcomes.get("needs_a_person", 0),
        )


def summarize(work: TicketWork, source: str, progress: SweepProgress) -> SweepSummary:
    """The sweep's result from the ledger: items created since it started, their intakes' findings and the
    outcomes of the actions those findings map to."""
    book = work.book
    results = book.results(source, since=progress.started)
    with work.responder.ledger.reader() as connection:
        intake_ids = [
            row[0]
            for row in connection.execute(
                select(source_items.c.intake_id).where(
                    source_items.c.source == source,
                    source_items.c.created_at >= progress.started,
                    source_items.c.intake_id.is_not(None),
                )
            )
        ]
    outcomes = _outcomes(work, intake_ids)
    return SweepSummary(
        source=source,
        dry_run=False,
        started=progress.started,
        finished=datetime.now(UTC),
        tickets=progress.tickets,
        captures=progress.captures,
        credentials=outcomes.get("credentials", 0),
        revoked=outcomes.get("revoked", 0),
        already_dead=outcomes.get("already_invalid", 0) + outcomes.get("expired", 0),
        failures=outcomes.get("failed_permanent", 0) + outcomes.get("failed_transient", 0) + results.get("failed", 0),
        cleaned=results.get("cleaned", 0),
        open_items=results.get("open", 0),
        skipped={k: v for k, v in results.items() if k not in ("cleaned", "open", "ours")},
        stopped=progress.stopped,
        needs_a_person=outcomes.get("needs_a_person", 0),
    )


def _outcomes(work: TicketWork, intake_ids: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    if not intake_ids:
        return counts
    with work.responder.ledger.reader() as connection:
        for chunk in range(0, len(intake_ids), 500):
            ids = intake_ids[chunk : chunk + 500]
            counts["credentials"] = counts.get("credentials", 0) + int(
                connection.execute(
                    select(func.count()).select_from(findings).where(findings.c.intake_id.in_(ids))
                ).scalar_one()
            )
            counts["needs_a_person"] = counts.get("needs_a_person", 0) + int(
                connection.execute(
                    select(func.count())
                    .select_from(findings)
                    .where(findings.c.intake_id.in_(ids), findings.c.disposition.in_(NEEDS_A_PERSON))
                ).scalar_one()
            )
            counts["expired"] = counts.get("expired", 0) + int(
                connection.execute(
                    select(func.count())
                    .select_from(findings)
                    .where(findings.c.intake_id.in_(ids), findings.c.disposition == "expired")
                ).scalar_one()
            )
            rows = connection.execute(
                select(actions.c.outcome, func.count(func.distinct(actions.c.id)))
                .select_from(
                    findings.join(sightings, sightings.c.finding_id == findings.c.id).join(
                        actions, actions.c.id == sightings.c.action_id
                    )
                )
                .where(findings.c.intake_id.in_(ids))
                .group_by(actions.c.outcome)
            ).all()
            for outcome, count in rows:
                key = outcome or "pending"
                counts[key] = counts.get(key, 0) + int(count)
    return counts


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None
