"""Free text (bodies, log lines, WebSocket frames, vendor fields) → named observations.

Finds the shapes credentials take in text: `Name: value` header lines (also `curl -v` `> `/`< ` lines and
`curl -H '…'` arguments), `name=value`, `name: value` and `"name": "value"` pairs (JSON, JS, YAML, logs),
HAR-style name/value objects, `Bearer …` anywhere, and URLs with query strings or fragments. The named
detectors then judge what is found.

Everything starts from a literal anchor that one compiled pass found in the lower-cased text (the TextIndex,
see scanner.py), so a megabyte of script that holds no credential costs one pass, not a regex attempt per byte.
"""

from __future__ import annotations

import base64
import heapq
import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from urllib.parse import unquote

from responder.detect import gate, names
from responder.detect.scanner import TextIndex
from responder.model import Observation
from responder.readers.httpparts import (
    URL_HEADERS,
    Where,
    json_unescape,
    parse_set_cookie,
    split_cookie_header,
    url_observations,
)
from responder.secret import Secret

_NAME_ANCHORS = names.PARAM_NAME_ANCHORS
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
_MAX_NAME = 48
_MAX_TAG = 4096
_AFTER_NAME = re.compile(
    r"""\]?(?:\\?["'])?[ \t]*([:=])[ \t]*(?:"((?:[^"\\\r\n]|\\.){1,16384}?)"|'((?:[^'\\\r\n]|\\.){1,16384}?)'"""
    r"""|\\"((?:[^"\\]|\\[^"]){1,16384}?)\\"|([^"'&\s<>,;#}{()\\]{1,16384}+)(?![^"'&\s<>,;#}{()\\]))"""
)
_HEADER_NAMES = (
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "apikey",
    "x-goog-api-key",
    "x-auth-token",
    "x-access-token",
    "x-amz-security-token",
    "ocp-apim-subscription-key",
    "private-token",
    "location",
    "referer",
)
_HEADER_ANCHORS = ("authorization", "cookie", "api-key", "apikey", "-token", "subscription-key", "location", "referer")
# The value runs to the line's end and is stripped in Python: a lazy value followed by `[ \t]*` and the line
# end backtracks quadratically over a long run of spaces.
_HEADER_LINE_VALUE = re.compile(r"[ \t]*:[ \t]*([^\r\n]+)")
_LINE_PREFIX = re.compile(r"[ \t>*<|+-]*")
_CURL_HEADER = re.compile(r"""(?:-H|--header)\s+(['"])([A-Za-z][A-Za-z0-9_-]*)\s*:\s*(.*?)\1""", re.IGNORECASE)
_CURL_USER = re.compile(r"""(?:-u|--user)\s+(['"]?)([^\s'":]+:[^\s'"]*)\1""")
_CURL_COOKIE = re.compile(r"""(?:-b|--cookie)\s+(['"])(.+?)\1""")
_HAR_PAIR = re.compile(r'"name"\s*:\s*"((?:[^"\\]|\\.){1,200})"\s*,\s*"value"\s*:\s*"((?:[^"\\]|\\.)*)"')
_AUTH = re.compile(r"(Bearer|SSWS|Basic)\s+((?:[A-Za-z0-9._~+/=-]|\\/){8,})", re.IGNORECASE)
_INPUT_NAME = re.compile(r"""\sname\s*=\s*(["'])(.*?)\1""", re.IGNORECASE | re.DOTALL)
_INPUT_VALUE = re.compile(r"""\svalue\s*=\s*(["'])(.*?)\1""", re.IGNORECASE | re.DOTALL)
# multipart/form-data: `Content-Disposition: form-data; name="password"`, headers, blank line, value.
_MULTIPART_PART = re.compile(
    r'form-data;\s*name="([^"\r\n]{1,100})"[^\r\n]*\r?\n(?:[^\r\n]+\r?\n)*\r?\n(.{1,4096}?)\r?\n--',
    re.IGNORECASE | re.DOTALL,
)
_URL = re.compile(r"https?://[^\s\"'<>\\]+")
_AUTH_ANCHORS = ("bearer", "ssws", "basic")
_CURL_ANCHORS = ("-h ", "--header", "-u ", "--user", "-b ", "--cookie")
# Every literal `expand` starts from, in the lower-cased text: no anchor, nothing to expand (URLs aside).
ANCHORS = (
    *_NAME_ANCHORS,
    *_HEADER_ANCHORS,
    *_AUTH_ANCHORS,
    *_CURL_ANCHORS,
    '"name"',
    "<input",
    "form-data",
)
# Searched beside the anchors, only to rule out matches early: alone, one starts nothing.
HELPER_ANCHORS = ('"value"',)
# A URL `_urls` would expand: one with a query, a fragment or userinfo.
# The run stops at the first marker, possessively: a URL without one fails after one look at each character.
MARKED_URL = re.compile(r"https?://[^\s\"'<>\\?#@]*+[?#@]")


