"""`respond`, `work` and `panic`: the commands that act. Each records in the ledger first, then executes
through the same durable engine as the `work` process."""

from __future__ import annotations

import getpass
import json
import signal
import sys
import threading
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import structlog
import typer
from rich.console import Console
from rich.table import Table

from responder.cli_common import EXIT_ATTENTION, EXIT_CLEAN, EXIT_FOUND, EXIT_UNREADABLE, ConfigOption, load, scan_paths
from responder.execute import RunStats
from responder.ledger.queries import Filters, list_actions
from responder.model import Subject, Trigger
from responder.service import Responder

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


def _execute_inline(responder: Responder, action_ids: list[str]) -> RunStats:
    stderr = Console(stderr=True)
    total = len(action_ids)
    if not total:
        return RunStats()
    engine = responder.engine()
    if not stderr.is_terminal:
        return engine.run(until_idle=True, only=action_ids)
    with stderr.status(f"acting on {total} action(s)…", spinner="dots") as status:

        def progress(stats: RunStats) -> None:
            status.update(f"acting: {stats.executed}/{total} finished, {stats.verified} verified")

        return engine.run(until_idle=True, only=action_ids, on_progress=progress)


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


def _needs_attention(rows: list[dict[str, Any]]) -> bool:
    return any(r["state"] != "done" or r["outcome"] not in FINISHED_OK or r["verified"] is False for r in rows)


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
    config: ConfigOption = None,
) -> None:
    """Run the execution engine: claim due actions from the ledger, revoke, record, verify. Several `work`
    processes may share one PostgreSQL ledger. SIGTERM or Ctrl-C finishes the actions in hand, then exits."""
    overrides: dict[str, Any] = {"engine": {"threads": threads}} if threads else {}
    settings = load(config, **overrides)
    responder = Responder.from_settings(settings)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log = structlog.get_logger("responder.work")
    engine = responder.engine()
    log.info("worker_started", owner=engine.owner, threads=settings.engine.threads)
    try:
        stats = engine.run(until_idle=until_idle, stop=stop)
    finally:
        responder.close()
    summary = ", ".join(f"{k} {v}" for k, v in sorted(stats.outcomes.items())) or "nothing to do"
    typer.echo(f"work: {stats.executed} action(s) finished, {stats.verified} verified ({summary})", err=True)


def panic(
    provider: Annotated[str, typer.Option("--provider", "-p", help="Configured provider instance name.")],
    users: Annotated[list[str], typer.Option("--user", "-u", help="User id at that provider (repeatable).")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why, for the ledger and the report.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Record the panic; end no session.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    actor: Annotated[str | None, typer.Option(help="Who is acting (default cli:<login>).")] = None,
    config: ConfigOption = None,
) -> None:
    """End every session of the given users now. Each panic is a new request: pressing it twice runs twice."""
    settings = load(config)
    if not yes and sys.stdin.isatty():
        typer.confirm(f"End every session of {len(users)} user(s) at {provider}?", abort=True)
    responder = Responder.from_settings(settings, dry_run=dry_run)
    try:
        subjects = [Subject(provider, user) for user in users]
        panic_id, recorded = responder.panic(provider, subjects, actor=_actor(actor), reason=reason, dry_run=dry_run)
        typer.echo(f"panic {panic_id}: {len(recorded.planned)} action(s) planned")
        _execute_inline(responder, list(recorded.planned))
        rows = list_actions(responder.ledger, Filters(action_ids=recorded.planned))
    finally:
        responder.close()
    _render_actions(rows, f"panic {panic_id}")
    if _needs_attention(rows):
        raise typer.Exit(EXIT_ATTENTION)
