"""Replace credential values, in every encoding they travel in, by `[REDACTED <kind> <fp8>]`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from responder.model import Finding

SHORT = 8  # shorter values are replaced only where they stand alone as a field value, not inside words


def marker(finding: Finding) -> str:
    return f"[REDACTED {finding.kind.value} {finding.fingerprint[:8]}]"


def _variants(value: str, mark: str) -> Iterable[tuple[str, str]]:
    """Raw, percent-encoded (URLs, forms), and JSON-escaped (a JSON body inside a HAR string) forms."""
    quoted_mark = quote(mark, safe="")
    yield value, mark
    yield quote(value, safe=""), quoted_mark
    yield quote(value, safe="/"), quoted_mark
    yield quote_plus(value, safe=""), quoted_mark
    yield value.replace("/", "\\/"), mark


class TextRedactor:
    """One compiled pattern for all values; longest variant first so a value never leaves a partial tail."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        replacements: dict[str, str] = {}
        for finding in findings:
            mark = marker(finding)
            for variant, replacement in _variants(finding.value.reveal(), mark):
                if variant:
                    replacements.setdefault(variant, replacement)
        self._replacements = replacements
        self._longest = max((len(v) for v in replacements), default=0)
        long_values = sorted((v for v in replacements if len(v) >= SHORT), key=len, reverse=True)
        short_values = sorted((v for v in replacements if len(v) < SHORT), key=len, reverse=True)
        branches = []
        if long_values:
            branches.append(r"(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, long_values)) + r")(?![A-Za-z0-9])")
        if short_values:
            branches.append(r"(?<![^=:\"'\s])(?:" + "|".join(map(re.escape, short_values)) + r")(?![^&;\"'\s,}\]])")
        self._pattern = re.compile("|".join(branches)) if branches else None
        self._bytes_pattern = (
            re.compile(self._pattern.pattern.encode("utf-8", "surrogateescape")) if self._pattern else None
        )
        self._bytes_replacements = {k.encode("utf-8", "surrogateescape"): v.encode() for k, v in replacements.items()}

    def __repr__(self) -> str:
        return f"TextRedactor(<{len(self._replacements)} variants>)"

    @property
    def longest(self) -> int:
        return self._longest

    def redact_text(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._replacements[m.group(0)], text)

    def redact_bytes(self, data: bytes) -> bytes:
        if self._bytes_pattern is None:
            return data
        return self._bytes_pattern.sub(lambda m: self._bytes_replacements[m.group(0)], data)
