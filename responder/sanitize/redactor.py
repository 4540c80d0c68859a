"""Replace credential values, in every encoding they travel in, by `[REDACTED <kind> <fp8>]`."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from responder.model import Finding, Kind

SHORT = 8  # shorter values are replaced only where they stand alone as a field value, not inside words
_HEX_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}")
_JSON_UNICODE = {"=": "\\u003d", "&": "\\u0026", "<": "\\u003c", ">": "\\u003e", "'": "\\u0027", "+": "\\u002b"}


def marker(finding: Finding) -> str:
    return f"[REDACTED {finding.kind.value} {finding.fingerprint[:8]}]"


def _forms(value: str) -> Iterable[str]:
    """Raw, percent-encoded (URLs, forms), and JSON-escaped (`\\/`, Gson-style `\\u003d`) forms."""
    yield value
    yield quote(value, safe="")
    yield quote(value, safe="/")
    yield quote_plus(value, safe="")
    yield value.replace("/", "\\/")
    yield "".join(_JSON_UNICODE.get(ch, ch) for ch in value)


def _variants(finding: Finding) -> Iterable[tuple[str, str]]:
    mark = marker(finding)
    value = finding.value.reveal()
    for form in _forms(value):
        yield form, (mark if form == value or "\\" in form else quote(mark, safe=""))
    if finding.kind is Kind.BASIC_CREDENTIALS:  # `user:pass` as typed (curl -u, URL userinfo)
        try:
            pair = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return
        for form in _forms(pair):
            yield form, mark


def _canonical(text: str) -> str:
    """%2f and %2F, \\u003D and \\u003d are the same bytes to a decoder: compare them as one."""
    return _HEX_ESCAPE.sub(lambda m: m.group(0)[:2] + m.group(0)[2:].upper(), text)


def _fragment(variant: str) -> str:
    """A regex for one variant whose hex escapes match in either case."""
    parts, last = [], 0
    for match in _HEX_ESCAPE.finditer(variant):
        parts.append(re.escape(variant[last : match.start()]))
        escape = match.group(0)
        parts.append(
            re.escape(escape[:2]) + "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in escape[2:])
        )
        last = match.end()
    parts.append(re.escape(variant[last:]))
    return "".join(parts)


class TextRedactor:
    """One compiled pattern for all values; longest variant first so a value never leaves a partial tail."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        replacements: dict[str, str] = {}
        for finding in findings:
            for variant, replacement in _variants(finding):
                if variant:
                    replacements.setdefault(_canonical(variant), replacement)
        self._replacements = replacements
        self._longest = max((len(v) for v in replacements), default=0)
        long_values = sorted((v for v in replacements if len(v) >= SHORT), key=len, reverse=True)
        short_values = sorted((v for v in replacements if len(v) < SHORT), key=len, reverse=True)
        branches = []
        if long_values:
            branches.append(r"(?<![A-Za-z0-9])(?:" + "|".join(map(_fragment, long_values)) + r")(?![A-Za-z0-9])")
        if short_values:
            # A short value (a password like "test") only where it stands alone as a value: after = : " '
            # or a space, and before a delimiter or the end, never inside prose or a path.
            branches.append(r"(?<![^=:\"'\s])(?:" + "|".join(map(_fragment, short_values)) + r")(?=$|[&;\"',}\]\r\n])")
        self._pattern = re.compile("|".join(branches)) if branches else None
        self._bytes_pattern = (
            re.compile(self._pattern.pattern.encode("utf-8", "surrogateescape")) if self._pattern else None
        )

    def __repr__(self) -> str:
        return f"TextRedactor(<{len(self._replacements)} variants>)"

    @property
    def longest(self) -> int:
        return self._longest

    def _replacement(self, found: str) -> str:
        return self._replacements[_canonical(found)]

    def redact_text(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._replacement(m.group(0)), text)

    def redact_bytes(self, data: bytes) -> bytes:
        return self.redact_prefix(data, len(data))[0]

    def redact_prefix(self, data: bytes, cut: int) -> tuple[bytes, int]:
        """Redact data[:n] for the smallest n >= cut that splits no match; returns (output, n). Streaming
        callers carry data[n:] over to the next chunk, so a value straddling a chunk edge is still whole."""
        if self._bytes_pattern is None:
            return data[:cut], cut
        out: list[bytes] = []
        position = 0
        for match in self._bytes_pattern.finditer(data):
            if match.start() >= cut:
                break
            out.append(data[position : match.start()])
            found = match.group(0).decode("utf-8", "surrogateescape")
            out.append(self._replacement(found).encode())
            position = match.end()
        end = max(cut, position)
        out.append(data[position:end])
        return b"".join(out), end