def expand(obs: Observation, index: TextIndex) -> Iterator[Observation]:
    """`index`: the anchors of `obs`'s text (it holds at least ANCHORS)."""
    text = index.text
    # Each detector runs only if one of its anchors occurs: a JSON body often holds a URL and nothing else.
    present = index.hits.keys()
    if not present.isdisjoint(_NAME_ANCHORS):
        yield from _named_pairs(obs, index)
    if not present.isdisjoint(_HEADER_ANCHORS):
        yield from _header_lines(obs, index)
    if not present.isdisjoint(_CURL_ANCHORS):
        yield from _curl(obs, index)
    values = index.positions('"value"')
    for position in index.positions('"name"') if values else ():
        # A pair needs a `"value"` after its name: most JSON bodies have names but no values.
        if values[-1] > position and (match := _HAR_PAIR.match(text, position)) is not None:
            yield _derived(obs, json_unescape(match.group(1)), json_unescape(match.group(2)), "pair")
    if not present.isdisjoint(_AUTH_ANCHORS):
        for anchor in _AUTH_ANCHORS:
            for position in index.positions(anchor):
                if position and text[position - 1].isalnum():
                    continue
                if (match := _AUTH.match(text, position)) is not None:
                    token = match.group(2).replace("\\/", "/")  # a JSON-escaped slash (PHP json_encode)
                    yield _derived(obs, "authorization", f"{match.group(1)} {token}", "header")
    yield from _urls(obs, index)
    if "<input" in present:
        yield from _form_inputs(obs, index)
    for position in index.positions("form-data"):
        if (match := _MULTIPART_PART.match(text, position)) is not None and match.group(2):
            yield _derived(obs, match.group(1), match.group(2), "param")


def _form_inputs(obs: Observation, index: TextIndex) -> Iterator[Observation]:
    """HTML forms: OIDC form_post and SAML POST pages carry `code`, `id_token`, `SAMLResponse` in
    `<input type="hidden" name=… value=…>`, in either attribute order."""
    text, lower = index.text, index.lower
    after = 0
    for position in index.positions("<input"):
        if position < after:  # inside the previous tag
            continue
        end = lower.find(">", position, position + _MAX_TAG)
        after = end if end != -1 else position + _MAX_TAG
        tag = text[position:after]
        name, value = _INPUT_NAME.search(tag), _INPUT_VALUE.search(tag)
        if name is not None and value is not None and value.group(2):
            yield _derived(obs, html.unescape(name.group(2)), html.unescape(value.group(2)), "param")


def _named_pairs(obs: Observation, index: TextIndex) -> Iterator[Observation]:
    """`password=…`, `"access_token": "…"`, `refresh_token: …` — names from names.PARAMS, any case or style."""
    text, lower = index.text, index.lower
    # Anchors in text order; one that falls inside the previous match (a value) is skipped, so a run
    # such as `token:token:token…` costs linear time.
    found = [_tagged(positions, anchor) for anchor in _NAME_ANCHORS if (positions := index.positions(anchor))]
    if not found:
        return
    anchored = heapq.merge(*found) if len(found) > 1 else found[0]
    starts: set[int] = set()
    covered = 0
    for position, anchor in anchored:
        if position < covered:
            continue
        start, end = position, position + len(anchor)
        floor, ceiling = max(0, position - _MAX_NAME), min(len(lower), end + _MAX_NAME)
        while start > floor and lower[start - 1] in _NAME_CHARS:
            start -= 1
        while end < ceiling and lower[end] in _NAME_CHARS:
            end += 1
        if start in starts:
            continue
        starts.add(start)
        if start == floor and floor > 0 and lower[floor - 1] in _NAME_CHARS:
            continue  # inside a run too long to be a name (base64, minified data): bounded work
        if not gate.param_name(text[start:end]) or (match := _AFTER_NAME.match(text, end)) is None:
            continue
        covered = match.end()
        separator, double, single, escaped, bare = match.groups()
        if bare is not None:
            value, context = (
                (unquote(bare) if "%" in bare else bare),
                "param" if separator == "=" else "param-loose",
            )
        else:
            value, context = json_unescape(double or single or escaped or ""), "quoted"
        yield _derived(obs, text[start:end], value, context)


