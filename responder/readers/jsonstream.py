"""Open a JSON document for streaming, tolerating what HAR exporters add around it (BOM, JSONP wrapper)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_BOM = b"\xef\xbb\xbf"
_JSONP_HEAD = re.compile(rb"^\s*[A-Za-z_$][\w$.]*\s*\(\s*")
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
        match = _JSONP_HEAD.match(head[start:])
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


# A run of this many opening brackets (each followed by at most 256 other bytes, no closer between) is a
# parser bomb: the streaming parser's prefix strings grow with depth, so its cost grows with depth squared.
MAX_NESTING = 256
_DEEP = re.compile(rb"(?>(?:[\[{][^\[\]{}]{0,256}+){%d})" % MAX_NESTING)
_DEEP_OVERLAP = MAX_NESTING * 258


def nested_too_deep(path: Path) -> bool:
    """One linear, C-speed pass; a HAR never nests more than a dozen levels (bodies are strings)."""
    tail = b""
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            if _DEEP.search(tail + chunk):
                return True
            tail = chunk[-_DEEP_OVERLAP:]
    return False


def open_json(path: Path, framing: Framing) -> BinaryIO:
    handle = path.open("rb")
    if framing.start == 0 and framing.end == path.stat().st_size:
        return handle
    return io.BufferedReader(_Window(handle, framing.start, framing.end), buffer_size=1 << 16)
