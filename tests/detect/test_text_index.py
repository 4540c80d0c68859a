"""The anchor index finds exactly what one `str.find` pass per anchor finds, across window edges and in any text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from responder.detect import scanner
from responder.detect.pipeline import _search, detect, text_index
from responder.model import Field, Location, Observation
from responder.secret import Secret


def _find_all(lower: str, anchor: str) -> list[int]:
    found, position = [], lower.find(anchor)
    while position != -1:
        found.append(position)
        position = lower.find(anchor, position + 1)
    return found


_PIECES = st.sampled_from([*_search().anchors, "x", " ", "\n", "é", "İ", "ß", "𝄞", "EYJ", "Token", "HTTPS://"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=40))
def test_positions_equal_find_passes(pieces: list[str]) -> None:
    text = "".join(pieces)
    index = text_index(text)
    assert len(index.lower) == len(text)
    for anchor in _search().anchors:
        assert list(index.positions(anchor)) == _find_all(index.lower, anchor)


def test_anchors_across_window_edges() -> None:
    window = scanner.WINDOW
    text = ["x"] * (3 * window)
    starts = [window - 2, window + 6, 2 * window - 4, 2 * window + 2, 3 * window - 6]  # some cross an edge
    for start in starts:
        text[start : start + 6] = "tOkEn="
    index = text_index("".join(text))
    assert list(index.positions("token")) == starts


def test_a_dotted_capital_i_does_not_shift_positions() -> None:
    """str.lower() turns U+0130 into two characters; the positions found must still point into the text."""
    secret = "Tk51aZ0qL8vX2mN4bC6dE8fG0hJ2kL4"
    text = "İ" * 40 + f" Authorization: Bearer {secret}\n access_token={secret}x"
    values = [c.value.reveal() for c in detect(Observation(Location(Field.BODY, ""), Secret(text)))]
    assert secret in values
    assert all(value in text for value in values)


def test_unknown_anchor_is_an_error() -> None:
    try:
        text_index("abc").positions("not-an-anchor")
    except KeyError:
        return
    raise AssertionError("an anchor the automaton does not search for must not silently find nothing")
