"""Command line. Exit codes: 0 nothing found, 1 credentials found (and handled), 2 usage or config error,
3 nothing could be read, 4 needs attention (respond/panic), 5 ledger chain broken, 6 a provider check failed,
70 internal error."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.console import Console

from responder import __version__
from responder.cli_common import (
    EXIT_CLEAN,
    EXIT_FOUND,
    EXIT_UNREADABLE,
    ConfigOption,
    load,
    scan_paths,
)
from responder.cli_config import config_app
from responder.cli_ledger import ledger_app
from responder.cli_providers import providers_app
from responder.cli_respond import panic, respond, work
from responder.cli_serve import serve
from responder.cli_sweep import sweep
from responder.errors import ResponderError
from responder.output import jsonout, sarif, table

app = typer.Typer(
    name="responder",
    help="Find live credentials in browser captures (HAR and friends), revoke them at the identity provider, "
    "and record every forced logout.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # rich tracebacks print local variables, which may hold secrets
    add_completion=False,
    rich_markup_mode=None,
)


app.add_typer(config_app, name="config")
app.add_typer(ledger_app, name="ledger")
app.add_typer(providers_app, name="providers")
app.command()(respond)
app.command()(work)
app.command()(panic)
app.command()(serve)
app.command()(sweep)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"responder {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """responder: session-token revocation responder."""


@app.command()
def scan(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Captures to scan: .har, .har.gz, .zip, .saz, or text (logs, curl -v output, pasted headers).",
            show_default=False,
            metavar="PATH",
        ),
    ],
    output_format: Annotated[
        OutputFormat,
        typer.Option("--format", "-f", help="table for people; json (docs/scan-json.md) or sarif 2.1.0 for machines."),
    ] = OutputFormat.table,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir",
            "-o",
            file_okay=False,
            help="Write a sanitized "
            "copy of each artifact here, same name and format, every credential replaced by "
            "[REDACTED <kind> <fingerprint8>].",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Find every credential in each artifact. Nothing is sent anywhere; no value is ever printed.

    Exit status: 0 nothing found, 1 credentials found, 2 usage or configuration error, 3 nothing could be read.
    """
    settings = load(config, machine=output_format != OutputFormat.table)
    log = structlog.get_logger("responder.scan")
    results = scan_paths(settings, paths, out_dir, log)

    if output_format == OutputFormat.json:
        typer.echo(jsonout.render(results))
    elif output_format == OutputFormat.sarif:
        typer.echo(sarif.render(results))
    else:
        table.render(results, Console(highlight=False, width=None if sys.stdout.isatty() else 160))

    reports = [report for report, _ in results]
    if any(report.findings for report in reports):
        raise typer.Exit(EXIT_FOUND)
    if any(not report.readable or report.incomplete for report in reports):
        raise typer.Exit(EXIT_UNREADABLE)
    raise typer.Exit(EXIT_CLEAN)


def main() -> None:
    """Entry point: operator errors become one clear line and an exit code, never a traceback."""
    try:
        app()  # standalone: usage errors exit 2, typer.Exit codes pass through as SystemExit
    except ResponderError as exc:
        typer.echo(f"responder: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if os.environ.get("RESPONDER_DEBUG"):
            raise
        # The exception text is not printed: it could quote input. Its type is enough to report a bug.
        typer.echo(f"responder: internal error: {type(exc).__name__} (set RESPONDER_DEBUG=1 for details)", err=True)
        sys.exit(70)
