"""Rewrite a Fiddler SAZ: each raw message is redacted with its body decoded (a redacted gzip body would
no longer match its framing), so encoding headers are dropped and Content-Length is set anew."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import BinaryIO

from responder.interfaces import ReadContext, Redactor
from responder.readers.archive import extracted
from responder.readers.saz import SESSION_FILE, parse_message

_FRAMING_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})


def rewrite_saz(path: Path, out: BinaryIO, redactor: Redactor, ctx: ReadContext) -> None:
    with extracted(path, ctx) as members, zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in members:
            data = member.path.read_bytes()
            is_message = SESSION_FILE.match(member.name) is not None
            archive.writestr(
                member.name, _rewrite_message(data, redactor) if is_message else redactor.redact_bytes(data)
            )


def _rewrite_message(raw: bytes, redactor: Redactor) -> bytes:
    message = parse_message(raw)
    if not message.encoded:
        return redactor.redact_bytes(raw)
    body = redactor.redact_bytes(message.body)
    lines = [message.start_line] + [
        f"{name}: {value}" for name, value in message.headers if name.lower() not in _FRAMING_HEADERS
    ]
    lines.append(f"Content-Length: {len(body)}")
    head = redactor.redact_bytes("\r\n".join(lines).encode("latin-1"))
    return head + b"\r\n\r\n" + body
