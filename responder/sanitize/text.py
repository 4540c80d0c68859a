"""Sanitize any text-like file in a stream: bytes outside the replaced values are copied unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from responder.interfaces import Redactor
from responder.sanitize.redactor import CONTEXT

CHUNK = 1 << 20


def rewrite_text(path: Path, out: BinaryIO, redactor: Redactor) -> None:
    """Chunked replacement. Each round commits output up to a cut that splits no match, and carries the
    rest (at least as long as the longest value) into the next round, so no value is ever split."""
    keep = redactor.longest + 2
    carry = b""
    context = 0  # bytes at the head of `carry` that were written already: look-behind only (`%3D` before a value)
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(CHUNK)
            buffer = carry + chunk
            if not chunk:
                out.write(redactor.redact_prefix(buffer, len(buffer), context)[0])
                return
            cut = max(context, len(buffer) - keep)
            cleaned, consumed = redactor.redact_prefix(buffer, cut, context)
            out.write(cleaned)
            context = min(CONTEXT, consumed)
            carry = buffer[consumed - context :]
