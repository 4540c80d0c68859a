"""`respond`, `work` and `panic`: the commands that act. Each records in the ledger first, then executes
through the same durable engine as the `work` process."""

from __future__ import annotations

import getpass
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated, Any
from wsgiref.simple_server import WSGIServer

import structlog
import typer
from prometheus_client import start_http_server
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from responder.cli_common import (
    EXIT_ATTENTION,
    EXIT_CLEAN,
    EXIT_FOUND,
    EXIT_UNREADABLE,
    EXIT_USAGE,
    ConfigOption,
    load,
    scan_paths,
)
from responder.errors import ConfigError, DirectoryError
from responder.execute import RunStats
from responder.leases import owner_name
from responder.ledger.queries import Filters, list_actions
from responder.metrics import Metrics, observed
from responder.model import Subject, Trigger
from responder.notify.worker import start_in_background
from responder.plugins import load_sources_tolerant
from responder.service import PanicScope, Responder
from responder.sources.pipeline import TicketWork
from responder.sources.runner import SourceRunner

FINISHED_OK = frozenset({"revoked", "already_invalid", "dry_run"})


class ActFormat(StrEnum):
    table = "table"
    json = "json"


def _actor(explicit: str | None) -> str:
    if explicit:
        return explicit
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _execute_inline(
    responder: Responder, action_ids: list[str] | None, *, total: int | None = None, panic_id: str | None = None
) -> RunStats:
    """Run the engine on these actions (or this panic's) until none is left, showing progress on stderr:
    a bar with rate and time left on a terminal, a line every ten seconds otherwise."""
    total = len(action_ids) if total is None and action_ids is not None else total or 0
    if not total:
        return RunStats()
    engine = responder.engine()
    stderr = Console(stderr=True)
    if not stderr.is_terminal:
        return engine.run(until_idle=True, only=action_ids, panic_id=panic_id, on_progress=_ProgressLines(total))
    columns = (
        TextColumn("acting"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[verified]} verified"),
    )
    with Progress(*columns, console=stderr, transient=total < 20) as bar:
        task = bar.add_task("acting", total=total, verified=0)

        def progress(stats: RunStats) -> None:
            bar.update(task, completed=stats.executed, verified=stats.verified)

        stats = engine.run(until_idle=True, only=action_ids, panic_id=panic_id, on_progress=progress)
        progress(stats)
        return stats


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f}/s" if speed else "-/s")


class _ProgressLines:
    """For logs and pipes: one line every ten seconds with count, rate and time left."""

    def __init__(self, total: int, every: float = 10.0) -> None:
        self._total = total
        self._every = every
        self._started = time.monotonic()
        self._last = self._started

    def __call__(self, stats: RunStats) -> None:
        now = time.monotonic()
        if now - self._last < self._every:
            return
        self._last = now
        rate = stats.executed / (now - self._started)
        left = f", about {(self._total - stats.executed) / rate:.0f} s left" if rate else ""
        typer.echo(f"acting: {stats.executed}/{self._total} finished ({rate:.1f}/s{left})", err=True)


def _render_actions(rows: list[dict[str, Any]], title: str) -> None:
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    if not rows:
        console.print(f"{title}: nothing to do")
        return
    grid = Table(title=title, title_justify="left")
    for column in ("provider", "verb", "user", "credential", "outcome", "verified", "tries", "detail"):
        grid.add_column(column, overflow="fold")
    for row in rows:
        user = row["subject_login"] or row["subject_id"] or "?"
        credential = f"{row['kind']} {row['fingerprint'][:8]}" if row["fingerprint"] else "-"
        outcome = row["outcome"] if row["state"] == "done" else f"pending, next try {row['next_attempt_at'][11:19]}Z"
        verified = {True: "dead", False: "STILL LIVE", None: "-"}[row["verified"]]
        grid.add_row(
            row["provider"], row["verb"], user, credential, outcome, verified, str(row["attempts"]), row["detail"]
        )
    console.print(grid)


