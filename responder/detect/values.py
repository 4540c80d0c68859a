"""Judgements about a value alone: placeholders, UUIDs, and whether it looks like a credential at all."""

from __future__ import annotations

import math
import re
from collections import Counter

_PLACEHOLDER = re.compile(
    r"""(?ix)^(?:
        \[?\s*(?:redacted|removed|filtered|hidden|masked|sanitized|obfuscated)[^\]]*\]?
      | <[^>]{0,40}>                      # <token>, <redacted>
      | \*{3,}.* | .*\*{4,}.* | x{4,} | \.{3}|…
      | \$\{[^}]*\} | \$[A-Z_][A-Z0-9_]* | \{\{[^}]*\}\} | %[A-Z_]+%
      | null | none | undefined | true | false | nan | n/?a | -
    )$""",
)
_REDACTION_WORDS = re.compile(r"(?i)redacted|sanitized|obfuscated|har_sanitizer")
_UUID = re.compile(r"(?i)^\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?$")
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


def is_placeholder(value: str) -> bool:
    """Already-redacted or templated values, including our own `[REDACTED <kind> <fp8>]` markers."""
    stripped = value.strip().strip("\"'")
    return not stripped or bool(_PLACEHOLDER.match(stripped)) or bool(_REDACTION_WORDS.search(stripped))


def is_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


_CODE_IDENTIFIER = re.compile(r"^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$")


def looks_like_code(value: str) -> bool:
    """`tokens.refresh_token`, `sessionStorage`: an identifier in source code, not a value."""
    return bool(_CODE_IDENTIFIER.match(value)) and not any(c.isdigit() for c in value)


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    if not value:
        return 0.0
    counts = Counter(value)
    total = len(value)
    return -sum(c / total * math.log2(c / total) for c in counts.values())


def is_credential_like(value: str, *, min_length: int = 16) -> bool:
    """A random-looking opaque string: long enough, no spaces, mixed characters, high entropy, and not a
    number, UUID (request ids), URL or path. Used only where the name alone is not proof."""
    if len(value) < min_length or len(value) > 16384 or any(ch.isspace() for ch in value):
        return False
    if _NUMBER.match(value) or is_uuid(value) or "://" in value or value.startswith("/"):
        return False
    if is_placeholder(value):
        return False
    classes = sum((any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value)))
    if classes < 2:
        return False
    return entropy(value) >= 3.0
