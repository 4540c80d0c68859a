"""Token shapes recognisable without any context (vendor prefixes). High precision only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from responder.detect.scanner import TextIndex, matches_at
from responder.model import Family, Kind


@dataclass(frozen=True, slots=True)
class Shape:
    name: str
    triggers: tuple[str, ...]  # literal prefixes (case-sensitive), found by the TextIndex
    pattern: re.Pattern[str]
    kind: Kind
    label: str
    family: Family | None = None


def _shape(name: str, regex: str, kind: Kind, label: str, family: Family | None = None) -> Shape:
    literal = re.match(r"[A-Za-z0-9_/-]+(?:\\\.)?", regex)
    prefix = literal.group(0).replace("\\", "") if literal else ""
    triggers = _TRIGGER_OVERRIDES.get(name, (prefix,))
    return Shape(name, triggers, re.compile(regex + r"(?![A-Za-z0-9_-])"), kind, label, family)


_TRIGGER_OVERRIDES = {
    "slack_token": ("xox",),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "entra_refresh": ("0.A", "1.A"),
}


SHAPES: tuple[Shape, ...] = (
    _shape(
        "google_oauth_access",
        r"ya29\.[0-9A-Za-z_-]{20,}",
        Kind.ACCESS_TOKEN,
        "Google OAuth access token",
        Family.GOOGLE,
    ),
    _shape(
        "google_oauth_refresh",
        r"1//0[0-9A-Za-z_-]{30,}",
        Kind.REFRESH_TOKEN,
        "Google OAuth refresh token",
        Family.GOOGLE,
    ),
    _shape("google_api_key", r"AIza[0-9A-Za-z_-]{35}", Kind.API_KEY, "Google API key"),
    _shape("slack_token", r"xox[abposre]-[0-9A-Za-z-]{10,}", Kind.API_KEY, "Slack token"),
    _shape("slack_session", r"xoxd-[0-9A-Za-z%_-]{20,}", Kind.SESSION_COOKIE, "Slack browser session"),
    _shape(
        "github_token", r"(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})", Kind.API_KEY, "GitHub token"
    ),
    _shape("gitlab_token", r"glpat-[0-9A-Za-z_-]{20,}", Kind.API_KEY, "GitLab personal access token"),
    _shape(
        "entra_refresh",
        r"[01]\.A[\w-]{50,}(?:\.\d)?\.Ag[\w-]{250,}(?:\.A[\w-]{200,})?",
        Kind.REFRESH_TOKEN,
        "Entra ID refresh token",
        Family.ENTRA,
    ),
)


_SEARCHES = tuple((shape, trigger, trigger.lower()) for shape in SHAPES for trigger in shape.triggers)


def find_shapes(index: TextIndex) -> Iterator[tuple[Shape, str]]:
    """Vendor-shaped tokens in the indexed text (its anchors include every shape's triggers)."""
    hits = index.hits
    if not hits:
        return
    for shape, trigger, anchor in _SEARCHES:
        if anchor in hits:
            for value in matches_at(index.text, index.exact(trigger), shape.pattern):
                yield shape, value
