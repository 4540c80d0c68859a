"""Building blocks for ledger and engine tests: captures with planted tokens, a scan, a Responder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from responder.plugins import load_readers
from responder.scan import Scanner, ScanReport
from responder.secret import Fingerprinter
from responder.service import Responder
from responder.settings import Settings
from tests import harbuild
from tests.conftest import TEST_KEY

HOST = "api.lab.test"


def capture(path: Path, tokens: list[str], host: str = HOST) -> Path:
    """A HAR with one request per token, each sending it as a bearer token to `host`."""
    entries = [
        harbuild.entry(f"https://{host}/v1/items/{n}", request_headers=[("Authorization", f"Bearer {token}")])
        for n, token in enumerate(tokens)
    ]
    return harbuild.write(path, harbuild.har(*entries), indent=None)


def lab_provider(idp_url: str, name: str = "lab", **extra: Any) -> dict[str, Any]:
    return {"name": name, "plugin": "fake", "base_url": idp_url, "hosts": [HOST], **extra}


def scan(settings: Settings, path: Path) -> ScanReport:
    scanner = Scanner(load_readers(), Fingerprinter(TEST_KEY), settings.scan, settings.providers)
    return scanner.scan(path)


def responder(settings: Settings) -> Responder:
    return Responder.from_settings(settings)
