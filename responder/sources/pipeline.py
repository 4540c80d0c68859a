"""Ticket work: each source item goes fetch → scan → intake (the engine revokes) → sanitized copy in place of
the original → internal note. One step per claim, each step recorded before the next, so any worker on any
replica finishes what a crashed one started, and nothing is done twice.

Webhook deliveries become items here too: their attachment ids (or, when a delivery names only a ticket, the
ticket's attachments as the source's own API lists them) — never a URL from the payload."""

from __future__ import annotations

import functools
import hashlib
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from responder.errors import AttachmentGone, AttachmentTooLarge, ResponderError, SourceError, TicketClosed
from responder.interfaces import Source
from responder.keys import fingerprinter
from responder.leases import owner_alive
from responder.ledger.sources import Item, ItemState, LeaseLost, SourceBook
from responder.ledger.store import utc_now
from responder.model import AttachmentRef, Trigger
from responder.plugins import load_readers
from responder.sanitize.writer import Sanitizer
from responder.scan import Scanner, ScanReport
from responder.service import Responder
from responder.settings import SourceConfig
from responder.sources import notes, retry
from responder.sources.captures import HEAD_BYTES, CaptureFilter, looks_like_capture
from responder.spool import process_spool, remove_dead_spools

log = structlog.get_logger("responder.sources")

MAX_ATTEMPTS = 8  # failed tries of one step before the item is given up (a person reads its detail)
WAIT_FOR_ENGINE = timedelta(seconds=2)  # how soon to look again while the engine is still revoking
LISTING_RETRY_FIRST = 5.0  # seconds before a delivery whose ticket could not be listed is tried again
LISTING_RETRY_MAX = 600.0  # ... doubling up to this


@dataclass
class WorkStats:
    fetched: int = 0
    credentials: int = 0
    cleaned: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    retried: int = 0


