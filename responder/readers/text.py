"""Plain text: logs, `curl -v` output, pasted headers, and HAR files too broken to parse as JSON.

Each line is one observation for the text detectors. Very long lines (a single-line HAR, a minified
dump) are cut into overlapping windows so memory stays flat and no token is cut in half.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, ClassVar

from responder.errors import UnreadableArtifact
from responder.interfaces import ReadContext, Redactor
from responder.model import Field, Observation, Side
from responder.readers.httpparts import Where, json_unescape

WINDOW = 1 << 20
OVERLAP = 16 << 10  # longer than any credential we expect to see whole (a SAML response can be ~10 KiB)
_JSON_NAME = re.compile(r'^\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,?\s*$')
_JSON_VALUE = re.compile(r'^\s*"value"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,?\s*$')


def looks_binary(sample: bytes) -> bool:
    if not sample:
        return False
    if sample.count(b"\x00") > len(sample) // 100:  # a stray NUL in a log is not a binary file
        return True
    text = sample.decode("utf-8", "replace")
    bad = len(_NOT_TEXT.findall(text))  # counted in C: this runs on the head of every artifact
    return bad / max(len(text), 1) > 0.05


_NOT_TEXT = re.compile("[\ufffd\x00-\x08\x0b\x0e-\x1f]")


class TextReader:
    name: ClassVar[str] = "text"

    def sniff(self, head: bytes, filename: str) -> int:
        return 0 if looks_binary(head[:8192]) else 10

    def read(self, path: Path, ctx: ReadContext) -> Iterator[Observation]:
        with path.open("rb") as handle:
            head = handle.read(8192)
            if not head:
                raise UnreadableArtifact("empty file")
            if looks_binary(head):
                raise UnreadableArtifact("binary data: not a HAR, a supported archive or a text capture")
            handle.seek(0)
            ctx.formats_used.append(self.name)
            yield from _line_observations(handle, ctx)

    def rewrite(self, path: Path, out: BinaryIO, redactor: Redactor, ctx: ReadContext) -> None:
        from responder.sanitize.text import rewrite_text

        rewrite_text(path, out, redactor)


# Pasted request headers, `curl -v` output and HTTP/2 header dumps name their host once, before the headers that
# carry credentials: the host stays in force for the lines after it, so those credentials can be attributed.
_HOST_LINE = re.compile(r"^\s*(?:[<>*]\s*)?(?:host\s*:|:authority:)\s*([A-Za-z0-9.-]+(?::\d+)?)\s*$", re.IGNORECASE)
_REQUEST_URL = re.compile(
    r"^\s*(?:[<>]\s*)?(?:(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+|curl\b.*?)['\"]?https?://([A-Za-z0-9.-]+(?::\d+)?)",
    re.IGNORECASE,
)


def _host_named(line: str) -> str | None:
    match = _HOST_LINE.match(line) or _REQUEST_URL.match(line)
    return match.group(1).lower() if match else None


def _line_observations(handle: BinaryIO, ctx: ReadContext) -> Iterator[Observation]:
    pending_name: tuple[str, int] | None = None
    host = ""
    for number, line in _numbered_lines(handle):
        if len(line) < 4096 and (named := _host_named(line)):
            host = named
        where = Where(entry=None, side=Side.NONE, host=host, path="", member=ctx.member, line=number)
        yield where.observe(Field.TEXT_LINE, "", line)
        # Pretty-printed HAR fallback: "name" and "value" sit on neighbouring lines.
        if (match := _JSON_NAME.match(line)) is not None:
            pending_name = (json_unescape(match.group(1)), number)
        elif pending_name and (match := _JSON_VALUE.match(line)) is not None and number - pending_name[1] <= 3:
            yield where.observe(Field.TEXT_LINE, pending_name[0], json_unescape(match.group(1)))
            pending_name = None


# Where an over-long line may be cut: after a byte that never sits inside a token, or after the escape of one
# (a form- or URL-encoded line has no raw space, `&` or line break, only `%20`, `%26`, `%0A`…).
_ESCAPED = ("20", "0A", "0a", "0D", "0d", "26", "3B", "3b", "2C", "2c", "22", "27")
_SEPARATORS: tuple[bytes, ...] = (
    *(b" ", b"\t", b";", b"&", b",", b'"', b"'", b"<", b">"),
    *(f"%{code}".encode() for code in _ESCAPED),
)


def _after_last_separator(buffer: bytes, lo: int, hi: int) -> int:
    """The end of the last separator that lies wholly in buffer[lo:hi], or -1."""
    return max((i + len(sep) for sep in _SEPARATORS if (i := buffer.rfind(sep, lo, hi)) >= 0), default=-1)


def _after_first_separator(buffer: bytes, lo: int, hi: int) -> int:
    """The end of the first separator that lies wholly in buffer[lo:hi], or hi."""
    return min((i + len(sep) for sep in _SEPARATORS if (i := buffer.find(sep, lo, hi)) >= 0), default=hi)


def _numbered_lines(handle: BinaryIO) -> Iterator[tuple[int, str]]:
    """Lines; over-long ones become overlapping windows that begin and end at separators, so no token is
    cut in half (one longer than OVERLAP/2 with no separator around it could be; none is that long)."""
    number = 0
    while raw := handle.readline(WINDOW):
        number += 1
        buffer = raw
        while not buffer.endswith(b"\n") and len(buffer) >= WINDOW:
            cut = _after_last_separator(buffer, WINDOW - OVERLAP, WINDOW)
            cut = cut if cut > 0 else WINDOW
            yield number, buffer[:cut].decode("utf-8", "surrogateescape")
            # The next window re-reads up to OVERLAP bytes before the cut (context such as "Bearer "),
            # starting just after a separator so it never begins inside a token.
            back = cut - OVERLAP // 2
            start = _after_first_separator(buffer, back, cut)
            buffer = buffer[start:] + handle.readline(WINDOW)
        yield number, buffer.decode("utf-8", "surrogateescape").rstrip("\r\n")
