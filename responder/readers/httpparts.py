"""Decompose the parts of an HTTP exchange (headers, cookies, URLs, bodies) into Observations.

Shared by the HAR and SAZ readers, so every format covers the same locations the same way.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

from responder.detect import gate
from responder.model import Field, Location, Observation, Side
from responder.secret import Secret

# Headers whose values are URLs that may carry codes and tokens in their query or fragment.
URL_HEADERS = frozenset({"location", "referer", "origin", "content-location", "refresh"})
# Headers that never carry a credential of the sender (a PoP nonce in WWW-Authenticate is JWT-shaped bait),
# and the standard ones whose values are protocol vocabulary, dates, sizes or digests: skipped unread.
IGNORED_HEADERS = frozenset(
    {
        "www-authenticate",
        "content-security-policy",
        "content-security-policy-report-only",
        "report-to",
        "nel",
        "link",
        "accept",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "user-agent",
        "content-type",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "cache-control",
        "pragma",
        "expires",
        "date",
        "age",
        "etag",
        "last-modified",
        "if-none-match",
        "if-modified-since",
        "vary",
        "connection",
        "keep-alive",
        "host",
        "server",
        "via",
        "alt-svc",
        "strict-transport-security",
        "x-content-type-options",
        "x-frame-options",
        "x-xss-protection",
        "referrer-policy",
        "permissions-policy",
        "priority",
        "upgrade-insecure-requests",
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-expose-headers",
        "access-control-max-age",
        "access-control-request-method",
        "access-control-request-headers",
        "timing-allow-origin",
        "sec-fetch-site",
        "sec-fetch-mode",
        "sec-fetch-dest",
        "sec-fetch-user",
        "sec-ch-ua",
        "sec-ch-ua-mobile",
        "sec-ch-ua-platform",
        "dnt",
        "te",
        "range",
        "content-range",
        "x-cache",
        "cf-ray",
        "cf-cache-status",
        "x-amz-cf-pop",
        "x-amz-cf-id",
        "x-served-by",
        "x-timer",
        "x-request-id",
        "x-correlation-id",
        "traceparent",
        "tracestate",
        "content-disposition",
        "content-language",
    }
)


class Where(NamedTuple):
    """Context shared by everything seen in one message of one entry. A named tuple, not a frozen dataclass:
    two or more are made for every HAR entry, and a tuple is made in half the time."""

    entry: int | None
    side: Side
    host: str
    path: str
    seen_at: datetime | None = None
    member: str = ""
    line: int | None = None

    def observe(
        self, field: Field, name: str, value: str, *, context: str = "", expires_at: datetime | None = None
    ) -> Observation:
        location = Location(
            field=field,
            name=name,
            side=self.side,
            entry=self.entry,
            host=self.host,
            line=self.line,
            member=self.member,
        )
        return Observation(
            location=location,
            value=Secret(value),
            path=self.path,
            seen_at=self.seen_at,
            expires_at=expires_at,
            context=context,
        )


_PATH_END = re.compile(r"[?#]")
_UNUSUAL_NETLOC = re.compile(r"[:@\[\]?#\\%]")


def host_and_path(url: str) -> tuple[str, str]:
    """The host (with a port other than none) and the path. An http(s) URL with a plain host name is split
    here; anything else (a port, userinfo, IPv6, another scheme) goes through urllib."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("https", "http") and url.isprintable():  # urllib drops tabs and line breaks
        slash = rest.find("/")
        netloc, tail = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
        if netloc and _UNUSUAL_NETLOC.search(netloc) is None:
            end = _PATH_END.search(tail)
            return netloc.lower(), tail if end is None else tail[: end.start()]
    try:
        parts = urlsplit(url)
        return (parts.hostname or "").lower() + (f":{parts.port}" if parts.port else ""), parts.path
    except ValueError:
        return "", ""


def split_cookie_header(value: str) -> Iterator[tuple[str, str]]:
    """`a=1; b=2` → (a, 1), (b, 2). A value may itself contain '='."""
    for part in value.split(";"):
        name, sep, val = part.strip().partition("=")
        if sep and name:
            yield name.strip(), val.strip()


def parse_set_cookie(value: str, seen_at: datetime | None) -> Iterator[tuple[str, str, datetime | None]]:
    """One Set-Cookie header value, possibly several LF-joined cookies (Firebug, Chrome exports)."""
    for line in value.splitlines():
        first, *attributes = line.split(";")
        name, sep, val = first.strip().partition("=")
        if not (sep and name.strip()):
            continue
        yield name.strip(), val.strip(), _cookie_expiry(attributes, seen_at)


def _cookie_expiry(attributes: Iterable[str], seen_at: datetime | None) -> datetime | None:
    expires: datetime | None = None
    for attribute in attributes:
        key, _, val = attribute.strip().partition("=")
        key = key.strip().lower()
        try:
            if key == "max-age" and seen_at is not None:
                return seen_at + timedelta(seconds=int(val.strip()))
            if key == "expires":
                parsed = parsedate_to_datetime(val.strip())
                expires = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (ValueError, TypeError, OverflowError):
            continue
    return expires


