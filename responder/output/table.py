"""The default, human rendering: one table per artifact."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from responder.model import Finding
from responder.scan import ScanReport


def _where(finding: Finding) -> str:
    first = finding.locations[0]
    if first.line is not None:
        place = f"line {first.line}"
    elif first.entry is not None:
        place = f"#{first.entry} {first.side.value}"
    else:
        place = "log"
    name = f" {first.name}" if first.name else ""
    more = f" (+{len(finding.locations) - 1})" if len(finding.locations) > 1 else ""
    return f"{place} {first.field.value}{name}{more}"


def _provider(finding: Finding) -> str:
    family = finding.provider.family.value if finding.provider.family else "-"
    return f"{family} / {finding.provider.instance}" if finding.provider.instance else family


def _expiry(finding: Finding, now: datetime) -> str:
    if finding.expires_at is None:
        return ""
    return ("expired " if finding.expires_at < now else "") + finding.expires_at.strftime("%Y-%m-%d %H:%M")


def render(reports: Sequence[tuple[ScanReport, Path | None]], console: Console) -> None:
    now = datetime.now(UTC)
    for report, sanitized in reports:
        # Paths, warnings and errors are printed as plain text: rich markup in them must not be interpreted.
        console.print(Text(str(report.path), style="bold"))
        if report.error:
            console.print(Text.assemble("  ", ("error: ", "red"), report.error))
            continue
        console.print(Text(f"  reader {report.reader}, {report.size:,} bytes, sha256 {report.sha256[:16]}…"))
        for warning in report.warnings:
            console.print(Text.assemble("  ", ("warning: ", "yellow"), warning))
        if not report.findings:
            console.print(Text("  no credentials found"))
        else:
            table = Table(show_edge=False, pad_edge=False, expand=False)
            for column in ("kind", "what", "provider", "revocable", "expires", "fingerprint", "first seen"):
                table.add_column(column, overflow="fold")
            ordered = sorted(report.findings, key=lambda f: (not f.revocable, f.kind.value, f.label))
            for finding in ordered:
                cells = (
                    finding.kind.value,
                    finding.label,
                    _provider(finding),
                    "yes" if finding.revocable else "no",
                    _expiry(finding, now),
                    finding.fingerprint[:12],
                    _where(finding),
                )
                table.add_row(*(Text(cell) for cell in cells))
            console.print(table)
            revocable = sum(f.revocable for f in report.findings)
            console.print(Text(f"  {len(report.findings)} credential(s), {revocable} revocable"))
        if sanitized:
            console.print(Text(f"  sanitized copy: {sanitized}"))
