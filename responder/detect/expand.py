"""Free text (bodies, log lines, WebSocket frames, vendor fields) → named observations.

Finds the shapes credentials take in text: `Name: value` header lines (also `curl -v` `> `/`< ` lines and
`curl -H '…'` arguments), `name=value` and `"name": "value"` pairs, HAR-style name/value objects,
`Bearer …` anywhere, and URLs with query strings or fragments. The named detectors then judge them.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from urllib.parse import unquote

from responder.detect.names import PARAMS
from responder.model import Field, Location, Observation
from responder.readers.httpparts import URL_HEADERS, parse_set_cookie, split_cookie_header, url_observations
from responder.readers.httpparts import Where as _Where
from responder.secret import Secret

_HEADER_LINE = re.compile(
    r"(?im)^[ \t>*<|+-]*(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|apikey"
    r"|x-goog-api-key|x-auth-token|x-access-token|x-amz-security-token|ocp-apim-subscription-key|private-token"
    r"|location|referer)[ \t]*:[ \t]*([^\r\n]+?)[ \t]*$"
)
_CURL_HEADER = re.compile(r"""(?:-H|--header)\s+(['"])([A-Za-z][A-Za-z0-9_-]*)\s*:\s*(.*?)\1""")
_CURL_USER = re.compile(r"""(?:\s-u|--user)\s+(['"]?)([^\s'":]+:[^\s'"]*)\1""")
_CURL_COOKIE = re.compile(r"""(?:\s-b|--cookie)\s+(['"])(.+?)\1""")


def _param_alternation() -> str:
    names = sorted(PARAMS, key=len, reverse=True)
    return "|".join(re.sub(r"_", "[_-]?", name) for name in names)


_NAMES = r"(?i)(?<![A-Za-z0-9_.])(" + _param_alternation() + r")"
# `name": "value"` / `name='value'`: a string literal is a value, whatever the language around it.
_PAIR_QUOTED = re.compile(_NAMES + r"(?:\\?[\"'])?\s*[:=]\s*(\\?[\"'])([^\"'\\\s]{1,16384})\2")
# `name=value` as in URLs, forms and logs.
_PAIR_EQUALS = re.compile(_NAMES + r"=([^\"'&\s<>,;#}{()\\]+)")
# `name: value` unquoted (YAML, logs): weak evidence, so the value must also look random.
_PAIR_COLON = re.compile(_NAMES + r":[ \t]*([^\"'&\s<>,;#}{()\\]+)")
_HAR_PAIR = re.compile(r'"name"\s*:\s*"((?:[^"\\]|\\.){1,200})"\s*,\s*"value"\s*:\s*"((?:[^"\\]|\\.)*)"')
_AUTH_ANYWHERE = re.compile(r"(?i)(?<![A-Za-z0-9])(Bearer|SSWS|Basic)\s+([A-Za-z0-9._~+/=-]{8,})")
_URL = re.compile(r"https?://[^\s\"'<>\\]+[?#][^\s\"'<>\\]+")


def expand(obs: Observation) -> Iterator[Observation]:
    text = obs.value.reveal()
    loc = obs.location

    def derived(name: str, value: str, context: str) -> Observation:
        return replace(obs, location=replace(loc, name=name), value=Secret(value), context=context)

    for match in _HEADER_LINE.finditer(text):
        yield from _header(derived, match.group(1), match.group(2), obs)
    if "-H" in text or "--header" in text:
        for match in _CURL_HEADER.finditer(text):
            yield from _header(derived, match.group(2), match.group(3), obs)
    if "-u" in text or "--user" in text:
        for match in _CURL_USER.finditer(text):
            encoded = base64.b64encode(match.group(2).encode()).decode()
            yield derived("authorization", "Basic " + encoded, "header")
    if "-b" in text or "--cookie" in text:
        for match in _CURL_COOKIE.finditer(text):
            for name, value in split_cookie_header(match.group(2)):
                yield derived(name, value, "cookie")
    if '"name"' in text:
        for match in _HAR_PAIR.finditer(text):
            yield derived(_json_unescape(match.group(1)), _json_unescape(match.group(2)), "pair")
    for pattern, context in ((_PAIR_QUOTED, "param"), (_PAIR_EQUALS, "param"), (_PAIR_COLON, "param-loose")):
        for match in pattern.finditer(text):
            value = match.group(match.lastindex or 2)
            yield derived(match.group(1), unquote(value) if "%" in value else value, context)
    for match in _AUTH_ANYWHERE.finditer(text):
        yield derived("authorization", f"{match.group(1)} {match.group(2)}", "header")
    if "://" in text:
        where = _Where(
            entry=loc.entry,
            side=loc.side,
            host=loc.host,
            path=obs.path,
            seen_at=obs.seen_at,
            member=loc.member,
            line=loc.line,
        )
        for match in _URL.finditer(text):
            for url_obs in url_observations(where, match.group(0), context="url"):
                yield _as_field(url_obs, loc.field)


def _header(
    make: Callable[[str, str, str], Observation], name: str, value: str, obs: Observation
) -> Iterator[Observation]:
    lowered = name.lower()
    if lowered == "cookie":
        for cookie_name, cookie_value in split_cookie_header(value):
            yield make(cookie_name, cookie_value, "cookie")
    elif lowered == "set-cookie":
        for cookie_name, cookie_value, expires in parse_set_cookie(value, obs.seen_at):
            found = make(cookie_name, cookie_value, "set-cookie")
            yield replace(found, expires_at=expires)
    elif lowered in URL_HEADERS:
        loc = obs.location
        where = _Where(
            entry=loc.entry,
            side=loc.side,
            host=loc.host,
            path=obs.path,
            seen_at=obs.seen_at,
            member=loc.member,
            line=loc.line,
        )
        for url_obs in url_observations(where, value, context=lowered):
            yield _as_field(url_obs, loc.field)
    else:
        yield make(name, value, "header")


def _as_field(obs: Observation, field: Field) -> Observation:
    """URL parameters found inside text keep the text's field (a body or a log line) for their location."""
    location: Location = replace(obs.location, field=field)
    return replace(obs, location=location, context="param")


def _json_unescape(value: str) -> str:
    if "\\" not in value:
        return value
    try:
        result = json.loads(f'"{value}"')
    except ValueError:
        return value
    return result if isinstance(result, str) else value
