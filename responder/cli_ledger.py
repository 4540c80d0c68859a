"""`responder ledger …`: read, verify, report on and export the ledger; apply its migrations."""

from __future__ import annotations

import csv
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from responder.cli_common import ConfigOption, load
from responder.errors import ConfigError
from responder.ledger import database, open_ledger
from responder.ledger.queries import ACTION_COLUMNS, PENDING, Filters, export_events, list_actions, report, show

ledger_app = typer.Typer(
    help="The tamper-evident record of every forced logout: list, show, verify, report, export, migrate.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


class ListFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


_RELATIVE = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(value: str | None, option: str) -> datetime | None:
    """ISO 8601 date or time (UTC unless it says otherwise), or a duration back from now: 90m, 24h, 7d, 2w."""
    if value is None:
        return None
    if match := _RELATIVE.match(value.strip()):
        return datetime.now(UTC) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r}: use an ISO date/time (2026-11-29T08:00) or 90m, 24h, 7d", param_hint=option
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


Since = Annotated[str | None, typer.Option(help="From this time: ISO date/time, or 90m, 24h, 7d, 2w back from now.")]
Until = Annotated[str | None, typer.Option(help="Before this time (same forms as --since).")]
User = Annotated[str | None, typer.Option(help="Only this user (id or login).")]
ProviderName = Annotated[str | None, typer.Option("--provider", help="Only this provider instance.")]
TriggerName = Annotated[str | None, typer.Option("--trigger", help="upload, panic or sweep.")]
OutcomeName = Annotated[
    str | None,
    typer.Option(help="revoked, already_invalid, dry_run, unsupported, failed_permanent, or pending."),
]
FormatOption = Annotated[ListFormat, typer.Option("--format", "-f", help="table, json or csv.")]

_OUTCOMES = {"revoked", "already_invalid", "dry_run", "unsupported", "failed_permanent", PENDING}


def _filters(
    since: str | None,
    until: str | None,
    user: str | None,
    provider: str | None,
    trigger: str | None,
    outcome: str | None,
    panic: str | None = None,
) -> Filters:
    if trigger and trigger not in ("upload", "panic", "sweep"):
        raise typer.BadParameter(f"{trigger!r} (use upload, panic or sweep)", param_hint="--trigger")
    if outcome and outcome not in _OUTCOMES:
        raise typer.BadParameter(f"{outcome!r} (use one of {', '.join(sorted(_OUTCOMES))})", param_hint="--outcome")
    return Filters(
        since=parse_when(since, "--since"),
        until=parse_when(until, "--until"),
        user=user,
        provider=provider,
        trigger=trigger,
        outcome=outcome,
        panic=panic,
    )


def _console() -> Console:
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


