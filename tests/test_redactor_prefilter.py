"""The redactor's anchor prefilter only skips texts the pattern cannot match: with and without it, same output."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from responder.model import Family, Finding, Kind, ProviderRef
from responder.sanitize.redactor import TextRedactor, _anchor
from responder.secret import Secret

# Values with the characters that get escaped (JSON `\/`, `\u003d`, percent codes), short and long ones.
value_chars = st.sampled_from([*"abcXYZ0189-_.~/=+&<>'%: é\\", "\udce9"])  # and an undecodable byte
values = st.text(value_chars, min_size=3, max_size=24).filter(lambda v: v.strip())


def _finding(number: int, value: str, kind: Kind = Kind.ACCESS_TOKEN) -> Finding:
    return Finding(
        fingerprint=f"{number:064x}",
        kind=kind,
        detector="test",
        label="test",
        revocable=True,
        provider=ProviderRef(Family.OIDC, None),
        claims={},
        expires_at=None,
        locations=(),
        value=Secret(value),
    )


def _spellings(value: str) -> list[str]:
    """How a value travels: as it is, percent-encoded, JSON-escaped, and cut short."""
    raw = value.encode("utf-8", "surrogateescape")
    escaped = json.dumps(value).strip('"').replace("/", "\\/").replace("=", "\\u003d").replace("+", "\\u002B")
    return [value, quote(raw, safe=""), quote_plus(raw), quote(raw, safe="").lower(), escaped, value[:-1]]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(values, min_size=1, max_size=4, unique=True),
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 5), st.sampled_from(["", " ", "=", "x", "%3D", "\n"])), max_size=8
    ),
)
def test_the_prefilter_never_changes_the_result(secrets: list[str], pieces: list[tuple[int, int, str]]) -> None:
    findings = [_finding(i, v) for i, v in enumerate(secrets)]
    text = "".join(sep + _spellings(secrets[i % len(secrets)])[j] for i, j, sep in pieces)
    fast, plain = TextRedactor(findings), TextRedactor(findings)
    plain._anchors = None  # the pattern runs on every text
    assert fast.redact_text(text) == plain.redact_text(text)
    data = text.encode("utf-8", "surrogateescape")
    for start in (0, min(3, len(data))):
        assert fast.redact_prefix(data, len(data), start) == plain.redact_prefix(data, len(data), start)


def test_a_text_without_any_anchor_is_not_searched() -> None:
    redactor = TextRedactor([_finding(1, "s3cr3t-t0ken-value")])
    calls = []
    pattern = redactor._pattern
    assert pattern is not None

    class Counting:
        def sub(self, *args: object) -> str:
            calls.append(args)
            return pattern.sub(*args)  # type: ignore[arg-type]

    redactor._pattern = Counting()  # type: ignore[assignment]
    assert redactor.redact_text("nothing to see " * 100) == "nothing to see " * 100
    assert calls == []
    assert redactor.redact_text("x s3cr3t-t0ken-value y").startswith("x [REDACTED access_token ")
    assert len(calls) == 1


def test_anchors_are_what_every_spelling_keeps() -> None:
    assert _anchor("ab/cdef=gh", is_raw=True) == "cdef"
    assert _anchor("ab%2Fcdefg%3Dh", is_raw=False) == "cdefg"
    assert _anchor("/=+", is_raw=True) == ""  # nothing literal: the redactor then runs its pattern everywhere
    redactor = TextRedactor([_finding(1, "/=+/")])
    assert redactor._anchors is None
    assert "/=+/" not in redactor.redact_text('{"v": "/=+/"}')


def test_a_value_holding_an_escape_is_redacted_not_a_crash() -> None:
    # `/9\/` matched as `\/9\/`, a spelling neither replacement lookup mapped back: KeyError (found by review).
    redactor = TextRedactor([_finding(1, "/9\\/")])
    assert redactor.redact_text("\\/9\\/") == "[REDACTED access_token 00000000]"
