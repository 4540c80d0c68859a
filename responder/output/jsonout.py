"""`--format json`: the documented schema in docs/scan-json.md (schema id `responder.scan/1`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from responder import __version__
from responder.model import Finding, Location
from responder.scan import ScanReport

SCHEMA = "responder.scan/1"


def location_dict(location: Location) -> dict[str, Any]:
    return {
        "entry": location.entry,
        "side": location.side.value,
        "field": location.field.value,
        "name": location.name,
        "host": location.host or None,
        "line": location.line,
        "member": location.member or None,
    }


def finding_dict(finding: Finding) -> dict[str, Any]:
    return {
        "fingerprint": finding.fingerprint,
        "kind": finding.kind.value,
        "revocable": finding.revocable,
        "detector": finding.detector,
        "label": finding.label,
        "provider": {
            "family": finding.provider.family.value if finding.provider.family else None,
            "instance": finding.provider.instance,
        },
        "claims": dict(finding.claims),
        "expires_at": finding.expires_at.isoformat() if finding.expires_at else None,
        "locations": [location_dict(loc) for loc in finding.locations],
    }


def report_dict(report: ScanReport, sanitized: Path | None) -> dict[str, Any]:
    return {
        "path": str(report.path),
        "sha256": report.sha256 or None,
        "size": report.size,
        "reader": report.reader or None,
        "error": report.error,
        "incomplete": report.incomplete,
        "warnings": list(report.warnings),
        "sanitized_path": str(sanitized) if sanitized else None,
        "findings": [finding_dict(f) for f in report.findings],
    }


def render(reports: Sequence[tuple[ScanReport, Path | None]]) -> str:
    findings = [f for report, _ in reports for f in report.findings]
    document = {
        "schema": SCHEMA,
        "tool": {"name": "responder", "version": __version__},
        "artifacts": [report_dict(report, sanitized) for report, sanitized in reports],
        "summary": {
            "artifacts": len(reports),
            "unreadable": sum(1 for report, _ in reports if not report.readable),
            "incomplete": sum(1 for report, _ in reports if report.incomplete),
            "findings": len(findings),
            "revocable": sum(1 for f in findings if f.revocable),
        },
    }
    return json.dumps(document, indent=2)
