"""Fast substring search for free text: one compiled Aho-Corasick pass over the lower-cased text finds every
literal anchor the detectors start from; small patterns are then matched only at those positions.

Python's re has no fast path for a pattern that starts with an alternation or a look-behind, so scanning text
with such patterns costs a regex attempt at every character; one `str.find` pass per anchor (~45 of them) was
faster, and one automaton pass (ahocorasick_rs, SIMD prefilter) is faster again by about ten times.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import ahocorasick_rs

TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_DOTTED_CAPITAL_I = "\u0130"  # the one character whose lower case is two characters long ("i" + U+0307)
_NONE: tuple[int, ...] = ()


def aligned_lower(text: str) -> str:
    """`text.lower()`, position for position the same length, so a position found in it is one in `text`."""
    lower = text.lower()
    if len(lower) == len(text):
        return lower
    return _DOTTED_CAPITAL_I.join(part.lower() for part in text.split(_DOTTED_CAPITAL_I))


@dataclass(frozen=True, slots=True)
class TextIndex:
    """Where each anchor occurs in one text (overlapping occurrences included, in text order)."""

    text: str
    lower: str  # aligned_lower(text)
    hits: dict[str, list[int]]  # lower-case anchor → positions; anchors that do not occur are absent
    known: frozenset[str]

    def positions(self, anchor: str) -> Sequence[int]:
        """Positions of a lower-case anchor in `lower` (hence in `text`), case-insensitively."""
        if anchor not in self.known:
            raise KeyError(f"{anchor!r} is not an anchor of this index")  # would silently find nothing
        return self.hits.get(anchor, _NONE)

    def exact(self, literal: str) -> list[int]:
        """Positions where `literal` occurs in `text` with exactly this case."""
        return [p for p in self.positions(literal.lower()) if self.text.startswith(literal, p)]

    def holds(self, anchor: str) -> bool:
        return bool(self.positions(anchor))


class AnchorSearch:
    """An automaton over a fixed set of lower-case anchors, built on first use (no work at import time)."""

    def __init__(self, anchors: Iterable[str]) -> None:
        self.anchors = tuple(sorted({anchor.lower() for anchor in anchors}))
        if not all(self.anchors):
            raise ValueError("an anchor cannot be empty")
        self._known = frozenset(self.anchors)
        self._automaton: ahocorasick_rs.AhoCorasick | None = None

    def index(self, text: str) -> TextIndex:
        lower = aligned_lower(text)
        automaton = self._automaton
        if automaton is None:
            automaton = self._automaton = ahocorasick_rs.AhoCorasick(self.anchors)
        hits: dict[str, list[int]] = {}
        anchors = self.anchors
        # Overlapping matches come in order of their end, so each anchor's positions are in text order.
        for which, start, _end in automaton.find_matches_as_indexes(lower, overlapping=True):
            anchor = anchors[which]
            found = hits.get(anchor)
            if found is None:
                hits[anchor] = [start]
            else:
                found.append(start)
        return TextIndex(text, lower, hits, self._known)


def matches_at(text: str, starts: Iterable[int], pattern: re.Pattern[str], *, boundary: bool = True) -> Iterator[str]:
    """Non-overlapping matches of `pattern` that start at one of `starts` (in text order) and, with `boundary`,
    where the preceding character cannot belong to the same token."""
    after = 0
    for position in starts:
        if position < after:
            continue
        if boundary and position and text[position - 1] in TOKEN_CHARS:
            continue
        match = pattern.match(text, position)
        if match is not None:
            after = match.end()
            yield match.group(0)
