"""Fast substring search for free text: find a literal anchor with str.find (C speed), then match a small
pattern at that position. Python's re has no fast path for a pattern that starts with an alternation or a
look-behind, so scanning text with such patterns costs a regex attempt at every character."""

from __future__ import annotations

import re
from collections.abc import Iterator

TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def positions(haystack: str, needle: str) -> Iterator[int]:
    position = haystack.find(needle)
    while position != -1:
        yield position
        position = haystack.find(needle, position + 1)


def matches_at_anchor(text: str, anchor: str, pattern: re.Pattern[str], *, boundary: bool = True) -> Iterator[str]:
    """Non-overlapping matches of `pattern` that start where `anchor` occurs (and, with `boundary`, where the
    preceding character cannot belong to the same token)."""
    position = text.find(anchor)
    while position != -1:
        if not boundary or position == 0 or text[position - 1] not in TOKEN_CHARS:
            match = pattern.match(text, position)
            if match is not None:
                yield match.group(0)
                position = text.find(anchor, match.end())
                continue
        position = text.find(anchor, position + 1)
