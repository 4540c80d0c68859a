"""The JSON depth guard (responder/readers/jsonstream.py): compiled and pure-Python rules give the same answers."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from responder.readers import jsonstream
from responder.readers.jsonstream import MAX_NESTING, JsonStream, TooDeep
from tests.conftest import require_peer

# Bracket-heavy bytes, with long runs of openers, so the dense-piece walk and the limit are both reached.
noise = st.sampled_from([b"[", b"{", b"]", b"}", b'"', b"a", b",", b"\\"])
pieces = st.lists(
    st.one_of(noise, st.builds(lambda c, n: c * n, st.sampled_from([b"[", b"{", b"]", b"}"]), st.integers(1, 3000))),
    max_size=60,
).map(b"".join)


def _outcome(data: bytes, *, compiled: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], bool]:
    """The sizes of the reads JsonStream hands over before it stops, and whether it stopped as too deep."""
    if not compiled:
        monkeypatch.setattr(jsonstream, "_compiled", None)
    stream = JsonStream(io.BytesIO(data))
    stream.PIECE = 1 << 10  # small pieces, and few openers make one dense: every rule is met in a small input
    stream._MANY = 200
    reads: list[int] = []
    try:
        while chunk := stream.read(1 << 12):
            reads.append(len(chunk))
    except TooDeep:
        return reads, True
    finally:
        monkeypatch.undo()
    return reads, False


@pytest.fixture
def compiled_guard() -> None:
    require_peer(jsonstream.compiled(), "responder/readers/_brackets.c was not compiled (no C compiler at install)")


@pytest.mark.usefixtures("compiled_guard")
@settings(max_examples=300, deadline=None)
@given(pieces)
def test_compiled_and_python_rules_agree(data: bytes) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert _outcome(data, compiled=True, monkeypatch=monkeypatch) == _outcome(
            data, compiled=False, monkeypatch=monkeypatch
        )


@pytest.mark.usefixtures("compiled_guard")
@pytest.mark.parametrize(
    ("data", "too_deep"),
    [
        (b"[" * MAX_NESTING + b"]" * MAX_NESTING, False),
        (b"[" * (MAX_NESTING + 1), True),
        (b"{" * 600 + b"}" * 424 + b"{" * 900, True),  # a dense piece is walked: its peak counts, not its net
        (b"{" * 100 + b"}" * 100 + b"[" * 1001, True),  # ...and a piece with few openers is judged by its net
        (b"]" * 1024 + b"[" * 1001, True),  # depth stops at zero: the closers before cannot pay for later openers
        (b'"' + b"[" * 500 + b'"' + b"[" * 501, True),  # brackets in strings count: an overestimate only
    ],
)
def test_the_compiled_rule_on_known_inputs(data: bytes, too_deep: bool) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        compiled = _outcome(data, compiled=True, monkeypatch=monkeypatch)
        python = _outcome(data, compiled=False, monkeypatch=monkeypatch)
    assert compiled == python
    assert compiled[1] is too_deep


def test_the_compiled_track_refuses_what_is_not_bytes(compiled_guard: None) -> None:
    assert jsonstream._compiled is not None
    with pytest.raises(TypeError):
        jsonstream._compiled.track("text", 0, 2048, MAX_NESTING)  # type: ignore[arg-type]
    assert jsonstream._compiled.track(memoryview(b"[[{"), 0, 2048, MAX_NESTING) == 3
    with pytest.raises(ValueError, match="between 0 and"):  # sums of such numbers could overflow in C
        jsonstream._compiled.track(b"[", 2**40, 2048, 2**62)
