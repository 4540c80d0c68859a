"""The Auth0 plugin against a schema-shaped fake tenant (respx). Every request these tests send, and every fixture
the fake serves for a declared status, is checked against the Auth0 OpenAPI fragment in auth0_contract.py."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import respx
from openapi_core import OpenAPI
from respx.models import AllMockedAssertionError

from providers.auth0 import Auth0Provider
from responder.errors import ConfigError, DirectoryError
from responder.http import DryRunViolation, build_client, dry_run
from responder.interfaces import Directory
from responder.model import (
    ActionRequest,
    Family,
    Field,
    Finding,
    Kind,
    Location,
    Outcome,
    OutcomeStatus,
    ProviderRef,
    Subject,
    Target,
    Verb,
)
from responder.plugins import load_readers
from responder.scan import Scanner
from responder.secret import Fingerprinter, Secret
from responder.settings import ProviderConfig, ScanSettings
from tests import harbuild
from tests.conftest import TEST_KEY
from tests.providers.auth0_contract import (
    APP_ID,
    APP_SECRET,
    AUDIENCE,
    BASE,
    M2M_ID,
    M2M_SECRET,
    NOT_AUTH0,
    FakeAuth0,
    User,
    check_calls,
    load_spec,
)

HOST = BASE.removeprefix("https://")
ISSUER = BASE + "/"
SECRET_ENV = "RESPONDER_TEST_A0_SECRET"
APP_SECRET_ENV = "RESPONDER_TEST_A0_APP_SECRET"
LEAKED_RT = "v1.MRrT" + "q" * 60 + "CANARYrt"  # the shape of an Auth0 refresh token: opaque
COOKIE = "s%3A" + "Z" * 40 + "CANARYcookie"  # `auth0` is an opaque, signed session reference


# ---- fixtures and builders ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def auth0_spec() -> OpenAPI:
    return load_spec()


@pytest.fixture
def auth0(auth0_spec: OpenAPI) -> Iterator[FakeAuth0]:
    """The fake behind respx (any other host is refused), and the contract check of everything it answered."""
    fake = FakeAuth0()
    with respx.mock(base_url=BASE, assert_all_called=False, assert_all_mocked=True) as router:
        router.route().mock(side_effect=fake.handle)
        yield fake
        calls = [(call.request, call.optional_response) for call in router.calls]
    assert len(calls) == fake.answered, "the contract check must see every request the fake answered"
    report = check_calls(auth0_spec, calls)
    assert not report.errors, "contract violations:\n" + "\n".join(report.errors)
    assert report.checked_requests == len(calls)


def make_provider(client: httpx.Client | None = None, **extra: Any) -> Auth0Provider:
    table = {"name": "a0", "plugin": "auth0", "base_url": BASE, "client_id": M2M_ID, "client_secret_env": SECRET_ENV}
    return Auth0Provider.from_config({**table, **extra}, client or build_client(BASE))


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch, auth0: FakeAuth0) -> Iterator[Auth0Provider]:
    monkeypatch.setenv(SECRET_ENV, M2M_SECRET)
    plugin = make_provider()
    yield plugin
    plugin.close()


@pytest.fixture
def revoking(monkeypatch: pytest.MonkeyPatch, auth0: FakeAuth0) -> Iterator[Auth0Provider]:
    """With the application that issued the refresh tokens configured for revocation by value."""
    monkeypatch.setenv(SECRET_ENV, M2M_SECRET)
    monkeypatch.setenv(APP_SECRET_ENV, APP_SECRET)
    plugin = make_provider(revoke_client_id=APP_ID, revoke_client_secret_env=APP_SECRET_ENV)
    yield plugin
    plugin.close()


def token(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, "signing-key-responder-never-knows", algorithm="HS256")


def id_token(sub: str = "auth0|alice", sid: str | None = "sess-alice", iss: str = ISSUER) -> str:
    claims: dict[str, Any] = {"iss": iss, "sub": sub, "aud": APP_ID, "nonce": "n", "exp": 4102444800}
    if sid is not None:
        claims["sid"] = sid
    return token(claims)


def access_token(sub: str = "auth0|alice", iss: str = ISSUER) -> str:
    return token({"iss": iss, "sub": sub, "aud": "https://api.example.test/", "azp": APP_ID, "scope": "read:x"})


def finding(
    kind: Kind,
    value: str,
    claims: dict[str, str] | None = None,
    *,
    name: str = "authorization",
    where: Field = Field.HEADER,
    instance: str = "a0",
) -> Finding:
    return Finding(
        fingerprint=hashlib.sha256(value.encode()).hexdigest(),
        kind=kind,
        detector="test",
        label="test",
        revocable=True,
        provider=ProviderRef(Family.AUTH0, instance),
        claims=claims or {},
        expires_at=None,
        locations=(Location(where, name, host=HOST),),
        value=Secret(value),
    )


def jwt_finding(kind: Kind, value: str) -> Finding:
    decoded = jwt.decode(value, options={"verify_signature": False})
    return finding(kind, value, {k: str(v) for k, v in decoded.items() if k in ("iss", "sub", "sid", "aud", "azp")})


def cookie(name: str = "auth0") -> Finding:
    return finding(Kind.SESSION_COOKIE, COOKIE, name=name, where=Field.COOKIE)


def request(
    verb: str, *, subject: Subject | None = None, credential: str | None = None, kind: Kind | None = None
) -> ActionRequest:
    return ActionRequest(
        action_id="action-1",
        provider="a0",
        verb=verb,
        fingerprint="fp",
        kind=kind,
        subject=subject,
        credential=Secret(credential) if credential is not None else None,
    )


def user_request(user: User | str, verb: str = Verb.END_ALL_SESSIONS) -> ActionRequest:
    return request(verb, subject=Subject("a0", user if isinstance(user, str) else user.user_id))


def session_request(user: User, sid: str) -> ActionRequest:
    return request(
        Verb.END_SESSION,
        credential=id_token(user.user_id, sid),
        kind=Kind.ID_TOKEN,
        subject=Subject("a0", user.user_id),
    )


def mutating(fake: FakeAuth0) -> list[str]:
    """Every call that would change something at Auth0 (the token request only issues a token)."""
    return [line for line in fake.seen if not line.startswith("GET ") and not line.startswith("POST /oauth/token")]


SCOPE_REFUSAL = {
    "statusCode": 403,
    "error": "Forbidden",
    "message": "Insufficient scope, expected any of: read:users",
    "errorCode": "insufficient_scope",
}
CANARIES = (M2M_SECRET, APP_SECRET, LEAKED_RT, COOKIE, "CANARY")


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        for canary in CANARIES:
            assert canary not in repr(text), f"{canary[:12]}… leaked into {text!r}"


# ---- settings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"client_secret_env": None}, "set client_secret_file or client_secret_env"),
        ({"client_secret": "x"}, "not several"),
        ({"base_url": f"{BASE}/api/v2"}, "without /api/v2"),
        ({"base_url": "http://tenant.auth0.com"}, "https URL"),
        ({"audience": "https://tenant.auth0.com/"}, "Management API identifier"),
        ({"revoke_client_secret_env": APP_SECRET_ENV}, "set it too"),
        ({"client_id": None}, "client_id"),
        ({"clientid": "typo"}, "clientid"),
        ({"client_secret_env": "RESPONDER_TEST_A0_UNSET"}, "is not set"),
    ],
)
def test_settings_errors_name_the_key(monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], problem: str) -> None:
    monkeypatch.setenv(SECRET_ENV, M2M_SECRET)
    monkeypatch.delenv("RESPONDER_TEST_A0_UNSET", raising=False)
    table = {"name": "a0", "plugin": "auth0", "base_url": BASE, "client_id": M2M_ID, "client_secret_env": SECRET_ENV}
    table = {key: value for key, value in {**table, **extra}.items() if value is not None}
    with pytest.raises(ConfigError, match=problem) as raised:
        Auth0Provider.from_config(table, build_client(BASE))
    assert M2M_SECRET not in str(raised.value)


def test_secret_from_a_file_and_the_directory_protocol(tmp_path: Path) -> None:
    path = tmp_path / "m2m-secret"
    path.write_text(M2M_SECRET + "\n")
    table = {"name": "a0", "plugin": "auth0", "base_url": BASE + "/", "client_id": M2M_ID, "client_secret_file": path}
    plugin = Auth0Provider.from_config(table, build_client(BASE))
    assert plugin.name == "a0"
    assert isinstance(plugin, Directory)
    assert plugin.panic_verbs == ("end_all_sessions", "revoke_refresh_tokens")
    plugin.close()


# ---- claims and plan (no I/O) -------------------------------------------------------------------------


def test_claims_only_its_own_instance(provider: Auth0Provider) -> None:
    assert provider.claims(cookie())
    assert not provider.claims(finding(Kind.SESSION_COOKIE, COOKIE, instance="other"))


def test_the_session_cookie_ends_the_sessions_and_refresh_tokens_of_the_user_its_id_token_names(
    provider: Auth0Provider, auth0: FakeAuth0
) -> None:
    alice = Subject("a0", "auth0|alice")
    evidence = [jwt_finding(Kind.ID_TOKEN, id_token()), jwt_finding(Kind.ACCESS_TOKEN, access_token())]
    expected = (
        Target(Verb.END_ALL_SESSIONS, uses_credential=False, subject=alice),
        Target(Verb.REVOKE_REFRESH_TOKENS, uses_credential=False, subject=alice),
    )
    assert provider.plan(cookie(), evidence) == expected
    assert provider.plan(cookie("auth0_compat"), evidence) == expected
    assert auth0.seen == []


@pytest.mark.parametrize(
    "evidence",
    [
        [],
        [jwt_finding(Kind.ID_TOKEN, id_token("auth0|alice")), jwt_finding(Kind.ID_TOKEN, id_token("auth0|bob"))],
        [jwt_finding(Kind.ID_TOKEN, id_token(iss="https://accounts.google.com"))],  # another issuer's user
        [jwt_finding(Kind.ACCESS_TOKEN, access_token(sub=f"{M2M_ID}@clients"))],  # an application, not a user
    ],
    ids=["nothing", "two-users", "foreign-issuer", "client-token"],
)
def test_a_session_cookie_without_one_named_user_needs_a_subject(
    provider: Auth0Provider, evidence: list[Finding]
) -> None:
    assert provider.plan(cookie(), evidence) == (Target(Verb.END_ALL_SESSIONS, uses_credential=False),)


def test_device_mfa_and_app_cookies_are_not_tenant_sessions(provider: Auth0Provider) -> None:
    evidence = [jwt_finding(Kind.ID_TOKEN, id_token())]
    for name in ("did", "auth0-mf", "appSession", "auth0.SpaAppClientId.is.authenticated"):
        assert provider.plan(cookie(name), evidence) == ()


def test_an_id_token_with_sid_ends_exactly_that_session(provider: Auth0Provider) -> None:
    alice = Subject("a0", "auth0|alice")
    assert provider.plan(jwt_finding(Kind.ID_TOKEN, id_token())) == (Target(Verb.END_SESSION, True, alice),)
    assert provider.plan(jwt_finding(Kind.ID_TOKEN, id_token(sid=None))) == ()
    assert provider.plan(jwt_finding(Kind.ID_TOKEN, id_token(iss="https://other.auth0.com/"))) == ()
    masked = finding(Kind.ID_TOKEN, id_token(), {"iss": ISSUER, "sub": "auth0|alice", "sid": "sha256:" + "0" * 64})
    assert provider.plan(masked) == ()


def test_a_jwt_access_token_ends_its_users_sessions_and_refresh_tokens(provider: Auth0Provider) -> None:
    alice = Subject("a0", "auth0|alice")
    user_wide = (Target(Verb.END_ALL_SESSIONS, False, alice), Target(Verb.REVOKE_REFRESH_TOKENS, False, alice))
    assert provider.plan(jwt_finding(Kind.ACCESS_TOKEN, access_token())) == user_wide
    assert provider.plan(jwt_finding(Kind.JWT, access_token())) == user_wide
    assert provider.plan(jwt_finding(Kind.ACCESS_TOKEN, access_token(sub=f"{M2M_ID}@clients"))) == ()
    assert provider.plan(jwt_finding(Kind.ACCESS_TOKEN, access_token(iss="https://idp.other.test/"))) == ()
    opaque = finding(Kind.ACCESS_TOKEN, "Qx" * 16)  # Auth0's opaque /userinfo token
    assert provider.plan(opaque, [jwt_finding(Kind.ID_TOKEN, id_token())]) == user_wide
    assert provider.plan(opaque) == (Target(Verb.END_ALL_SESSIONS, False),)
    assert provider.plan(finding(Kind.API_KEY, "k" * 40)) == ()


def test_a_refresh_token_is_revoked_by_value_or_user_wide(provider: Auth0Provider, revoking: Auth0Provider) -> None:
    alice = Subject("a0", "auth0|alice")
    leaked = finding(Kind.REFRESH_TOKEN, LEAKED_RT, where=Field.JSON_BODY, name="refresh_token")
    evidence = [jwt_finding(Kind.ID_TOKEN, id_token())]
    assert revoking.plan(leaked, evidence) == (Target(Verb.REVOKE_TOKEN, True, alice),)
    assert revoking.plan(leaked) == (Target(Verb.REVOKE_TOKEN, True, None),)
    assert provider.plan(leaked, evidence) == (Target(Verb.REVOKE_REFRESH_TOKENS, False, alice),)
    assert provider.plan(leaked) == (Target(Verb.REVOKE_REFRESH_TOKENS, False, None),)  # needs_subject
    foreign = token({"iss": "https://idp.other.test/", "sub": "u", "typ": "Refresh"})
    assert revoking.plan(jwt_finding(Kind.REFRESH_TOKEN, foreign), evidence) == ()


def test_findings_from_a_real_capture_are_recognised_and_planned(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, auth0: FakeAuth0
) -> None:
    """The detectors' findings, not hand-made ones: the `auth0` cookie is opaque, the ID token keeps `sid`."""
    monkeypatch.setenv(SECRET_ENV, M2M_SECRET)
    token_response = {"access_token": access_token(), "id_token": id_token(), "refresh_token": LEAKED_RT}
    capture = harbuild.write(
        tmp_path / "login.har",
        harbuild.har(
            harbuild.entry(f"{BASE}/authorize?client_id={APP_ID}", request_cookies=[("auth0", COOKIE)]),
            harbuild.entry(f"{BASE}/oauth/token", method="POST", body=json.dumps(token_response)),
        ),
    )
    config = ProviderConfig(name="a0", plugin="auth0", base_url=BASE)
    report = Scanner(load_readers(), Fingerprinter(TEST_KEY), ScanSettings(), (config,)).scan(capture)
    mine = [f for f in report.findings if f.provider.instance == "a0"]
    by_kind = {f.kind: f for f in mine}
    assert set(by_kind) >= {Kind.SESSION_COOKIE, Kind.ID_TOKEN, Kind.ACCESS_TOKEN, Kind.REFRESH_TOKEN}
    assert by_kind[Kind.ID_TOKEN].claims["sid"] == "sess-alice"
    plugin = make_provider()
    alice = Subject("a0", "auth0|alice")
    plans = {kind: plugin.plan(f, [o for o in mine if o is not f]) for kind, f in by_kind.items()}
    assert plans[Kind.SESSION_COOKIE] == (
        Target(Verb.END_ALL_SESSIONS, False, alice),
        Target(Verb.REVOKE_REFRESH_TOKENS, False, alice),
    )
    assert plans[Kind.ID_TOKEN] == (Target(Verb.END_SESSION, True, alice),)
    assert plans[Kind.REFRESH_TOKEN] == (Target(Verb.REVOKE_REFRESH_TOKENS, False, alice),)
    assert auth0.seen == []


