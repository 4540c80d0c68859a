"""The free-text prefilter may only skip texts in which no detector can find anything."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from responder.detect import pipeline
from responder.detect.expand import ANCHORS
from responder.detect.pipeline import detect, may_hold_anything
from responder.detect.shapes import SHAPES
from responder.model import Field, Location, Observation
from responder.secret import Secret


def _jwt() -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part({'sub': 'u1', 'iss': 'https://idp.example.org'})}.c2lnbmF0dXJl"


# Fragments that make detectors fire, pieces of them, and filler, so random texts sit near the boundary.
_FRAGMENTS = [
    *ANCHORS,
    *(trigger for shape in SHAPES for trigger in shape.triggers),
    "eyJ",
    _jwt(),
    "Bearer Tk51aZ0qL8vX2mN4bC6dE8fG0hJ2kL4mN6pQ",
    "access_token=Tk51aZ0qL8vX2mN4bC6dE8fG0hJ2kL4",
    '"password": "hunter2hunter2"',
    "https://h.example/cb?code=Tk51aZ0qL8vX2mN4bC6dE8f",
    "https://u:pw@h.example/",
    "http://h.example/p#id_token=x",
    "ghp_" + "a1B2" * 9,
    "glpat-" + "a1B2" * 6,
    "xoxb-1234567890-abcdef",
    "AIza" + "a1B2c3D4e5" * 4,
    "ya29." + "a1B2c3D4e5" * 3,
    "Authorization: Basic dTpwYXNzd29yZA==\n",
    '{"name": "sid", "value": "Tk51aZ0qL8vX2mN4bC6dE8fG"}',
    "curl -H 'X-Api-Key: Tk51aZ0qL8vX2mN4' -u user:pw -b 'sid=Tk51aZ0qL8vX2mN4'",
    '<input type="hidden" name="code" value="Tk51aZ0qL8vX2mN4bC6">',
    'form-data; name="password"\r\n\r\nhunter2hunter2\r\n--',
    # Witnesses that only one anchor leads to (`session_id` holds no name anchor of its own).
    'form-data; name="session_id"\r\n\r\nTk51aZ0qL8vX2mN4bC6dE8fG\r\n--',
    '<input name="session_id" value="Tk51aZ0qL8vX2mN4bC6dE8fG">',
    '{"name": "session_id", "value": "Tk51aZ0qL8vX2mN4bC6dE8fG"}',
    "curl -b 'session_id=Tk51aZ0qL8vX2mN4bC6dE8fG'",
    "\nCookie: session_id=Tk51aZ0qL8vX2mN4bC6dE8fG\n",
    "SSWS 00Tk51aZ0qL8vX2mN4bC6dE8fG",
    "tok",
    "http",
    "://",
    "?",
    "=",
    ": ",
    '"',
    " ",
    "\n",
    "lorem",
    "Ipsum",
]


def _observations(text: str) -> list[Observation]:
    return [
        Observation(Location(Field.BODY, ""), Secret(text)),
        Observation(Location(Field.JSON_BODY, ""), Secret(text)),
        Observation(Location(Field.EXTENSION, "_initiator"), Secret(text)),
        Observation(Location(Field.BODY, ""), Secret(text), context="script"),
    ]


def _unfiltered(obs: Observation) -> list[str]:
    saved, pipeline.PREFILTER_MAX = pipeline.PREFILTER_MAX, -1
    try:
        return [candidate.value.reveal() for candidate in detect(obs)]
    finally:
        pipeline.PREFILTER_MAX = saved


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=12), st.booleans())
def test_a_skipped_text_holds_nothing_any_detector_finds(pieces: list[str], upper: bool) -> None:
    text = "".join(pieces)
    text = text.upper() if upper else text
    if may_hold_anything(text):
        return
    for obs in _observations(text):
        assert _unfiltered(obs) == []


@pytest.mark.parametrize("fragment", [f for f in _FRAGMENTS if len(f) > 8])
def test_prefiltered_detection_equals_unfiltered(fragment: str) -> None:
    text = f'{{"type": "script", "url": "https://cdn.example/app.js"}} {fragment} trailing'
    for obs in _observations(text):
        assert [c.value.reveal() for c in detect(obs)] == _unfiltered(obs)


# Trigger literals, their neighbours that must not trigger, and pieces of them.
_TRIGGER_PARTS = [
    "eyJ", "ey", "J", "ya29.", "ya29", "1//0", "1//", "AIza", "AIz", "xoxb-", "xoxB-", "xox-", "xox", "ghp_",
    "gha_", "gh", "github_pat_", "glpat-", "0.A", "1.A", "0.a", "A", ".", "-", "_", "é", "\udcff", " ",
]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_TRIGGER_PARTS), max_size=12).map("".join))
def test_the_trigger_automaton_applies_exactly_the_trigger_pattern(text: str) -> None:
    from responder.detect import gate

    assert gate.value_has_token_shape(text) is (gate._TRIGGERS.search(text) is not None)
