"""Every file of the public HAR corpus, with what must and must not be found written down per file.

Expectations are (kind, name) pairs, where name is the cookie, header or parameter name of the first
location. `count` is the exact number of distinct credentials: a new false positive fails the test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from responder.scan import ScanReport

from .conftest import CORPUS


@dataclass(frozen=True)
class Expect:
    count: int
    found: frozenset[tuple[str, str]] = frozenset()
    not_found: frozenset[str] = frozenset()  # names that must not be reported under any kind
    revocable: int = 0
    reader: str = "har"
    warnings: bool = False
    families: frozenset[str] = field(default_factory=frozenset)


def E(count: int, found: set[tuple[str, str]] | None = None, not_found: set[str] | None = None, **kw: object) -> Expect:
    return Expect(count, frozenset(found or ()), frozenset(not_found or ()), **kw)  # type: ignore[arg-type]


GOOGLE_SESSION = {
    "SID",
    "__Secure-1PSID",
    "__Secure-3PSID",
    "HSID",
    "SSID",
    "APISID",
    "SAPISID",
    "__Secure-1PSIDTS",
    "SIDCC",
    "__Secure-1PSIDCC",
    "__Secure-3PSIDCC",
}

EXPECTED: dict[str, Expect] = {
    "deviantintegral-har__safari-wp-login.har": E(0, not_found={"log", "pwd", "wordpress_test_cookie"}),
    "har-to-openapi__auth-variants.har": E(
        4,
        {
            ("access_token", "Authorization"),
            ("basic_credentials", "Authorization"),
            ("api_key", "X-Api-Key"),
            ("session_cookie", "session_id"),
        },
        {"csrf_token"},
    ),
    "har-to-openapi__chrome-665-entries.har": E(0, not_found={"auth", "fly-request-id", "cf_clearance"}),
    "har-to-openapi__facebook-add.har": E(1, {("session_cookie", "xs")}, {"datr", "c_user", "presence"}),
    "har-to-openapi__fiddler5-session.har": E(1, {("session_cookie", "SESSION_ID")}, {"CSRFDesignerToken"}),
    "har2tree__splash-lalibre-201-bearer-jwt.har": E(
        3,
        {("session_cookie", "PHPSESSID"), ("api_key", "api_key"), ("access_token", "Authorization")},
        {"sess", "uid", "sig", "token", "key"},
    ),
    "harviewer__fiddler2-nopages.har": E(
        3,
        {("session_cookie", "SessionID"), ("session_cookie", "ASP.NET_SessionId"), ("session_cookie", "googleToken")},
        {"VisitorID"},
    ),
    "harviewer__harp-jsonp.har": E(0),
    "harviewer__ie11.har": E(0, not_found={"previewCols", "password", "code"}),
    "jfromaniello-har-sanitizer__firefox118-example.har": E(
        2,
        {("access_token", "Authorization"), ("password", "password")},
        {"state", "client_id", "COOKIE1", "COOKIE2", "COOKIE3", "_csrf", "username"},
    ),
    "jupiterone-graph-auth0__polly-auth0-token-redacted.har": E(0, not_found={"did", "access_token"}),
    "jupiterone-graph-azure__polly-entra-token-redacted.har": E(0, not_found={"fpc", "access_token"}),
    "jupiterone-graph-azure__polly-pop-nonce-jwt.har": E(0, not_found={"WWW-Authenticate", "nonce"}),
    "jupiterone-graph-okta__polly-okta-api-redacted.har": E(0, not_found={"sid", "JSESSIONID", "authorization"}),
    "mitmproxy__charles.har": E(0),
    "mitmproxy__chrome.har": E(
        11,
        {("session_cookie", n) for n in GOOGLE_SESSION},
        {"NID", "AEC", "__Secure-ENID"},
        revocable=11,
        families=frozenset({"google"}),
    ),
    "mitmproxy__corrupted-brokenfile.har": E(0, reader="text", warnings=True),
    "mitmproxy__firefox.har": E(0),
    "mitmproxy__flows-diff_data.har": E(
        3,
        {("access_token", "authorization"), ("api_key", "x-goog-api-key"), ("session_cookie", "d")},
        {"d-s", "b", "x-client-data"},
        revocable=1,
    ),
    "mitmproxy__flows-event_stream.har": E(1, {("api_key", "authorization")}),
    "mitmproxy__flows-websocket.har": E(1, {("api_key", "api_key")}, {"_ga", "_gid"}),
    "mitmproxy__insomnia.har": E(0),
    "mitmproxy__safari.har": E(0, not_found={"x-amz-cf-id"}),
    "mitmproxy__with-bom.har": E(0),
    "mswjs-source__proxyman.har": E(0),
    "optic__har13-base64.har": E(0),
    "playwright__har-redirect.har": E(0, not_found={"vmidv1", "_chorus_geoip_continent"}),
    "zap__firebug-lf-setcookie.har": E(0, not_found={"visitorId", "ntad"}),
    "zap__response-base64-invalid.har": E(0),
}


def _corpus_files() -> list[str]:
    return sorted(p.name for p in CORPUS.glob("*.har")) if CORPUS.is_dir() else sorted(EXPECTED)


def test_every_corpus_file_has_expectations(corpus: Path) -> None:
    assert sorted(p.name for p in corpus.glob("*.har")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", _corpus_files())
def test_corpus_file(name: str, corpus: Path, scan: Callable[[Path], ScanReport]) -> None:
    expect = EXPECTED[name]
    report = scan(corpus / name)

    assert report.error is None
    assert report.reader == expect.reader
    assert bool(report.warnings) == expect.warnings, report.warnings
    found = {(f.kind.value, f.locations[0].name) for f in report.findings}
    all_names = {loc.name for f in report.findings for loc in f.locations}
    assert expect.found <= found, f"missed: {expect.found - found}"
    assert not (expect.not_found & all_names), f"false positives: {expect.not_found & all_names}"
    assert len(report.findings) == expect.count, sorted(found)
    assert sum(f.revocable for f in report.findings) == expect.revocable
    if expect.families:
        assert {f.provider.family.value for f in report.findings if f.provider.family} == expect.families