def _tagged(positions: Sequence[int], anchor: str) -> Iterator[tuple[int, str]]:
    return ((position, anchor) for position in positions)


def _header_lines(obs: Observation, index: TextIndex) -> Iterator[Observation]:
    """Header lines as in pasted headers and `curl -v` (`> Authorization: …`)."""
    text, lower = index.text, index.lower
    seen: set[int] = set()
    for anchor in _HEADER_ANCHORS:
        for position in index.positions(anchor):
            line_start = lower.rfind("\n", 0, position) + 1
            prefix = _LINE_PREFIX.match(lower, line_start)
            start = prefix.end() if prefix else line_start
            if start in seen or start > position:
                continue
            end = position + len(anchor)
            while end < len(lower) and lower[end] in _NAME_CHARS:
                end += 1
            name = lower[start:end]
            if name not in _HEADER_NAMES or (match := _HEADER_LINE_VALUE.match(text, end)) is None:
                continue
            seen.add(start)
            if value := match.group(1).rstrip(" \t"):
                yield from _header(obs, name, value)


def _curl(obs: Observation, index: TextIndex) -> Iterator[Observation]:
    text, lower = index.text, index.lower
    headers = index.holds("-h ") or index.holds("--header")
    user = index.holds("-u ") or index.holds("--user")
    cookies = index.holds("-b ") or index.holds("--cookie")
    if not (headers or user or cookies):
        return
    if " -" not in lower and "--" not in lower and not lower.lstrip().startswith("-"):
        return
    if headers:
        for match in _CURL_HEADER.finditer(text):
            yield from _header(obs, match.group(2), match.group(3))
    if user:
        for match in _CURL_USER.finditer(text):
            encoded = base64.b64encode(match.group(2).encode()).decode()
            yield _derived(obs, "authorization", "Basic " + encoded, "header")
    if cookies:
        for match in _CURL_COOKIE.finditer(text):
            for name, value in split_cookie_header(match.group(2)):
                yield _derived(obs, name, value, "cookie")


def _urls(obs: Observation, index: TextIndex) -> Iterator[Observation]:
    text = index.text
    # Most URLs in a body have no query, fragment or userinfo. MARKED_URL matches exactly where the URL that
    # _URL matches holds a `?`, `#` or `@`, and starts with a literal, which re searches for at C speed: only
    # the URLs worth a look come back to Python.
    after = 0
    while (marked := MARKED_URL.search(text, after)) is not None:
        after = marked.start() + 1  # a URL may start inside another one's match: every start is tried
        if (match := _URL.match(text, marked.start())) is not None:
            yield from _url_params(obs, match.group(0), "url")


def _header(obs: Observation, name: str, value: str) -> Iterator[Observation]:
    lowered = name.lower()
    if lowered == "cookie":
        for cookie_name, cookie_value in split_cookie_header(value):
            yield _derived(obs, cookie_name, cookie_value, "cookie")
    elif lowered == "set-cookie":
        for cookie_name, cookie_value, expires in parse_set_cookie(value, obs.seen_at):
            yield replace(_derived(obs, cookie_name, cookie_value, "set-cookie"), expires_at=expires)
    elif lowered in URL_HEADERS:
        yield from _url_params(obs, value, lowered)
    else:
        yield _derived(obs, name, value, "header")


def _url_params(obs: Observation, url: str, context: str) -> Iterator[Observation]:
    """URL parameters found inside text keep the text's field (a body or a log line) for their location."""
    loc = obs.location
    where = Where(
        entry=loc.entry,
        side=loc.side,
        host=loc.host,
        path=obs.path,
        seen_at=obs.seen_at,
        member=loc.member,
        line=loc.line,
    )
    for found in url_observations(where, url, context=context):
        yield replace(found, location=replace(found.location, field=loc.field), context="param")


def _derived(obs: Observation, name: str, value: str, context: str) -> Observation:
    return replace(obs, location=replace(obs.location, name=name), value=Secret(value), context=context)
