"""Fiddler session archives (.saz): a zip of raw HTTP messages, `raw/NN_c.txt` (request) and `NN_s.txt`
(response). Bodies are de-chunked and decompressed for scanning."""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar

from responder.errors import UnreadableArtifact
from responder.interfaces import ReadContext, Redactor
from responder.model import Observation, Side
from responder.readers.archive import ZIP_MAGIC, extracted
from responder.readers.har import bytes_as_text
from responder.readers.httpparts import (
    Where,
    body_observations,
    header_observations,
    host_and_path,
    url_observations,
)

SESSION_FILE = re.compile(r"^raw/(\d+)_([cs])\.txt$")


@dataclass(frozen=True, slots=True)
class HttpMessage:
    start_line: str
    headers: list[tuple[str, str]]
    body: bytes
    encoded: bool  # the body on disk was chunked or compressed

    def header(self, name: str) -> str:
        return next((v for n, v in self.headers if n.lower() == name), "")


class SazReader:
    name: ClassVar[str] = "saz"

    def sniff(self, head: bytes, filename: str) -> int:
        if not head.startswith(ZIP_MAGIC):
            return 0
        return 95 if filename.lower().endswith(".saz") or b"raw/" in head[:512] else 0

    def read(self, path: Path, ctx: ReadContext) -> Iterator[Observation]:
        with extracted(path, ctx) as members:
            sessions = sorted(
                (int(m.group(1)), m.group(2), member) for member in members if (m := SESSION_FILE.match(member.name))
            )
            if not sessions:
                raise UnreadableArtifact("zip has no Fiddler raw/NN_c.txt sessions")
            ctx.formats_used.append(self.name)
            host, path_ = "", ""
            for number, side, member in sessions:
                message = parse_message(member.path.read_bytes())
                if side == "c":
                    url = _request_url(message)
                    host, path_ = host_and_path(url)
                    where = Where(entry=number, side=Side.REQUEST, host=host, path=path_, member=member.name)
                    yield from url_observations(where, url)
                else:
                    where = Where(entry=number, side=Side.RESPONSE, host=host, path=path_, member=member.name)
                yield from header_observations(where, message.headers)
                text = bytes_as_text(message.body)
                yield from body_observations(where, text, message.header("content-type"))

    def rewrite(self, path: Path, out: BinaryIO, redactor: Redactor, ctx: ReadContext) -> None:
        from responder.sanitize.saz import rewrite_saz

        rewrite_saz(path, out, redactor, ctx)


def _request_url(message: HttpMessage) -> str:
    parts = message.start_line.split(" ")
    target = parts[1] if len(parts) > 1 else ""
    if target.startswith(("http://", "https://")):
        return target
    host = message.header("host")
    return f"https://{host}{target}" if host and target.startswith("/") else target


def parse_message(raw: bytes) -> HttpMessage:
    head, _, body = raw.partition(b"\r\n\r\n")
    if not _:
        head, _, body = raw.partition(b"\n\n")
    lines = head.decode("latin-1").splitlines()
    start = lines[0] if lines else ""
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip(), value.strip()))
    message = HttpMessage(start, headers, body, encoded=False)
    decoded = _decode_body(message)
    return HttpMessage(start, headers, decoded, encoded=decoded != body)


def _decode_body(message: HttpMessage) -> bytes:
    body = message.body
    if "chunked" in message.header("transfer-encoding").lower():
        body = _dechunk(body)
    encoding = message.header("content-encoding").lower()
    try:
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (OSError, EOFError, zlib.error):
        return body
    return body


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    position = 0
    while position < len(body):
        end = body.find(b"\r\n", position)
        if end < 0:
            break
        try:
            size = int(body[position:end].split(b";")[0], 16)
        except ValueError:
            return body
        if size == 0:
            break
        out += body[end + 2 : end + 2 + size]
        position = end + 2 + size + 2
    return bytes(out)