class TicketWork:
    """Processes the source items of the sources this process has. Thread-safe: `run_once` may be called
    from several threads (each claim is its own lease)."""

    def __init__(
        self,
        responder: Responder,
        scanner: Scanner,
        sanitizer: Sanitizer,
        sources: Mapping[str, Source],
        owner: str,
        *,
        wake_engine: Callable[[], None] = lambda: None,
        lease_seconds: float = 600,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._responder = responder
        self._book = SourceBook(responder.ledger)
        self._scanner = scanner
        self._sanitizer = sanitizer
        self._sources = sources
        self._configs: dict[str, SourceConfig] = {c.name: c for c in responder.settings.sources if c.name in sources}
        self._filters = {name: CaptureFilter.of(config.capture_names) for name, config in self._configs.items()}
        self._owner = owner
        self._wake_engine = wake_engine
        self._lease_seconds = lease_seconds
        self._sleep = sleep
        self._clock = clock
        # Raw captures sit only in this process's own spool, for one step; a process killed mid-step leaves its
        # spool behind, so the spools of processes gone from this host are removed here.
        spools = responder.settings.data_dir / "spool" / "sources"
        self._spool = process_spool(spools, owner)
        remove_dead_spools(spools)
        # A sweep or worker killed on this host left leases behind: its process is gone, so take them back now
        # instead of waiting for them to lapse.
        self._book.reclaim_from_dead(owner_alive)
        self._kept = responder.settings.data_dir / "sanitized" / "sources"
        self.stats = WorkStats()
        # Deliveries whose ticket could not be listed, by id: (when to try again, the wait after that). Kept in
        # memory: a restart simply tries them again at once.
        self._listing_backoff: dict[str, tuple[datetime, float]] = {}
        self._deliveries_lock = threading.Lock()  # guards the back-off table and the sweep requests
        # Sources whose deliveries named a file but no ticket (a Jira `attachment_created`): a sweep finds it.
        self._sweeps_wanted: set[str] = set()

    @classmethod
    def assemble(
        cls,
        responder: Responder,
        sources: Mapping[str, Source],
        owner: str,
        *,
        wake_engine: Callable[[], None] = lambda: None,
        scanner: Scanner | None = None,
        sanitizer: Sanitizer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utc_now,
    ) -> TicketWork:
        """With the process's own scanner and sanitizer, or fresh ones built from the settings."""
        settings = responder.settings
        if scanner is None or sanitizer is None:
            registry = load_readers()
            scanner = scanner or Scanner(registry, fingerprinter(settings), settings.scan, settings.providers)
            sanitizer = sanitizer or Sanitizer(registry, settings.scan)
        return cls(responder, scanner, sanitizer, sources, owner, wake_engine=wake_engine, sleep=sleep, clock=clock)

    @property
    def book(self) -> SourceBook:
        return self._book

    @property
    def responder(self) -> Responder:
        return self._responder

    def captures(self, source: str) -> CaptureFilter:
        return self._filters[source]

    # ---- webhook deliveries → items ----------------------------------------------------------------------

    def pump_deliveries(self) -> int:
        """Turn waiting deliveries into items. A delivery naming only a ticket lists it through the API.

        A ticket that is gone has nothing to clean: the delivery is done with no items. Any other failure to
        list it keeps the delivery waiting (it is never dropped) and backs it off, from LISTING_RETRY_FIRST up
        to LISTING_RETRY_MAX seconds, so a bad token does not call the vendor every poll and failing
        deliveries do not hold up newer ones."""
        new = 0
        now = self._clock()
        with self._deliveries_lock:
            resting = [d for d, (again, _) in self._listing_backoff.items() if again > now]
        for delivery in self._book.waiting_deliveries(self._sources, exclude=resting):
            refs = list(delivery.attachments)
            if not delivery.ticket_id:
                # Nothing to fetch by: the file is new somewhere in the source, which a sweep from the last
                # checkpoint finds at once (a Jira `attachment_created` names the file but not its issue).
                with self._deliveries_lock:
                    self._sweeps_wanted.add(delivery.source)
            elif not refs:
                listing = functools.partial(self._sources[delivery.source].attachments_of, delivery.ticket_id)
                try:
                    refs = list(retry.call(listing, sleep=self._sleep))
                except AttachmentGone as exc:
                    log.info("delivery_ticket_gone", source=delivery.source, error=str(exc))
                    refs = []
                except SourceError as exc:
                    wait = self._back_off(delivery.id, now)
                    level = log.warning if exc.transient else log.error
                    level("delivery_listing_failed", source=delivery.source, error=str(exc), retry_in_s=wait)
                    continue
            new += self._book.deliver(delivery, self._filters[delivery.source].pick(refs))
            with self._deliveries_lock:
                self._listing_backoff.pop(delivery.id, None)
        return new

    def take_sweep_requests(self) -> set[str]:
        """The sources a delivery asked to sweep since the last call (each named once)."""
        with self._deliveries_lock:
            wanted, self._sweeps_wanted = self._sweeps_wanted, set()
        return wanted

    def _back_off(self, delivery_id: str, now: datetime) -> float:
        with self._deliveries_lock:
            _, wait = self._listing_backoff.get(delivery_id, (now, LISTING_RETRY_FIRST / 2))
            wait = min(wait * 2, LISTING_RETRY_MAX)
            self._listing_backoff[delivery_id] = (now + timedelta(seconds=wait), wait)
        return wait

    # ---- the item steps ------------------------------------------------------------------------------------

    def run_once(self, limit: int = 4) -> int:
        """Claim up to `limit` due items and take one step on each. Returns how many were claimed."""
        claimed = self._book.claim(self._owner, limit, self._lease_seconds, self._sources)
        for item in claimed:
            self.step(item)
        return len(claimed)

    def step(self, item: Item) -> None:
        try:
            if item.state == ItemState.PENDING:
                self._fetch(item)
            elif item.state == ItemState.REVOKING:
                self._await_revocations(item)
            elif item.state == ItemState.REPLACING:
                self._replace(item)
            elif item.state == ItemState.NOTING:
                self._note(item)
        except LeaseLost:
            log.info("item_lease_lost", item=item.id)
        except AttachmentTooLarge as exc:
            self._skip(item, "too_large", f"{exc}; a person must check it")
        except AttachmentGone as exc:
            self._gone(item, str(exc))
        except (SourceError, ResponderError, OSError) as exc:
            self._failed_try(item, exc)

    def _download(self, source: Source, ref: AttachmentRef, path: Path) -> None:
        """The attachment into this process's spool file, under the source retry policy and its size limit."""
        limit = self._configs[source.name].max_attachment_bytes
        with path.open("wb") as out:
            retry.call(lambda: source.download(ref, limit, out), sleep=self._sleep)

    def _fetch(self, item: Item) -> None:
        with _Spooled(self._spool, item) as path:
            self._download(self._sources[item.source], item.ref, path)
            with path.open("rb") as fetched:
                head = fetched.read(HEAD_BYTES)
            if not looks_like_capture(head):
                self._skip(item, "not_a_capture", "fetched: binary content, not a capture")
                return
            report = self._scanner.scan(path)
            if not report.readable:
                self._skip(item, "not_a_capture", f"fetched but unreadable: {report.error}")
                return
            if self._book.is_our_copy(item.source, report.sha256):
                self._skip(item, "ours", "the sanitized copy responder attached (listed before it was recorded)")
                return
            intake_id = str(uuid.uuid4())
            self._responder.intake(
                report,
                trigger=Trigger.SWEEP if item.origin == "sweep" else Trigger.UPLOAD,
                actor=f"source:{item.source}",
                source=item.source,
                reference=f"ticket {item.ref.ticket_id} attachment {item.ref.attachment_id}"[:500],
                also=self._book.fetched(item, intake_id, len(report.findings), item.ref.name),
                intake_id=intake_id,
            )
            self._wake_engine()
            self.stats.fetched += 1
            self.stats.credentials += len(report.findings)
            if report.findings:
                self._keep_sanitized(item.id, path, report)
        log.info("attachment_fetched", item=item.id, source=item.source, findings=len(report.findings))

    def _await_revocations(self, item: Item) -> None:
        assert item.intake_id is not None
        waiting = self._book.intake_open_actions(item.intake_id)
        if waiting:
            until = self._clock() + WAIT_FOR_ENGINE
            self._book.later(item, until, f"waiting for {waiting} revocation(s)", count=False)
            return
        if self._book.advance(item, ItemState.REPLACING, "revocations done; replacing the original"):
            self.step(_moved(item, ItemState.REPLACING))

    def _replace(self, item: Item) -> None:
        source = self._sources[item.source]
        copy = self._kept_copy(item) or self._sanitize_again(item)
        if copy is None:
            return
        name = sanitized_name(item.ref.name)
        self._book.will_attach(item, _sha256(copy))
        try:
            replaced = retry.call(lambda: source.replace_with_sanitized(item.ref, copy, name), sleep=self._sleep)
            how, copy_ref = replaced.how, replaced.copy
        except AttachmentGone:
            how, copy_ref = "already gone from the ticket", None
        if self._book.replaced(item, how, copy_ref):
            self.step(_moved(item, ItemState.NOTING, detail=f"original {how}"))

    def _note(self, item: Item) -> None:
        assert item.intake_id is not None
        source = self._sources[item.source]
        how = item.detail.removeprefix("original ") or "removed"
        text = notes.compose(self._responder.ledger, item.intake_id, item.ref.name, how)
        try:
            retry.call(lambda: source.annotate(item.ref, text), sleep=self._sleep)
            lines = text.count("\n") + 1
        except TicketClosed:
            lines = 0  # the ledger holds what the note would have said
        if self._book.noted(item, lines):
            self.stats.cleaned += 1
            shutil.rmtree(self._kept / item.id, ignore_errors=True)

    def rehearse_one(self, source: Source, ref: AttachmentRef) -> tuple[str, int, tuple[str, ...]] | None:
        """A dry run of one capture: fetch, scan, record a dry-run intake (the engine rehearses its actions).
        Returns (intake id, credentials, its action ids), or None when it is not a capture or cannot be
        fetched."""
        rehearsal = Item(str(uuid.uuid4()), source.name, ref, "sweep", ItemState.PENDING, None, 0, "")
        try:
            with _Spooled(self._spool, rehearsal) as path:
                self._download(source, ref, path)
                with path.open("rb") as fetched:
                    if not looks_like_capture(fetched.read(HEAD_BYTES)):
                        return None
                report = self._scanner.scan(path)
        except SourceError as exc:
            log.warning("rehearsal_fetch_failed", source=source.name, error=str(exc))
            return None
        if not report.readable:
            return None
        result = self._responder.intake(
            report,
            trigger=Trigger.SWEEP,
            actor=f"source:{source.name}",
            source=source.name,
            reference=f"ticket {ref.ticket_id} attachment {ref.attachment_id}"[:500],
            dry_run=True,
        )
        return result.intake_id, len(report.findings), result.action_ids

    # ---- the sanitized copy, kept between the scan and the replacement -----------------------------------

    def _keep_sanitized(self, item_id: str, original: Path, report: ScanReport) -> None:
        """Written once the intake is recorded (revocation comes first); no secret is in it. A failure loses
        nothing: the replacing step fetches and sanitizes again."""
        folder = self._kept / item_id
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            self._sanitizer.write(original, report.findings, folder / "copy")
        except (ResponderError, OSError) as exc:
            log.warning("sanitize_failed", item=item_id, error=type(exc).__name__)
            shutil.rmtree(folder, ignore_errors=True)

    def _kept_copy(self, item: Item) -> Path | None:
        path = self._kept / item.id / "copy"
        return path if path.is_file() else None

    def _sanitize_again(self, item: Item) -> Path | None:
        """No kept copy (another host scanned it, or the process stopped first): fetch, scan and sanitize."""
        with _Spooled(self._spool, item) as path:
            self._download(self._sources[item.source], item.ref, path)
            report = self._scanner.scan(path)
            self._keep_sanitized(item.id, path, report)
        return self._kept_copy(item)

    # ---- endings -------------------------------------------------------------------------------------------

    def _skip(self, item: Item, result: str, detail: str) -> None:
        if self._book.skipped(item, result, detail):
            self.stats.skipped[result] = self.stats.skipped.get(result, 0) + 1
            log.info("attachment_skipped", item=item.id, source=item.source, result=result)

    def _gone(self, item: Item, detail: str) -> None:
        if item.state == ItemState.PENDING:
            self._skip(item, "gone", detail)
        else:  # fetched and revoked already; the ticket lost the file meanwhile: the note still goes on
            self._failed_try(item, SourceError(detail))

    def _failed_try(self, item: Item, exc: BaseException) -> None:
        detail = str(exc)[:300] or type(exc).__name__
        if item.attempts + 1 >= MAX_ATTEMPTS:
            self._skip(item, "failed", f"gave up after {MAX_ATTEMPTS} tries: {detail}")
            return
        wait = min(3600.0, 5.0 * 2**item.attempts)
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, (int, float)):
            wait = max(wait, float(retry_after))
        self.stats.retried += 1
        self._book.later(item, self._clock() + timedelta(seconds=wait), detail, count=True)
        log.warning("item_step_failed", item=item.id, source=item.source, state=item.state, error=detail)


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def sanitized_name(name: str) -> str:
    """network.har → network.sanitized.har; trace.har.gz → trace.sanitized.har.gz."""
    stem, dot, rest = name.partition(".")
    return f"{stem}.sanitized.{rest}" if dot and stem else f"{name}.sanitized"


def _moved(item: Item, state: str, detail: str = "") -> Item:
    """The same claim, one state on (the step ran under our lease, which it kept, and recorded its result)."""
    return Item(item.id, item.source, item.ref, item.origin, state, item.intake_id, 0, item.lease, detail)


class _Spooled:
    """A private spool file for one item, removed however the step ends (the raw capture never stays)."""

    def __init__(self, spool: Path, item: Item) -> None:
        spool.mkdir(parents=True, exist_ok=True, mode=0o700)
        suffix = "".join(Path(item.ref.name).suffixes[-2:])[:20]
        self._path = spool / f"{item.id}{suffix}"

    def __enter__(self) -> Path:
        return self._path

    def __exit__(self, *exc: object) -> None:
        self._path.unlink(missing_ok=True)
