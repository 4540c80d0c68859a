"""`--format sarif`: SARIF 2.1.0, one rule per credential kind, one result per finding."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from responder import __version__
from responder.model import Finding, Kind, Location
from responder.scan import ScanReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _logical_name(location: Location) -> str:
    if location.line is not None:
        return f"line {location.line}" + (f" {location.name}" if location.name else "")
    where = f"entries[{location.entry}]" if location.entry is not None else "log"
    return f"{where}.{location.side.value}.{location.field.value}:{location.name}"


def _result(report: ScanReport, finding: Finding) -> dict[str, Any]:
    provider = finding.provider
    owner = provider.instance or (provider.family.value if provider.family else "no known provider")
    action = "revocable by" if finding.revocable else "not revocable; owner:"
    first = finding.locations[0] if finding.locations else None
    location: dict[str, Any] = {"physicalLocation": {"artifactLocation": {"uri": report.path.as_posix()}}}
    if first is not None and first.line is not None:
        location["physicalLocation"]["region"] = {"startLine": first.line}
    location["logicalLocations"] = [{"name": _logical_name(loc), "kind": "member"} for loc in finding.locations[:20]]
    return {
        "ruleId": finding.kind.value,
        "level": "error" if finding.revocable else "warning",
        "message": {
            "text": f"{finding.label} ({finding.kind.value}, {finding.fingerprint[:8]}): {action} {owner}; "
            f"seen in {len(finding.locations)} place(s)"
        },
        "locations": [location],
        "partialFingerprints": {"responderFingerprint/v1": finding.fingerprint},
        "properties": {"revocable": finding.revocable, "detector": finding.detector, "claims": dict(finding.claims)},
    }


def render(reports: Sequence[tuple[ScanReport, Path | None]]) -> str:
    rules = [
        {
            "id": kind.value,
            "name": kind.value,
            "shortDescription": {"text": f"credential of kind {kind.value} in a capture"},
            "helpUri": "https://github.com/responder/responder/blob/main/docs/scan-json.md",
        }
        for kind in Kind
    ]
    results = [_result(report, finding) for report, _ in reports for finding in report.findings]
    notifications = [
        {"level": "error" if report.error else "warning", "message": {"text": f"{report.path}: {text}"}}
        for report, _ in reports
        for text in ([report.error] if report.error else []) + list(report.warnings)
    ]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "responder", "version": __version__, "rules": rules}},
        "artifacts": [
            {
                "location": {"uri": report.path.as_posix()},
                "length": report.size,
                "hashes": {"sha-256": report.sha256} if report.sha256 else {},
            }
            for report, _ in reports
        ],
        "results": results,
    }
    if notifications:
        run["invocations"] = [
            {"executionSuccessful": not any(r.error for r, _ in reports), "toolExecutionNotifications": notifications}
        ]
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2)
