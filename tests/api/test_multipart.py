"""Multipart uploads are parsed as they arrive and only the `file` part is written, straight to responder's own
spool as they come (not held, not copied through a temporary file); malformed bodies are 4xx."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest
from fastapi import HTTPException

from responder.api.multipart import spool_multipart

TYPE = "multipart/form-data; boundary=b0"


def body(*parts: tuple[str, str | None, bytes], close: bool = True) -> bytes:
    out = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--b0\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return out + (b"--b0--\r\n" if close else b"")


def spool(raw: bytes, chunk: int = 1 << 16, content_type: str = TYPE) -> tuple[int, str | None, bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), chunk):
            yield raw[start : start + chunk]

    out = io.BytesIO()
    size, name = asyncio.run(spool_multipart(content_type, chunks(), out))
    return size, name, out.getvalue()


@pytest.mark.parametrize("chunk", [1, 7, 1 << 16])
def test_the_file_part_is_written_whole_however_the_body_arrives(chunk: int) -> None:
    content = b'{"log": {"entries": []}}\r\n--b1 looks like a boundary for a while\r\n' * 20
    raw = body(("note", None, b"from ticket 9"), ("file", "ticket.har", content), ("other", None, b"x"))
    assert spool(raw, chunk) == (len(content), "ticket.har", content)


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "says"),
    [
        (body(("note", None, b"x")), TYPE, 422, "needs one file"),
        (body(("file", None, b"text, not a file")), TYPE, 422, "needs one file"),
        (body(("file", "a.har", b"1"), ("file", "b.har", b"2")), TYPE, 400, "one file"),
        (body(*[("f", None, b"x")] * 5, ("file", "a.har", b"1")), TYPE, 400, "at most 4 parts"),
        (body(("file", "a.har", b"cut off"), close=False), TYPE, 400, "before its closing boundary"),
        (body(("file", "a.har", b"1")), "multipart/form-data", 400, "without a boundary"),
        (b"no multipart at all", TYPE, 400, "malformed"),
    ],
)
def test_bad_bodies_are_refused(raw: bytes, content_type: str, status: int, says: str) -> None:
    with pytest.raises(HTTPException) as refused:
        spool(raw, content_type=content_type)
    assert refused.value.status_code == status
    assert says in str(refused.value.detail)


def test_the_file_reaches_the_spool_while_the_body_is_still_arriving() -> None:
    content = b"x" * (4 << 20)
    raw = body(("file", "big.har", content))
    out = io.BytesIO()
    seen_midway: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 1 << 16):
            if start >= len(raw) // 2 and not seen_midway:
                seen_midway.append(out.tell())  # half the body sent: how much of the file is already written
            yield raw[start : start + (1 << 16)]

    size, _ = asyncio.run(spool_multipart(TYPE, chunks(), out))
    assert size == len(content)
    assert seen_midway[0] > len(content) // 3  # written as it came, not held until the end
