"""Every reader on the shapes real exporters produce, and on containers (gzip, zip, SAZ)."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from responder.scan import ScanReport
from tests import harbuild

TOKEN = "tK9mQ2xV7pL4sR8nW3cY6bF1hJ5dG0aZ"  # random-looking opaque token


def _bearer_har() -> dict[str, object]:
    return harbuild.har(harbuild.entry(request_headers=[("Authorization", f"Bearer {TOKEN}")]))


def _names(report: ScanReport) -> set[tuple[str, str]]:
    return {(f.kind.value, loc.field.value) for f in report.findings for loc in f.locations}


def test_har_locations_are_all_covered(tmp_path: Path, scan: Callable[[Path], ScanReport]) -> None:
    """One credential per location listed in DESIGN §3; each must be found where it hides."""
    entries = [
        harbuild.entry(request_headers=[("Authorization", "Bearer a1" + TOKEN)]),
        harbuild.entry(request_headers=[("Cookie", "PHPSESSID=a2" + TOKEN + "; _ga=GA1.2.3.4")]),
        harbuild.entry(
            response_headers=[("Set-Cookie", "JSESSIONID=a3" + TOKEN + "; Path=/\nsid=a4" + TOKEN + "; HttpOnly")]
        ),
        harbuild.entry(request_headers=[("X-Api-Key", "a5" + TOKEN)]),
        harbuild.entry(response_headers=[("Location", "https://app.example.com/cb?code=a6" + TOKEN + "&state=s")]),
        harbuild.entry(request_headers=[("Referer", "https://app.example.com/cb#access_token=a7" + TOKEN)]),
        harbuild.entry(request_cookies=[("connect.sid", "a8" + TOKEN)]),
        harbuild.entry(url="https://api.example.com/x?access_token=a9" + TOKEN),
        harbuild.entry(
            method="POST",
            post={
                "mimeType": "application/x-www-form-urlencoded",
                "params": [{"name": "password", "value": "b1-hunter2"}],
                "text": "password=b1-hunter2",
            },
        ),
        harbuild.entry(
            method="POST", post={"mimeType": "application/json", "text": json.dumps({"refresh_token": "b2" + TOKEN})}
        ),
        harbuild.entry(body=json.dumps({"access_token": "b3" + TOKEN, "token_type": "Bearer"})),
        harbuild.entry(body=json.dumps({"id_token": "b4" + TOKEN}), base64_body=True),
        harbuild.entry(
            websocket=[{"type": "send", "time": 1.0, "opcode": 1, "data": json.dumps({"token": "b5" + TOKEN})}]
        ),
        harbuild.entry(extra={"_initiator": {"url": "https://app.example.com/?api_key=b6" + TOKEN}}),
    ]
    report = scan(harbuild.write(tmp_path / "all.har", harbuild.har(*entries)))
    values = {f.value.reveal()[:2] for f in report.findings}
    expected = {f"a{i}" for i in range(1, 10)} | {f"b{i}" for i in range(1, 7)}
    assert expected <= values, f"missed: {sorted(expected - values)}"
    assert not any(f.locations[0].name == "_ga" for f in report.findings)


def test_same_value_many_places_is_one_finding(tmp_path: Path, scan: Callable[[Path], ScanReport]) -> None:
    entries = [harbuild.entry(request_headers=[("Authorization", f"Bearer {TOKEN}")]) for _ in range(10)]
    entries.append(harbuild.entry(body=json.dumps({"access_token": TOKEN})))
    report = scan(harbuild.write(tmp_path / "many.har", harbuild.har(*entries)))
    assert len(report.findings) == 1
    assert len(report.findings[0].locations) == 11


@pytest.mark.parametrize("framing", ["bom", "jsonp", "compact", "no-version"])
def test_har_framings(tmp_path: Path, scan: Callable[[Path], ScanReport], framing: str) -> None:
    document = _bearer_har()
    text = json.dumps(document, indent=None if framing == "compact" else 2)
    if framing == "no-version":
        del document["log"]["version"]  # type: ignore[index]
        text = json.dumps(document)
    data = text.encode()
    if framing == "bom":
        data = b"\xef\xbb\xbf" + data
    if framing == "jsonp":
        data = b"onInputData(" + data + b");\n"
    path = tmp_path / "x.har"
    path.write_bytes(data)
    report = scan(path)
    assert report.reader == "har"
    assert [f.kind.value for f in report.findings] == ["access_token"]


def test_truncated_har_is_still_scanned_as_text(tmp_path: Path, scan: Callable[[Path], ScanReport]) -> None:
    text = json.dumps(_bearer_har(), indent=2)
    path = tmp_path / "cut.har"
    path.write_text(text[: text.index(TOKEN) + len(TOKEN) + 40])
    report = scan(path)
    assert report.reader == "text"
    assert any("scanned as text" in w for w in report.warnings)
    assert [f.value.reveal() for f in report.findings] == [TOKEN]


def test_gzip_and_zip_hold_hars(tmp_path: Path, scan: Callable[[Path], ScanReport]) -> None:
    raw = json.dumps(_bearer_har()).encode()
    gz = tmp_path / "c.har.gz"
    gz.write_bytes(gzip.compress(raw))
    assert [f.value.reveal() for f in scan(gz).findings] == [TOKEN]
    zipped = tmp_path / "c.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("export/c.har", raw)
        archive.writestr("notes.txt", b"cookie: PHPSESSID=zz" + TOKEN.encode())
    report = scan(zipped)
    assert report.reader == "zip→har→text"
    assert {loc.member for f in report.findings for loc in f.locations} == {"export/c.har", "notes.txt"}


def test_zip_bomb_is_refused(tmp_path: Path, scan: Callable[[Path], ScanReport]) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.har", b"\0" * (50 << 20))
    report = scan(bomb)
    assert report.error is not None
    assert "decompression bomb" in report.error


def test_gzip_bomb_is_refused(tmp_path: Path, scan: Callable[[Path], ScanReport]) -> None:
    bomb = tmp_path / "bomb.har.gz"
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as zipped:
        for _ in range(40):
            zipped.write(b" " * (1 << 20))
    bomb.write_bytes(buffer.getvalue())
    report = scan(bomb)
    assert report.error is not None
    assert "decompression bomb" in report.error


def test_too_many_members_is_refused(tmp_path: Path, make_scanner) -> None:  # type: ignore[no-untyped-def]
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as archive:
        for i in range(12):
            archive.writestr(f"{i}.txt", b"hello")
    report = make_scanner(max_members=10).scan(many)
    assert report.error is not None
    assert "12 files" in report.error


def _saz(path: Path) -> Path:
    body = gzip.compress(json.dumps({"access_token": TOKEN, "token_type": "Bearer"}).encode())
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(
            "raw/01_c.txt",
            "POST https://idp.example.org/token HTTP/1.1\r\nHost: idp.example.org\r\n"
            "Cookie: JSESSIONID=js" + TOKEN + "\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            "\r\ngrant_type=refresh_token&refresh_token=rt" + TOKEN,
        )
        archive.writestr(
            "raw/01_s.txt",
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n" + chunked,
        )
        archive.writestr("raw/01_m.xml", "<Session/>")
    return path


def test_fiddler_saz(tmp_path: Path, scan: Callable[[Path], ScanReport]) -> None:
    report = scan(_saz(tmp_path / "s.saz"))
    assert report.reader == "saz"
    assert {(f.kind.value, f.value.reveal()) for f in report.findings} == {
        ("session_cookie", "js" + TOKEN),
        ("refresh_token", "rt" + TOKEN),
        ("access_token", TOKEN),
    }


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (f"* Connected\n> GET /me HTTP/1.1\n> Authorization: Bearer {TOKEN}\n< HTTP/1.1 200 OK\n", "access_token"),
        (f"curl -H 'Cookie: PHPSESSID={TOKEN}' https://shop.example.com/cart\n", "session_cookie"),
        (
            f"2026-11-29T10:00:00Z INFO redirect to https://app.example.com/cb#id_token=x&access_token={TOKEN}\n",
            "access_token",
        ),
        (f"Set-Cookie: JSESSIONID={TOKEN}; Path=/; HttpOnly\n", "session_cookie"),
    ],
)
def test_text_captures(tmp_path: Path, scan: Callable[[Path], ScanReport], text: str, kind: str) -> None:
    path = tmp_path / "capture.txt"
    path.write_text(text)
    report = scan(path)
    assert report.reader == "text"
    assert [(f.kind.value, f.value.reveal()) for f in report.findings] == [(kind, TOKEN)]
    assert report.findings[0].locations[0].line is not None


def test_huge_single_line_is_windowed(tmp_path: Path, scan: Callable[[Path], ScanReport]) -> None:
    """A 5 MiB line with tokens at window edges: all found, memory bounded by the window."""
    from responder.readers.text import WINDOW

    filler = "x" * (WINDOW - 20)
    line = filler + f" Bearer {TOKEN} " + filler + f" access_token={TOKEN[::-1]} " + "y" * (3 * WINDOW)
    path = tmp_path / "line.log"
    path.write_text(line)
    found = {f.value.reveal() for f in scan(path).findings}
    assert found == {TOKEN, TOKEN[::-1]}


@pytest.mark.parametrize(
    ("text", "host"),
    [
        (f"GET /v1/me HTTP/1.1\nHost: API.lab.test\nAuthorization: Bearer {TOKEN}\n", "api.lab.test"),
        (f"> GET /me HTTP/1.1\n> Host: api.lab.test:8443\n> Authorization: Bearer {TOKEN}\n", "api.lab.test:8443"),
        (f":authority: api.lab.test\n:method: GET\nauthorization: Bearer {TOKEN}\n", "api.lab.test"),
        (f"curl 'https://api.lab.test/v1/me' -H 'Authorization: Bearer {TOKEN}'\n", "api.lab.test"),
        (f"Authorization: Bearer {TOKEN}\n", None),  # nothing names a host: nothing is guessed
    ],
)
def test_text_headers_take_the_host_named_before_them(
    tmp_path: Path, scan: Callable[[Path], ScanReport], text: str, host: str | None
) -> None:
    path = tmp_path / "pasted.txt"
    path.write_text(text)
    (finding,) = scan(path).findings
    assert (finding.locations[0].host or None) == host