@ledger_app.command("list")
def list_command(
    since: Since = None,
    until: Until = None,
    user: User = None,
    provider: ProviderName = None,
    trigger: TriggerName = None,
    outcome: OutcomeName = None,
    panic: Annotated[str | None, typer.Option("--panic", help="Only the actions of this panic (its id).")] = None,
    output_format: FormatOption = ListFormat.table,
    config: ConfigOption = None,
) -> None:
    """Every forced-logout action: who, where, what, why, outcome, attempts, verified dead or not."""
    filters = _filters(since, until, user, provider, trigger, outcome, panic)
    ledger = open_ledger(load(config, machine=output_format != ListFormat.table))
    try:
        rows = list_actions(ledger, filters)
    finally:
        ledger.close()
    if output_format == ListFormat.json:
        typer.echo(json.dumps(rows, indent=2))
    elif output_format == ListFormat.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(ACTION_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        grid = Table(title=f"{len(rows)} action(s)", title_justify="left")
        for column in ("when", "provider", "verb", "user", "credential", "trigger", "artifact", "outcome", "verified"):
            grid.add_column(column, overflow="fold")
        for row in rows:
            grid.add_row(
                row["created_at"][:19].replace("T", " "),
                row["provider"],
                row["verb"],
                row["subject_login"] or row["subject_id"] or "?",
                f"{row['kind']} {row['fingerprint'][:8]}" if row["fingerprint"] else "-",
                row["trigger"],
                row["reference"] or (f"panic {row['panic_id'][:8]}" if row["panic_id"] else "-"),
                row["outcome"] if row["state"] == "done" else f"pending ({row['state']})",
                {True: "dead", False: "STILL LIVE", None: "-"}[row["verified"]],
            )
        _console().print(grid)


@ledger_app.command("show")
def show_command(
    identifier: Annotated[str, typer.Argument(help="An action id or an intake id.", metavar="ID")],
    output_format: Annotated[ListFormat, typer.Option("--format", "-f", help="table or json.")] = ListFormat.table,
    config: ConfigOption = None,
) -> None:
    """One action with every event recorded for it, or one intake with its findings and actions."""
    ledger = open_ledger(load(config, machine=output_format != ListFormat.table))
    try:
        found = show(ledger, identifier)
    finally:
        ledger.close()
    if found is None:
        raise ConfigError(f"no action or intake with id {identifier!r} in the ledger")
    if output_format != ListFormat.table:
        typer.echo(json.dumps(found, indent=2))
        return
    console = _console()
    head = found.get("action") or found.get("intake") or {}
    for key, value in head.items():
        console.print(f"{key:>16}: {value}")
    for title, rows in (("seen in", found.get("sightings")), ("findings", found.get("findings"))):
        if rows:
            console.print(f"\n{title}:")
            for row in rows:
                console.print("  " + "  ".join(f"{k}={v}" for k, v in row.items()))
    if found.get("actions"):
        console.print("\nactions:")
        for row in found["actions"]:
            console.print(f"  {row['action_id']}  {row['verb']}  {row['outcome'] or row['state']}")
    if found.get("events"):
        console.print("\nevents:")
        for event in found["events"]:
            console.print(f"  #{event['seq']} {event['ts']} {event['type']} {json.dumps(event['body'])}")


@ledger_app.command("verify")
def verify_command(config: ConfigOption = None) -> None:
    """Recompute the hash chain from the first event. Exit 0 if intact; 5 and the first bad event otherwise.
    Keep the printed head hash somewhere else (a ticket, a chat message): it anchors today's chain."""
    ledger = open_ledger(load(config))
    try:
        result = ledger.verify_chain()
    finally:
        ledger.close()
    if result.intact:
        typer.echo(f"ledger intact: {result.checked} event(s); head #{result.head_seq} {result.head_hash}")
        return
    typer.echo(
        f"ledger BROKEN at event #{result.first_bad_seq}: {result.problem} "
        f"({result.checked} event(s) before it verified)",
        err=True,
    )
    raise typer.Exit(5)


@ledger_app.command("report")
def report_command(
    since: Since = "7d",
    until: Until = None,
    user: User = None,
    provider: ProviderName = None,
    trigger: TriggerName = None,
    output_format: Annotated[ListFormat, typer.Option("--format", "-f", help="table or json.")] = ListFormat.table,
    config: ConfigOption = None,
) -> None:
    """Which users were affected by which artifacts, what was revoked, what failed, what is still pending,
    and which credentials were found that no configured provider can revoke."""
    filters = _filters(since, until, user, provider, trigger, None)
    ledger = open_ledger(load(config, machine=output_format != ListFormat.table))
    try:
        summary = report(ledger, filters)
    finally:
        ledger.close()
    if output_format != ListFormat.table:
        typer.echo(json.dumps(summary, indent=2))
        return
    console = _console()
    window = f"since {summary['since'] or 'the beginning'}" + (f" until {summary['until']}" if summary["until"] else "")
    grid = Table(title=f"affected users {window}: {len(summary['users'])}", title_justify="left")
    for column in ("provider", "user", "artifacts", "revoked", "already", "failed", "pending", "not verified"):
        grid.add_column(column, overflow="fold")
    for entry in summary["users"]:
        grid.add_row(
            entry["provider"],
            entry["subject_login"] or entry["subject_id"] or "(unknown user)",
            ", ".join(entry["artifacts"]),
            str(entry["revoked"]),
            str(entry["already_invalid"]),
            str(entry["failed"]),
            str(entry["pending"]),
            str(entry["not_verified_dead"]),
        )
    console.print(grid)
    for panic_row in summary["panics"]:
        console.print(
            f"panic {panic_row['panic_id'][:8]} by {panic_row['actor']} at {panic_row['requested_at']}: "
            f"{panic_row['scope']} {panic_row['selector']} ({panic_row['reason']})"
        )
    if summary["unhandled_findings"]:
        console.print(
            f"\n{len(summary['unhandled_findings'])} credential(s) found that no configured provider revokes:"
        )
        for item in summary["unhandled_findings"]:
            console.print(
                f"  {item['kind']} {item['fingerprint'][:8]} ({item['family'] or 'unknown IdP'}) in {item['artifact']}"
            )


@ledger_app.command("export")
def export_command(
    since: Since = None,
    until: Until = None,
    output_format: Annotated[
        ListFormat, typer.Option("--format", "-f", help="json (JSON lines, one event each) or csv.")
    ] = ListFormat.json,
    config: ConfigOption = None,
) -> None:
    """Every event in chain order with its hashes, for archiving or a SIEM. No secrets are ever in it."""
    ledger = open_ledger(load(config, machine=True))
    try:
        if output_format == ListFormat.csv:
            columns = ["seq", "ts", "type", "intake_id", "action_id", "body", "prev_hash", "hash"]
            writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            for event in export_events(ledger, _filters(since, until, None, None, None, None)):
                writer.writerow({**event, "body": json.dumps(event["body"], sort_keys=True)})
        else:
            for event in export_events(ledger, _filters(since, until, None, None, None, None)):
                typer.echo(json.dumps(event, sort_keys=True))
    finally:
        ledger.close()


@ledger_app.command("migrate")
def migrate_command(config: ConfigOption = None) -> None:
    """Apply pending schema migrations (every command also does this on start)."""
    settings = load(config)
    ledger = open_ledger(settings, migrate=False)
    try:
        applied = database.migrate(ledger.engine)
        revision = database.current_revision(ledger.engine)
    finally:
        ledger.close()
    where = database.shown(ledger.engine.url)
    typer.echo(f"ledger {where}: {'migrated to' if applied else 'already at'} revision {revision}")
