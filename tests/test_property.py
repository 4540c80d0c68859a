"""Property: credentials planted at random locations of random HAR shapes are all found, and all are gone
from the sanitized copy (raw, percent-encoded, and inside base64 bodies)."""

from __future__ import annotations

import base64
import json
import random
import string
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from responder.plugins import load_readers
from responder.sanitize.writer import Sanitizer
from responder.scan import Scanner
from responder.secret import Fingerprinter
from responder.settings import ScanSettings
from tests import harbuild
from tests.conftest import TEST_KEY

_ALPHABET = string.ascii_letters + string.digits


def _token(rng: random.Random) -> str:
    body = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(24, 48)))
    return "Tk" + str(rng.randint(10, 99)) + body  # always mixed-case with digits: unmistakably random


def _jwt(rng: random.Random) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {
        "iss": "https://idp.example.org",
        "sub": _token(rng)[:12],
        "exp": 4102444800,
        "scope": "openid",
        "jti": _token(rng),
    }
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{_token(rng)}"


# Each planter returns an entry that carries `value` in one location of DESIGN §3.
Planter = Callable[[str], dict[str, Any]]
PLANTERS: dict[str, Planter] = {
    "authorization": lambda v: harbuild.entry(request_headers=[("Authorization", f"Bearer {v}")]),
    "cookie_header": lambda v: harbuild.entry(request_headers=[("Cookie", f"_ga=GA1.1.1.1; PHPSESSID={v}")]),
    "cookies_array": lambda v: harbuild.entry(request_cookies=[("JSESSIONID", v)]),
    "set_cookie": lambda v: harbuild.entry(response_headers=[("Set-Cookie", f"connect.sid={v}; Path=/; HttpOnly")]),
    "query": lambda v: harbuild.entry(url=f"https://api.example.com/v1?access_token={quote(v)}&page=2"),
    "location_fragment": lambda v: harbuild.entry(
        response_headers=[("Location", f"https://app.example.com/cb#id_token={v}&state=abc")]
    ),
    "form": lambda v: harbuild.entry(
        method="POST",
        post={"mimeType": "application/x-www-form-urlencoded", "text": f"grant_type=refresh_token&refresh_token={v}"},
    ),
    "json_request": lambda v: harbuild.entry(
        method="POST", post={"mimeType": "application/json", "text": json.dumps({"user": {"password": v}})}
    ),
    "json_response": lambda v: harbuild.entry(body=json.dumps({"data": {"access_token": v, "expires_in": 60}})),
    "base64_response": lambda v: harbuild.entry(body=json.dumps({"refresh_token": v}), base64_body=True),
    "html_response": lambda v: harbuild.entry(
        body=f"<script>var cfg = {{'api_key': '{v}'}};</script>", mime="text/html"
    ),
    "websocket": lambda v: harbuild.entry(
        websocket=[{"type": "receive", "time": 1.0, "opcode": 1, "data": json.dumps({"session_token": v})}]
    ),
    "api_key_header": lambda v: harbuild.entry(request_headers=[("x-api-key", v)]),
    "vendor_field": lambda v: harbuild.entry(
        extra={"_initiator": {"type": "script", "url": f"https://x.example.com/?access_token={v}"}}
    ),
}
NOISE = harbuild.entry(
    request_headers=[("X-Request-Id", "0f8fad5b-d9cb-469f-a165-70867728950e")],
    body=json.dumps({"id": "5f1c2a", "state": "ok"}),
)


def _frame(document: dict[str, Any], shape: str, indent: int | None) -> bytes:
    if shape == "no-version":
        del document["log"]["version"]
        del document["log"]["creator"]
    data = json.dumps(document, indent=indent).encode()
    if shape == "bom":
        return b"\xef\xbb\xbf" + data
    if shape == "jsonp":
        return b"onInputData(" + data + b");"
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plants=st.lists(st.sampled_from(sorted(PLANTERS)), min_size=1, max_size=6),
    noise=st.integers(min_value=0, max_value=3),
    shape=st.sampled_from(["plain", "bom", "jsonp", "no-version"]),
    indent=st.sampled_from([None, 2]),
    use_jwt=st.booleans(),
    rng=st.randoms(use_true_random=False),
)
def test_planted_credentials_are_found_and_removed(
    plants: list[str], noise: int, shape: str, indent: int | None, use_jwt: bool, rng: random.Random
) -> None:
    values = [_jwt(rng) if use_jwt and where != "json_request" else _token(rng) for where in plants]
    entries = [PLANTERS[where](value) for where, value in zip(plants, values, strict=True)]
    for _ in range(noise):
        entries.insert(rng.randint(0, len(entries)), NOISE)
    registry = load_readers()
    scanner = Scanner(registry, Fingerprinter(TEST_KEY), ScanSettings(), ())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "capture.har"
        path.write_bytes(_frame(harbuild.har(*entries), shape, indent))
        report = scanner.scan(path)
        found = {f.value.reveal() for f in report.findings}
        missed = [where for where, value in zip(plants, values, strict=True) if value not in found]
        assert not missed, f"missed at {missed}"

        out = Path(tmp) / "clean" / "capture.har"
        Sanitizer(registry, ScanSettings()).write(path, report.findings, out)
        clean = out.read_bytes()
        for where, value in zip(plants, values, strict=True):
            assert value.encode() not in clean, f"left at {where}"
            assert quote(value, safe="").encode() not in clean, f"left percent-encoded at {where}"
        start = clean.index(b"{")
        end = clean.rindex(b"}") + 1
        for item in json.loads(clean[start:end])["log"]["entries"]:
            content = item["response"]["content"]
            if content.get("encoding") == "base64":
                decoded = base64.b64decode(content["text"])
                assert not any(v.encode() in decoded for v in values)
        assert scanner.scan(out).findings == ()
