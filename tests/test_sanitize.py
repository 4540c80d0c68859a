"""Sanitized copies: same format, same entries, every credential replaced everywhere, nothing else lost."""

from __future__ import annotations

import base64
import gzip
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from responder.plugins import ReaderRegistry
from responder.sanitize.writer import Sanitizer
from responder.scan import Scanner, ScanReport
from responder.settings import ScanSettings
from tests import harbuild
from tests.conftest import CORPUS
from tests.readers.test_readers import TOKEN, _saz

Sanitize = Callable[[Path], tuple[ScanReport, Path]]


@pytest.fixture
def sanitize(registry: ReaderRegistry, make_scanner, tmp_path: Path) -> Sanitize:  # type: ignore[no-untyped-def]
    scanner: Scanner = make_scanner()
    sanitizer = Sanitizer(registry, ScanSettings())

    def run(path: Path) -> tuple[ScanReport, Path]:
        report = scanner.scan(path)
        out = tmp_path / "out" / path.name
        sanitizer.write(path, report.findings, out)
        return report, out

    return run


def test_har_keeps_its_shape(tmp_path: Path, sanitize: Sanitize, scan: Callable[[Path], ScanReport]) -> None:
    body = json.dumps({"access_token": TOKEN, "expires_in": 3600})
    document = harbuild.har(
        harbuild.entry(request_headers=[("Authorization", f"Bearer {TOKEN}"), ("Accept", "*/*")]),
        harbuild.entry(body=body, base64_body=True),
        harbuild.entry(url=f"https://app.example.com/cb?code=c0DE{TOKEN}&state=keepme"),
    )
    report, out = sanitize(harbuild.write(tmp_path / "a.har", document))
    assert len(report.findings) == 2
    clean = json.loads(out.read_text())
    entries = clean["log"]["entries"]
    assert len(entries) == 3
    marker = next(h["value"] for h in entries[0]["request"]["headers"] if h["name"] == "Authorization")
    assert marker.startswith("Bearer [REDACTED access_token ")
    assert {"name": "Accept", "value": "*/*"} in entries[0]["request"]["headers"]
    decoded = json.loads(base64.b64decode(entries[1]["response"]["content"]["text"]))
    assert decoded["access_token"].startswith("[REDACTED access_token")
    assert decoded["expires_in"] == 3600
    assert "state=keepme" in entries[2]["request"]["url"]
    assert TOKEN not in out.read_text()
    assert scan(out).findings == ()


def test_text_is_unchanged_but_for_the_values(tmp_path: Path, sanitize: Sanitize) -> None:
    original = f"> GET /x HTTP/1.1\n> Authorization: Bearer {TOKEN}\n\tindent kept  \r\nend"
    path = tmp_path / "curl.txt"
    path.write_bytes(original.encode())
    report, out = sanitize(path)
    [finding] = report.findings
    expected = original.replace(TOKEN, f"[REDACTED access_token {finding.fingerprint[:8]}]")
    assert out.read_bytes() == expected.encode()


def test_short_values_are_replaced_only_where_they_stand_alone(tmp_path: Path, sanitize: Sanitize) -> None:
    path = tmp_path / "login.txt"
    path.write_text("POST /test/login password=test&user=bob\nGET /testing/test.html\n")
    _, out = sanitize(path)
    assert out.read_text().startswith("POST /test/login password=[REDACTED password ")
    assert out.read_text().endswith("GET /testing/test.html\n")


def test_archives_come_back_as_archives(tmp_path: Path, sanitize: Sanitize, scan: Callable[[Path], ScanReport]) -> None:
    raw = json.dumps(harbuild.har(harbuild.entry(request_headers=[("Authorization", f"Bearer {TOKEN}")])))
    gz = tmp_path / "c.har.gz"
    gz.write_bytes(gzip.compress(raw.encode()))
    _, out = sanitize(gz)
    assert TOKEN not in gzip.decompress(out.read_bytes()).decode()
    zipped = tmp_path / "c.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("a/c.har", raw)
        archive.writestr("b.png", b"\x89PNG\r\n\x1a\n\0\0binary")
    _, out = sanitize(zipped)
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["a/c.har", "b.png"]
        assert TOKEN not in archive.read("a/c.har").decode()
        assert archive.read("b.png") == b"\x89PNG\r\n\x1a\n\0\0binary"
    assert scan(out).findings == ()


def test_saz_bodies_are_decoded_and_cleaned(
    tmp_path: Path, sanitize: Sanitize, scan: Callable[[Path], ScanReport]
) -> None:
    _, out = sanitize(_saz(tmp_path / "s.saz"))
    with zipfile.ZipFile(out) as archive:
        everything = b"".join(archive.read(name) for name in archive.namelist())
        response = archive.read("raw/01_s.txt")
    assert TOKEN.encode() not in everything
    assert b"Content-Encoding" not in response
    assert b"[REDACTED access_token" in response
    assert scan(out).findings == ()


def test_the_original_is_never_overwritten(tmp_path: Path, registry: ReaderRegistry) -> None:
    from responder.errors import UnreadableArtifact

    path = harbuild.write(tmp_path / "a.har", harbuild.har(harbuild.entry()))
    with pytest.raises(UnreadableArtifact, match="refusing to overwrite"):
        Sanitizer(registry, ScanSettings()).write(path, (), path)


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.har")) if CORPUS.is_dir() else [])
def test_corpus_sanitized_copies_hold_nothing(
    name: str, corpus: Path, sanitize: Sanitize, scan: Callable[[Path], ScanReport]
) -> None:
    report, out = sanitize(corpus / name)
    rescan = scan(out)
    assert rescan.findings == (), [(f.kind, f.locations[0]) for f in rescan.findings]
    text = out.read_bytes()
    for finding in report.findings:
        assert finding.value.reveal().encode() not in text
    if report.reader == "har" and not text.startswith(b"onInputData"):
        original = json.loads((corpus / name).read_text(encoding="utf-8-sig"))
        assert len(json.loads(text)["log"]["entries"]) == len(original["log"]["entries"])
