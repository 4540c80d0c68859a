"""A multipart upload written straight to this process's spool as it arrives.

python-multipart's push parser hands over the file part's bytes as they come, so they are written once, to the
spool file responder owns (mode 0600, removed after the scan), not first into a temporary file of the system's
and then copied; and the parts and files a form may hold are limited before anything is kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import BinaryIO

from fastapi import HTTPException
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

FILE_FIELD = "file"
MAX_PARTS = 4  # the file and a few ordinary fields; a form of thousands of parts is not an upload


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header: bytes = b""  # the header name being read
    value: bytearray = field(default_factory=bytearray)
    into_file: bool = False


@dataclass
class _Upload:
    out: BinaryIO
    part: _Part = field(default_factory=_Part)
    parts: int = 0
    files: int = 0
    filename: str | None = None
    size: int = 0
    ended: bool = False
    problem: str = ""

    def begin(self) -> None:
        self.parts += 1
        self.part = _Part()
        if self.parts > MAX_PARTS:
            self.problem = f"a multipart upload takes at most {MAX_PARTS} parts"

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self.part.header += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self.part.value += data[start:end]

    def header_end(self) -> None:
        self.part.headers[self.part.header.lower()] = bytes(self.part.value)
        self.part.header, self.part.value = b"", bytearray()

    def headers_finished(self) -> None:
        _, options = parse_options_header(self.part.headers.get(b"content-disposition", b""))
        if options.get(b"name") == FILE_FIELD.encode() and b"filename" in options:
            self.files += 1
            if self.files > 1:
                self.problem = "a multipart upload takes one file"
                return
            self.part.into_file = True
            self.filename = options[b"filename"].decode("utf-8", "replace")

    def data(self, data: bytes, start: int, end: int) -> None:
        if self.part.into_file and not self.problem:
            self.out.write(data[start:end])
            self.size += end - start

    def end(self) -> None:
        self.ended = True


async def spool_multipart(content_type: str, body: AsyncIterator[bytes], out: BinaryIO) -> tuple[int, str | None]:
    """Write the `file` part of a multipart body to `out`; returns its size and the name it was sent with.
    A body that is not well-formed multipart, or has no `file` part, is a 4xx with nothing kept."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise HTTPException(400, "multipart upload without a boundary")
    upload = _Upload(out)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": upload.begin,
            "on_header_field": upload.header_field,
            "on_header_value": upload.header_value,
            "on_header_end": upload.header_end,
            "on_headers_finished": upload.headers_finished,
            "on_part_data": upload.data,
            "on_end": upload.end,
        },
    )
    try:
        async for chunk in body:
            parser.write(chunk)
            if upload.problem:
                raise HTTPException(400, upload.problem)
        parser.finalize()
    except MultipartParseError:
        raise HTTPException(400, "the multipart body is malformed") from None
    if not upload.ended:
        raise HTTPException(400, "the multipart body ended before its closing boundary")
    if upload.files == 0:
        raise HTTPException(422, f"multipart upload needs one file in the field `{FILE_FIELD}`")
    return upload.size, upload.filename
