"""Open a JSON document for streaming, tolerating what HAR exporters add around it (BOM, JSONP wrapper)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_BOM = b"\xef\xbb\xbf"
JSONP_HEAD = re.compile(rb"^\s*[A-Za-z_$][\w$.]*\s*\(\s*")
_TAIL_WINDOW = 4096


@dataclass(frozen=True, slots=True)
class Framing:
    """Bytes before and after the JSON value proper (kept so a sanitized copy has the same framing)."""

    prefix: bytes
    suffix: bytes
    start: int
    end: int


def detect_framing(path: Path) -> Framing:
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(4096)
        start = len(_BOM) if head.startswith(_BOM) else 0
        end = size
        match = JSONP_HEAD.match(head[start:])
        if match:
            start += match.end()
            handle.seek(max(0, size - _TAIL_WINDOW))
            tail = handle.read()
            close = tail.rfind(b")")
            if close >= 0:
                end = size - len(tail) + close
        handle.seek(0)
        prefix = handle.read(start)
        handle.seek(end)
        suffix = handle.read()
    return Framing(prefix=prefix, suffix=suffix, start=start, end=end)


class _Window(io.RawIOBase):
    """A read-only view of bytes [start, end) of a file, so the JSON parser never sees the framing."""

    def __init__(self, handle: BinaryIO, start: int, end: int) -> None:
        self._handle = handle
        self._remaining = end - start
        handle.seek(start)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._remaining <= 0:
            return 0
        data = self._handle.read(min(len(buffer), self._remaining))
        buffer[: len(data)] = data
        self._remaining -= len(data)
        return len(data)

    def close(self) -> None:
        self._handle.close()
        super().close()


# What the parser is asked to read at a time. yajl re-scans a string that spans reads from its start at every
# read, so one long string costs time quadratic in its length over the read size: a 10 MB JSON or script body
# (stored in a HAR as one string, its quotes escaped) took ~3 s to parse with 64 KiB reads, ~0.25 s with 1 MiB.
READ_SIZE = 1 << 20

# Deeper nesting is a parser bomb: the streaming parser's prefix strings grow with depth, so its cost grows
# with depth squared. A HAR nests about a dozen levels (bodies are strings, not nested JSON).
MAX_NESTING = 1000


class TooDeep(ValueError):
    """The JSON nests deeper than MAX_NESTING (or looks as if it does); read it as text instead."""


try:  # compiled by hatch_build.py where a C compiler was found when responder was installed
    from responder.readers import _brackets as _compiled
except ImportError:  # no compiler at install time: the pure-Python rule below
    _compiled = None  # type: ignore[assignment]


def compiled() -> bool:
    """Whether the depth guard runs compiled. The pure-Python rule gives the same answers, but it costs about a
    quarter of the parse itself (a bytes.translate pass), the C loop under a tenth."""
    return _compiled is not None


_BRACKET = re.compile(rb"[\[\]{}]")
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")  # delete everything else: one C pass


class JsonStream:
    """Hands the parser the file piece by piece, tracking bracket depth with C-speed counts.

    A piece with few opening brackets cannot nest deeply inside itself, so only net depth is tracked;
    a piece with many gets an exact walk over its brackets (rare in a real HAR). Brackets inside strings
    are counted too: an overestimate only costs a fallback to the text reader, never a missed token."""

    PIECE = 1 << 16
    _MANY = 2048

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self._depth = 0
        self._too_deep: TooDeep | None = None

    def read(self, size: int = -1) -> bytes:
        """Any read size (the parser asks for READ_SIZE); the depth is tracked piece by piece all the same. The
        pieces before one that nests too deep are handed over first, and the next read raises: the parser
        sees exactly what it saw when it read one piece at a time (the entries before a bomb are read)."""
        if self._too_deep is not None:
            raise self._too_deep
        data = self._inner.read(self.PIECE if size < 0 else size)
        for start in range(0, len(data), self.PIECE):
            try:
                self._track(data[start : start + self.PIECE])  # `data` itself when it is one piece
            except TooDeep as exc:
                if start == 0:
                    raise
                self._too_deep = exc
                return data[:start]
        return data

    def _track(self, piece: bytes) -> None:
        if _compiled is not None:  # the same rule in C (_brackets.c), five times faster; see compiled()
            depth = _compiled.track(piece, self._depth, self._MANY, MAX_NESTING)
            if depth < 0:
                raise TooDeep(f"JSON nests more than {MAX_NESTING} levels deep")
            self._depth = depth
            return
        brackets = piece.translate(None, _NOT_BRACKETS)
        opens = brackets.count(b"[") + brackets.count(b"{")
        if opens > self._MANY:
            self._walk(piece)
        self._depth = max(0, self._depth + 2 * opens - len(brackets))
        if self._depth > MAX_NESTING:
            raise TooDeep(f"JSON nests more than {MAX_NESTING} levels deep")

    def _walk(self, data: bytes) -> None:
        depth = self._depth
        for match in _BRACKET.finditer(data):
            depth += 1 if match.group() in (b"[", b"{") else -1
            if depth > MAX_NESTING:
                raise TooDeep(f"JSON nests more than {MAX_NESTING} levels deep")

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> JsonStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_json(path: Path, framing: Framing) -> JsonStream:
    """The JSON value alone, guarded against parser bombs (reads raise TooDeep)."""
    handle: BinaryIO = path.open("rb")
    if framing.start != 0 or framing.end != path.stat().st_size:
        handle = io.BufferedReader(_Window(handle, framing.start, framing.end), buffer_size=1 << 16)
    return JsonStream(handle)
