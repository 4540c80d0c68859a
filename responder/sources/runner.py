"""Background ticket work for `serve`, `work` and `sweep`: worker threads that turn webhook deliveries into items
and take item steps, and (in `serve`) a scheduler that starts each source's sweep when it is due. A sweep is
due when its schedule says so after the source's last checkpoint; the sweep lease makes sure one replica runs
it. Stopping finishes the steps in hand: a step is short and recorded, and a lease left behind lapses."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import structlog

from responder.errors import ResponderError
from responder.interfaces import Source
from responder.ledger.sources import LeaseLost
from responder.schedule import Schedule, parse_schedule
from responder.sources.pipeline import TicketWork
from responder.sources.sweep import SweepBusy, Sweeper

log = structlog.get_logger("responder.sources")


class SourceRunner:
    def __init__(
        self,
        work: TicketWork,
        sources: Mapping[str, Source],
        owner: str,
        *,
        threads: int = 2,
        poll_seconds: float = 1.0,
        schedules: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._work = work
        self._sources = sources
        self._owner = owner
        self._threads = threads
        self._poll = poll_seconds
        self._clock = clock
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._running: list[threading.Thread] = []
        self._requested: set[str] = set()  # sources with a webhook-requested sweep running
        self._requested_lock = threading.Lock()
        configs = {c.name: c for c in work.responder.settings.sources}
        self._schedules: dict[str, Schedule] = {}
        if schedules:
            for name in sources:
                text = configs[name].schedule if name in configs else None
                if text:
                    self._schedules[name] = parse_schedule(text)

    @property
    def source_names(self) -> tuple[str, ...]:
        return tuple(self._sources)

    def start(self) -> None:
        for index in range(self._threads):
            self._spawn(self._items_loop, f"tickets-{index}")
        if self._schedules:
            self._spawn(self._schedule_loop, "sweep-scheduler")

    def wake(self) -> None:
        """New work was recorded (a webhook delivery): look now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._running:
            thread.join(timeout)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._running.append(thread)

    def _items_loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self._work.pump_deliveries() + self._work.run_once(limit=2)
                for name in self._work.take_sweep_requests():
                    self._sweep_soon(name)
            except ResponderError as exc:  # the ledger is unreachable: wait and try again
                log.error("ticket_work_failed", error=str(exc))
                busy = 0
            if not busy:
                self._wake.wait(self._poll)
                self._wake.clear()

    def _schedule_loop(self) -> None:
        while not self._stop.is_set():
            for name, schedule in self._schedules.items():
                if self._stop.is_set():
                    return
                if self._due(name, schedule):
                    self._sweep(name)
            self._stop.wait(min(30.0, self._poll * 10))

    def _sweep_soon(self, name: str) -> None:
        """A sweep a webhook asked for, on its own thread (one per source at a time; the lease keeps it to one
        process). Only from an existing checkpoint: a first sweep of a whole account is an operator's call."""
        if name not in self._sources:
            return
        if self._work.book.last_checkpoint(name) is None:
            log.warning("requested_sweep_skipped", source=name, why="never swept: run `responder sweep` once")
            return
        with self._requested_lock:
            if name in self._requested:
                return
            self._requested.add(name)

        def run() -> None:
            try:
                self._sweep(name)
            finally:
                with self._requested_lock:
                    self._requested.discard(name)

        self._spawn(run, f"sweep-{name}")

    def _due(self, name: str, schedule: Schedule) -> bool:
        last = self._work.book.last_checkpoint(name)
        return last is None or schedule.next_after(last) <= self._clock()

    def _sweep(self, name: str) -> None:
        sweeper = Sweeper(self._work, self._sources[name], self._owner)
        try:
            progress = sweeper.list_changes(stop=self._stop)
            log.info("scheduled_sweep_listed", source=name, tickets=progress.tickets, captures=progress.captures)
            self._wake.set()
        except SweepBusy:
            log.info("scheduled_sweep_elsewhere", source=name)
        except (LeaseLost, ResponderError) as exc:
            log.error("scheduled_sweep_failed", source=name, error=str(exc))
            # Failing sources are tried again at the next scheduler pass, not in a tight loop.
            self._stop.wait(timedelta(minutes=1).total_seconds())