def _wants_attention(row: dict[str, Any]) -> bool:
    """Not finished, failed, or verified still live."""
    return row["state"] != "done" or row["outcome"] not in FINISHED_OK or row["verified"] is False


def _needs_attention(rows: list[dict[str, Any]]) -> bool:
    return any(_wants_attention(row) for row in rows)


def respond(
    paths: Annotated[list[Path], typer.Argument(help="Captures to act on (same formats as `scan`).", metavar="PATH")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Record what would be done; call no identity provider.")
    ] = False,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out-dir", "-o", file_okay=False, help="Write each artifact's sanitized copy here."),
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Who is acting, for the ledger (default cli:<login>).")] = None,
    output_format: Annotated[ActFormat, typer.Option("--format", "-f", help="table or json.")] = ActFormat.table,
    config: ConfigOption = None,
) -> None:
    """Scan, plan and revoke now: every credential a configured provider claims is revoked, every affected
    session ended, each step recorded in the ledger before and after it happens.

    Exit status: 0 nothing found, 1 found and all handled, 2 usage or configuration error, 3 nothing could be
    read, 4 needs attention (a failure, a pending retry, a credential still live, or one no provider handles).
    """
    settings = load(config, machine=output_format == ActFormat.json)
    log = structlog.get_logger("responder.respond")
    results = scan_paths(settings, paths, out_dir, log)
    responder = Responder.from_settings(settings, dry_run=dry_run)
    try:
        intakes = []
        for report, _ in results:
            if not report.readable:
                continue
            intakes.append(
                (
                    report,
                    responder.intake(
                        report,
                        trigger=Trigger.UPLOAD,
                        actor=_actor(actor),
                        source="cli",
                        reference=str(report.path),
                        dry_run=dry_run,
                    ),
                )
            )
        action_ids = list(dict.fromkeys(a for _, intake in intakes for a in intake.action_ids))
        _execute_inline(responder, action_ids)
        rows = list_actions(responder.ledger, Filters(action_ids=tuple(action_ids)))
    finally:
        responder.close()
    unhandled = sum(intake.unhandled for _, intake in intakes)
    if output_format == ActFormat.json:
        document = {
            "schema": "responder.respond/1",
            "intakes": [
                {
                    "intake_id": intake.intake_id,
                    "path": str(report.path),
                    "sha256": report.sha256,
                    "findings": len(intake.records),
                    "unhandled": intake.unhandled,
                    "warnings": list(report.warnings),
                }
                for report, intake in intakes
            ],
            "actions": rows,
        }
        typer.echo(json.dumps(document, indent=2))
    else:
        for report, intake in intakes:
            typer.echo(
                f"{report.path}: {len(intake.records)} finding(s), intake {intake.intake_id}"
                + (f", {intake.unhandled} left for a person (see ledger report)" if intake.unhandled else "")
            )
        _render_actions(rows, "forced logouts" + (" (dry run)" if dry_run else ""))
    reports = [report for report, _ in results]
    if _needs_attention(rows) or unhandled:
        raise typer.Exit(EXIT_ATTENTION)
    if any(report.findings for report in reports):
        raise typer.Exit(EXIT_FOUND)
    if any(not report.readable for report in reports):
        raise typer.Exit(EXIT_UNREADABLE)
    raise typer.Exit(EXIT_CLEAN)


