"""HAR name/value lists (headers, cookies, query strings, form params) → the pairs worth a detector's look.

A HAR entry carries some thirty headers and a handful of cookies and parameters; nearly all are ruled out by
their name alone (Accept, a `_ga` cookie, a page number). Those lists are judged with C-level iteration (map,
itemgetter, a dict per name, compress), so a pair the name rules out costs no Python bytecode; only the rest
go through the per-pair code. Any list of an unusual shape takes the plain per-pair path, which is always right.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import compress
from operator import itemgetter
from typing import Any

from responder.detect import gate

_NAME = itemgetter("name")
_VALUE = itemgetter("value")
# Distinct names remembered per list kind; a HAR uses a few hundred. Bounds memory against a crafted file.
_MAX_NAMES = 8192


class NameVerdicts(dict[Any, bool]):
    """name → whether the name alone keeps a pair in, judged once per distinct name (the key is the raw name
    as the HAR has it; the judge sees it as text, as the per-pair path does)."""

    def __init__(self, judge: Callable[[str], bool]) -> None:
        super().__init__()
        self._judge = judge

    def __missing__(self, name: Any) -> bool:
        if not isinstance(name, str):  # never remembered: 1, 1.0 and True are one key but three names
            return self._judge(str(name))
        verdict = self._judge(name)
        if len(self) >= _MAX_NAMES:
            self.clear()
        self[name] = verdict
        return verdict


def pairs(items: Any) -> list[tuple[str, str]]:
    """Every (name, value) with a non-empty value, as text. Exporters write [{"name", "value"}] lists; some
    tools write a {"Name": "value"} object instead. (A `compress` is pairs_to_read's selection of a list.)"""
    if isinstance(items, dict):
        items = [{"name": k, "value": v} for k, v in items.items()]
    elif not isinstance(items, list | compress):
        return []
    found = []  # a list, not a generator: this runs for every header of every entry
    for item in items:
        if isinstance(item, dict) and (value := item.get("value")):
            name = item.get("name")
            found.append(
                (name if isinstance(name, str) else str(name), value if isinstance(value, str) else str(value))
            )
    return found


def shaped_or_encoded(values: str) -> bool:
    """Whether values the caller percent-decodes first may pass on their own: a token shape, or an encoding
    that may hide one. (For values used as they are, gate.value_has_token_shape; no shape spans a line break.)"""
    return "%" in values or gate.value_has_token_shape(values)


def pairs_to_read(
    items: Any, verdicts: NameVerdicts, values_may_pass: Callable[[str], bool] | None = None
) -> list[tuple[str, str]]:
    """`pairs(items)` less those whose name rules them out. With `values_may_pass`, which sees all the values
    joined by line breaks, a list whose values may let a pair in on their own is returned whole, for the
    caller's own gate. May return more than the caller's gate would pass, never fewer."""
    if not items:  # None, [] or {}: most entries have no query, cookies or form
        return []
    if type(items) is not list:
        return pairs(items)
    try:
        keep = list(map(verdicts.__getitem__, map(_NAME, items)))
        if values_may_pass is not None and not all(keep) and values_may_pass("\n".join(map(_VALUE, items))):
            return pairs(items)
    except (KeyError, TypeError):  # an item that is not a {"name", "value"} object of text: the plain path
        return pairs(items)
    if not any(keep):
        return []
    return pairs(compress(items, keep))
