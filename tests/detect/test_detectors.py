"""Detector behaviour as tables: one row per (place, name, value) with the verdict expected."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from responder.detect.expand import _NAME_ANCHORS
from responder.detect.names import PARAMS
from responder.detect.pipeline import detect
from responder.model import Family, Field, Kind, Side
from responder.plugins import load_readers
from responder.readers.httpparts import Where
from responder.scan import Scanner
from responder.secret import Fingerprinter
from responder.settings import ScanSettings


def jwt(claims: dict[str, object], header: dict[str, object] | None = None) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part(header or {'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJlLWJ5dGVz"


AUTHENTIK_COOKIE = jwt(
    {"sid": "k" * 32, "iss": "authentik", "sub": "a" * 64, "authenticated": True}, {"alg": "HS256", "typ": "JWT"}
)
KEYCLOAK_IDENTITY = jwt(
    {
        "sub": "5f0c-user",
        "sid": "sess-1",
        "iss": "https://sso.example.com/realms/acme",
        "typ": "Serialized-ID",
        "exp": 4102444800,
    },
    {"alg": "HS512"},
)
ENTRA_AT = jwt(
    {"iss": "https://sts.windows.net/tid-1/", "oid": "oid-1", "tid": "tid-1", "scp": "User.Read", "exp": 1700000000}
)
ID_TOKEN = jwt({"iss": "https://idp.example.org", "sub": "u1", "aud": "app", "nonce": "n", "exp": 4102444800})
POP_NONCE = jwt({"ts": 1700000000})
OPAQUE = "Zk9xV2p3c1R6Q2hYb0xtN0pGUzJkYVZ1"  # 32 chars, random-looking
UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"

# (field, name, value, host, path) -> (kind, family) or None for "not a credential"
CASES: list[tuple[Field, str, str, str, str, tuple[Kind, Family | None] | None]] = [
    # cookies: catalogued IdP sessions
    (
        Field.COOKIE,
        "authentik_session",
        AUTHENTIK_COOKIE,
        "auth.example.com",
        "/",
        (Kind.SESSION_COOKIE, Family.AUTHENTIK),
    ),
    (Field.COOKIE, "authentik_proxy_1a2b3c4d", OPAQUE, "app.example.com", "/", (Kind.SESSION_COOKIE, Family.AUTHENTIK)),
    (Field.COOKIE, "authentik_csrf", OPAQUE, "auth.example.com", "/", None),
    (Field.COOKIE, "sid", "102Fq3S_0aQSgOqzP3HMbvWkQ", "acme.okta.com", "/", (Kind.SESSION_COOKIE, Family.OKTA)),
    (Field.COOKIE, "idx", OPAQUE, "acme.oktapreview.com", "/", (Kind.SESSION_COOKIE, Family.OKTA)),
    (Field.COOKIE, "DT", OPAQUE, "acme.okta.com", "/", None),
    (
        Field.SET_COOKIE,
        "KEYCLOAK_IDENTITY",
        KEYCLOAK_IDENTITY,
        "sso.example.com",
        "/realms/acme/",
        (Kind.SESSION_COOKIE, Family.KEYCLOAK),
    ),
    (Field.COOKIE, "KC_RESTART", KEYCLOAK_IDENTITY, "sso.example.com", "/realms/acme/", None),
    (Field.COOKIE, "auth0", OPAQUE, "acme.us.auth0.com", "/", (Kind.SESSION_COOKIE, Family.AUTH0)),
    (Field.COOKIE, "did", OPAQUE, "acme.us.auth0.com", "/", None),
    (Field.COOKIE, "ESTSAUTHPERSISTENT", OPAQUE, "login.microsoftonline.com", "/", (Kind.SESSION_COOKIE, Family.ENTRA)),
    (Field.COOKIE, "esctx", OPAQUE, "login.microsoftonline.com", "/", None),
    (
        Field.COOKIE,
        "__Secure-3PSID",
        "g.a000" + OPAQUE,
        "accounts.google.com",
        "/",
        (Kind.SESSION_COOKIE, Family.GOOGLE),
    ),
    (Field.COOKIE, "NID", OPAQUE, "www.google.com", "/", None),
    # cookies: uncatalogued apps
    (Field.COOKIE, "PHPSESSID", "u1h3kq9m2v7c0r", "shop.example.com", "/", (Kind.SESSION_COOKIE, None)),
    (Field.COOKIE, "connect.sid", "s%3A" + OPAQUE, "app.example.com", "/", (Kind.SESSION_COOKIE, None)),
    (Field.COOKIE, "_myapp_session", OPAQUE, "app.example.com", "/", (Kind.SESSION_COOKIE, None)),
    (Field.COOKIE, "userAuthKey", OPAQUE, "app.example.com", "/", (Kind.SESSION_COOKIE, None)),
    (Field.COOKIE, "userAuthKey", "true", "app.example.com", "/", None),
    (Field.COOKIE, "auth", "true", "app.example.com", "/", None),
    (Field.COOKIE, "_ga", "GA1.2.1234567890.1700000000", "app.example.com", "/", None),
    (Field.COOKIE, "_gid", "GA1.2.987654321.1700000000", "app.example.com", "/", None),
    (Field.COOKIE, "XSRF-TOKEN", OPAQUE, "app.example.com", "/", None),
    (Field.COOKIE, "_session.sig", OPAQUE, "app.example.com", "/", None),
    (Field.COOKIE, "session", "[REDACTED]", "app.example.com", "/", None),
    (Field.COOKIE, "session", "***", "app.example.com", "/", None),
    (Field.COOKIE, "session", "${SESSION}", "app.example.com", "/", None),
    # headers
    (
        Field.HEADER,
        "Authorization",
        f"Bearer {ENTRA_AT}",
        "graph.microsoft.com",
        "/v1.0/me",
        (Kind.ACCESS_TOKEN, Family.ENTRA),
    ),
    (Field.HEADER, "authorization", "Bearer " + OPAQUE, "api.example.com", "/", (Kind.ACCESS_TOKEN, None)),
    (Field.HEADER, "Authorization", "Bearer [REDACTED]", "api.example.com", "/", None),
    (Field.HEADER, "Authorization", "Basic dXNlcjpodW50ZXIy", "api.example.com", "/", (Kind.BASIC_CREDENTIALS, None)),
    (Field.HEADER, "Authorization", "Basic bm90LWEtcGFpcg==", "api.example.com", "/", None),  # no colon
    (
        Field.HEADER,
        "Authorization",
        "SSWS 00" + "a" * 20 + "B" * 20,
        "acme.okta.com",
        "/api/v1/users",
        (Kind.API_KEY, Family.OKTA),
    ),
    (Field.HEADER, "Authorization", 'Digest username="u", response="abc"', "api.example.com", "/", None),
    (
        Field.HEADER,
        "Authorization",
        "Negotiate YIIFyQYGKwYBBQUCoIIFvTCCBbmgMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgEC",
        "intranet.example.com",
        "/",
        None,
    ),
    (
        Field.HEADER,
        "Proxy-Authorization",
        "Basic dXNlcjpwYXNz",
        "proxy.example.com",
        "/",
        (Kind.BASIC_CREDENTIALS, None),
    ),
    (Field.HEADER, "X-Api-Key", "sk-test-abc", "api.example.com", "/", (Kind.API_KEY, None)),
    (Field.HEADER, "x-goog-api-key", "AIza" + "S" * 35, "www.googleapis.com", "/", (Kind.API_KEY, Family.GOOGLE)),
    (Field.HEADER, "X-Request-Id", UUID, "api.example.com", "/", None),
    (
        Field.HEADER,
        "x-amz-cf-id",
        "tPn7xYBPeqaT_sM3P4rkhALcyVo5yLJvqbXkV8eDTUNBp7rHbHJ8sQ==",
        "cdn.example.com",
        "/",
        None,
    ),
    (Field.HEADER, "X-CSRF-Token", OPAQUE, "app.example.com", "/", None),
    (Field.HEADER, "X-Custom-Auth", OPAQUE, "app.example.com", "/", (Kind.OTHER_SECRET, None)),
    (Field.HEADER, "x-client-data", "CIa2yQEIpLbJAQjEtskBCKmdygE=", "www.google.com", "/", None),
    # parameters (query, fragment, form, JSON)
    (Field.QUERY, "code", "SplxlOBeZQQYbYS6WxSbIA", "app.example.com", "/callback", (Kind.AUTHORIZATION_CODE, None)),
    (Field.QUERY, "state", "af0ifjsldkj8723hjsd", "app.example.com", "/callback", None),
    (Field.QUERY, "nonce", "n-0S6_WzA2Mj", "idp.example.org", "/authorize", None),
    (
        Field.QUERY,
        "code_challenge",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "idp.example.org",
        "/authorize",
        None,
    ),
    (Field.JSON_BODY, "code", "E0001234", "api.example.com", "/status", None),
    (Field.URL_FRAGMENT, "id_token", ID_TOKEN, "app.example.com", "/cb", (Kind.ID_TOKEN, None)),
    (Field.URL_FRAGMENT, "access_token", OPAQUE, "app.example.com", "/cb", (Kind.ACCESS_TOKEN, None)),
    (Field.FORM, "refresh_token", OPAQUE, "idp.example.org", "/token", (Kind.REFRESH_TOKEN, None)),
    (Field.FORM, "client_secret", "s3cr3t-value", "idp.example.org", "/token", (Kind.CLIENT_SECRET, None)),
    (Field.FORM, "password", "hunter2", "app.example.com", "/login", (Kind.PASSWORD, None)),
    (Field.FORM, "password", "password", "app.example.com", "/login", None),
    (Field.JSON_BODY, "password", "correct horse", "app.example.com", "/login", (Kind.PASSWORD, None)),
    (
        Field.FORM,
        "SAMLResponse",
        base64.b64encode(b"<samlp:Response>" + b"x" * 64).decode(),
        "sp.example.com",
        "/acs",
        (Kind.SAML_ASSERTION, None),
    ),
    (
        Field.FORM,
        "SAMLRequest",
        base64.b64encode(b"<samlp:AuthnRequest/>" * 4).decode(),
        "idp.example.com",
        "/sso",
        None,
    ),
    (
        Field.JSON_BODY,
        "sessionToken",
        "20111" + OPAQUE,
        "acme.okta.com",
        "/api/v1/authn",
        (Kind.OTHER_SECRET, Family.OKTA),
    ),
    (Field.JSON_BODY, "token", "6103", "ads.example.com", "/", None),
    (Field.JSON_BODY, "token", OPAQUE, "api.example.com", "/", (Kind.ACCESS_TOKEN, None)),
    (Field.JSON_BODY, "request_id", UUID, "api.example.com", "/", None),
    # JWT-shaped values that are not credentials
    (Field.HEADER, "WWW-Authenticate", f'PoP nonce="{POP_NONCE}"', "graph.microsoft.com", "/", None),
    (Field.BODY, "", f"nonce={POP_NONCE}", "graph.microsoft.com", "/", None),
    # free text: bodies, log lines, curl
    (Field.BODY, "", f'{{"note": "x", "auth": "Bearer {OPAQUE}"}}', "api.example.com", "/", (Kind.ACCESS_TOKEN, None)),
    # a token presented as a bearer is used as an access token, whatever its claims say
    (Field.TEXT_LINE, "", f"> Authorization: Bearer {ID_TOKEN}", "", "", (Kind.ACCESS_TOKEN, None)),
    (Field.TEXT_LINE, "", f"curl -H 'X-Api-Key: {OPAQUE}' https://api.example.com", "", "", (Kind.API_KEY, None)),
    (Field.TEXT_LINE, "", "curl -u alice:hunter2 https://api.example.com", "", "", (Kind.BASIC_CREDENTIALS, None)),
    (
        Field.TEXT_LINE,
        "",
        f"GET https://app.example.com/cb#access_token={OPAQUE}&token_type=Bearer",
        "",
        "",
        (Kind.ACCESS_TOKEN, None),
    ),
    (Field.TEXT_LINE, "", "refresh_token: tokens.refresh_token,", "", "", None),
    (Field.TEXT_LINE, "", "password: sessionStorage.getItem('pw'),", "", "", None),
    (Field.TEXT_LINE, "", "ya29.a0AfH6SMBx" + "Q" * 40, "", "", (Kind.ACCESS_TOKEN, Family.GOOGLE)),
    (Field.TEXT_LINE, "", "export SLACK=xoxb-1234567890-abcdefghijkl", "", "", (Kind.API_KEY, None)),
]


@pytest.mark.parametrize(
    ("field", "name", "value", "host", "path", "expected"),
    CASES,
    ids=[f"{c[0].value}:{c[1] or c[2][:24]}" for c in CASES],
)
def test_detector_table(
    field: Field, name: str, value: str, host: str, path: str, expected: tuple[Kind, Family | None] | None
) -> None:
    where = Where(entry=0, side=Side.REQUEST, host=host, path=path)
    candidates = list(detect(where.observe(field, name, value)))
    if expected is None:
        assert candidates == [], [(c.kind, c.detector) for c in candidates]
        return
    assert candidates, "nothing detected"
    first = candidates[0]
    assert (first.kind, first.family) == expected, (first.kind, first.family, first.detector)


def test_jwt_claims_are_recorded_not_trusted() -> None:
    where = Where(entry=0, side=Side.REQUEST, host="sso.example.com", path="/realms/acme/")
    [candidate] = detect(where.observe(Field.COOKIE, "KEYCLOAK_IDENTITY", KEYCLOAK_IDENTITY))
    assert candidate.claims == {
        "iss": "https://sso.example.com/realms/acme",
        "sub": "5f0c-user",
        "sid": "sess-1",
        "typ": "Serialized-ID",
        "exp": "4102444800",
    }
    assert candidate.expires_at is not None
    assert candidate.expires_at.year == 2100
    assert candidate.revocable


def test_bearer_value_excludes_the_scheme() -> None:
    where = Where(entry=0, side=Side.REQUEST, host="api.example.com", path="/")
    [candidate] = detect(where.observe(Field.HEADER, "Authorization", "Bearer " + OPAQUE))
    assert candidate.value.reveal() == OPAQUE


def test_every_credential_parameter_name_has_a_free_text_anchor() -> None:
    """Free text is only searched around anchors; a name without one is never found as `name=value` there."""
    assert [name for name in PARAMS if not any(anchor in name.lower() for anchor in _NAME_ANCHORS)] == []


def test_a_session_id_pair_in_free_text_is_found(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("2026-11-29 GET /account?x=1 session_id=Qm9vN2tQx7vT2mLp9sW3 status=200\n")
    report = Scanner(load_readers(), Fingerprinter(b"k" * 32), ScanSettings()).scan(log)
    assert [f.value.reveal() for f in report.findings] == ["Qm9vN2tQx7vT2mLp9sW3"]
