"""The C-speed name/value filter (responder/readers/pairs.py) never drops a pair the per-pair gates would pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from responder.detect import gate
from responder.interfaces import ReadContext
from responder.model import Field
from responder.readers.har import HarReader, _vendor_keys, entry_observations
from responder.readers.httpparts import header_worth_reading
from responder.readers.pairs import NameVerdicts, pairs, pairs_to_read, shaped_or_encoded
from responder.settings import ScanSettings

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl"

names = st.one_of(
    st.sampled_from(["Accept", "cookie", "Authorization", "x-api-key", "_ga", "session", "sid", "page", "code"]),
    st.sampled_from(["access_token", "password", "state", "PHPSESSID", "connect.sid", "X-Request-Id"]),
    st.text(max_size=12),
    st.integers(-3, 3),
    st.none(),
    st.booleans(),
)
values = st.one_of(
    st.sampled_from(["", "1", "en-US", "a%3Db", "%65yJhbGciOiJIUzI1NiJ9", JWT, "ya29.a0Af", "ghp_" + "x" * 36]),
    st.text(max_size=20),
    st.integers(0, 2),
    st.none(),
)
item = st.one_of(
    st.fixed_dictionaries({"name": names, "value": values}),
    st.fixed_dictionaries({"value": values}),  # no name
    st.fixed_dictionaries({"name": names}),  # no value
    st.fixed_dictionaries({"name": st.just(["unhashable"]), "value": values}),
    st.just("not an object"),
    st.just(None),
)
lists = st.one_of(
    st.lists(item, max_size=8),
    st.dictionaries(st.text(max_size=8), values, max_size=4),  # the {"Name": "value"} form
    st.none(),
    st.just("junk"),
)


def _cookie_passes(pair: tuple[str, str]) -> bool:
    return gate.cookie(*pair)


def _param_passes(pair: tuple[str, str]) -> bool:
    name, value = pair
    return gate.param(name, unquote(value) if "%" in value else value)


@settings(max_examples=400, deadline=None)
@given(lists)
def test_the_fast_path_keeps_every_pair_a_gate_passes(items: Any) -> None:
    headers, cookies, params = (
        NameVerdicts(header_worth_reading),
        NameVerdicts(gate.cookie_name),
        NameVerdicts(gate.param_name),
    )
    for _ in range(2):  # the second round is answered from the remembered verdicts
        assert [p for p in pairs_to_read(items, headers) if header_worth_reading(p[0])] == [
            p for p in pairs(items) if header_worth_reading(p[0])
        ]
        assert [p for p in pairs_to_read(items, cookies, gate.value_has_token_shape) if _cookie_passes(p)] == [
            p for p in pairs(items) if _cookie_passes(p)
        ]
        assert [p for p in pairs_to_read(items, params, shaped_or_encoded) if _param_passes(p)] == [
            p for p in pairs(items) if _param_passes(p)
        ]


def test_a_name_ruled_out_is_still_read_when_its_value_is_token_shaped() -> None:
    verdicts = NameVerdicts(gate.cookie_name)
    items = [{"name": "_ga", "value": "GA1.2.3"}, {"name": "prefs", "value": JWT}]
    assert pairs_to_read(items, verdicts, gate.value_has_token_shape) == [("_ga", "GA1.2.3"), ("prefs", JWT)]
    assert pairs_to_read([{"name": "_ga", "value": "GA1.2.3"}], verdicts, gate.value_has_token_shape) == []
    encoded = [{"name": "q", "value": "%65yJhbGciOiJIUzI1NiJ9"}]  # an encoded `eyJ`
    assert pairs_to_read(encoded, NameVerdicts(gate.param_name), shaped_or_encoded) == [("q", "%65yJhbGciOiJIUzI1NiJ9")]


def test_verdicts_remember_text_names_only_and_stay_bounded() -> None:
    judged: list[str] = []
    verdicts = NameVerdicts(lambda name: judged.append(name) or name == "True")
    assert verdicts[True] is True
    assert verdicts[1] is False  # 1 == True as a dict key, but it is another name
    assert len(verdicts) == 0
    assert judged == ["True", "1"]
    for number in range(9000):
        verdicts[f"x-{number}"]
    assert len(verdicts) <= 8192


def test_vendor_keys_are_found_once_per_layout_in_order() -> None:
    entry = {"startedDateTime": "", "_initiator": {}, "request": {}, "_priority": "High", "_webSocketMessages": []}
    assert _vendor_keys(entry) == ("_initiator", "_priority")
    assert _vendor_keys(dict(entry)) is _vendor_keys(entry)


def test_a_cookie_sent_in_the_header_and_the_cookies_array_is_one_observation() -> None:
    entry = {
        "request": {
            "url": "https://app.example.com/",
            "headers": [{"name": "Cookie", "value": "sid=s%3Aabcdefghijklmnopqrstuvwx; theme=dark"}],
            "cookies": [
                {"name": "sid", "value": "s%3Aabcdefghijklmnopqrstuvwx"},
                {"name": "other_session", "value": "zyxwvutsrqponmlkjihgfedcba"},  # only in the array
            ],
        },
        "response": {},
    }
    ctx = ReadContext(limits=ScanSettings())
    seen = [(o.location.name, o.context) for o in entry_observations(0, entry, ctx, {})]
    assert seen == [("sid", "cookie-header"), ("other_session", "cookies-array")]


def test_each_distinct_cookie_header_is_split_once_per_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from responder.readers import httpparts

    calls: list[str] = []
    split = httpparts.split_cookie_header
    monkeypatch.setattr(httpparts, "split_cookie_header", lambda value: calls.append(value) or split(value))
    entry = {
        "request": {"url": "https://a.example/", "headers": [{"name": "Cookie", "value": "sid=abcdefghijklmnop"}]},
        "response": {},
    }
    har = tmp_path / "repeat.har"
    har.write_text(json.dumps({"log": {"entries": [entry] * 5}}))
    observations = list(HarReader().read(har, ReadContext(limits=ScanSettings())))
    assert [o.location.field for o in observations] == [Field.COOKIE] * 5
    assert calls == ["sid=abcdefghijklmnop"]
