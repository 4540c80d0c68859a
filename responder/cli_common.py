"""Pieces every command shares: exit codes, the --config option, the fingerprint key, the scan loop."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from responder.errors import ResponderError, UnreadableArtifact
from responder.keys import fingerprinter
from responder.log import configure_logging
from responder.plugins import load_readers
from responder.sanitize.writer import Sanitizer
from responder.scan import Scanner, ScanReport, mask_secret_claims
from responder.settings import Settings, load_settings

EXIT_CLEAN, EXIT_FOUND, EXIT_USAGE, EXIT_UNREADABLE, EXIT_ATTENTION = 0, 1, 2, 3, 4

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", envvar="RESPONDER_CONFIG", help="TOML settings file (RESPONDER_* env wins).", dir_okay=False
    ),
]


def load(config: Path | None, *, machine: bool = False, **overrides: Any) -> Settings:
    """Settings for a command, and logging set up from them (JSON lines when stdout is for a machine)."""
    settings = load_settings(config, **overrides)
    configure_logging(json=settings.log_json or machine, level=settings.log_level)
    return settings


def scan_paths(
    settings: Settings, paths: list[Path], out_dir: Path | None, log: Any
) -> list[tuple[ScanReport, Path | None]]:
    """Scan each artifact (and write its sanitized copy when out_dir is given). Claims are masked run-wide."""
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

    return results


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
