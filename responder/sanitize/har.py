"""Rewrite a HAR as a stream of JSON events: strings are redacted, base64 bodies are decoded, redacted and
re-encoded. Memory stays flat: only one `content` object (or WebSocket frame) is held at a time, because its
`encoding` may come after its `text`."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, BinaryIO

import ijson

from responder.interfaces import Redactor
from responder.readers.har import decode_base64
from responder.readers.jsonstream import READ_SIZE, detect_framing, open_json

Event = tuple[str, str, Any]
_BUFFERED = (".content", "._webSocketMessages.item")


class _Writer:
    """Serialises ijson events back to JSON, one entry per line for readability."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._first: list[bool] = []
        self._pending_key = False

    def event(self, prefix: str, kind: str, value: Any) -> None:
        if kind in ("end_map", "end_array"):
            self._first.pop()
            self._write("}" if kind == "end_map" else "]")
            return
        if kind == "map_key":
            self._separator()
            self._write(encode_basestring(value) + ":")
            self._pending_key = True
            return
        if not self._pending_key:
            self._separator()
        self._pending_key = False
        if kind in ("start_map", "start_array"):
            self._write("{" if kind == "start_map" else "[")
            self._first.append(True)
        elif isinstance(value, str):  # most events: what json.dumps(value, ensure_ascii=False) would call
            self._write(encode_basestring(value))
        else:
            self._write(json.dumps(value))

    def _separator(self) -> None:
        if not self._first:
            return
        if self._first[-1]:
            self._first[-1] = False
        else:
            self._write(",")
        if len(self._first) == 3:  # inside log.entries: one entry per line
            self._write("\n")

    def _write(self, text: str) -> None:
        self._out.write(text.encode("utf-8", "surrogateescape"))


def rewrite_har(path: Path, out: BinaryIO, redactor: Redactor) -> None:
    framing = detect_framing(path)
    out.write(framing.prefix)
    writer = _Writer(out)
    with open_json(path, framing) as stream:
        # 1 MiB reads: yajl re-scans a string split across reads from its start, so big bodies cost the square.
        events = ijson.parse(stream, use_float=True, buf_size=READ_SIZE)
        for prefix, kind, value in _redacted_events(events, redactor):
            writer.event(prefix, kind, value)
    out.write(framing.suffix if framing.suffix else b"\n")


def _redacted_events(events: Iterator[Event], redactor: Redactor) -> Iterator[Event]:
    buffer: list[Event] | None = None
    depth = 0
    for event in events:
        prefix, kind, value = event
        if buffer is None and kind == "start_map" and prefix.endswith(_BUFFERED):
            buffer, depth = [event], 1
            continue
        if buffer is not None:
            buffer.append(event)
            depth += kind in ("start_map", "start_array")
            depth -= kind in ("end_map", "end_array")
            if depth == 0:
                yield from _redact_buffered(buffer, redactor)
                buffer = None
            continue
        yield (prefix, kind, redactor.redact_text(value)) if kind == "string" else event


def _redact_buffered(events: list[Event], redactor: Redactor) -> Iterator[Event]:
    base = events[0][0]
    keys = {f"{base}.encoding": None}
    encoding = next((v for p, k, v in events if k == "string" and p in keys), None)
    if any(p == f"{base}.opcode" and v == 2 for p, _k, v in events):  # Chrome's binary WebSocket frames
        encoding = "base64"
    body_prefixes = {f"{base}.text", f"{base}.data"}
    for prefix, kind, value in events:
        if kind != "string":
            yield prefix, kind, value
        elif encoding == "base64" and prefix in body_prefixes:
            yield prefix, kind, _redact_base64(value, redactor)
        else:
            yield prefix, kind, redactor.redact_text(value)


def _redact_base64(text: str, redactor: Redactor) -> str:
    raw = decode_base64(text)
    if raw is None:
        return redactor.redact_text(text)  # not really base64 (Firefox bug 1762313): treat as text
    cleaned = redactor.redact_bytes(raw)
    encoded = text if cleaned == raw else base64.b64encode(cleaned).decode("ascii")
    return redactor.redact_text(encoded)  # a value that is itself base64-shaped was scanned as it stands