def url_observations(where: Where, url: str, *, context: str = "") -> Iterator[Observation]:
    """Query and fragment parameters of a URL, percent-decoded (the value as it would be sent)."""
    if ("?" not in url and "#" not in url and "@" not in url) or not gate.url_may_carry(url):
        return
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return
    if password:  # https://user:secret@host/ — the pair is sent as Basic credentials
        user = unquote(parts.username or "")
        pair = base64.b64encode(f"{user}:{unquote(password)}".encode()).decode()
        yield where.observe(Field.URL, "authorization", "Basic " + pair, context="userinfo")
    for field, part in ((Field.QUERY, parts.query), (Field.URL_FRAGMENT, parts.fragment)):
        if field is Field.URL_FRAGMENT and "=" not in part:
            # A fragment is a route (`#/settings`) more often than parameters; a bare token is still one.
            if gate.value_has_token_shape(part):
                yield where.observe(field, "", unquote(part), context=context)
            continue
        for name, value in parse_qsl(part, keep_blank_values=True):
            if not value:  # `?<token>`: the token is what parse_qsl calls the name
                if gate.value_has_token_shape(name):
                    yield where.observe(field, "", name, context=context)
            elif gate.param(name, value):
                yield where.observe(field, name, value, context=context)


# What a header name calls for, decided once per distinct name (a HAR repeats the same few dozen).
_SKIP, _COOKIE, _SET_COOKIE, _URL, _NAMED, _SHAPE_ONLY = range(6)


@lru_cache(maxsize=4096)
def _header_role(raw_name: str) -> tuple[int, str, str]:
    name = raw_name.strip()
    lowered = name.lower()
    if lowered in IGNORED_HEADERS or lowered.startswith(":"):  # :path etc. are covered by the URL
        return _SKIP, name, lowered
    if lowered == "cookie":
        return _COOKIE, name, lowered
    if lowered == "set-cookie":
        return _SET_COOKIE, name, lowered
    if lowered in URL_HEADERS:
        return _URL, name, lowered
    return (_NAMED if gate.header_name(name) else _SHAPE_ONLY), name, lowered


CookieMemo = dict[str, tuple[tuple[str, str], ...]]
# Cookie headers remembered per file. The memo holds credentials, so it lives only as long as one read.
_MAX_COOKIE_HEADERS = 256


def cookies_to_read(header: str, memo: CookieMemo | None = None) -> tuple[tuple[str, str], ...]:
    """The cookies of a Cookie header that a detector may use (gate.cookie). A browser sends the same header
    with request after request, so with a memo each distinct one is split and judged once."""
    found = None if memo is None else memo.get(header)
    if found is None:
        found = tuple((name, value) for name, value in split_cookie_header(header) if gate.cookie(name, value))
        if memo is not None:
            if len(memo) >= _MAX_COOKIE_HEADERS:
                memo.clear()
            memo[header] = found
    return found


def forget_names() -> None:
    """Empty the header-name cache, which holds names from artifacts (see responder.scan)."""
    _header_role.cache_clear()


def header_worth_reading(raw_name: str) -> bool:
    """False for a header whose name alone rules it out, whatever its value."""
    return _header_role(raw_name)[0] != _SKIP


def header_observations(
    where: Where, headers: Iterable[tuple[str, str]], cookie_memo: CookieMemo | None = None
) -> Iterator[Observation]:
    for raw_name, value in headers:
        if not value:
            continue
        role, name, lowered = _header_role(raw_name)
        if role == _SKIP:
            continue
        if role == _COOKIE:
            for cookie_name, cookie_value in cookies_to_read(value, cookie_memo):
                yield where.observe(Field.COOKIE, cookie_name, cookie_value, context="cookie-header")
        elif role == _SET_COOKIE:
            for cookie_name, cookie_value, expires in parse_set_cookie(value, where.seen_at):
                if gate.cookie(cookie_name, cookie_value):
                    yield where.observe(Field.SET_COOKIE, cookie_name, cookie_value, expires_at=expires)
        elif role == _URL:
            yield from url_observations(where, value, context=lowered)
        elif role == _NAMED or gate.value_has_token_shape(value):
            yield where.observe(Field.HEADER, name, value)


SMALL_SCRIPT = 64 * 1024


def body_observations(where: Where, text: str, mime: str) -> Iterator[Observation]:
    """Forms by parameter; anything else (JSON included) as free text for the text detectors, which find
    `"key": "value"` pairs at C speed instead of walking every JSON node in Python."""
    if not text:
        return
    if "x-www-form-urlencoded" in mime.lower():
        for name, value in parse_qsl(text, keep_blank_values=False):
            if gate.param(name, value):
                yield where.observe(Field.FORM, name, value)
            elif ": " in value or "=" in value or "\n" in value:
                # A field holding text (`dump=Authorization%3A+Bearer+…`, decoded here): read as free text.
                yield where.observe(Field.BODY, "", value, context="form-field")
        return
    mime = mime.lower()
    if "css" in mime:  # stylesheets carry no credentials
        return
    if ("javascript" in mime or "ecmascript" in mime) and len(text) > SMALL_SCRIPT:
        # Static bundles are the same for every user: only vendor-shaped keys and JWTs are worth a look.
        # Small scripts (JSONP token responses, inline config) get the full text scan.
        yield where.observe(Field.BODY, "", text, context="script")
        return
    stripped = text.lstrip()[:1]
    yield where.observe(Field.JSON_BODY if stripped in ("{", "[") else Field.BODY, "", text)


def with_line(where: Where, line: int) -> Where:
    return where._replace(line=line)


def json_unescape(value: str) -> str:
    """The string a JSON string literal's body stands for (`\\/` → `/`); as it stands if it is not one."""
    if "\\" not in value:
        return value
    try:
        result = json.loads(f'"{value}"')
        # An unpaired `\udXXX` escape stands for a lone surrogate that neither a fingerprint nor a sanitized copy
        # can encode (only U+DC80-U+DCFF stand for raw bytes): such a value is kept as it stands in the text.
        result.encode("utf-8", "surrogateescape")
    except ValueError:  # UnicodeEncodeError is one
        return value
    return result if isinstance(result, str) else value
