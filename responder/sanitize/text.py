"""Sanitize any text-like file in a stream: bytes outside the replaced values are copied unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from responder.interfaces import Redactor

CHUNK = 1 << 20


def rewrite_text(path: Path, out: BinaryIO, redactor: Redactor) -> None:
    """Chunked replacement with a carried tail at least as long as the longest value, so a value that
    straddles two chunks is still replaced (the tail is re-examined with the next chunk)."""
    keep = max(redactor.longest + 2, 64)
    carry = b""
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(CHUNK)
            buffer = carry + chunk
            if not chunk:
                out.write(redactor.redact_bytes(buffer))
                return
            cut = _safe_cut(buffer, len(buffer) - keep)
            out.write(redactor.redact_bytes(buffer[:cut]))
            carry = buffer[cut:]


def _safe_cut(buffer: bytes, cut: int) -> int:
    """Cut at a newline or space before `cut` when one is near, so no value is split; else at `cut`
    (the carried tail still holds any value that begins within `keep` bytes of the end)."""
    if cut <= 0:
        return 0
    for separator in (b"\n", b" ", b'"', b"&", b";"):
        position = buffer.rfind(separator, max(0, cut - 4096), cut)
        if position > 0:
            return position + 1
    return cut