# ---- END_SESSION --------------------------------------------------------------------------------------


def test_end_session_revokes_the_session_and_its_refresh_tokens_only(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    alice = auth0.add_user("auth0|alice", "alice@example.test")
    leaked = auth0.add_session(alice, "sess-alice")
    other = auth0.add_session(alice)
    auth0.add_refresh_token(alice, leaked)
    kept = auth0.add_refresh_token(alice, other)
    req = session_request(alice, leaked)
    outcome = provider.execute(req)
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.REVOKED,
        "revoked the ID token's session and its refresh tokens (Auth0 ends them asynchronously)",
    )
    assert outcome.subject == Subject("a0", "auth0|alice")
    assert auth0.sessions_of(alice) == [other]
    assert auth0.tokens_of(alice) == [kept]
    assert auth0.seen[-2:] == ["GET /api/v2/sessions/sess-alice", "POST /api/v2/sessions/sess-alice/revoke"]
    assert provider.verify(req) is True
    again = provider.execute(req)
    assert (again.status, again.subject) == (OutcomeStatus.ALREADY_INVALID, Subject("a0", "auth0|alice"))
    assert_no_secret(outcome, again)


def test_a_session_of_another_user_is_not_touched(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    alice = auth0.add_user("auth0|alice", "alice@example.test")
    bob = auth0.add_user("auth0|bob", "bob@example.test")
    sid = auth0.add_session(bob, "sess-bob")
    outcome = provider.execute(session_request(alice, sid))  # a token naming alice and bob's session
    assert outcome.status is OutcomeStatus.FAILED_PERMANENT
    assert "belongs to another user" in outcome.detail
    assert auth0.sessions_of(bob) == [sid]
    assert mutating(auth0) == []


def test_a_404_from_revoke_is_checked_against_a_second_look(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    alice = auth0.add_user("auth0|alice", "alice@example.test")
    sid = auth0.add_session(alice, "sess-alice")
    gone = {"statusCode": 404, "error": "Not Found", "message": "The session does not exist."}
    auth0.fail("POST", "/revoke$", 404, gone)
    auth0.fail("GET", "/sessions/sess-alice$", 404, gone, after=1)  # ended between the look and the revoke
    outcome = provider.execute(session_request(alice, sid))
    assert (outcome.status, outcome.subject) == (OutcomeStatus.ALREADY_INVALID, Subject("a0", "auth0|alice"))
    auth0.fail("POST", "/revoke$", 404, {"statusCode": 404, "error": "Not Found", "message": "Not Found"})
    missing = provider.execute(session_request(alice, sid))  # still there: the endpoint is what is missing
    assert (missing.status, missing.detail) == (
        OutcomeStatus.FAILED_PERMANENT,
        "revoke session: HTTP 404 although the session exists (no such endpoint?)",
    )
    assert auth0.sessions_of(alice) == [sid]


def test_an_id_token_without_sid_or_value_fails_clearly(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    no_sid = request(Verb.END_SESSION, credential=id_token(sid=None), kind=Kind.ID_TOKEN)
    assert provider.execute(no_sid).detail == "end session: the ID token carries no sid"
    assert provider.execute(request(Verb.END_SESSION)).detail == "end session: the ID token is not available"
    assert provider.verify(no_sid) is None
    assert auth0.seen == []


def test_a_pending_asynchronous_deletion_cannot_be_told_from_a_failed_one(
    provider: Auth0Provider, auth0: FakeAuth0
) -> None:
    auth0.async_deletes = True
    alice = auth0.add_user("auth0|alice", "alice@example.test")
    sid = auth0.add_session(alice, "sess-alice")
    auth0.add_refresh_token(alice, sid)
    assert provider.execute(session_request(alice, sid)).status is OutcomeStatus.REVOKED
    assert provider.verify(session_request(alice, sid)) is None
    assert provider.execute(user_request(alice)).status is OutcomeStatus.REVOKED
    assert provider.verify(user_request(alice)) is None
    assert provider.verify(user_request(alice, Verb.REVOKE_REFRESH_TOKENS)) is None


# ---- END_ALL_SESSIONS / REVOKE_REFRESH_TOKENS ---------------------------------------------------------


@pytest.mark.parametrize(
    ("verb", "path", "noun"),
    [(Verb.END_ALL_SESSIONS, "sessions", "session"), (Verb.REVOKE_REFRESH_TOKENS, "refresh-tokens", "refresh token")],
)
def test_user_wide_actions_end_everything_of_that_user_only(
    provider: Auth0Provider, auth0: FakeAuth0, verb: str, path: str, noun: str
) -> None:
    alice = auth0.add_user("auth0|alice", "alice@example.test")
    bob = auth0.add_user("auth0|bob", "bob@example.test")
    for owner in (alice, alice, bob):
        auth0.add_refresh_token(owner, auth0.add_session(owner))
    req = user_request(alice, verb)
    outcome = provider.execute(req)
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.REVOKED,
        f"Auth0 accepted ending every {noun} of the user (it ends them asynchronously)",
    )
    assert outcome.subject == Subject("a0", "auth0|alice")
    assert f"GET /api/v2/users/auth0|alice/{path}?take=1" in auth0.seen
    assert f"DELETE /api/v2/users/auth0|alice/{path}" in auth0.seen
    left = auth0.sessions_of if verb == Verb.END_ALL_SESSIONS else auth0.tokens_of
    assert (len(left(alice)), len(left(bob))) == (0, 1)
    assert provider.verify(req) is True
    again = provider.execute(req)
    assert (again.status, again.detail) == (OutcomeStatus.ALREADY_INVALID, f"the user had no {noun} left")


def test_an_unknown_user_is_a_clear_permanent_failure(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    outcome = provider.execute(user_request("auth0|ghost"))
    assert outcome.status is OutcomeStatus.FAILED_PERMANENT
    assert outcome.detail.startswith("user not found: Auth0 has no user auth0|ghost")
    assert provider.verify(user_request("auth0|ghost")) is None
    assert provider.execute(request(Verb.END_ALL_SESSIONS)).detail == "end_all_sessions needs the user's id; none given"


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "detail"),
    [
        (403, {"statusCode": 403, "error": "Forbidden", "message": "Insufficient scope, expected any of: "
               "delete:sessions", "errorCode": "insufficient_scope"}, {}, OutcomeStatus.FAILED_PERMANENT,
         "delete sessions: HTTP 403: responder's application lacks the scope delete:sessions"),
        (403, {"statusCode": 403, "error": "Forbidden", "message": "This feature is not enabled for this tenant."},
         {}, OutcomeStatus.FAILED_PERMANENT, "delete sessions: HTTP 403: the tenant does not offer this endpoint "
         "(session and refresh-token management need an Auth0 Enterprise plan); needs delete:sessions"),
        (429, {"statusCode": 429, "error": "Too Many Requests", "message": "Global limit has been reached"},
         {"x-ratelimit-limit": "2", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "EPOCH+9"},
         OutcomeStatus.FAILED_TRANSIENT, "delete sessions: HTTP 429"),
        (503, None, {}, OutcomeStatus.FAILED_TRANSIENT, "delete sessions: HTTP 503"),
        (400, {"statusCode": 400, "error": "Bad Request", "message": "Invalid request URI"}, {},
         OutcomeStatus.FAILED_PERMANENT, "delete sessions: HTTP 400: refused"),
    ],
)  # fmt: skip
def test_status_meanings_on_a_delete(
    provider: Auth0Provider,
    auth0: FakeAuth0,
    status: int,
    body: Any,
    headers: dict[str, str],
    expected: OutcomeStatus,
    detail: str,
) -> None:
    alice = auth0.add_user("auth0|alice", "alice@example.test")
    auth0.add_session(alice)
    if headers.get("x-ratelimit-reset") == "EPOCH+9":
        headers = {**headers, "x-ratelimit-reset": str(int(time.time()) + 9)}
    auth0.fail("DELETE", r"/sessions$", status, body, headers)
    outcome = provider.execute(user_request(alice))
    assert (outcome.status, outcome.detail) == (expected, detail)
    assert outcome.subject == Subject("a0", "auth0|alice")
    if status == 429:
        assert outcome.retry_after is not None
        assert 7.0 <= outcome.retry_after <= 9.0


def test_a_tenant_without_the_enterprise_endpoints_is_named(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    auth0.enterprise = False
    auth0.add_user("auth0|alice", "alice@example.test")
    outcome = provider.execute(user_request("auth0|alice", Verb.REVOKE_REFRESH_TOKENS))
    assert outcome.status is OutcomeStatus.FAILED_PERMANENT
    assert "Enterprise plan" in outcome.detail
    assert "read:refresh_tokens" in outcome.detail


def test_a_non_json_answer_is_not_taken_for_auth0(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    auth0.add_user("auth0|alice", "alice@example.test")
    auth0.fail("GET", r"/sessions$", 200, "<html>login</html>")
    outcome = provider.execute(user_request("auth0|alice"))
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.FAILED_PERMANENT,
        "list sessions: the answer is not Auth0's JSON (wrong base_url?)",
    )


# ---- the M2M token --------------------------------------------------------------------------------------


def test_the_m2m_token_is_cached_and_renewed_before_it_expires(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    alice = auth0.add_user("auth0|alice", "alice@example.test")
    now = [1000.0]
    provider._clock = lambda: now[0]
    for _ in range(3):
        provider.execute(user_request(alice))
    assert auth0.tokens_issued == 1
    now[0] += 86400 - 61  # still more than a minute left
    provider.execute(user_request(alice))
    assert auth0.tokens_issued == 1
    now[0] += 2  # less than a minute left: renewed
    provider.execute(user_request(alice))
    assert auth0.tokens_issued == 2
    token_calls = [line for line in auth0.seen if line.startswith("POST /oauth/token")]
    assert len(token_calls) == 2


def test_a_401_fetches_one_fresh_token_and_tries_once_more(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    alice = auth0.add_user("auth0|alice", "alice@example.test")
    auth0.add_session(alice)
    assert provider.verify(user_request(alice)) is None  # a first token, now cached
    auth0.valid_tokens.clear()  # rotated signing keys, a revoked grant: Auth0 now refuses it
    outcome = provider.execute(user_request(alice))
    assert outcome.status is OutcomeStatus.REVOKED
    assert auth0.tokens_issued == 2
    auth0.fail("GET", r"/sessions$", 401, {"statusCode": 401, "error": "Unauthorized", "message": "Invalid token"},
               times=2)  # fmt: skip
    refused = provider.execute(user_request(alice))
    assert (refused.status, refused.detail) == (
        OutcomeStatus.FAILED_PERMANENT,
        "list sessions: HTTP 401: Auth0 refused a freshly issued Management API token (wrong audience?)",
    )
    assert auth0.tokens_issued == 3  # once more, not in a loop


@pytest.mark.parametrize(
    ("secret", "fail", "expected", "detail"),
    [
        ("wrong-secret", None, OutcomeStatus.FAILED_PERMANENT,
         f"get a Management API token: HTTP 401: client credentials refused for application {M2M_ID!r}"),
        (M2M_SECRET, (403, {"error": "access_denied", "error_description": "Client is not authorized"}),
         OutcomeStatus.FAILED_PERMANENT, f"get a Management API token: HTTP 403: application {M2M_ID!r} may not get "
         f"tokens for {AUDIENCE} (authorize it for the Auth0 Management API, or set audience to the canonical tenant "
         "domain's /api/v2/)"),
        (M2M_SECRET, (429, {"error": "too_many_requests", "error_description": "Rate limit"}),
         OutcomeStatus.FAILED_TRANSIENT, "get a Management API token: HTTP 429"),
    ],
)  # fmt: skip
def test_token_endpoint_refusals_are_named(
    monkeypatch: pytest.MonkeyPatch,
    auth0: FakeAuth0,
    secret: str,
    fail: tuple[int, Any] | None,
    expected: OutcomeStatus,
    detail: str,
) -> None:
    monkeypatch.setenv(SECRET_ENV, secret)
    if fail is not None:
        auth0.fail("POST", "/oauth/token", fail[0], fail[1], {"retry-after": "3"})
    plugin = make_provider()
    outcome = plugin.execute(user_request("auth0|alice"))
    assert (outcome.status, outcome.detail) == (expected, detail)
    assert mutating(auth0) == []
    assert_no_secret(outcome)
    plugin.close()


def test_threads_share_one_token_request(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    users = [auth0.add_user(f"auth0|u{n}", f"u{n}@example.test") for n in range(8)]
    for user in users:
        auth0.add_session(user)
    outcomes: list[Outcome] = []
    barrier = threading.Barrier(len(users))

    def run(user: User) -> None:
        barrier.wait()
        outcomes.append(provider.execute(user_request(user)))

    threads = [threading.Thread(target=run, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [o.status for o in outcomes] == [OutcomeStatus.REVOKED] * len(users)
    assert auth0.tokens_issued == 1


def test_a_custom_domain_asks_for_the_canonical_audience(monkeypatch: pytest.MonkeyPatch) -> None:
    custom = "https://login.example.test"
    fake = FakeAuth0()
    alice = fake.add_user("auth0|alice", "alice@example.test")
    fake.add_session(alice)
    monkeypatch.setenv(SECRET_ENV, M2M_SECRET)
    with respx.mock(base_url=custom, assert_all_mocked=True) as router:
        router.route().mock(side_effect=fake.handle)
        plugin = make_provider(build_client(custom), base_url=custom, audience=AUDIENCE, hosts=["login.example.test"])
        outcome = plugin.execute(user_request(alice))
        calls = [(call.request, call.optional_response) for call in router.calls]
    assert outcome.status is OutcomeStatus.REVOKED
    assert all(request.url.host == "login.example.test" for request, _ in calls)
    assert not check_calls(load_spec(custom), calls).errors
    custom_issuer = jwt_finding(Kind.ID_TOKEN, id_token(iss=custom + "/"))
    assert plugin.plan(custom_issuer) == (Target(Verb.END_SESSION, True, Subject("a0", "auth0|alice")),)
    plugin.close()


# ---- REVOKE_TOKEN -------------------------------------------------------------------------------------


def test_a_refresh_token_is_revoked_by_value(revoking: Auth0Provider, auth0: FakeAuth0) -> None:
    alice = auth0.add_user("auth0|alice", "alice@example.test")
    auth0.add_refresh_token(alice, value=LEAKED_RT)
    req = request(
        Verb.REVOKE_TOKEN, credential=LEAKED_RT, kind=Kind.REFRESH_TOKEN, subject=Subject("a0", alice.user_id)
    )
    outcome = revoking.execute(req)
    assert (outcome.status, outcome.subject) == (OutcomeStatus.REVOKED, Subject("a0", "auth0|alice"))
    assert outcome.detail.startswith(f"revocation accepted for application {APP_ID!r}")
    assert auth0.tokens_of(alice) == []
    assert auth0.seen == ["POST /oauth/revoke"]  # no Management API token needed
    assert revoking.verify(req) is None  # Auth0 has no introspection to ask
    assert_no_secret(outcome)


def test_revocation_by_value_needs_the_right_application(
    monkeypatch: pytest.MonkeyPatch, provider: Auth0Provider, auth0: FakeAuth0
) -> None:
    req = request(Verb.REVOKE_TOKEN, credential=LEAKED_RT, kind=Kind.REFRESH_TOKEN)
    assert provider.execute(req).status is OutcomeStatus.UNSUPPORTED
    monkeypatch.setenv(APP_SECRET_ENV, "wrong")
    wrong = make_provider(revoke_client_id=APP_ID, revoke_client_secret_env=APP_SECRET_ENV)
    outcome = wrong.execute(req)
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.FAILED_PERMANENT,
        f"revocation: HTTP 401: client credentials refused for application {APP_ID!r}",
    )
    assert wrong.execute(request(Verb.REVOKE_TOKEN)).detail == "revoke token: the leaked value is not available"
    wrong.close()


def test_an_unknown_verb_is_unsupported(provider: Auth0Provider) -> None:
    assert provider.execute(request(Verb.DELETE_API_TOKEN)).status is OutcomeStatus.UNSUPPORTED


# ---- dry run and resolve ------------------------------------------------------------------------------


def test_resolve_names_the_user_with_reads_only(revoking: Auth0Provider, auth0: FakeAuth0) -> None:
    alice = auth0.add_user("auth0|alice", "alice@example.test")
    sid = auth0.add_session(alice, "sess-alice")
    with dry_run():
        by_session = revoking.resolve(request(Verb.END_SESSION, credential=id_token(sid=sid), kind=Kind.ID_TOKEN))
        by_id = revoking.resolve(user_request(alice))
        unknown = revoking.resolve(user_request("auth0|ghost"))
        by_value = revoking.resolve(request(Verb.REVOKE_TOKEN, credential=LEAKED_RT, kind=Kind.REFRESH_TOKEN))
    assert by_session == by_id == Subject("a0", "auth0|alice", "alice@example.test")
    assert unknown == Subject("a0", "auth0|ghost")
    assert by_value is None
    assert mutating(auth0) == []


@pytest.mark.parametrize(
    "verb", [Verb.END_SESSION, Verb.END_ALL_SESSIONS, Verb.REVOKE_REFRESH_TOKENS, Verb.REVOKE_TOKEN]
)
def test_a_dry_run_client_makes_no_mutating_call(monkeypatch: pytest.MonkeyPatch, auth0: FakeAuth0, verb: str) -> None:
    monkeypatch.setenv(SECRET_ENV, M2M_SECRET)
    monkeypatch.setenv(APP_SECRET_ENV, APP_SECRET)
    alice = auth0.add_user("auth0|alice", "alice@example.test")
    sid = auth0.add_session(alice, "sess-alice")
    auth0.add_refresh_token(alice, sid, value=LEAKED_RT)
    rehearsing = build_client(BASE, always_dry_run=True)
    plugin = make_provider(rehearsing, revoke_client_id=APP_ID, revoke_client_secret_env=APP_SECRET_ENV)
    credential = id_token(sid=sid) if verb == Verb.END_SESSION else LEAKED_RT
    req = request(verb, credential=credential, subject=Subject("a0", alice.user_id))
    assert plugin.resolve(req) == Subject("a0", "auth0|alice", "alice@example.test")
    with pytest.raises(DryRunViolation):
        plugin.execute(req)
    assert mutating(auth0) == []
    assert (auth0.sessions_of(alice), len(auth0.tokens_of(alice))) == ([sid], 1)
    plugin.close()


# ---- check --------------------------------------------------------------------------------------------


def test_check_proves_credentials_scopes_and_endpoints(revoking: Auth0Provider, auth0: FakeAuth0) -> None:
    auth0.add_user("auth0|alice", "alice@example.test")
    result = revoking.check()
    assert (result.ok, result.detail) == (
        True,
        f"application {M2M_ID!r} may end sessions and refresh tokens; 1 user(s); refresh tokens are revoked as "
        f"application {APP_ID!r}",
    )
    assert mutating(auth0) == ["POST /oauth/revoke"]  # a made-up value: nothing to revoke
    # `responder providers check` builds every client with the dry-run guard on: the check still gets through.
    rehearsing = make_provider(
        build_client(BASE, always_dry_run=True), revoke_client_id=APP_ID, revoke_client_secret_env=APP_SECRET_ENV
    )
    assert rehearsing.check() == result
    rehearsing.close()


@pytest.mark.parametrize(
    ("setup", "detail"),
    [
        (lambda f: f.fail("POST", "/oauth/token", 0),
         f"cannot reach {BASE}/oauth/token: ConnectError (wrong base_url?)"),
        (lambda f: f.fail("POST", "/oauth/token", 404, "<html>no</html>"),
         "get a Management API token: HTTP 404: refused (is base_url the tenant's domain?)"),
        (lambda f: f.fail("POST", "/oauth/token", 200, "<html>login</html>"),
         "get a Management API token: the answer is not Auth0's JSON (wrong base_url?)"),
        (lambda f: f.scopes.difference_update({"read:sessions", "delete:refresh_tokens"}),
         f"application {M2M_ID!r} got a Management API token, but: missing scope read:sessions, delete:refresh_tokens"),
        (lambda f: setattr(f, "enterprise", False),
         f"application {M2M_ID!r} got a Management API token, but: GET /api/v2/sessions/{{id}}: HTTP 403: the tenant "
         "does not offer this endpoint (session and refresh-token management need an Auth0 Enterprise plan); needs "
         "read:sessions"),
        (lambda f: f.fail("GET", "/api/v2/users$", 403, SCOPE_REFUSAL),
         f"application {M2M_ID!r} got a Management API token, but: GET /api/v2/users: HTTP 403: responder's "
         "application lacks the scope read:users"),
    ],
    ids=["unreachable", "not-auth0-404", "not-auth0-html", "missing-scopes", "plan", "refused-read"],
)  # fmt: skip
def test_check_says_exactly_what_is_wrong(provider: Auth0Provider, auth0: FakeAuth0, setup: Any, detail: str) -> None:
    setup(auth0)
    result = provider.check()
    assert (result.ok, result.detail) == (False, detail)
    assert_no_secret(result)


def test_check_names_bad_credentials_and_a_refused_revoking_application(
    monkeypatch: pytest.MonkeyPatch, auth0: FakeAuth0
) -> None:
    monkeypatch.setenv(SECRET_ENV, "wrong")
    assert make_provider().check().detail == (
        f"get a Management API token: HTTP 401: client credentials refused for application {M2M_ID!r}"
    )
    monkeypatch.setenv(SECRET_ENV, M2M_SECRET)
    monkeypatch.setenv(APP_SECRET_ENV, "wrong")
    result = make_provider(revoke_client_id=APP_ID, revoke_client_secret_env=APP_SECRET_ENV).check()
    assert (result.ok, result.detail) == (
        False,
        f"application {M2M_ID!r} got a Management API token, but: client credentials refused for application "
        f"{APP_ID!r}",
    )


def test_check_notes_a_tenant_too_big_for_panic_on_everyone(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    for n in range(1001):
        auth0.add_user(f"auth0|u{n:04d}", f"u{n}@example.test")
    auth0.scopes.discard("read:roles")
    result = provider.check()
    assert result.ok
    assert result.detail.endswith(
        "1000 user(s) (panic on all users is refused: Auth0 lists at most 1000; panic by role); panic by role needs "
        "read:roles"
    )


# ---- directory (panic) --------------------------------------------------------------------------------


def test_find_user_by_id_email_and_username(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    auth0.add_user("auth0|alice", "alice@example.test", username="alice")
    auth0.add_user("google-oauth2|1234", "bob@example.test")
    alice = Subject("a0", "auth0|alice", "alice@example.test")
    assert provider.find_user("auth0|alice") == alice
    assert provider.find_user(" Alice@Example.test ") == alice  # Auth0 keeps database users' emails lower case
    assert provider.find_user("alice") == alice
    assert provider.find_user("google-oauth2|1234") == Subject("a0", "google-oauth2|1234", "bob@example.test")
    assert provider.find_user("auth0|ghost") is None
    assert provider.find_user("ghost@example.test") is None
    assert provider.find_user('gh"ost') is None
    assert "GET /api/v2/users?q=username%3A%22alice%22&search_engine=v3&per_page=2&fields=user_id%2Cemail%2C" \
           "username%2Cname%2Cblocked&include_fields=true" in auth0.seen  # fmt: skip
    with pytest.raises(DirectoryError, match="empty"):
        provider.find_user("  ")


def test_find_user_never_guesses_between_two(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    auth0.add_user("auth0|carol", "carol@example.test")
    auth0.add_user("google-oauth2|99", "carol@example.test")
    with pytest.raises(DirectoryError, match=r"several Auth0 users have the email .* name one by user_id"):
        provider.find_user("carol@example.test")


def test_role_members_across_checkpoint_pages(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    members = [auth0.add_user(f"auth0|m{n:03d}", f"m{n}@example.test") for n in range(250)]
    auth0.add_role("rol_Admins0000000001", "Admins", members)
    auth0.add_role("rol_Admins0000000002", "Admins-readonly", members[:3])
    found = list(provider.group_members("Admins"))
    assert [s.user_id for s in found] == [m.user_id for m in members]
    assert found[0] == Subject("a0", "auth0|m000", "m0@example.test")
    pages = [line for line in auth0.seen if "/users?take=100" in line]
    assert len(pages) == 3
    assert "&from=" in pages[1]
    by_id = list(provider.group_members("rol_Admins0000000002"))
    assert [s.user_id for s in by_id] == ["auth0|m000", "auth0|m001", "auth0|m002"]
    assert [s.user_id for s in provider.group_members("admins-READONLY")] == [s.user_id for s in by_id]


def test_auth0_has_no_groups_only_roles(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    auth0.add_role("rol_1", "Support")
    auth0.add_role("rol_2", "support")
    with pytest.raises(DirectoryError, match="Auth0 has no groups, and no role is named 'Engineering'"):
        list(provider.group_members("Engineering"))
    assert list(provider.group_members("Support")) == []  # the exact name wins over the other case
    auth0.roles["rol_3"] = ("SUPPORT", [])
    with pytest.raises(DirectoryError, match="several Auth0 roles are named 'SuPPort'"):
        list(provider.group_members(" SuPPort "))  # no exact match; three match in any case
    auth0.scopes.discard("read:roles")
    with pytest.raises(DirectoryError, match="lacks the scope read:roles"):
        list(provider.group_members("Support"))


def test_a_cursor_is_only_ever_sent_back_to_the_tenant(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    """Auth0 pages by opaque cursors, not links: whatever `next` holds, only base_url is called with it."""
    member = auth0.add_user("auth0|m1", "m1@example.test")
    auth0.add_role("rol_1", "Ops", [member])
    evil = "https://evil.example.test/steal"
    page = {"users": [{"user_id": "auth0|m1", "email": "m1@example.test"}], "next": evil}
    auth0.fail("GET", r"/roles/rol_1/users$", 200, page)
    auth0.fail("GET", r"/roles/rol_1/users$", 200, page)
    with pytest.raises(DirectoryError, match="same page cursor twice"):
        list(provider.group_members("Ops"))
    assert any("from=https%3A%2F%2Fevil.example.test%2Fsteal" in line for line in auth0.seen)
    with pytest.raises(AllMockedAssertionError):
        httpx.get(evil)


def test_all_users_across_pages_skips_blocked_users(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    for n in range(230):
        auth0.add_user(f"auth0|u{n:03d}", f"u{n}@example.test", blocked=n % 10 == 0)
    found = list(provider.all_users())
    assert len(found) == 207
    assert all(not s.user_id.endswith("0") for s in found)
    assert [line.split("page=")[1].split("&")[0] for line in auth0.seen if "/api/v2/users?" in line] == ["0", "1", "2"]


def test_all_users_refuses_a_tenant_beyond_the_search_limit(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    for n in range(1200):
        auth0.add_user(f"auth0|u{n:04d}", f"u{n}@example.test")
    with pytest.raises(DirectoryError, match=r"Auth0 lists at most 1000 users .* panic by role"):
        next(provider.all_users())
    assert len([line for line in auth0.seen if line.startswith("GET /api/v2/users")]) == 1


def test_directory_refusals_are_directory_errors(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    auth0.scopes.discard("read:users")
    with pytest.raises(DirectoryError, match="lacks the scope read:users") as raised:
        list(provider.all_users())
    with pytest.raises(DirectoryError, match="lacks the scope read:users"):
        provider.find_user("a@example.test")
    auth0.scopes.add("read:users")
    auth0.fail("GET", "/api/v2/users$", 429, {"statusCode": 429, "error": "Too Many Requests", "message": "slow"})
    with pytest.raises(DirectoryError, match="HTTP 429"):
        list(provider.all_users())
    assert_no_secret(raised.value)


# ---- secrets never show -------------------------------------------------------------------------------


def test_no_secret_reaches_an_outcome_a_check_an_error_or_a_log(
    monkeypatch: pytest.MonkeyPatch,
    auth0: FakeAuth0,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(SECRET_ENV, M2M_SECRET)
    monkeypatch.setenv(APP_SECRET_ENV, "wrong-" + APP_SECRET)
    plugin = make_provider(revoke_client_id=APP_ID, revoke_client_secret_env=APP_SECRET_ENV)
    alice = auth0.add_user("auth0|alice", "alice@example.test")
    sid = auth0.add_session(alice, "sess-alice")
    leaked_id_token = id_token(sid=sid)
    texts: list[object] = [plugin.check(), repr(plugin)]
    for req in (
        request(Verb.REVOKE_TOKEN, credential=LEAKED_RT, kind=Kind.REFRESH_TOKEN),
        request(Verb.END_SESSION, credential=leaked_id_token, kind=Kind.ID_TOKEN),
        user_request(alice),
        user_request(alice, Verb.REVOKE_REFRESH_TOKENS),
    ):
        texts += [plugin.execute(req), plugin.verify(req), plugin.resolve(req), repr(req)]
    auth0.fail("GET", "/api/v2/users$", 503)
    with pytest.raises(DirectoryError) as raised:
        list(plugin.all_users())
    texts += [raised.value, caplog.text, capsys.readouterr()]
    assert_no_secret(*texts)
    for text in texts:
        assert leaked_id_token not in repr(text)
    plugin.close()


def test_only_the_configured_host_is_ever_called(provider: Auth0Provider, auth0: FakeAuth0) -> None:
    alice = auth0.add_user("auth0|alice", "alice@example.test")
    auth0.add_session(alice)
    provider.execute(user_request(alice))
    assert auth0.seen  # every one went through the respx route bound to BASE
    with pytest.raises(AllMockedAssertionError):
        httpx.get("https://elsewhere.example.test/")


# ---- the contract check itself ------------------------------------------------------------------------


def _call(method: str, path: str, *, bearer: bool = True, **kwargs: Any) -> httpx.Request:
    headers = {"Authorization": "Bearer t"} if bearer else {}
    return httpx.Request(method, BASE + path, headers=headers, **kwargs)


def test_the_contract_check_rejects_wrong_requests_and_fixtures(auth0_spec: OpenAPI) -> None:
    wrong = [
        (_call("GET", "/api/v2/users/auth0%7Ca/sessions?take=500"), None),  # take is at most 100
        (_call("POST", "/api/v2/sessions/" + "s" * 51 + "/revoke"), None),  # ids are at most 50 characters
        (_call("GET", "/api/v2/users-by-email"), None),  # email is required
        (_call("GET", "/api/v2/users/auth0%7Ca?fields=password"), None),  # not a user field
        (_call("GET", "/api/v2/users?search_engine=v4"), None),
        (_call("GET", "/api/v2/sessions/s1", bearer=False), None),  # the Management API needs a bearer token
        (_call("PUT", "/api/v2/sessions/s1"), None),  # no such operation
        (_call("GET", "/api/v2/sessionz/s1"), None),  # no such path
        (_call("POST", "/oauth/token", bearer=False, json={"client_id": "c"}), None),  # grant_type is required
        (_call("POST", "/oauth/revoke", bearer=False, json={"client_id": "c"}), None),  # token is required
        (_call("GET", "/api/v2/sessions/s1"), httpx.Response(200, json={"id": 5})),  # id is a string
        (_call("GET", "/api/v2/roles"), httpx.Response(200, json=[{"id": "r", "extra": 1}])),  # roles are closed
    ]
    report = check_calls(auth0_spec, wrong)
    assert len(report.errors) == len(wrong), report.errors
    assert report.checked_responses == 0


def test_the_contract_check_accepts_and_lists_its_skips(auth0_spec: OpenAPI) -> None:
    token_body = {"grant_type": "client_credentials", "client_id": "c", "client_secret": "s", "audience": AUDIENCE}
    right = [
        (_call("POST", "/oauth/token", bearer=False, json=token_body),
         httpx.Response(200, json={"access_token": "a", "token_type": "Bearer", "expires_in": 86400, "scope": "x"})),
        (_call("DELETE", "/api/v2/users/auth0%7Ca/sessions"), httpx.Response(202)),
        (_call("GET", "/api/v2/roles/rol_1/users?take=100"), httpx.Response(200, json={"users": []})),
        (_call("GET", "/api/v2/sessions/s1"), httpx.Response(500)),
        (_call("GET", "/api/v2/users"), httpx.Response(200, text="<html/>", headers={NOT_AUTH0: "1"})),
    ]  # fmt: skip
    report = check_calls(auth0_spec, right)
    assert report.errors == []
    assert (report.checked_requests, report.checked_responses) == (5, 3)
    assert report.skipped == [
        "GET /api/v2/sessions/s1: HTTP 500 is not declared",
        "GET /api/v2/users: HTTP 200 deliberately not Auth0's answer",
    ]
