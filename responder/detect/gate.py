"""A conservative, cached first look: could a detector possibly use this (name, value)?

Readers call it before building an observation, so the common case — an Accept header, an analytics cookie,
a page number — costs one dict lookup. It may say yes too often, never no wrongly: anything a named rule,
the cookie catalogue, or a JWT/vendor-shape search could report passes.
"""

from __future__ import annotations

import re
from functools import lru_cache

from responder.detect import names
from responder.detect.catalog import COOKIES, SUSPICIOUS_COOKIE_NAME

# Every branch starts with a literal character, so re skips ahead to those characters at C speed (a branch
# that starts with a class, such as `[01]\.A`, makes it try every position: twice as slow).
_TRIGGERS = re.compile(r"eyJ|ya29\.|1//0|AIza|xox[a-z]-|gh[pousr]_|github_pat_|glpat-|0\.A|1\.A")


def value_has_token_shape(value: str) -> bool:
    """JWTs and vendor-prefixed tokens can hide under any name."""
    return _TRIGGERS.search(value) is not None


# A raw query names a PARAMS parameter only if it holds one of their anchors, whatever the style (`sessionId`,
# `session-id` and `user[session_id]` normalise to `session_id`, so that anchor is searched as `session`).
_PARAM_ANCHORS = tuple(anchor.partition("_")[0] for anchor in names.PARAM_NAME_ANCHORS)


def url_may_carry(url: str) -> bool:
    """Could any query or fragment parameter (or the userinfo) of `url` pass `param`? Percent-encoding can
    hide an anchor or a token prefix, so an encoded URL always may. (A dozen `in` tests on a short string
    beat one case-insensitive alternation, which re tries at every character.)"""
    if "@" in url or "%" in url:
        return True
    lower = url.lower()
    for anchor in _PARAM_ANCHORS:  # a loop, not any(…): this runs for every URL of every entry
        if anchor in lower:
            return True
    return _TRIGGERS.search(url) is not None


@lru_cache(maxsize=8192)
def cookie_name(name: str) -> bool:
    if SUSPICIOUS_COOKIE_NAME.search(name):
        return True
    return any(row.kind is not None and row.names.fullmatch(name) for row in COOKIES)


@lru_cache(maxsize=8192)
def header_name(name: str) -> bool:
    normal = names.normalise(name)
    if normal in names.AUTHORIZATION_HEADERS or normal in names.API_KEY_HEADERS:
        return True
    return bool(names.SUSPICIOUS_HEADER.search(name)) and not names.NON_CREDENTIAL_HEADER.search(name)


@lru_cache(maxsize=8192)
def param_name(name: str) -> bool:
    normal = names.normalise(name)
    return normal in names.PARAMS or normal.replace("_", "") in names.PARAMS


def cookie(name: str, value: str) -> bool:
    return cookie_name(name) or value_has_token_shape(value)


def header(name: str, value: str) -> bool:
    return header_name(name) or value_has_token_shape(value)


def param(name: str, value: str) -> bool:
    return param_name(name) or value_has_token_shape(value)
