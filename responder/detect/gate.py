"""A conservative, cached first look: could a detector possibly use this (name, value)?

Readers call it before building an observation, so the common case — an Accept header, an analytics cookie,
a page number — costs one dict lookup. It may say yes too often, never no wrongly: anything a named rule,
the cookie catalogue, or a JWT/vendor-shape search could report passes.
"""

from __future__ import annotations

import re
import string
from functools import cache, lru_cache

import ahocorasick_rs

from responder.detect import names
from responder.detect.catalog import COOKIES, SUSPICIOUS_COOKIE_NAME

# The prefixes JWTs and vendor tokens start with. This pattern is the rule; TRIGGER_LITERALS spells it out
# literal by literal for the automaton that applies it (a test holds the two equal).
_TRIGGERS = re.compile(r"eyJ|ya29\.|1//0|AIza|xox[a-z]-|gh[pousr]_|github_pat_|glpat-|0\.A|1\.A")
TRIGGER_LITERALS = (
    "eyJ",
    "ya29.",
    "1//0",
    "AIza",
    *(f"xox{letter}-" for letter in string.ascii_lowercase),
    *(f"gh{letter}_" for letter in "pousr"),
    "github_pat_",
    "glpat-",
    "0.A",
    "1.A",
)


@cache
def _trigger_automaton() -> ahocorasick_rs.AhoCorasick:
    return ahocorasick_rs.AhoCorasick(list(TRIGGER_LITERALS))


def value_has_token_shape(value: str) -> bool:
    """JWTs and vendor-prefixed tokens can hide under any name. One automaton pass: re tries its alternation at
    every character that starts a branch (`e`, `1`, `g`… are everywhere), two to four times slower here."""
    try:
        return bool(_trigger_automaton().find_matches_as_indexes(value))
    except UnicodeEncodeError:  # lone surrogates (undecodable bytes of a text capture): the automaton takes none
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
    return value_has_token_shape(url)


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
