"""HAR 1.1–1.3 reader (Chrome, Firefox, Safari, Charles, Fiddler, Proxyman, Insomnia, Playwright, mitmproxy…).

Entries are parsed one at a time with ijson's C backend, so memory follows the largest entry, not the file.
A file that stops being valid JSON part-way is handed to the text reader: a truncated upload still carries
live tokens.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from functools import cache
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, cast
from urllib.parse import unquote, unquote_plus

import ahocorasick_rs
import ijson

from responder.detect import gate
from responder.interfaces import ReadContext, Redactor
from responder.model import Field, Observation, Side
from responder.readers.httpparts import (
    CookieMemo,
    Where,
    body_observations,
    cookies_to_read,
    header_observations,
    header_worth_reading,
    host_and_path,
    url_observations,
)
from responder.readers.jsonstream import (
    JSONP_HEAD,
    MAX_NESTING,
    READ_SIZE,
    JsonStream,
    TooDeep,
    detect_framing,
    open_json,
)
from responder.readers.pairs import NameVerdicts, pairs_to_read, shaped_or_encoded
from responder.readers.text import TextReader

# Per list kind: does a name alone keep a pair in (see pairs.py)? Filled as names are met.
_HEADERS = NameVerdicts(header_worth_reading)
_COOKIES = NameVerdicts(gate.cookie_name)
_PARAMS = NameVerdicts(gate.param_name)


class HarReader:
    name: ClassVar[str] = "har"

    def sniff(self, head: bytes, filename: str) -> int:
        text = head.lstrip(b"\xef\xbb\xbf").lstrip()
        if b'"log"' in head[:2048] and (text.startswith(b"{") or JSONP_HEAD.match(text) is not None):
            return 90
        if filename.lower().endswith(".har"):
            return 60
        return 0

    def read(self, path: Path, ctx: ReadContext) -> Iterator[Observation]:
        framing = detect_framing(path)
        entries = 0
        try:
            with open_json(path, framing) as stream:
                yield from _log_extras(stream)
            with open_json(path, framing) as stream:
                entries_of = ijson.items(stream, "log.entries.item", use_float=True, buf_size=READ_SIZE)
                cookie_memo: CookieMemo = {}
                for index, entry in enumerate(entries_of):
                    entries += 1
                    if isinstance(entry, dict):
                        yield from entry_observations(index, entry, ctx, cookie_memo)
        except NotAHar:
            ctx.warn("JSON but not a HAR (no 'log' object); scanned as text")
            yield from TextReader().read(path, ctx)
            return
        except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError, RecursionError, TooDeep) as exc:
            # The parser's own message quotes the input around the error, so it is never shown.
            reason = {ijson.IncompleteJSONError: "it ends early", TooDeep: f"nested over {MAX_NESTING} levels"}.get(
                type(exc), "malformed JSON"
            )
            ctx.warn(f"not a valid HAR after {entries} entries ({reason}); scanned as text instead")
            yield from TextReader().read(path, ctx)
            return
        ctx.formats_used.append(self.name)

    def rewrite(self, path: Path, out: BinaryIO, redactor: Redactor, ctx: ReadContext) -> None:
        from responder.sanitize.har import rewrite_har

        rewrite_har(path, out, redactor)


class NotAHar(ValueError):
    """JSON, but not a HAR (a JSON log, an API dump): the text reader takes it."""


def _log_extras(stream: JsonStream) -> Iterator[Observation]:
    """Strings outside the entries (pages titles, comments, vendor fields) that come before the entries.
    Stops at the entries so the big part of the file is parsed only once."""
    saw_log = False
    where = Where(entry=None, side=Side.NONE, host="", path="")
    for prefix, event, value in ijson.parse(stream, buf_size=READ_SIZE):
        if prefix == "log" and event == "start_map":
            saw_log = True
        if prefix.startswith("log.entries"):
            break
        if event == "string" and value and prefix.startswith("log."):
            yield where.observe(Field.EXTENSION, prefix.rsplit(".", 1)[-1], value)
    else:
        if not saw_log:
            raise NotAHar("JSON without a HAR 'log' object")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def websocket_text(message: Mapping[str, Any]) -> str:
    """A frame's payload as text. Binary frames (opcode 2) are base64 in Chrome's export, unmarked."""
    data = str(message.get("data", ""))
    if message.get("opcode") == 2 or message.get("encoding") == "base64":
        raw = decode_base64(data)
        return data if raw is None else (bytes_as_text(raw) or data)
    return data


def decode_base64(text: str) -> bytes | None:
    """Strict base64 (line breaks allowed), or None. The sanitizer uses the same rule, so what was scanned
    as text is cleaned as text and what was decoded is cleaned decoded."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _object(value: Any) -> dict[str, Any]:
    """Exporters leave parts out or null; a missing object reads as empty rather than failing the entry."""
    return value if isinstance(value, dict) else {}


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def entry_observations(
    index: int, entry: Mapping[str, Any], ctx: ReadContext, cookie_memo: CookieMemo | None = None
) -> Iterator[Observation]:
    request = _object(entry.get("request"))
    response = _object(entry.get("response"))
    url = str(request.get("url", ""))
    host, path = host_and_path(url)
    seen_at = _parse_time(entry.get("startedDateTime"))

    # Each part is looked at only if it holds something: this runs for every entry, and most parts are empty
    # or hold nothing a detector could use.
    req = Where(index, Side.REQUEST, host, path, seen_at, ctx.member)  # positional: a third faster
    if "?" in url or "#" in url or "@" in url:
        yield from url_observations(req, url)
    headers = pairs_to_read(request.get("headers"), _HEADERS)
    if headers:
        yield from header_observations(req, headers, cookie_memo)
    # Exporters copy the Cookie header into `cookies`: a pair seen there already is the same observation.
    sent = {pair for name, value in headers if name.lower() == "cookie" for pair in cookies_to_read(value, cookie_memo)}
    for name, value in pairs_to_read(request.get("cookies"), _COOKIES, gate.value_has_token_shape):
        if gate.cookie(name, value) and (name, value) not in sent:
            yield req.observe(Field.COOKIE, name, value, context="cookies-array")
    for name, value in pairs_to_read(request.get("queryString"), _PARAMS, shaped_or_encoded):
        value = unquote(value) if "%" in value else value  # Chrome keeps these percent-encoded
        if gate.param(name, value):
            yield req.observe(Field.QUERY, name, value)
    post = request.get("postData")
    if isinstance(post, dict):
        params = pairs_to_read(post.get("params"), _PARAMS, shaped_or_encoded)
        for name, raw in params:
            value = unquote_plus(raw) if "%" in raw else raw  # encoded by some exporters
            if gate.param(name, value):
                yield req.observe(Field.FORM, name, value)
        text = post.get("text")
        if isinstance(text, str):
            yield from body_observations(req, text, str(post.get("mimeType", "")))

    resp = Where(index, Side.RESPONSE, host, path, seen_at, ctx.member)
    if headers := pairs_to_read(response.get("headers"), _HEADERS):
        yield from header_observations(resp, headers)
    for cookie in _list(response.get("cookies")):
        if (
            isinstance(cookie, dict)
            and cookie.get("value")
            and gate.cookie(str(cookie.get("name", "")), str(cookie["value"]))
        ):
            expires = _parse_time(cookie.get("expires"))
            yield resp.observe(
                Field.SET_COOKIE,
                str(cookie.get("name", "")),
                str(cookie["value"]),
                expires_at=expires,
                context="cookies-array",
            )
    redirect = response.get("redirectURL")
    if isinstance(redirect, str) and redirect:
        yield from url_observations(resp, redirect, context="redirectURL")
    content = response.get("content")
    if isinstance(content, dict):
        text = decoded_content(content)
        if text:
            yield from body_observations(resp, text, str(content.get("mimeType", "")))

    for message in _list(entry.get("_webSocketMessages")):
        if isinstance(message, dict) and isinstance(message.get("data"), str):
            side = Side.REQUEST if message.get("type") == "send" else Side.RESPONSE
            ws = Where(entry=index, side=side, host=host, path=path, seen_at=seen_at, member=ctx.member)
            yield ws.observe(Field.WS_MESSAGE, "", websocket_text(message))

    yield from _vendor_fields(index, entry, request, response, host, path, seen_at, ctx)


