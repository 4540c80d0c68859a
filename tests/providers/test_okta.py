"""The Okta plugin against a spec-shaped fake org (respx). Every request these tests send, and every fixture the
fake serves for a declared status, is checked against Okta's OpenAPI documents by the `okta` fixture."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import jwt
import pytest
import respx

from providers.okta import CLEAR_SESSIONS, MANAGE_SESSIONS, READ_GROUPS, READ_USERS, OktaProvider
from responder.errors import ConfigError, DirectoryError
from responder.http import DryRunViolation, build_client
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
from responder.secret import Secret
from tests.conftest import require_peer
from tests.providers.okta_contract import (
    BASE,
    CLIENT_ID,
    CLIENT_SECRET,
    NOT_OKTA,
    RESPONDER_TOKEN,
    FakeOkta,
    OAuthToken,
    OktaSpecs,
    User,
    check_calls,
    load_specs,
    okta_error,
    specs_available,
    user_id,
)

HOST = "sso.acme.test"
LEAKED_TOKEN = "00" + "L" * 22 + "leaked-api-canary0"  # SSWS shape: 00 + 40
IDX = "102" + "i" * 30 + "idx-cookie-canary"
SID = "102sidCANARYsession0"
REFRESH = "R" * 20 + "refresh-canary-value" + "R" * 10
OTHER_CLIENT = "0oa2spaBBBBBBBBBBBBB"
AS_DEFAULT = "/oauth2/default/v1"
SECRETS = (RESPONDER_TOKEN, CLIENT_SECRET, LEAKED_TOKEN, IDX, SID, REFRESH)


# ---- fixtures and builders ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def okta_specs() -> OktaSpecs:
    require_peer(specs_available(), "Okta OpenAPI documents not found under shared/specs/okta")
    return load_specs()


@pytest.fixture
def okta(okta_specs: OktaSpecs) -> Iterator[FakeOkta]:
    """The fake behind respx (any other host is refused), and the contract check of everything it saw."""
    fake = FakeOkta()
    with respx.mock(base_url=BASE, assert_all_called=False, assert_all_mocked=True) as router:
        router.route().mock(side_effect=fake.handle)
        yield fake
        calls = [(call.request, call.optional_response) for call in router.calls]
    assert len(calls) == fake.answered, "the contract check must see every request the fake answered"
    report = check_calls(okta_specs, calls)
    assert not report.errors, "contract violations:\n" + "\n".join(report.errors)
    assert report.checked_requests == len(calls)


def make_provider(*, dry: bool = False, **extra: Any) -> OktaProvider:
    table = {"name": "okta", "plugin": "okta", "base_url": BASE, "token_env": "RESPONDER_TEST_OKTA_TOKEN", **extra}
    return OktaProvider.from_config(table, build_client(BASE, always_dry_run=dry))


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch, okta: FakeOkta) -> Iterator[OktaProvider]:
    monkeypatch.setenv("RESPONDER_TEST_OKTA_TOKEN", RESPONDER_TOKEN)
    plugin = make_provider()
    yield plugin
    plugin.close()


@pytest.fixture
def oauth_provider(monkeypatch: pytest.MonkeyPatch, okta: FakeOkta) -> Iterator[OktaProvider]:
    monkeypatch.setenv("RESPONDER_TEST_OKTA_TOKEN", RESPONDER_TOKEN)
    monkeypatch.setenv("RESPONDER_TEST_OKTA_SECRET", CLIENT_SECRET)
    plugin = make_provider(
        client_id=CLIENT_ID, client_secret_env="RESPONDER_TEST_OKTA_SECRET", authorization_server="default"
    )
    yield plugin
    plugin.close()


def finding(
    kind: Kind, value: str, *, name: str = "authorization", where: Field = Field.HEADER, label: str = "test"
) -> Finding:
    return Finding(
        fingerprint=hashlib.sha256(value.encode()).hexdigest(),
        kind=kind,
        detector="test",
        label=label,
        revocable=True,
        provider=ProviderRef(Family.OKTA, "okta"),
        claims={},
        expires_at=None,
        locations=(Location(where, name, host=HOST),),
        value=Secret(value),
    )


def cookie(name: str, value: str) -> Finding:
    return finding(Kind.SESSION_COOKIE, value, name=name, where=Field.COOKIE)


def token_jwt(claims: dict[str, Any]) -> str:
    return jwt.encode({"ver": 1, "iat": 1767225600, "exp": 4102444800, **claims}, "k" * 32, "HS256")


def access_token(user: User | None, *, cid: str = CLIENT_ID, server: str = "default", host: str = HOST) -> str:
    """An Okta access token: `uid` is the user id, `sub` the login (the client id for client credentials)."""
    issuer = f"https://{host}" + (f"/oauth2/{server}" if server != "org" else "")
    claims: dict[str, Any] = {"jti": "AT.x", "iss": issuer, "aud": "api://default", "cid": cid, "scp": ["openid"]}
    claims.update({"uid": user.id, "sub": user.login} if user else {"sub": cid})
    return token_jwt(claims)


def id_token(user: User, *, host: str = HOST) -> str:
    return token_jwt({"iss": f"https://{host}/oauth2/default", "aud": OTHER_CLIENT, "sub": user.id})


def request(
    verb: str, *, subject: Subject | None = None, credential: str | None = None, kind: Kind | None = None
) -> ActionRequest:
    return ActionRequest(
        action_id="action-1",
        provider="okta",
        verb=verb,
        fingerprint="fp",
        kind=kind,
        subject=subject,
        credential=Secret(credential) if credential is not None else None,
    )


def end_all(user: User) -> ActionRequest:
    return request(Verb.END_ALL_SESSIONS, subject=Subject("okta", user.id))


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in repr(text)


ALICE = User(user_id(1), "alice@acme.test")
BOB = User(user_id(2), "bob@acme.test")


# ---- settings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"token_env": None}, "set token_file or token_env"),
        ({"token": "a"}, "not several"),
        ({"base_url": f"{BASE}/api/v1"}, "without /api/v1"),
        ({"base_url": "sso.acme.test"}, "Okta org's URL"),
        ({"client_secret_env": "X"}, "set client_id too"),
        ({"authorization_server": "default"}, "set client_id too"),
        ({"client_id": CLIENT_ID, "authorization_server": "../x"}, "custom authorization server's id"),
        ({"tokn": "typo"}, "tokn"),
        ({"token_env": "RESPONDER_TEST_OKTA_UNSET"}, "is not set"),
    ],
)
def test_settings_errors_name_the_key(monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], problem: str) -> None:
    monkeypatch.setenv("RESPONDER_TEST_OKTA_TOKEN", RESPONDER_TOKEN)
    monkeypatch.delenv("RESPONDER_TEST_OKTA_UNSET", raising=False)
    table = {"name": "okta", "plugin": "okta", "base_url": BASE, "token_env": "RESPONDER_TEST_OKTA_TOKEN", **extra}
    table = {key: value for key, value in table.items() if value is not None}
    with pytest.raises(ConfigError, match=problem.replace("(", r"\(")) as raised:
        OktaProvider.from_config(table, build_client(BASE))
    assert RESPONDER_TOKEN not in str(raised.value)


def test_token_from_a_file_with_the_ssws_prefix(tmp_path: Any, okta: FakeOkta) -> None:
    path = tmp_path / "okta-token"
    path.write_text(f"SSWS {RESPONDER_TOKEN}\n")
    table = {"name": "okta", "plugin": "okta", "base_url": BASE + "/", "token_file": str(path)}
    plugin = OktaProvider.from_config(table, build_client(BASE))
    assert plugin.check().ok  # the prefix an operator copied along is not sent twice
    plugin.close()


# ---- claims and plan (no I/O) -------------------------------------------------------------------------


def test_claims_only_its_own_instance(provider: OktaProvider) -> None:
    assert provider.claims(cookie("sid", SID))
    other = replace(cookie("sid", SID), provider=ProviderRef(Family.OKTA, "other"))
    assert not provider.claims(other)


def test_a_classic_sid_cookie_is_ended_by_its_id(provider: OktaProvider, okta: FakeOkta) -> None:
    assert provider.plan(cookie("sid", SID)) == (Target(Verb.END_SESSION, uses_credential=True),)
    evidence = [finding(Kind.ID_TOKEN, id_token(ALICE))]
    assert provider.plan(cookie("sid", SID), evidence) == (Target(Verb.END_SESSION, True, Subject("okta", ALICE.id)),)
    assert okta.seen == []


def test_an_idx_cookie_ends_its_users_sessions(provider: OktaProvider) -> None:
    idx = cookie("idx", IDX)
    # The cookie itself can name its user (a read at execution), so it is kept even without evidence.
    assert provider.plan(idx) == (Target(Verb.END_ALL_SESSIONS, uses_credential=True),)
    by_id_token = [finding(Kind.ID_TOKEN, id_token(ALICE))]
    by_access_token = [finding(Kind.ACCESS_TOKEN, access_token(ALICE, cid=OTHER_CLIENT))]
    expected = (Target(Verb.END_ALL_SESSIONS, True, Subject("okta", ALICE.id)),)
    assert provider.plan(idx, by_id_token) == provider.plan(idx, by_access_token) == expected
    two_users = [*by_id_token, finding(Kind.ID_TOKEN, id_token(BOB))]
    foreign = [finding(Kind.ID_TOKEN, id_token(ALICE, host="other.okta.test"))]
    assert provider.plan(idx, two_users) == provider.plan(idx, foreign) == (Target(Verb.END_ALL_SESSIONS, True),)


def test_cookies_no_api_maps_are_not_planned(provider: OktaProvider) -> None:
    assert provider.plan(cookie("JSESSIONID", "A" * 32)) == ()
    header = finding(Kind.SESSION_COOKIE, "s" * 20, name="x_okta_session_id")
    assert provider.plan(header) == ()
    assert provider.plan(finding(Kind.ID_TOKEN, id_token(ALICE))) == ()


def test_an_ssws_api_token_is_deleted(provider: OktaProvider) -> None:
    expected = (Target(Verb.DELETE_API_TOKEN, uses_credential=True),)
    assert provider.plan(finding(Kind.API_KEY, LEAKED_TOKEN)) == expected
    assert provider.plan(finding(Kind.API_KEY, "custom-format-key", label="Okta API token (SSWS)")) == expected
    assert provider.plan(finding(Kind.API_KEY, "k" * 32, name="x_api_key", label="API key header")) == ()


def test_access_tokens_of_responders_client_are_revoked(oauth_provider: OktaProvider) -> None:
    mine = finding(Kind.ACCESS_TOKEN, access_token(ALICE))
    assert oauth_provider.plan(mine) == (Target(Verb.REVOKE_TOKEN, True, Subject("okta", ALICE.id)),)
    machine = finding(Kind.ACCESS_TOKEN, access_token(None))  # client credentials: no user
    assert oauth_provider.plan(machine) == (Target(Verb.REVOKE_TOKEN, True, None),)


def test_other_clients_tokens_end_their_users_sessions(oauth_provider: OktaProvider, provider: OktaProvider) -> None:
    theirs = finding(Kind.ACCESS_TOKEN, access_token(ALICE, cid=OTHER_CLIENT, server="org"))
    expected = (Target(Verb.END_ALL_SESSIONS, False, Subject("okta", ALICE.id)),)
    assert oauth_provider.plan(theirs) == provider.plan(theirs) == expected
    assert provider.plan(finding(Kind.ACCESS_TOKEN, access_token(ALICE))) == expected  # no client configured
    assert oauth_provider.plan(finding(Kind.ACCESS_TOKEN, access_token(None, cid=OTHER_CLIENT))) == ()
    foreign = finding(Kind.JWT, access_token(ALICE, host="acme.okta.test"))
    assert oauth_provider.plan(foreign) == ()  # not an issuer of this org: never called, never acted on


def test_opaque_refresh_tokens(oauth_provider: OktaProvider, provider: OktaProvider) -> None:
    refresh = finding(Kind.REFRESH_TOKEN, REFRESH)
    same_response = [finding(Kind.ACCESS_TOKEN, access_token(ALICE))]
    assert oauth_provider.plan(refresh, same_response) == (Target(Verb.REVOKE_TOKEN, True, Subject("okta", ALICE.id)),)
    other_client = [finding(Kind.ACCESS_TOKEN, access_token(ALICE, cid=OTHER_CLIENT))]
    expected = (Target(Verb.END_ALL_SESSIONS, False, Subject("okta", ALICE.id)),)
    assert oauth_provider.plan(refresh, other_client) == provider.plan(refresh, same_response) == expected
    # Ending the user's sessions would end it, but nothing says whose it is: needs_subject for the planner.
    assert provider.plan(refresh) == (Target(Verb.END_ALL_SESSIONS, uses_credential=False, subject=None),)
    assert provider.plan(finding(Kind.ACCESS_TOKEN, "opaque-bearer-value")) == ()


# ---- end_all_sessions ---------------------------------------------------------------------------------


def test_a_panic_costs_one_call_per_user(provider: OktaProvider, okta: FakeOkta) -> None:
    users = [okta.add_user(n, f"user{n}@acme.test") for n in range(1, 51)]
    for number, user in enumerate(users):
        okta.sessions[f"sid-{number}"] = user.id
        okta.oauth[f"rt-{number}"] = OAuthToken(CLIENT_ID, AS_DEFAULT, user, "refresh_token")
    outcomes = []
    for user in users:
        req = end_all(user)
        assert provider.resolve(req) == req.subject  # a known subject costs no call
        outcomes.append(provider.execute(req))
        assert provider.verify(req) is None  # Okta cannot list a user's sessions: no call
    assert {o.status for o in outcomes} == {OutcomeStatus.REVOKED}
    assert outcomes[0].detail == "ended every Okta session of the user and revoked their OAuth tokens"
    assert outcomes[0].subject == Subject("okta", users[0].id)
    assert okta.seen == [f"DELETE /api/v1/users/{user.id}/sessions?oauthTokens=true" for user in users]
    assert okta.sessions == {}
    assert okta.oauth == {}


def test_forget_devices_is_sent_only_when_configured(monkeypatch: pytest.MonkeyPatch, okta: FakeOkta) -> None:
    monkeypatch.setenv("RESPONDER_TEST_OKTA_TOKEN", RESPONDER_TOKEN)
    alice = okta.add_user(1, ALICE.login)
    plugin = make_provider(forget_devices=False)
    assert plugin.execute(end_all(alice)).status is OutcomeStatus.REVOKED
    assert okta.cleared == [(alice.id, {"oauthTokens": "true", "forgetDevices": "false"})]
    plugin.close()


def test_an_idx_cookie_names_its_own_user(provider: OktaProvider, okta: FakeOkta) -> None:
    alice, bob = okta.add_user(1, ALICE.login), okta.add_user(2, BOB.login)
    okta.idx[IDX] = bob.id
    okta.idx["another-of-bob"] = bob.id
    okta.sessions[SID] = alice.id
    req = request(
        Verb.END_ALL_SESSIONS, kind=Kind.SESSION_COOKIE, credential=IDX, subject=Subject("okta", alice.id)
    )  # evidence said alice
    assert provider.verify(req) is False  # live before
    outcome = provider.execute(req)
    assert outcome.status is OutcomeStatus.REVOKED
    assert outcome.subject == Subject("okta", bob.id, bob.login)
    assert outcome.detail.endswith("(the cookie's own user; the artifact's other tokens named another)")
    assert okta.live_sessions(bob) == 0
    assert okta.live_sessions(alice) == 1
    assert okta.seen[:2] == ["GET /api/v1/users/me", "GET /api/v1/users/me"]
    assert provider.verify(req) is True
    assert_no_secret(outcome)


def test_a_dead_idx_cookie(provider: OktaProvider, okta: FakeOkta) -> None:
    alice = okta.add_user(1, ALICE.login)
    okta.sessions[SID] = alice.id
    nobody = provider.execute(request(Verb.END_ALL_SESSIONS, kind=Kind.SESSION_COOKIE, credential=IDX))
    assert nobody.status is OutcomeStatus.ALREADY_INVALID
    assert nobody.detail.startswith("the idx cookie signs no one in at Okta any more")
    assert not any(line.startswith("DELETE") for line in okta.seen)
    # With evidence of whose it was, the user's sessions are ended anyway (the cookie may be bound elsewhere).
    evidenced = provider.execute(
        request(Verb.END_ALL_SESSIONS, kind=Kind.SESSION_COOKIE, credential=IDX, subject=Subject("okta", alice.id))
    )
    assert evidenced.status is OutcomeStatus.REVOKED
    assert okta.sessions == {}


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "detail"),
    [
        (401, okta_error("E0000011", "Invalid token provided"), {}, OutcomeStatus.FAILED_PERMANENT,
         "end sessions: HTTP 401 E0000011: responder's API token was refused (invalid, expired or revoked)"),
        (403, okta_error("E0000006", "You do not have permission to perform the requested action"), {},
         OutcomeStatus.FAILED_PERMANENT,
         f"end sessions: HTTP 403 E0000006: responder lacks the permission {CLEAR_SESSIONS}"),
        (404, okta_error("E0000007", "Not found: Resource not found: x (User)"), {}, OutcomeStatus.FAILED_PERMANENT,
         f"end sessions: HTTP 404 E0000007: no Okta user has the id {user_id(1)} (deleted, or a user of another org)"),
        (429, okta_error("E0000047", "API call exceeded rate limit due to too many requests."),
         {"x-rate-limit-limit": "600", "x-rate-limit-remaining": "0", "x-rate-limit-reset": "+30"},
         OutcomeStatus.FAILED_TRANSIENT, "end sessions: HTTP 429 E0000047"),
        (500, okta_error("E0000009", "Internal Server Error"), {}, OutcomeStatus.FAILED_TRANSIENT,
         "end sessions: HTTP 500 E0000009"),
        (503, None, {"Retry-After": "7"}, OutcomeStatus.FAILED_TRANSIENT, "end sessions: HTTP 503"),
        (404, "<html>Not Found</html>", {NOT_OKTA: "1"}, OutcomeStatus.FAILED_PERMANENT,
         "end sessions: HTTP 404: not Okta's answer (is base_url the Okta org's URL?)"),
    ],
)  # fmt: skip
def test_status_meanings_when_ending_sessions(
    provider: OktaProvider,
    okta: FakeOkta,
    status: int,
    body: Any,
    headers: dict[str, str],
    expected: OutcomeStatus,
    detail: str,
) -> None:
    alice = okta.add_user(1, ALICE.login)
    if headers.get("x-rate-limit-reset") == "+30":  # epoch seconds, as Okta sends them
        headers = {**headers, "x-rate-limit-reset": str(int(time.time()) + 30)}
    okta.fail("DELETE", "/sessions$", status, body, headers)
    outcome = provider.execute(end_all(alice))
    assert (outcome.status, outcome.detail) == (expected, detail)
    assert outcome.subject == Subject("okta", alice.id)
    assert outcome.provider_request_id.startswith("req-")
    if status == 429:
        assert outcome.retry_after is not None
        assert 25 <= outcome.retry_after <= 31
    if status == 503:
        assert outcome.retry_after == 7.0


def test_a_refused_connection_is_an_exception_for_the_engine(provider: OktaProvider, okta: FakeOkta) -> None:
    okta.fail("DELETE", "/sessions$", 0)
    with pytest.raises(httpx.ConnectError):  # the engine maps transport errors to failed_transient
        provider.execute(end_all(ALICE))


@pytest.mark.parametrize(
    ("req", "path", "step"),
    [
        (
            request(Verb.END_ALL_SESSIONS, kind=Kind.SESSION_COOKIE, credential=IDX),
            "/users/me$",
            "find the cookie's user",
        ),
        (request(Verb.END_SESSION, kind=Kind.SESSION_COOKIE, credential=SID), "/sessions/", "read the session"),
        (request(Verb.DELETE_API_TOKEN, credential=LEAKED_TOKEN), "/users/me$", "find the token's owner"),
    ],
    ids=["idx", "sid", "api-token"],
)
def test_an_answer_that_is_not_oktas_json(
    provider: OktaProvider, okta: FakeOkta, req: ActionRequest, path: str, step: str
) -> None:
    okta.fail("GET", path, 200, "<html>Sign in</html>", {NOT_OKTA: "1"})
    outcome = provider.execute(req)
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.FAILED_PERMANENT,
        f"{step}: the answer is not Okta's JSON (wrong base_url?)",
    )
    assert not [line for line in okta.seen if line.startswith("DELETE")]


def test_end_all_sessions_needs_a_user(provider: OktaProvider, okta: FakeOkta) -> None:
    outcome = provider.execute(request(Verb.END_ALL_SESSIONS))
    assert (outcome.status, okta.seen) == (OutcomeStatus.FAILED_PERMANENT, [])


# ---- end_session (Classic sid) ------------------------------------------------------------------------


def test_a_classic_session_is_read_then_deleted(provider: OktaProvider, okta: FakeOkta) -> None:
    alice = okta.add_user(1, ALICE.login)
    okta.sessions[SID] = alice.id
    okta.sessions["other-session-of-alice"] = alice.id
    req = request(Verb.END_SESSION, kind=Kind.SESSION_COOKIE, credential=SID)
    assert provider.verify(req) is False
    outcome = provider.execute(req)
    assert (outcome.status, outcome.detail) == (OutcomeStatus.REVOKED, f"ended the session of {alice.login}")
    assert outcome.subject == Subject("okta", alice.id, alice.login)
    assert list(okta.sessions) == ["other-session-of-alice"]  # only the leaked one
    assert provider.verify(req) is True
    again = provider.execute(req)
    assert (again.status, again.detail) == (OutcomeStatus.ALREADY_INVALID, "the session no longer exists at Okta")
    assert_no_secret(outcome, again)


def test_a_sid_okta_knows_no_session_by_is_checked_with_the_cookie(provider: OktaProvider, okta: FakeOkta) -> None:
    alice = okta.add_user(1, ALICE.login)
    okta.unaddressed[SID] = alice.id  # Identity Engine: the sid still signs in, the Sessions API knows no such id
    okta.idx["another-of-alice"] = alice.id
    req = request(Verb.END_SESSION, kind=Kind.SESSION_COOKIE, credential=SID)
    assert provider.resolve(req) == Subject("okta", alice.id, alice.login)
    assert provider.verify(req) is False
    okta.seen.clear()
    outcome = provider.execute(req)
    assert outcome.status is OutcomeStatus.REVOKED
    assert outcome.detail.endswith(
        "(the sid cookie still signed in, but Okta knows no session by its id: Identity Engine)"
    )
    assert okta.seen == [
        f"GET /api/v1/sessions/{SID}",
        "GET /api/v1/users/me",
        f"DELETE /api/v1/users/{alice.id}/sessions?oauthTokens=true",
    ]
    assert okta.live_sessions(alice) == 0
    assert provider.verify(req) is True
    assert provider.execute(req).status is OutcomeStatus.ALREADY_INVALID


def test_only_a_session_cookie_is_ever_sent_as_a_cookie(provider: OktaProvider, okta: FakeOkta) -> None:
    alice = okta.add_user(1, ALICE.login)
    req = request(Verb.END_ALL_SESSIONS, credential=REFRESH, kind=Kind.REFRESH_TOKEN, subject=Subject("okta", alice.id))
    assert provider.execute(req).status is OutcomeStatus.REVOKED
    assert provider.verify(req) is None
    assert okta.seen == [f"DELETE /api/v1/users/{alice.id}/sessions?oauthTokens=true"]
    assert okta.cookies_sent == [None]


def test_the_session_read_is_not_required(provider: OktaProvider, okta: FakeOkta) -> None:
    alice = okta.add_user(1, ALICE.login)
    okta.sessions[SID] = alice.id
    okta.fail("GET", "/api/v1/sessions/", 403, okta_error("E0000006", "You do not have permission"))
    req = request(Verb.END_SESSION, kind=Kind.SESSION_COOKIE, credential=SID, subject=Subject("okta", alice.id))
    outcome = provider.execute(req)
    assert (outcome.status, outcome.subject) == (OutcomeStatus.REVOKED, Subject("okta", alice.id))
    assert okta.sessions == {}


def test_session_failures(provider: OktaProvider, okta: FakeOkta) -> None:
    alice = okta.add_user(1, ALICE.login)
    okta.sessions[SID] = alice.id
    req = request(Verb.END_SESSION, kind=Kind.SESSION_COOKIE, credential=SID)
    okta.fail("DELETE", "/api/v1/sessions/", 403, okta_error("E0000006", "You do not have permission"))
    refused = provider.execute(req)
    assert refused.status is OutcomeStatus.FAILED_PERMANENT
    assert refused.detail == f"end session: HTTP 403 E0000006: responder lacks the permission {MANAGE_SESSIONS}"
    assert refused.subject == Subject("okta", alice.id, alice.login)
    okta.fail("DELETE", "/api/v1/sessions/", 404, okta_error("E0000007", "Not found"))  # gone meanwhile
    assert provider.execute(req).status is OutcomeStatus.ALREADY_INVALID
    assert provider.execute(request(Verb.END_SESSION)).status is OutcomeStatus.FAILED_PERMANENT
    okta.sessions[SID] = alice.id
    okta.seen.clear()
    okta.fail("GET", "/api/v1/sessions/", 429, okta_error("E0000047", "rate"), {"Retry-After": "1"})
    limited = provider.execute(req)  # last: the client holds calls after a 429 for Retry-After
    assert (limited.status, limited.retry_after) == (OutcomeStatus.FAILED_TRANSIENT, 1.0)
    assert okta.seen == [f"GET /api/v1/sessions/{SID}"]  # no second call into a rate limit


# ---- delete_api_token ---------------------------------------------------------------------------------


def test_a_leaked_api_token_revokes_itself(provider: OktaProvider, okta: FakeOkta) -> None:
    alice = okta.add_user(1, ALICE.login)
    okta.api_tokens[LEAKED_TOKEN] = alice.id
    okta.api_tokens["00" + "o" * 40] = alice.id  # another token of the same admin survives
    req = request(Verb.DELETE_API_TOKEN, credential=LEAKED_TOKEN, kind=Kind.API_KEY)
    assert provider.verify(req) is False
    outcome = provider.execute(req)
    assert outcome.status is OutcomeStatus.REVOKED
    assert outcome.detail == f"revoked the API token created by {alice.login} (the token revoked itself)"
    assert outcome.subject == Subject("okta", alice.id, alice.login)
    assert list(okta.api_tokens) == ["00" + "o" * 40]
    assert okta.seen == ["GET /api/v1/users/me", "GET /api/v1/users/me", "DELETE /api/v1/api-tokens/current"]
    assert provider.verify(req) is True
    again = provider.execute(req)
    assert (again.status, again.detail) == (
        OutcomeStatus.ALREADY_INVALID,
        "the leaked API token no longer authenticates (HTTP 401 E0000011)",
    )
    assert_no_secret(outcome, again)


def test_api_token_refusals(provider: OktaProvider, okta: FakeOkta) -> None:
    alice = okta.add_user(1, ALICE.login)
    okta.api_tokens[LEAKED_TOKEN] = alice.id
    req = request(Verb.DELETE_API_TOKEN, credential=LEAKED_TOKEN)
    okta.fail("GET", "/users/me$", 403, okta_error("E0000006", "You do not have permission"))
    network = provider.execute(req)
    assert network.status is OutcomeStatus.FAILED_PERMANENT
    assert network.detail.startswith("the leaked API token is refused from responder's network (HTTP 403")
    okta.fail("DELETE", "/api-tokens/current$", 403, okta_error("E0000006", "You do not have permission"))
    refused = provider.execute(req)
    assert refused.status is OutcomeStatus.FAILED_PERMANENT
    assert refused.subject == Subject("okta", alice.id, alice.login)
    assert LEAKED_TOKEN in okta.api_tokens
    assert provider.execute(request(Verb.DELETE_API_TOKEN)).status is OutcomeStatus.FAILED_PERMANENT


# ---- revoke_token (RFC 7009) --------------------------------------------------------------------------


def test_an_access_token_of_responders_client_is_revoked(oauth_provider: OktaProvider, okta: FakeOkta) -> None:
    alice = okta.add_user(1, ALICE.login)
    token = access_token(alice)
    okta.oauth[token] = OAuthToken(CLIENT_ID, AS_DEFAULT, alice, "access_token")
    req = request(Verb.REVOKE_TOKEN, credential=token, kind=Kind.ACCESS_TOKEN)
    outcome = oauth_provider.execute(req)
    assert outcome.status is OutcomeStatus.REVOKED
    assert outcome.detail == (
        "revoked at /oauth2/default/v1/revoke (resource servers that check the JWT themselves accept it until it "
        "expires)"
    )
    assert outcome.subject == Subject("okta", alice.id, alice.login)
    assert okta.seen == ["POST /oauth2/default/v1/introspect", "POST /oauth2/default/v1/revoke"]
    assert token not in okta.oauth
    assert oauth_provider.verify(req) is None  # a JWT: introspection cannot speak for offline checks
    again = oauth_provider.execute(req)
    assert again.status is OutcomeStatus.ALREADY_INVALID
    assert_no_secret(outcome, again)


def test_an_opaque_refresh_token_is_revoked_at_the_configured_server(
    oauth_provider: OktaProvider, okta: FakeOkta
) -> None:
    alice = okta.add_user(1, ALICE.login)
    okta.oauth[REFRESH] = OAuthToken(CLIENT_ID, AS_DEFAULT, alice, "refresh_token")
    req = request(Verb.REVOKE_TOKEN, credential=REFRESH, kind=Kind.REFRESH_TOKEN, subject=Subject("okta", alice.id))
    assert oauth_provider.verify(req) is False
    outcome = oauth_provider.execute(req)
    assert (outcome.status, outcome.detail) == (OutcomeStatus.REVOKED, "revoked at /oauth2/default/v1/revoke")
    assert outcome.subject == Subject("okta", alice.id)  # a refresh token's introspection has no uid
    assert oauth_provider.verify(req) is True


def test_an_issuer_on_another_name_of_the_org_is_revoked_at_base_url(
    monkeypatch: pytest.MonkeyPatch, okta: FakeOkta
) -> None:
    monkeypatch.setenv("RESPONDER_TEST_OKTA_TOKEN", RESPONDER_TOKEN)
    monkeypatch.setenv("RESPONDER_TEST_OKTA_SECRET", CLIENT_SECRET)
    plugin = make_provider(
        client_id=CLIENT_ID, client_secret_env="RESPONDER_TEST_OKTA_SECRET", hosts=[HOST, "acme.okta.test"]
    )
    alice = okta.add_user(1, ALICE.login)
    token = access_token(alice, host="acme.okta.test")  # the org's Okta domain; base_url is its custom domain
    okta.oauth[token] = OAuthToken(CLIENT_ID, AS_DEFAULT, alice, "access_token")
    assert plugin.plan(finding(Kind.ACCESS_TOKEN, token)) == (
        Target(Verb.REVOKE_TOKEN, True, Subject("okta", alice.id)),
    )
    assert plugin.execute(request(Verb.REVOKE_TOKEN, credential=token)).status is OutcomeStatus.REVOKED
    assert okta.seen[-1] == "POST /oauth2/default/v1/revoke"  # on BASE: respx serves no other host
    plugin.close()


def test_a_public_client_revokes_with_its_client_id(monkeypatch: pytest.MonkeyPatch, okta: FakeOkta) -> None:
    monkeypatch.setenv("RESPONDER_TEST_OKTA_TOKEN", RESPONDER_TOKEN)
    plugin = make_provider(client_id=OTHER_CLIENT)
    alice = okta.add_user(1, ALICE.login)
    token = access_token(alice, cid=OTHER_CLIENT, server="org")
    okta.oauth[token] = OAuthToken(OTHER_CLIENT, "/oauth2/v1", alice, "access_token")
    outcome = plugin.execute(request(Verb.REVOKE_TOKEN, credential=token, kind=Kind.ACCESS_TOKEN))
    assert (outcome.status, okta.oauth) == (OutcomeStatus.REVOKED, {})
    assert okta.seen[-1] == "POST /oauth2/v1/revoke"
    plugin.close()


def test_revocation_refusals(monkeypatch: pytest.MonkeyPatch, oauth_provider: OktaProvider, okta: FakeOkta) -> None:
    alice = okta.add_user(1, ALICE.login)
    okta.oauth[REFRESH] = OAuthToken(CLIENT_ID, AS_DEFAULT, alice, "refresh_token")
    req = request(Verb.REVOKE_TOKEN, credential=REFRESH, kind=Kind.REFRESH_TOKEN)
    okta.fail("POST", "/introspect$", 400, {"error": "invalid_request", "error_description": "bad"})
    bad = oauth_provider.execute(req)
    assert (bad.status, bad.detail) == (
        OutcomeStatus.FAILED_PERMANENT,
        "introspection: HTTP 400: refused (invalid_request)",
    )
    theirs = access_token(alice, cid=OTHER_CLIENT)
    other = oauth_provider.execute(request(Verb.REVOKE_TOKEN, credential=theirs, kind=Kind.ACCESS_TOKEN))
    assert other.status is OutcomeStatus.UNSUPPORTED
    assert other.detail == f"issued to client {OTHER_CLIENT}; Okta lets a client revoke only its own tokens"
    monkeypatch.setenv("RESPONDER_TEST_OKTA_SECRET", "wrong-secret")
    wrong = make_provider(client_id=CLIENT_ID, client_secret_env="RESPONDER_TEST_OKTA_SECRET")
    refused = wrong.execute(request(Verb.REVOKE_TOKEN, credential=access_token(alice)))
    assert refused.detail == f"introspection: HTTP 401: client credentials refused for client {CLIENT_ID!r}"
    no_server = wrong.execute(request(Verb.REVOKE_TOKEN, credential=REFRESH))
    assert no_server.detail == "an opaque token names no authorization server: set authorization_server"
    wrong.close()
    okta.fail("POST", "/revoke$", 429, okta_error("E0000047", "rate"), {"Retry-After": "1"})
    limited = oauth_provider.execute(req)  # last: the client holds calls after a 429 for Retry-After
    assert (limited.status, limited.retry_after) == (OutcomeStatus.FAILED_TRANSIENT, 1.0)
    assert REFRESH in okta.oauth


def test_revocation_needs_a_client(provider: OktaProvider, okta: FakeOkta) -> None:
    outcome = provider.execute(request(Verb.REVOKE_TOKEN, credential=access_token(ALICE)))
    assert outcome.status is OutcomeStatus.UNSUPPORTED
    assert provider.verify(request(Verb.REVOKE_TOKEN, credential=REFRESH)) is None
    assert provider.execute(request("revoke_refresh_tokens", subject=Subject("okta", ALICE.id))).status is (
        OutcomeStatus.UNSUPPORTED
    )
    assert okta.seen == []


# ---- resolve and dry runs -----------------------------------------------------------------------------


def test_resolve_names_the_user_with_reads_only(
    monkeypatch: pytest.MonkeyPatch, okta: FakeOkta, okta_specs: OktaSpecs
) -> None:
    monkeypatch.setenv("RESPONDER_TEST_OKTA_TOKEN", RESPONDER_TOKEN)
    monkeypatch.setenv("RESPONDER_TEST_OKTA_SECRET", CLIENT_SECRET)
    rehearsal = make_provider(
        dry=True, client_id=CLIENT_ID, client_secret_env="RESPONDER_TEST_OKTA_SECRET", authorization_server="default"
    )
    alice, bob = okta.add_user(1, ALICE.login), okta.add_user(2, BOB.login)
    okta.idx[IDX] = alice.id
    okta.sessions[SID] = bob.id
    okta.api_tokens[LEAKED_TOKEN] = alice.id
    token = access_token(bob)
    okta.oauth[token] = OAuthToken(CLIENT_ID, AS_DEFAULT, bob, "access_token")
    requests = {
        "idx": request(Verb.END_ALL_SESSIONS, kind=Kind.SESSION_COOKIE, credential=IDX),
        "sid": request(Verb.END_SESSION, kind=Kind.SESSION_COOKIE, credential=SID),
        "api": request(Verb.DELETE_API_TOKEN, credential=LEAKED_TOKEN),
        "oauth": request(Verb.REVOKE_TOKEN, credential=token),
    }
    named = {key: rehearsal.resolve(req) for key, req in requests.items()}
    assert named == {
        "idx": Subject("okta", alice.id, alice.login),
        "sid": Subject("okta", bob.id, bob.login),
        "api": Subject("okta", alice.id, alice.login),
        "oauth": Subject("okta", bob.id, bob.login),
    }
    assert rehearsal.resolve(request(Verb.END_ALL_SESSIONS, kind=Kind.SESSION_COOKIE, credential="dead-cookie")) is None
    read_only = {"GET", "POST /oauth2/default/v1/introspect"}
    assert all(line.split(" ")[0] in read_only or line in read_only for line in okta.seen)
    for req in requests.values():
        with pytest.raises(DryRunViolation):
            rehearsal.execute(req)
    assert not [line for line in okta.seen if line.startswith("DELETE") or line.endswith("/revoke")]
    assert (okta.live_sessions(alice), okta.live_sessions(bob), len(okta.api_tokens), len(okta.oauth)) == (1, 1, 1, 1)
    rehearsal.close()


def test_a_refused_dry_run_call_does_not_repeat_the_session_id(monkeypatch: pytest.MonkeyPatch, okta: FakeOkta) -> None:
    monkeypatch.setenv("RESPONDER_TEST_OKTA_TOKEN", RESPONDER_TOKEN)
    rehearsal = make_provider(dry=True)
    okta.sessions[SID] = okta.add_user(1, ALICE.login).id
    with pytest.raises(DryRunViolation) as refused:
        rehearsal.execute(request(Verb.END_SESSION, kind=Kind.SESSION_COOKIE, credential=SID))
    assert SID not in str(refused.value)


# ---- check --------------------------------------------------------------------------------------------


def test_check_proves_token_client_and_reads(oauth_provider: OktaProvider, okta: FakeOkta) -> None:
    result = oauth_provider.check()
    assert result.ok
    assert result.detail == (
        "authenticated as responder-admin@acme.test; may read users and groups; OAuth client "
        f"{CLIENT_ID!r} accepted at /oauth2/default/v1 (clearing sessions cannot be tried harmlessly: the admin "
        "role decides it, see the docs)"
    )
    assert all(line.startswith("GET ") or line.endswith("/introspect") for line in okta.seen)


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "detail"),
    [
        ("GET", "users/me$", 401, okta_error("E0000011", "Invalid token provided"),
         "responder's API token was refused (HTTP 401): invalid, expired or revoked"),
        ("GET", "users/me$", 0, None, f"cannot reach {BASE}/api/v1/users/me: ConnectError (wrong base_url?)"),
        ("GET", "users/me$", 404, "<html>no</html>", f"GET {BASE}/api/v1/users/me answered HTTP 404: wrong base_url?"),
        ("GET", "users/me$", 200, "<html>sign in</html>",
         f"GET {BASE}/api/v1/users/me did not answer as Okta does: wrong base_url?"),
        ("GET", "/api/v1/users$", 403, okta_error("E0000006", "You do not have permission"),
         f"authenticated as responder-admin@acme.test, but: missing permission {READ_USERS}"),
        ("GET", "/api/v1/groups$", 403, okta_error("E0000006", "You do not have permission"),
         f"authenticated as responder-admin@acme.test, but: missing permission {READ_GROUPS}"),
        ("POST", "/introspect$", 401, {"error": "invalid_client", "error_description": "No client credentials found"},
         f"authenticated as responder-admin@acme.test, but: client credentials refused for OAuth client {CLIENT_ID!r}"),
    ],
)  # fmt: skip
def test_check_says_exactly_what_is_wrong(
    oauth_provider: OktaProvider, okta: FakeOkta, method: str, path: str, status: int, body: Any, detail: str
) -> None:
    headers = {NOT_OKTA: "1"} if isinstance(body, str) else {}
    okta.fail(method, path, status, body, headers)
    result = oauth_provider.check()
    assert (result.ok, result.detail) == (False, detail)
    assert_no_secret(result)


# ---- directory ----------------------------------------------------------------------------------------


def test_find_user_by_id_login_and_email(provider: OktaProvider, okta: FakeOkta) -> None:
    alice = okta.add_user(1, ALICE.login)
    okta.add_user(2, "dept/carol@acme.test")
    expected = Subject("okta", alice.id, alice.login)
    assert provider.find_user(alice.id) == provider.find_user(f" {alice.login} ") == expected
    okta.fail("GET", f"/users/{alice.login}$", 404, okta_error("E0000007", "Not found"))  # login ≠ email, say
    assert provider.find_user(alice.login) == expected
    assert f"GET /api/v1/users?search=profile.email+eq+%22{alice.login.replace('@', '%40')}%22" in okta.seen
    assert provider.find_user("dept/carol@acme.test") == Subject("okta", user_id(2), "dept/carol@acme.test")
    assert provider.find_user("nobody") is None
    assert provider.find_user("nobody@acme.test") is None


def test_find_user_never_guesses(provider: OktaProvider, okta: FakeOkta) -> None:
    okta.add_user(1, "sam.one@acme.test", email="shared@acme.test")
    okta.add_user(2, "sam.two@acme.test", email="shared@acme.test")
    with pytest.raises(DirectoryError, match=r"2 Okta users match 'shared@acme.test' \(00u0+1, 00u0+2\): give"):
        provider.find_user("shared@acme.test")
    okta.add_user(3, 'odd"quote@acme.test')
    assert provider.find_user('odd"quote@acme.test') == Subject("okta", user_id(3), 'odd"quote@acme.test')


def test_find_user_refused(provider: OktaProvider, okta: FakeOkta) -> None:
    okta.fail("GET", "/users/", 403, okta_error("E0000006", "You do not have permission"))
    with pytest.raises(DirectoryError) as refused:
        provider.find_user("alice@acme.test")
    assert str(refused.value) == (
        f"okta: find user 'alice@acme.test': HTTP 403 E0000006: responder lacks the permission {READ_USERS}"
    )


def test_group_members_across_pages(provider: OktaProvider, okta: FakeOkta) -> None:
    members = [okta.add_user(n, f"user{n}@acme.test") for n in range(1, 451)]
    members[10].status, members[20].status, members[30].status = "STAGED", "DEPROVISIONED", "SUSPENDED"
    okta.add_group(1, "Engineering EMEA", members)
    okta.add_group(2, "Engineering", members[:3])  # a prefix of the name must not match
    found = list(provider.group_members("Engineering EMEA"))
    assert len(found) == 448
    assert found[0] == Subject("okta", members[0].id, members[0].login)
    assert Subject("okta", members[30].id, members[30].login) in found  # suspended: one call is cheap
    pages = [line for line in okta.seen if "/users" in line]
    assert len(pages) == 3
    assert pages[0].endswith("/users?limit=200")
    assert "after=" in pages[1]
    assert "after=" in pages[2]
    assert list(provider.group_members(f"{'00g'}{1:017d}")) == found  # by id
    assert len(list(provider.group_members("engineering"))) == 3  # case differs, one group: that one


def test_group_lookup_errors(provider: OktaProvider, okta: FakeOkta) -> None:
    okta.add_group(1, "Ops", [], kind="OKTA_GROUP")
    okta.add_group(2, "Ops", [], kind="APP_GROUP")
    with pytest.raises(DirectoryError, match=r"2 Okta groups are named 'Ops': 00g0+1 \(OKTA_GROUP\), 00g0+2"):
        list(provider.group_members("Ops"))
    with pytest.raises(DirectoryError, match="no Okta group is named 'Nope'"):
        list(provider.group_members("Nope"))
    okta.fail("GET", "/api/v1/groups$", 403, okta_error("E0000006", "You do not have permission"))
    with pytest.raises(DirectoryError, match=f"lacks the permission {READ_GROUPS.replace('(', '.').replace(')', '.')}"):
        list(provider.group_members("Ops"))


def test_an_unreachable_org_is_a_directory_error(provider: OktaProvider, okta: FakeOkta) -> None:
    okta.fail("GET", "/api/v1/users$", 0)
    with pytest.raises(DirectoryError, match=f"okta: cannot reach {BASE}: ConnectError"):
        list(provider.all_users())


def test_all_users_across_pages(provider: OktaProvider, okta: FakeOkta) -> None:
    users = [okta.add_user(n, f"user{n}@acme.test") for n in range(1, 403)]
    users[0].status, users[1].status, users[2].status = "STAGED", "DEPROVISIONED", "LOCKED_OUT"
    found = list(provider.all_users())
    assert len(found) == 400
    assert okta.seen[0] == "GET /api/v1/users?limit=200"
    assert len(okta.seen) == 3


def test_a_next_link_to_another_host_is_not_followed(provider: OktaProvider, okta: FakeOkta) -> None:
    for n in range(1, 202):
        okta.add_user(n, f"user{n}@acme.test")
    okta.next_link_host = "evil.example.test"
    listing = provider.all_users()
    with pytest.raises(DirectoryError) as refused:
        list(listing)
    assert str(refused.value) == (
        f"okta: list users: the next-page link points to https://evil.example.test, not to {BASE}: not followed"
    )
    assert len(okta.seen) == 1  # respx would have refused the foreign host; it was never asked


# ---- secrets ------------------------------------------------------------------------------------------


def test_no_secret_in_outcomes_checks_errors_or_logs(
    caplog: pytest.LogCaptureFixture, oauth_provider: OktaProvider, okta: FakeOkta
) -> None:
    caplog.set_level(logging.DEBUG)
    alice = okta.add_user(1, ALICE.login)
    okta.idx[IDX] = alice.id
    okta.sessions[SID] = alice.id
    okta.api_tokens[LEAKED_TOKEN] = alice.id
    okta.oauth[REFRESH] = OAuthToken(CLIENT_ID, AS_DEFAULT, alice, "refresh_token")
    texts: list[object] = []
    requests = [
        request(Verb.END_ALL_SESSIONS, kind=Kind.SESSION_COOKIE, credential=IDX),
        request(Verb.END_SESSION, kind=Kind.SESSION_COOKIE, credential=SID),
        request(Verb.DELETE_API_TOKEN, credential=LEAKED_TOKEN),
        request(Verb.REVOKE_TOKEN, credential=REFRESH),
    ]
    for req in requests:
        texts += [req, oauth_provider.resolve(req), oauth_provider.execute(req), oauth_provider.verify(req)]
        texts.append(oauth_provider.execute(req))  # the failure paths (already invalid) too
    okta.fail("GET", "users/me$", 401, okta_error("E0000011", "Invalid token provided"))
    texts.append(oauth_provider.check())
    okta.fail("GET", "/users/", 403, okta_error("E0000006", "You do not have permission"))
    with pytest.raises(DirectoryError) as refused:
        oauth_provider.find_user(ALICE.login)
    texts.append(str(refused.value))
    assert_no_secret(*texts)
    for record in caplog.records:
        message = record.getMessage()
        # httpx logs each request line; only the Classic session id is in a URL path (the API puts it there).
        allowed = (SID,) if record.name == "httpx" else ()
        assert all(secret not in message for secret in SECRETS if secret not in allowed), record.name


def test_cookies_okta_sets_are_never_sent_back(provider: OktaProvider, okta: FakeOkta) -> None:
    alice = okta.add_user(1, ALICE.login)
    okta.idx[IDX] = alice.id
    okta.set_cookie = f"idx={IDX}; Path=/; Secure; HttpOnly"  # as if Okta refreshed the session
    provider.execute(request(Verb.END_ALL_SESSIONS, kind=Kind.SESSION_COOKIE, credential=IDX))
    provider.execute(end_all(alice))
    provider.check()
    assert okta.cookies_sent[0] == f"idx={IDX}"  # the one read that uses the cookie
    assert okta.cookies_sent[1:] == [None] * (len(okta.cookies_sent) - 1)


# ---- the contract check itself ------------------------------------------------------------------------


def _call(method: str, path: str, *, token: str | None = RESPONDER_TOKEN, **kwargs: Any) -> httpx.Request:
    headers = {"Authorization": f"SSWS {token}"} if token else {}
    headers.update(kwargs.pop("headers", {}))
    return httpx.Request(method, BASE + path, headers=headers, **kwargs)


def test_the_contract_check_rejects_wrong_requests_and_fixtures(okta_specs: OktaSpecs) -> None:
    wrong = [
        (_call("DELETE", f"/api/v1/users/{user_id(1)}/sessions?oauthToken=true"), None),  # an undeclared parameter
        (_call("POST", f"/api/v1/users/{user_id(1)}/sessions"), None),  # no such operation
        (_call("GET", "/api/v1/userz"), None),  # no such path
        (_call("GET", "/api/v1/users", token=None), None),  # no SSWS
        (_call("GET", "/api/v1/users?limit=many"), None),  # limit is an integer
        (_call("GET", "/api/v1/groups", headers={"Cookie": "idx=x"}), None),  # a cookie on an API call
        (_call("POST", "/oauth2/default/v1/revoke", token=None, data={"token": "t"}), None),  # no client auth
        (_call("GET", "/somewhere/else"), None),
        (_call("GET", "/api/v1/users/me"), httpx.Response(200, json=[{"id": "x"}])),  # an array is not a User
    ]
    report = check_calls(okta_specs, wrong)
    assert len(report.errors) == len(wrong), report.errors
    assert report.checked_responses == 0


def test_the_contract_check_accepts_and_lists_its_skips(okta_specs: OktaSpecs) -> None:
    right = [
        (_call("DELETE", f"/api/v1/users/{user_id(1)}/sessions?oauthTokens=true"), httpx.Response(204)),
        (_call("GET", "/api/v1/users/me", token=None, headers={"Cookie": "idx=abc"}), None),
        (
            _call("POST", "/oauth2/v1/revoke", token=None, data={"token": "t", "client_id": OTHER_CLIENT}),
            httpx.Response(200),
        ),
        (_call("GET", "/api/v1/users/me"), httpx.Response(401, json=okta_error("E0000011", "Invalid token"))),
    ]
    report = check_calls(okta_specs, right)
    assert report.errors == []
    assert (report.checked_requests, report.checked_responses) == (4, 2)
    assert report.skipped == ["GET /api/v1/users/me: HTTP 401 is not declared in the spec"]


def test_outcome_repr_has_no_secret() -> None:
    # The dataclasses responder records: a sanity check that the canary helper itself works.
    with pytest.raises(AssertionError):
        assert_no_secret(Outcome(OutcomeStatus.REVOKED, f"leak {IDX}"))