def work(
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit when nothing is due and no action is held by any worker.")
    ] = False,
    threads: Annotated[int | None, typer.Option(min=1, max=64, help="Actions executed at once.")] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Serve this process's Prometheus metrics (no key asked) on --metrics-host:PORT/metrics.",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Address for --metrics-port; the default keeps it on this host.")
    ] = "127.0.0.1",
    config: ConfigOption = None,
) -> None:
    """Run the execution engine: claim due actions from the ledger, revoke, record, verify. With [[sources]]
    configured (and without --until-idle), also work their tickets (webhook deliveries, fetch, clean, note) and
    run their scheduled sweeps; with [[notifiers]], send their messages. Several `work` processes may share
    one PostgreSQL ledger. SIGTERM or Ctrl-C finishes the actions in hand, then exits."""
    overrides: dict[str, Any] = {"engine": {"threads": threads}} if threads else {}
    settings = load(config, **overrides)
    responder = Responder.from_settings(settings)
    stop = threading.Event()
    metrics, engine = observed(responder)
    exporter = _serve_metrics(metrics, metrics_host, metrics_port) if metrics_port else None

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()
        engine.wake()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log = structlog.get_logger("responder.work")
    log.info("worker_started", owner=engine.owner, threads=settings.engine.threads)
    tickets = None if until_idle else _ticket_work(responder, engine.wake, log)
    notifications = None if until_idle else start_in_background(settings, responder.ledger, threading.Event())
    try:
        stats = engine.run(until_idle=until_idle, stop=stop)
    finally:
        if tickets is not None:
            tickets.stop(settings.engine.lease_seconds)
        if notifications is not None:
            notifications(30.0)
        if exporter is not None:
            exporter.shutdown()
        responder.close()
    summary = ", ".join(f"{k} {v}" for k, v in sorted(stats.outcomes.items())) or "nothing to do"
    typer.echo(f"work: {stats.executed} action(s) finished, {stats.verified} verified ({summary})", err=True)


def _serve_metrics(metrics: Metrics, host: str, port: int) -> WSGIServer:
    try:
        server, _thread = start_http_server(port, host, registry=metrics.registry)
    except OSError as exc:
        raise ConfigError(f"--metrics-port: cannot listen on {host}:{port} ({exc.strerror})") from None
    return server


def _ticket_work(responder: Responder, wake: Callable[[], None], log: Any) -> SourceRunner | None:
    """The configured sources' ticket work and scheduled sweeps run in `work` too (any process running the
    engine may take them; leases keep each item and each sweep to one process)."""
    sources, problems = load_sources_tolerant(responder.settings)
    for name, problem in problems.items():
        log.error("source_unusable", source=name, problem=problem)
    if not sources:
        return None
    owner = owner_name()
    runner = SourceRunner(
        TicketWork.assemble(responder, sources, owner, wake_engine=wake), sources, owner, schedules=True
    )
    runner.start()
    return runner


SHOWN_ROWS = 50  # a panic of thousands is summarised; `ledger list --panic ID` shows every row


def panic(
    provider: Annotated[str, typer.Option("--provider", "-p", help="Configured provider instance name.")],
    reason: Annotated[
        str | None, typer.Option("--reason", "-r", help="Why, for the ledger and the report (required).")
    ] = None,
    users: Annotated[
        list[str] | None, typer.Option("--user", "-u", help="User id, login or email (repeatable).")
    ] = None,
    groups: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="Every member of this group (repeatable).")
    ] = None,
    everyone: Annotated[
        bool, typer.Option("--all", help="Every user of the instance. Asks you to type its name, unless --yes.")
    ] = False,
    resume: Annotated[
        str | None,
        typer.Option("--resume", metavar="PANIC_ID", help="Finish a panic that was interrupted (a crash, Ctrl-C)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Record the panic and look the users up; end nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (scripts).")] = False,
    actor: Annotated[str | None, typer.Option(help="Who is acting (default cli:<login>).")] = None,
    config: ConfigOption = None,
) -> None:
    """End every session (and revoke the tokens, where the IdP can) of some users, of a group's members, or
    of everyone at one provider instance, now. Users are looked up in the IdP's directory first; every action
    is recorded in the ledger before any runs, so an interrupted panic is finished by `--resume PANIC_ID`
    (or by any `responder work`). Each panic is a new request: pressing it twice runs twice.

    Exit status: 0 all done, 2 usage, configuration or directory error (nothing done), 4 needs attention.
    """
    scopes = [bool(users), bool(groups), everyone, resume is not None]
    if sum(scopes) != 1:
        raise typer.BadParameter("give exactly one of --user, --group, --all or --resume", param_hint="scope")
    if resume is None and not reason:
        raise typer.BadParameter("say why: it goes into the ledger and the report", param_hint="--reason")
    settings = load(config)
    responder = Responder.from_settings(settings, dry_run=dry_run)
    try:
        if resume is not None:
            panic_id, total = _resumed(responder, resume)
        else:
            scope = PanicScope("user" if users else "group" if groups else "all", tuple(users or groups or ()))
            subjects = _look_up(responder, provider, scope)
            _confirm(provider, scope, len(subjects), yes=yes, dry_run=dry_run)
            panic_id, recorded = responder.panic(
                provider, subjects, actor=_actor(actor), reason=reason or "", scope=scope, dry_run=dry_run
            )
            total = len(recorded.planned)
            typer.echo(f"panic {panic_id}: {len(subjects)} user(s), {total} action(s) recorded", err=True)
        _execute_inline(responder, None, total=total, panic_id=panic_id)
        rows = list_actions(responder.ledger, Filters(panic=panic_id))
    finally:
        responder.close()
    _render_panic(rows, panic_id)
    if _needs_attention(rows):
        raise typer.Exit(EXIT_ATTENTION)


