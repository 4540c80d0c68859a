"""`responder sweep SOURCE`: find the captures that already sit in old tickets, revoke what is still live, and
clean the tickets. Lists from the source's checkpoint (or --since), while worker threads fetch, scan and clean
and the engine revokes; then waits until every capture it found is handled and prints a summary."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from responder.cli_common import EXIT_ATTENTION, EXIT_CLEAN, EXIT_USAGE, ConfigOption, load
from responder.errors import ConfigError, ResponderError
from responder.leases import owner_name
from responder.ledger.sources import LeaseLost
from responder.plugins import load_sources
from responder.service import Responder
from responder.sources.pipeline import TicketWork
from responder.sources.runner import SourceRunner
from responder.sources.sweep import Sweeper, SweepProgress, SweepSummary, summarize

EXIT_BUSY = 5


class SweepFormat(StrEnum):
    table = "table"
    json = "json"


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD or an ISO 8601 time)") from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if parsed > datetime.now(UTC):
        raise typer.BadParameter("--since is in the future")
    return parsed


def sweep(
    source: Annotated[str, typer.Argument(help="A configured [[sources]] name.")],
    since: Annotated[
        str | None,
        typer.Option(
            help="Start from tickets changed since this date (UTC unless a zone is given), instead of the "
            "source's checkpoint. Without it the first sweep covers the source's whole history."
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Fetch and scan, record a rehearsal; revoke nothing, change no ticket, move no checkpoint.",
        ),
    ] = False,
    threads: Annotated[int, typer.Option(min=1, max=16, help="Captures fetched and cleaned at once.")] = 2,
    output: Annotated[SweepFormat, typer.Option("--format", help="Summary as a table or as JSON.")] = (
        SweepFormat.table
    ),
    config: ConfigOption = None,
) -> None:
    """Sweep one ticketing source: list the tickets changed since its checkpoint, fetch every attachment that
    looks like a capture, revoke the live credentials in it, replace it by a sanitized copy and leave an
    internal note. Safe to stop (Ctrl-C) and to run again: the checkpoint moves after every page, so a new run
    resumes where this one stopped, and no capture is handled twice. One process sweeps a source at a time.

    Exit codes: 0 done and nothing needs a person; 4 done, but something needs a person (a failed
    revocation, a capture too large to fetch or given up, a credential no provider can end or whose user is
    unknown, work still open, or stopped early); 1 the source failed (unreachable, credentials refused);
    5 another process is sweeping this source; 2 bad usage or configuration."""
    begun = _since(since)
    settings = load(config)
    try:
        responder = Responder.from_settings(settings, dry_run=dry_run)
        sources = load_sources(settings, dry_run=dry_run, only=source)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    stop = threading.Event()
    engine = responder.engine()
    work = TicketWork.assemble(responder, sources, owner_name(), wake_engine=engine.wake)
    runner = SourceRunner(work, sources, owner_name(), threads=threads, poll_seconds=0.5)

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C: leave now; leases lapse and another run finishes
        typer.echo("stopping after the current page and steps (Ctrl-C again to leave at once)", err=True)
        stop.set()
        engine.wake()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    # A real sweep runs the engine like `work` does; a rehearsal runs only its own dry-run actions, afterwards
    # (a rehearsing engine must never claim someone else's real action: it would refuse to call the IdP).
    engine_thread = threading.Thread(
        target=lambda: engine.run(until_idle=False, stop=stop), name="responder-engine", daemon=True
    )
    if not dry_run:
        engine_thread.start()
    sweeper = Sweeper(work, sources[source], owner_name())
    display = _Display(dry_run)
    try:
        if dry_run:
            rehearsal = sweeper.rehearse(begun, stop=stop, on_progress=display.listing)
            if rehearsal.actions:
                engine.run(until_idle=True, only=sorted(set(rehearsal.actions)), stop=stop)
            summary = rehearsal.summary(work)
        else:
            runner.start()
            progress = sweeper.list_changes(begun, stop=stop, on_progress=display.listing)
            _wait(stop, display, work, source)
            summary = summarize(work, source, progress)
    except ResponderError as exc:
        display.close()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code if exc.exit_code != 2 else EXIT_USAGE) from None
    except LeaseLost as exc:
        display.close()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_BUSY) from None
    finally:
        stop.set()
        engine.wake()
        runner.stop()
        if engine_thread.is_alive():
            engine_thread.join(settings.engine.lease_seconds)
        for each in sources.values():
            each.close()
        responder.close()
    display.close()
    _render(summary, output)
    raise typer.Exit(EXIT_ATTENTION if _needs_attention(summary) else EXIT_CLEAN)


def _wait(stop: threading.Event, display: _Display, work: TicketWork, source: str) -> None:
    """Until every capture found is handled (or a stop): the workers and the engine do the work."""
    while not stop.is_set() and work.book.open_items(source):
        display.handling(work.book.results(source))
        stop.wait(0.5)


def _needs_attention(summary: SweepSummary) -> bool:
    person = {k: v for k, v in summary.skipped.items() if k in ("too_large", "failed")}
    return bool(
        summary.failures or summary.open_items or summary.needs_a_person or any(person.values()) or summary.stopped
    )


class _Display:
    """A bar with rate and time left on a terminal; a line every ten seconds otherwise (logs, pipes)."""

    def __init__(self, dry_run: bool) -> None:
        self._console = Console(stderr=True)
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._clean_task: TaskID | None = None
        self._last_line = 0.0
        self._verb = "rehearsing" if dry_run else "listing"
        if self._console.is_terminal:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[counts]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self._console,
            )
            self._bar.start()
            self._task = self._bar.add_task(self._verb, total=None, counts="")

    def listing(self, progress: SweepProgress) -> None:
        elapsed = max(1e-6, (datetime.now(UTC) - progress.started).total_seconds())
        rate = progress.tickets / elapsed
        counts = f"{progress.tickets} tickets ({rate:.1f}/s), {progress.captures} captures"
        total, done = _time_span(progress)
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, total=total, completed=done, counts=counts)
        elif time.monotonic() - self._last_line >= 10 or progress.listing_done:
            self._last_line = time.monotonic()
            left = ""
            if total and done and rate:
                left = f", about {elapsed * (total - done) / done:.0f} s left"
            typer.echo(f"{self._verb}: {counts}{left}", err=True)

    def handling(self, results: Mapping[str, int]) -> None:
        done = sum(v for k, v in results.items() if k not in ("open", "ours"))
        total = done + results.get("open", 0)
        counts = f"{done}/{total} captures handled"
        if self._bar is not None:
            if self._clean_task is None:
                self._clean_task = self._bar.add_task("handling", total=total or None, counts=counts)
            self._bar.update(self._clean_task, total=total or None, completed=done, counts=counts)
        elif time.monotonic() - self._last_line >= 10:
            self._last_line = time.monotonic()
            typer.echo(f"handling: {counts}", err=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _time_span(progress: SweepProgress) -> tuple[float | None, float]:
    """A sweep walks forward in time: how far its newest listed change is between its start and now."""
    if progress.listing_done:
        return 1.0, 1.0
    begun = progress.since or progress.first_reached
    if begun is None or progress.reached is None:
        return None, 0.0
    total = (progress.started - begun).total_seconds()
    done = (progress.reached - begun).total_seconds()
    return (total, min(done, total)) if total > 0 else (None, 0.0)


def _render(summary: SweepSummary, output: SweepFormat) -> None:
    data: dict[str, Any] = summary.as_dict()
    if output is SweepFormat.json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title=f"sweep of {summary.source}" + (" (dry run)" if summary.dry_run else ""), show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("tickets seen", data["tickets_seen"]),
        ("captures found", data["captures_found"]),
        ("credentials", data["credentials"]),
        ("would be revoked" if summary.dry_run else "live ones revoked", data["revoked"]),
        ("already dead (expired or refused by the IdP)", data["already_dead"]),
        ("failures", data["failures"]),
        ("needs a person (no provider, no way, or no user)", data["needs_a_person"]),
    ]
    if not summary.dry_run:
        rows += [("captures cleaned", data["captures_cleaned"]), ("still open", data["still_open"])]
        rows += [(f"skipped: {k.replace('_', ' ')}", v) for k, v in data["skipped"].items()]
    for label, value in rows:
        table.add_row(label, str(value))
    Console(highlight=False).print(table)
    if summary.stopped:
        typer.echo(f"stopped early: run `responder sweep {summary.source}` again to resume", err=True)
