"""Which attachments are fetched (name and media type) and, once fetched, which are read (first bytes). Missing
a capture leaves a live token on a ticket, so the tests pin down what must pass as much as what is refused."""

from __future__ import annotations

import gzip
import io
import zipfile

import pytest

from responder.model import AttachmentRef
from responder.settings import SourceConfig
from responder.sources.captures import CaptureFilter, looks_like_capture

DEFAULT = CaptureFilter.of(SourceConfig.model_validate({"name": "desk", "plugin": "folder"}).capture_names)


def ref(name: str, content_type: str | None = None) -> AttachmentRef:
    return AttachmentRef("9", "1", name, content_type=content_type)


@pytest.mark.parametrize(
    ("name", "content_type", "wanted"),
    [
        ("login.har", None, True),
        ("LOGIN.HAR", "application/octet-stream", True),
        ("capture.har.gz", "application/gzip", True),
        ("captures.zip", "application/zip", True),
        ("session.saz", None, True),
        ("curl-output.txt", "text/plain", True),
        ("gateway.log", None, True),
        ("network log", "application/har+json", True),  # named by its media type alone
        ("export", "application/x-har; charset=utf-8", True),
        ("screenshot.png", "image/png", False),
        ("invoice.pdf", "application/pdf", False),
        ("notes.docx", None, False),
        ("har", None, False),
        ("login.har.png", "image/png", False),
    ],
)
def test_the_default_names_and_media_types(name: str, content_type: str | None, wanted: bool) -> None:
    assert DEFAULT.wants(ref(name, content_type)) is wanted


def test_names_are_configurable() -> None:
    only_hars = CaptureFilter.of(["*.HAR"])
    assert only_hars.pick([ref("a.har"), ref("b.txt"), ref("c", "application/har+json")]) == [
        ref("a.har"),
        ref("c", "application/har+json"),
    ]


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("x.har", "{}")
    return out.getvalue()


@pytest.mark.parametrize(
    ("head", "read"),
    [
        (b'{"log": {"version": "1.2", "entries": []}}', True),
        (b'\xef\xbb\xbf{"log": {}}', True),  # a UTF-8 BOM
        (gzip.compress(b'{"log": {}}'), True),
        (_zip(), True),  # a zip of HARs, and a Fiddler .saz
        (b"PK\x05\x06" + b"\x00" * 18, True),  # an empty zip: read, and found empty
        (b"GET /api HTTP/1.1\r\nAuthorization: Bearer abc\r\n", True),
        ("2026-11-29 12:00:01 café Cookie: sid=abc\n".encode("latin-1") * 50, True),  # a Latin-1 log
        ("ünïcödé ✓ ".encode() * 6000 + "✓".encode()[:2], True),  # a character cut at the sample's end
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", False),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n" + bytes(range(256)) * 4, False),
        (b"", False),
        (b"   \n\t  ", False),
        (bytes(range(128, 160)) * 100, False),  # control bytes, not text
    ],
)
def test_the_first_bytes_decide_whether_it_is_read(head: bytes, read: bool) -> None:
    assert looks_like_capture(head) is read