def _vendor_fields(
    index: int,
    entry: Mapping[str, Any],
    request: Mapping[str, Any],
    response: Mapping[str, Any],
    host: str,
    path: str,
    seen_at: datetime | None,
    ctx: ReadContext,
) -> Iterator[Observation]:
    """Exporter-specific `_*` fields may hold URLs, headers or bodies: scan their strings."""
    for side, container in ((Side.NONE, entry), (Side.REQUEST, request), (Side.RESPONSE, response)):
        where: Where | None = None
        for key in _vendor_keys(container):
            value = container[key]
            if not value:  # null, "", [], {}, 0 and false hold nothing
                continue
            if isinstance(value, str):
                text = value
            elif isinstance(value, (dict, list)):  # a tuple: faster than `dict | list` here
                # One C-speed dump instead of a Python walk over (often large) stack traces; the text
                # detectors find URLs, pairs and token shapes in it just the same.
                text = _dump(value)
            else:
                continue
            if _may_hold_credential(text):
                if where is None:
                    where = Where(entry=index, side=side, host=host, path=path, seen_at=seen_at, member=ctx.member)
                yield where.observe(Field.EXTENSION, key, text)


# An exporter writes the same keys in the same order for every entry: the vendor keys among them are found
# once per key layout, not by looking at every key of every entry.
_VENDOR_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {}
_MAX_LAYOUTS = 1024


