"""Command line. Exit codes: 0 nothing found, 1 credentials found, 2 usage or config error,
3 nothing could be read."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.console import Console

from responder import __version__
from responder.errors import ConfigError, ResponderError, UnreadableArtifact
from responder.log import configure_logging
from responder.output import jsonout, sarif, table
from responder.plugins import load_readers
from responder.sanitize.writer import Sanitizer
from responder.scan import Scanner, ScanReport, mask_secret_claims
from responder.secret import Fingerprinter, load_or_create_key
from responder.settings import Settings, load_settings

EXIT_CLEAN, EXIT_FOUND, EXIT_USAGE, EXIT_UNREADABLE = 0, 1, 2, 3

app = typer.Typer(
    name="responder",
    help="Find live credentials in browser captures (HAR and friends), revoke them at the identity provider, "
    "and record every forced logout.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # rich tracebacks print local variables, which may hold secrets
    add_completion=False,
    rich_markup_mode=None,
)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", envvar="RESPONDER_CONFIG", help="TOML settings file (RESPONDER_* env wins).", dir_okay=False
    ),
]


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


def fingerprinter(settings: Settings) -> Fingerprinter:
    """Key from RESPONDER_FINGERPRINT_KEY, else generated once into the data directory (0600)."""
    if settings.fingerprint_key is not None:
        key = settings.fingerprint_key.get_secret_value().encode()
        if len(key) < 16:
            raise ConfigError("RESPONDER_FINGERPRINT_KEY must be at least 16 bytes (e.g. `openssl rand -hex 32`)")
        return Fingerprinter(key)
    key_file = settings.data_dir / "fingerprint.key"
    try:
        return Fingerprinter(load_or_create_key(key_file))
    except OSError as exc:
        raise ConfigError(
            f"cannot read or create {key_file} ({exc.strerror}); set RESPONDER_DATA_DIR to a "
            "writable directory or RESPONDER_FINGERPRINT_KEY"
        ) from None
    except ValueError:
        raise ConfigError(
            f"{key_file} is not a valid key (expected 64 hex characters); remove it to "
            "generate a new one (fingerprints will change)"
        ) from None


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
    settings = load_settings(config)
    configure_logging(json=settings.log_json or output_format != OutputFormat.table, level=settings.log_level)
    log = structlog.get_logger("responder.scan")
    registry = load_readers()
    scanner = Scanner(registry, fingerprinter(settings), settings.scan, settings.providers)
    sanitizer = Sanitizer(registry, settings.scan)
    stderr = Console(stderr=True)
    results: list[tuple[ScanReport, Path | None]] = []
    taken: set[Path] = set()
    for path in paths:
        if not path.exists():
            raise ResponderError(f"no such file: {path}")
        if path.is_dir():
            raise ResponderError(f"{path} is a directory; pass the files to scan")
        with stderr.status(f"scanning {path.name}…", spinner="dots") if stderr.is_terminal else _null():
            report = scanner.scan(path)
        log.info(
            "artifact_scanned", path=str(path), findings=len(report.findings), reader=report.reader, error=report.error
        )
        for finding in report.findings:
            log.debug(
                "finding",
                fingerprint=finding.fingerprint[:16],
                kind=finding.kind.value,
                detector=finding.detector,
                locations=len(finding.locations),
            )
        sanitized: Path | None = None
        if out_dir is not None and report.readable:
            sanitized = _unique_target(out_dir, path.name, taken)
            try:
                warnings = sanitizer.write(path, report.findings, sanitized)
            except UnreadableArtifact as exc:
                report = _with_warning(report, f"no sanitized copy: {exc}")
                sanitized = None
            except OSError as exc:
                raise ResponderError(f"cannot write the sanitized copy to {out_dir}: {exc.strerror}") from None
            else:
                for warning in warnings:
                    report = _with_warning(report, warning)
        results.append((report, sanitized))

    # A claim in one artifact may equal a credential found in another: mask across the whole run.
    by_value = {f.value.reveal(): f.fingerprint for report, _ in results for f in report.findings}
    results = [
        (replace(report, findings=tuple(mask_secret_claims(report.findings, by_value))), out) for report, out in results
    ]

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


def _unique_target(out_dir: Path, name: str, taken: set[Path]) -> Path:
    """Two inputs with one name (a/x.har, b/x.har) must not overwrite each other's copy: x.har, x-2.har…"""
    target = out_dir / name
    stem, dot, suffix = name.partition(".")
    number = 2
    while target in taken:
        target = out_dir / f"{stem}-{number}{dot}{suffix}"
        number += 1
    taken.add(target)
    return target


def _with_warning(report: ScanReport, warning: str) -> ScanReport:
    return replace(report, warnings=(*report.warnings, warning))


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


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
