"""Fast substring search for free text: one compiled Aho-Corasick pass over the lower-cased text finds every
literal anchor the detectors start from; small patterns are then matched only at those positions.

Python's re has no fast path for a pattern that starts with an alternation or a look-behind, so scanning text
with such patterns costs a regex attempt at every character; one `str.find` pass per anchor (~45 of them) was
faster, and one pass of the automaton (ahocorasick_rs, Rust) is faster again by ten times or more.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import ahocorasick_rs

TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
# The one character whose lower case is two characters long ("i" + U+0307); str.lower() with it would shift
# every later position of the lower-cased text against the text.
_DOTTED_CAPITAL_I = "\u0130"
_NONE: tuple[int, ...] = ()
_SURROGATE_TO_REPLACEMENT = dict.fromkeys(range(0xDC80, 0xDD00), "\ufffd")  # what surrogateescape makes of bytes
# The automaton reports all matches of a call at once (a Python tuple each): a text is searched in windows so
# that a body made of anchors costs bounded memory beyond the 8 bytes kept per position.
WINDOW = 1 << 20


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
    hits: dict[str, array[int]]  # lower-case anchor → positions; anchors that do not occur are absent
    known: frozenset[str]

    def positions(self, anchor: str) -> Sequence[int]:
        """Positions of a lower-case anchor in `lower` (hence in `text`), case-insensitively."""
        if anchor not in self.known:
            raise KeyError(f"{anchor!r} is not an anchor of this index")  # would silently find nothing
        return self.hits.get(anchor, _NONE)

    def exact(self, literal: str) -> Iterator[int]:
        """Positions where `literal` occurs in `text` with exactly this case, in text order."""
        text = self.text
        return (p for p in self.positions(literal.lower()) if text.startswith(literal, p))

    def holds(self, anchor: str) -> bool:
        return bool(self.positions(anchor))


class AnchorSearch:
    """An automaton over a fixed set of lower-case anchors, built on first use (no work at import time)."""

    def __init__(self, anchors: Iterable[str]) -> None:
        self.anchors = tuple(sorted({anchor.lower() for anchor in anchors}))
        if not all(self.anchors):
            raise ValueError("an anchor cannot be empty")
        self._known = frozenset(self.anchors)
        self._overlap = max(map(len, self.anchors)) - 1  # an anchor starting in a window may end past it
        self._automata: tuple[ahocorasick_rs.AhoCorasick, ahocorasick_rs.BytesAhoCorasick] | None = None

    def index(self, text: str) -> TextIndex:
        lower = aligned_lower(text)
        hits: dict[str, array[int]] = {}
        anchors = self.anchors
        for offset in range(0, len(lower), WINDOW):
            window = lower[offset : offset + WINDOW + self._overlap]  # the text itself when it fits
            # Overlapping matches come in order of their end, so each anchor's positions are in text order.
            for which, start, _end in self._matches(window):
                if start >= WINDOW:
                    continue  # starts in the next window, which reports it
                anchor = anchors[which]
                found = hits.get(anchor)
                if found is None:
                    hits[anchor] = array("q", (offset + start,))
                else:
                    found.append(offset + start)
        return TextIndex(text, lower, hits, self._known)

    def _matches(self, window: str) -> list[tuple[int, int, int]]:
        """(anchor number, start, end) of every occurrence. ASCII text, the usual case, is searched as its bytes
        (the same positions): about a third faster than a str, whose byte offsets must be mapped to characters."""
        if self._automata is None:
            self._automata = (
                ahocorasick_rs.AhoCorasick(self.anchors),
                ahocorasick_rs.BytesAhoCorasick([anchor.encode() for anchor in self.anchors]),
            )
        of_text, of_bytes = self._automata
        if window.isascii():
            return of_bytes.find_matches_as_indexes(window.encode("ascii"), overlapping=True)
        try:
            return of_text.find_matches_as_indexes(window, overlapping=True)
        except UnicodeEncodeError:
            # Text that was not UTF-8 (a Latin-1 log) keeps its bytes as lone surrogates, which the automaton
            # cannot take: each becomes U+FFFD, one character for one, so every position stays the same.
            return of_text.find_matches_as_indexes(window.translate(_SURROGATE_TO_REPLACEMENT), overlapping=True)


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