def forget_names() -> None:
    """Empty the name caches of HAR reading, which hold names from artifacts (see responder.scan)."""
    _VENDOR_KEYS.clear()
    for verdicts in (_HEADERS, _COOKIES, _PARAMS):
        verdicts.clear()


def _vendor_keys(container: Mapping[str, Any]) -> tuple[str, ...]:
    layout = tuple(container)
    found = _VENDOR_KEYS.get(layout)
    if found is None:
        found = tuple(key for key in layout if key[:1] == "_" and key != "_webSocketMessages")
        if len(_VENDOR_KEYS) >= _MAX_LAYOUTS:
            _VENDOR_KEYS.clear()
        _VENDOR_KEYS[layout] = found
    return found


def _dump(value: dict[str, Any] | list[Any]) -> str:
    """Compact JSON text of a parsed value (no cycles, only JSON types), by one reused C encoder."""
    return "".join(_compact_encoder()(value, 0))


@cache
def _compact_encoder() -> Callable[[Any, int], Iterable[str]]:
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    plain = lambda value, _level: (encoder.encode(value),)  # noqa: E731
    if c_make_encoder is None:  # an interpreter without the C accelerator
        return plain
    # The C encoder JSONEncoder.encode builds anew on every call; no cycle markers (a parsed value has none).
    # Its arguments are private to the json module: if a Python changes them, the probe tells, and the plain
    # encoder is used.
    try:
        fast = c_make_encoder(None, encoder.default, encode_basestring, None, ":", ",", False, False, True)
        probe = {"a": [1, 2.5, None, True, 'é"/'], "b": {}}
        if "".join(fast(probe, 0)) == encoder.encode(probe):
            return cast(Callable[[Any, int], Iterable[str]], fast)
    except (TypeError, ValueError):
        pass
    return plain


def _may_hold_credential(text: str) -> bool:
    """Vendor fields are mostly numbers, flags and stack frames; only a `name=value`, a bearer, a header
    line or a token shape can hold a credential there. One automaton pass looks for all of them."""
    try:
        return bool(_vendor_hints().find_matches_as_indexes(text))
    except UnicodeEncodeError:  # lone surrogates, which the automaton takes none of
        return any(hint in text for hint in _VENDOR_HINTS) or gate.value_has_token_shape(text)


_VENDOR_HINTS = ("=", ": ", "earer ")


@cache
def _vendor_hints() -> ahocorasick_rs.AhoCorasick:
    return ahocorasick_rs.AhoCorasick([*_VENDOR_HINTS, *gate.TRIGGER_LITERALS])


def decoded_content(content: Mapping[str, Any]) -> str:
    """Response text, base64-decoded when the exporter says so. Firefox marks some plain bodies base64
    (bugzilla 1762313), so invalid base64 is scanned as it stands. Binary bodies are skipped."""
    text = content.get("text")
    if not isinstance(text, str) or not text or is_binary_media(str(content.get("mimeType", ""))):
        return ""
    if content.get("encoding") != "base64":
        return text
    raw = decode_base64(text)
    return text if raw is None else bytes_as_text(raw)


_BINARY_MEDIA = (
    "image/",
    "font/",
    "audio/",
    "video/",
    "application/wasm",
    "application/octet-stream",
    "application/pdf",
    "application/zip",
    "application/x-protobuf",
    "application/font",
)
_PRINTABLE = bytes(range(32, 127)) + b"\t\n\r"


def is_binary_media(mime: str) -> bool:
    mime = mime.lower()
    return mime.startswith(_BINARY_MEDIA) and "svg" not in mime


def bytes_as_text(raw: bytes) -> str:
    """Decode a body for scanning; binaries yield '' (no credential is scanned out of an image)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        sample = raw[:4096]
        unprintable = len(sample.translate(None, _PRINTABLE))
        return raw.decode("latin-1") if sample and unprintable < len(sample) * 0.05 else ""