def _look_up(responder: Responder, provider: str, scope: PanicScope) -> list[Subject]:
    stderr = Console(stderr=True)
    if scope.kind == "user" or not stderr.is_terminal:
        return responder.panic_subjects(provider, scope)
    with stderr.status(f"listing users at {provider}…", spinner="dots") as status:
        return responder.panic_subjects(
            provider, scope, on_found=lambda n: status.update(f"listing users at {provider}: {n} so far…")
        )


def _confirm(provider: str, scope: PanicScope, count: int, *, yes: bool, dry_run: bool) -> None:
    if count == 0:
        raise DirectoryError(f"{provider}: the {scope.kind} scope covers no user; nothing was recorded")
    if yes or dry_run:
        return
    interactive = sys.stdin.isatty()
    if scope.kind == "all":
        if not interactive:
            raise typer.BadParameter(
                "--all ends everyone's sessions: add --yes when not at a terminal", param_hint="--all"
            )
        typed = typer.prompt(
            f"This ends every session of all {count} user(s) at {provider}. Type {provider!r} to go on"
        )
        if typed.strip() != provider:
            typer.echo("not confirmed: nothing was recorded or done", err=True)
            raise typer.Exit(EXIT_USAGE)
    elif interactive:
        typer.confirm(f"End every session of {count} user(s) at {provider}?", abort=True)


def _resumed(responder: Responder, panic_id: str) -> tuple[str, int]:
    rows = list_actions(responder.ledger, Filters(panic=panic_id))
    if not rows:
        raise ConfigError(f"no panic with id {panic_id!r} in the ledger")
    left = sum(1 for row in rows if row["state"] != "done")
    typer.echo(f"panic {panic_id}: {len(rows) - left} of {len(rows)} action(s) already finished", err=True)
    held = sum(1 for row in rows if row["state"] in ("running", "verifying"))
    if held:
        lease = responder.settings.engine.lease_seconds
        typer.echo(
            f"{held} action(s) were in hand when it stopped: they run again once their lease ends "
            f"(at most {lease:.0f} s, engine.lease_seconds), since a crashed worker cannot say it is gone",
            err=True,
        )
    return panic_id, left


def _render_panic(rows: list[dict[str, Any]], panic_id: str) -> None:
    title = f"panic {panic_id}"
    if len(rows) <= SHOWN_ROWS:
        _render_actions(rows, title)
        return
    outcomes: dict[str, int] = {}
    for row in rows:
        key = row["outcome"] if row["state"] == "done" else "pending"
        outcomes[key] = outcomes.get(key, 0) + 1
    summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
    typer.echo(f"{title}: {len(rows)} action(s): {summary}")
    attention = [row for row in rows if _wants_attention(row)]
    if attention:
        _render_actions(attention[:SHOWN_ROWS], f"{len(attention)} need attention (first {SHOWN_ROWS} shown)")
    typer.echo(f"every row: responder ledger list --panic {panic_id}")
