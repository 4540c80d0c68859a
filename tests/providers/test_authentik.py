"""The authentik plugin against a schema-shaped fake (respx). Every request and served fixture in these tests is
checked against authentik's OpenAPI schema by the `authentik` fixture (see conftest.py)."""

from __future__ import annotations

import hashlib
import tomllib
from typing import Any

import httpx
import jwt
import pytest
from openapi_core import OpenAPI
from respx.models import AllMockedAssertionError

from providers.authentik import AuthentikProvider
from responder.errors import ConfigError
from responder.http import DryRunViolation, build_client, dry_run
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
from tests.conftest import ROOT
from tests.providers.authentik_contract import NOT_AUTHENTIK, check_calls
from tests.providers.conftest import (
    BASE,
    CLIENT_ID,
    CLIENT_SECRET,
    PROVIDER_SECRET,
    RESPONDER_TOKEN,
    FakeAuthentik,
    make_provider,
)

HOST = "auth.example.test"
API_KEY = "Zq8" + "x" * 54 + "k9W"  # 60 alphanumerics, like an authentik API token
OTHER_KEY = "Pm2" + "y" * 54 + "r4T"
REFRESH = "R" * 128


# ---- builders -----------------------------------------------------------------------------------------


def finding(
    kind: Kind,
    value: str,
    claims: dict[str, str] | None = None,
    *,
    name: str = "authorization",
    where: Field = Field.HEADER,
    instance: str = "ak",
) -> Finding:
    return Finding(
        fingerprint=hashlib.sha256(value.encode()).hexdigest(),
        kind=kind,
        detector="test",
        label="test",
        revocable=True,
        provider=ProviderRef(Family.AUTHENTIK, instance),
        claims=claims or {},
        expires_at=None,
        locations=(Location(where, name, host=HOST),),
        value=Secret(value),
    )


def session_cookie(sub: str) -> Finding:
    value = jwt.encode(
        {"sid": "k" * 32, "iss": "authentik", "sub": sub, "authenticated": sub != "anonymous"}, "x" * 32, "HS256"
    )
    claims = {"iss": "authentik", "sub": sub, "sid": "sha256:" + hashlib.sha256(b"k" * 32).hexdigest()}
    return finding(Kind.SESSION_COOKIE, value, claims, name="authentik_session", where=Field.COOKIE)


def access_jwt(sub: str | None = "u1", azp: str = CLIENT_ID, iss: str = f"{BASE}/application/o/app/") -> str:
    claims: dict[str, Any] = {"iss": iss, "azp": azp, "aud": azp, "scope": "openid", "exp": 4102444800}
    if sub is not None:
        claims["sub"] = sub
    return jwt.encode(claims, "s" * 32, "HS256")


def request(
    verb: str, *, subject: Subject | None = None, credential: str | None = None, kind: Kind | None = None
) -> ActionRequest:
    return ActionRequest(
        action_id="action-1",
        provider="ak",
        verb=verb,
        fingerprint="fp",
        kind=kind,
        subject=subject,
        credential=Secret(credential) if credential is not None else None,
    )


def sessions_request(uid: str, verb: str = Verb.END_ALL_SESSIONS) -> ActionRequest:
    return request(verb, subject=Subject("ak", uid))


def assert_no_secret(*outcomes: Outcome) -> None:
    for outcome in outcomes:
        text = repr(outcome)
        for secret in (RESPONDER_TOKEN, API_KEY, OTHER_KEY, CLIENT_SECRET, PROVIDER_SECRET, REFRESH):
            assert secret not in text


# ---- settings -----------------------------------------------------------------------------------------


def test_the_entry_point_and_the_dev_dependency_are_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    entry = project["project"]["entry-points"]["responder.providers"]["authentik"]
    assert entry == "providers.authentik:AuthentikProvider"
    assert "openapi-core==0.23.1" in project["project"]["optional-dependencies"]["dev"]


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({}, "set token_file or token_env"),
        ({"token": "a", "token_env": "RESPONDER_TEST_AK_TOKEN"}, "not several"),
        ({"token_env": "RESPONDER_TEST_AK_TOKEN", "base_url": f"{BASE}/api/v3/"}, "without /api/v3"),
        ({"token_env": "RESPONDER_TEST_AK_TOKEN", "base_url": "auth.example.test"}, "http(s) URL"),
        ({"token_env": "RESPONDER_TEST_AK_TOKEN", "client_secret_env": "X"}, "set client_id too"),
        ({"token_env": "RESPONDER_TEST_AK_TOKEN", "tokn": "typo"}, "tokn"),
        ({"token_env": "RESPONDER_TEST_AK_UNSET"}, "is not set"),
    ],
)
def test_settings_errors_name_the_key(monkeypatch: pytest.MonkeyPatch, extra: dict[str, str], problem: str) -> None:
    monkeypatch.setenv("RESPONDER_TEST_AK_TOKEN", RESPONDER_TOKEN)
    monkeypatch.delenv("RESPONDER_TEST_AK_UNSET", raising=False)
    table = {"name": "ak", "plugin": "authentik", "base_url": BASE, **extra}
    with pytest.raises(ConfigError, match=problem.replace("(", r"\(").replace(")", r"\)")) as raised:
        AuthentikProvider.from_config(table, build_client(BASE))
    assert RESPONDER_TOKEN not in str(raised.value)


def test_token_from_a_file(tmp_path: Any) -> None:
    path = tmp_path / "ak-token"
    path.write_text(RESPONDER_TOKEN + "\n")
    table = {"name": "ak", "plugin": "authentik", "base_url": BASE + "/", "token_file": str(path)}
    provider = AuthentikProvider.from_config(table, build_client(BASE))
    assert provider.name == "ak"
    provider.close()


# ---- claims and plan (no I/O) -------------------------------------------------------------------------


def test_claims_only_its_own_instance(provider: AuthentikProvider) -> None:
    assert provider.claims(finding(Kind.API_KEY, API_KEY))
    assert not provider.claims(finding(Kind.API_KEY, API_KEY, instance="other"))


def test_a_session_cookie_ends_sessions_and_refresh_tokens_of_its_user(
    provider: AuthentikProvider, authentik: FakeAuthentik
) -> None:
    subject = Subject("ak", "uid-1")
    assert provider.plan(session_cookie("uid-1")) == (
        Target(Verb.END_ALL_SESSIONS, uses_credential=False, subject=subject),
        Target(Verb.REVOKE_REFRESH_TOKENS, uses_credential=False, subject=subject),
    )
    assert authentik.seen == []


def test_nothing_is_planned_for_what_names_no_user(provider: AuthentikProvider) -> None:
    assert provider.plan(session_cookie("anonymous")) == ()
    proxy = finding(Kind.SESSION_COOKIE, "MTcx" * 20, name="authentik_proxy_1a2b3c4d", where=Field.COOKIE)
    switching = finding(Kind.SESSION_COOKIE, "e" * 40, name="authentik_user_switching", where=Field.COOKIE)
    legacy = finding(Kind.SESSION_COOKIE, "a" * 32, name="authentik_session", where=Field.COOKIE)
    csrf = finding(Kind.OTHER_SECRET, "c" * 32, name="authentik_csrf", where=Field.COOKIE)
    id_token = finding(Kind.ID_TOKEN, access_jwt(), {"iss": f"{BASE}/application/o/app/", "sub": "u1"})
    for other in (proxy, switching, legacy, csrf, id_token):
        assert provider.plan(other) == ()


def test_an_opaque_bearer_is_an_api_token(provider: AuthentikProvider) -> None:
    expected = (Target(Verb.DELETE_API_TOKEN, uses_credential=True),)
    assert provider.plan(finding(Kind.ACCESS_TOKEN, API_KEY)) == expected
    assert provider.plan(finding(Kind.API_KEY, API_KEY)) == expected


def test_oauth_tokens_are_revoked_with_responders_client(oauth_provider: AuthentikProvider) -> None:
    iss = f"{BASE}/application/o/app/"
    token = finding(Kind.ACCESS_TOKEN, access_jwt(), {"iss": iss, "sub": "u1"})
    assert oauth_provider.plan(token) == (Target(Verb.REVOKE_TOKEN, True, Subject("ak", "u1")),)
    nameless = finding(Kind.JWT, access_jwt(sub=None), {"iss": iss})
    assert oauth_provider.plan(nameless) == (Target(Verb.REVOKE_TOKEN, True, None),)
    assert oauth_provider.plan(finding(Kind.REFRESH_TOKEN, REFRESH)) == (Target(Verb.REVOKE_TOKEN, True, None),)
    foreign = finding(Kind.ACCESS_TOKEN, access_jwt(iss="https://idp.other.test/"), {"iss": "https://idp.other.test/"})
    assert oauth_provider.plan(foreign) == ()


def test_without_a_client_an_oauth_token_ends_its_users_sessions(provider: AuthentikProvider) -> None:
    iss = f"{BASE}/application/o/app/"
    subject = Subject("ak", "u1")
    access = finding(Kind.ACCESS_TOKEN, access_jwt(), {"iss": iss, "sub": "u1"})
    assert provider.plan(access) == (Target(Verb.END_ALL_SESSIONS, False, subject),)
    refresh = finding(Kind.REFRESH_TOKEN, access_jwt(), {"iss": iss, "sub": "u1"})
    assert provider.plan(refresh) == (Target(Verb.REVOKE_REFRESH_TOKENS, False, subject),)
    assert provider.plan(finding(Kind.JWT, access_jwt(sub=None), {"iss": iss})) == ()
    assert provider.plan(finding(Kind.REFRESH_TOKEN, REFRESH)) == ()  # opaque: names no user


# ---- END_ALL_SESSIONS ---------------------------------------------------------------------------------


def test_bulk_delete_ends_all_sessions_of_the_user_only(provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    alice = authentik.add_user(1, "alice", sessions=2)
    bob = authentik.add_user(2, "bob", sessions=1)
    outcome = provider.execute(sessions_request(alice.uid))
    assert outcome.status is OutcomeStatus.REVOKED
    assert outcome.detail == "ended 2 session(s) of the user"
    assert outcome.subject == Subject("ak", alice.uid, "alice")
    assert authentik.sessions_of(alice) == []
    assert len(authentik.sessions_of(bob)) == 1
    assert f"DELETE /api/v3/core/authenticated_sessions/bulk_delete/?user_pks={alice.pk}" in authentik.seen
    assert provider.verify(sessions_request(alice.uid)) is True
    again = provider.execute(sessions_request(alice.uid))
    assert again.status is OutcomeStatus.ALREADY_INVALID


def test_without_bulk_delete_sessions_are_deleted_one_by_one(
    provider: AuthentikProvider, authentik: FakeAuthentik
) -> None:
    authentik.bulk_delete = False  # authentik 2025.12
    alice = authentik.add_user(1, "alice", sessions=3)
    outcome = provider.execute(sessions_request(alice.uid))
    assert (outcome.status, outcome.detail) == (OutcomeStatus.REVOKED, "ended 3 session(s) of the user, one by one")
    assert authentik.sessions_of(alice) == []
    deletes = [line for line in authentik.seen if line.startswith("DELETE")]
    assert len(deletes) == 4  # the refused bulk_delete, then three sessions
    assert provider.verify(sessions_request(alice.uid)) is True
    authentik.seen.clear()
    assert provider.execute(sessions_request(alice.uid)).status is OutcomeStatus.ALREADY_INVALID
    assert not any("bulk_delete" in line for line in authentik.seen)  # learned once per instance


def test_a_session_gone_meanwhile_counts_as_gone(provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    authentik.bulk_delete = False
    alice = authentik.add_user(1, "alice", sessions=2)
    first = authentik.sessions_of(alice)[0]
    # DRF's 404 on a deleted object; the schema does not declare it, so the contract check skips this answer.
    authentik.fail("DELETE", first, 404, {"detail": "No AuthenticatedSession matches the given query."})
    outcome = provider.execute(sessions_request(alice.uid))
    assert (outcome.status, outcome.detail) == (OutcomeStatus.REVOKED, "ended 1 session(s) of the user, one by one")
    authentik.sessions.clear()
    authentik.add_user(3, "carol", sessions=1)
    carol = authentik.users[-1]
    authentik.fail("DELETE", authentik.sessions_of(carol)[0], 404, {"detail": "No AuthenticatedSession matches."})
    assert provider.execute(sessions_request(carol.uid)).status is OutcomeStatus.ALREADY_INVALID


def test_other_users_sessions_survive_an_ignored_username_filter(
    provider: AuthentikProvider, authentik: FakeAuthentik
) -> None:
    authentik.bulk_delete = False
    authentik.ignore_username_filter = True
    alice = authentik.add_user(1, "alice", sessions=1)
    bob = authentik.add_user(2, "bob", sessions=2)
    assert provider.execute(sessions_request(alice.uid)).status is OutcomeStatus.REVOKED
    assert len(authentik.sessions_of(bob)) == 2


def test_a_failure_mid_way_is_reported_with_progress(provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    authentik.bulk_delete = False
    alice = authentik.add_user(1, "alice", sessions=2)
    second = authentik.sessions_of(alice)[1]
    authentik.fail("DELETE", second, 503, headers={"Retry-After": "4"})
    outcome = provider.execute(sessions_request(alice.uid))
    assert outcome.status is OutcomeStatus.FAILED_TRANSIENT
    assert outcome.detail == "delete session 2 of 2: HTTP 503 (1 ended before)"
    assert outcome.retry_after == 4.0
    assert outcome.subject == Subject("ak", alice.uid, "alice")


def test_users_are_found_across_pages_and_cached(provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    for pk in range(1, 251):
        authentik.add_user(pk, f"user{pk}")
    target = authentik.users[229]
    authentik.sessions["00000000-0000-4000-8000-000000000001"] = target.pk
    assert provider.execute(sessions_request(target.uid)).status is OutcomeStatus.REVOKED
    pages = [line for line in authentik.seen if line.startswith("GET /api/v3/core/users/")]
    assert [p.split("page=")[1].split("&")[0] for p in pages] == ["1", "2", "3"]
    authentik.seen.clear()
    assert provider.resolve(sessions_request(authentik.users[10].uid)) == Subject(
        "ak", authentik.users[10].uid, "user11"
    )
    assert not any(line.startswith("GET /api/v3/core/users/") for line in authentik.seen)


def test_an_unknown_user_is_a_clear_permanent_failure(provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    authentik.add_user(1, "alice", sessions=1)
    outcome = provider.execute(sessions_request("f" * 64))
    assert outcome.status is OutcomeStatus.FAILED_PERMANENT
    assert outcome.detail.startswith(f"user not found: no authentik user has uid {'f' * 64}")
    assert provider.verify(sessions_request("f" * 64)) is None


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "detail"),
    [
        (403, {"detail": "You do not have permission to perform this action."}, {}, OutcomeStatus.FAILED_PERMANENT,
         "find user: HTTP 403: responder lacks the permission authentik_core.view_user"),
        (403, {"detail": "Token invalid/expired"}, {}, OutcomeStatus.FAILED_PERMANENT,
         "find user: HTTP 403: responder's API token was refused (invalid or expired)"),
        (401, {"detail": "Authentication credentials were not provided."}, {}, OutcomeStatus.FAILED_PERMANENT,
         "find user: HTTP 401: responder's API token was refused (invalid or expired)"),
        (429, {"detail": "slow down"}, {"Retry-After": "7"}, OutcomeStatus.FAILED_TRANSIENT, "find user: HTTP 429"),
        (503, None, {}, OutcomeStatus.FAILED_TRANSIENT, "find user: HTTP 503"),
        (404, {"detail": "Not found."}, {}, OutcomeStatus.FAILED_PERMANENT,
         "find user: HTTP 404: no such endpoint (is base_url authentik's root URL?)"),
    ],
)  # fmt: skip
def test_status_meanings_on_the_user_lookup(
    provider: AuthentikProvider,
    authentik: FakeAuthentik,
    status: int,
    body: Any,
    headers: dict[str, str],
    expected: OutcomeStatus,
    detail: str,
) -> None:
    alice = authentik.add_user(1, "alice", sessions=1)
    authentik.fail("GET", r"/core/users/$", status, body, headers)
    outcome = provider.execute(sessions_request(alice.uid))
    assert (outcome.status, outcome.detail) == (expected, detail)
    assert outcome.retry_after == (7.0 if status == 429 else None)


def test_a_refused_bulk_delete_names_the_permission(provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    alice = authentik.add_user(1, "alice", sessions=1)
    authentik.fail("DELETE", "bulk_delete", 403, {"detail": "You do not have permission to perform this action."})
    outcome = provider.execute(sessions_request(alice.uid))
    assert outcome.status is OutcomeStatus.FAILED_PERMANENT
    assert outcome.detail.endswith("lacks the permission authentik_core.delete_authenticatedsession")


# ---- REVOKE_REFRESH_TOKENS ----------------------------------------------------------------------------


def test_refresh_tokens_of_the_user_are_deleted(provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    alice = authentik.add_user(1, "alice", refresh_tokens=3)
    authentik.add_user(2, "bob", refresh_tokens=1)
    authentik.refresh_tokens[5] = (alice.pk, True)  # rotated away already: left alone
    req = sessions_request(alice.uid, Verb.REVOKE_REFRESH_TOKENS)
    outcome = provider.execute(req)
    assert (outcome.status, outcome.detail) == (OutcomeStatus.REVOKED, "deleted 3 refresh token(s) of the user")
    assert outcome.subject == Subject("ak", alice.uid, "alice")
    assert sorted(authentik.refresh_tokens) == [4, 5]
    assert f"GET /api/v3/oauth2/refresh_tokens/?user={alice.pk}&page=1&page_size=100" in authentik.seen
    assert provider.verify(req) is True
    again = provider.execute(req)
    assert again.status is OutcomeStatus.ALREADY_INVALID
    assert_no_secret(outcome, again)


def test_refresh_tokens_across_pages_and_one_gone_meanwhile(
    provider: AuthentikProvider, authentik: FakeAuthentik
) -> None:
    alice = authentik.add_user(1, "alice", refresh_tokens=120)
    authentik.fail("DELETE", r"/oauth2/refresh_tokens/7/$", 404, {"detail": "No RefreshToken matches the given query."})
    outcome = provider.execute(sessions_request(alice.uid, Verb.REVOKE_REFRESH_TOKENS))
    assert outcome.detail == "deleted 119 refresh token(s) of the user"
    assert list(authentik.refresh_tokens) == [7]  # the injected 404 left it in the fake


def test_a_live_refresh_token_fails_verification(provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    alice = authentik.add_user(1, "alice", refresh_tokens=1)
    assert provider.verify(sessions_request(alice.uid, Verb.REVOKE_REFRESH_TOKENS)) is False


# ---- DELETE_API_TOKEN ---------------------------------------------------------------------------------


def test_a_leaked_api_token_is_found_by_key_and_deleted(provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    alice = authentik.add_user(1, "alice")
    authentik.add_api_token(alice, "ci-other", OTHER_KEY)
    authentik.add_api_token(alice, "ci-deploy", API_KEY)
    req = request(Verb.DELETE_API_TOKEN, credential=API_KEY, kind=Kind.API_KEY)
    outcome = provider.execute(req)
    assert (outcome.status, outcome.detail) == (OutcomeStatus.REVOKED, "deleted API token 'ci-deploy' of alice")
    assert outcome.subject == Subject("ak", alice.uid, "alice")
    assert list(authentik.api_tokens) == ["ci-other"]
    assert "GET /api/v3/core/tokens/?user__username=alice&intent=api&page=1&page_size=100" in authentik.seen
    assert provider.verify(req) is True
    again = provider.execute(req)
    assert again.status is OutcomeStatus.ALREADY_INVALID
    assert again.detail == "the leaked token does not authenticate any more (HTTP 403)"
    assert_no_secret(outcome, again)


def test_reading_keys_needs_view_token_key(provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    alice = authentik.add_user(1, "alice")
    authentik.add_api_token(alice, "ci-deploy", API_KEY)
    authentik.fail("GET", "view_key", 403, {"detail": "You do not have permission to perform this action."})
    outcome = provider.execute(request(Verb.DELETE_API_TOKEN, credential=API_KEY))
    assert outcome.status is OutcomeStatus.FAILED_PERMANENT
    assert (
        outcome.detail == "read API token key: HTTP 403: responder lacks the permission authentik_core.view_token_key"
    )
    assert outcome.subject == Subject("ak", alice.uid, "alice")


def test_a_token_deleted_meanwhile_is_already_invalid(provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    alice = authentik.add_user(1, "alice")
    authentik.add_api_token(alice, "ci-deploy", API_KEY)
    authentik.fail("DELETE", r"/core/tokens/ci-deploy/$", 404, {"detail": "No Token matches the given query."})
    outcome = provider.execute(request(Verb.DELETE_API_TOKEN, credential=API_KEY))
    assert outcome.status is OutcomeStatus.ALREADY_INVALID


def test_a_key_matching_no_api_token_is_reported(provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    alice = authentik.add_user(1, "alice")
    authentik.add_api_token(alice, "ci-deploy", API_KEY)
    authentik.fail("GET", "view_key", 200, {"key": OTHER_KEY})  # e.g. rotated between the two reads
    outcome = provider.execute(request(Verb.DELETE_API_TOKEN, credential=API_KEY))
    assert outcome.status is OutcomeStatus.FAILED_PERMANENT
    assert outcome.detail == "the leaked token authenticates as alice, but none of their API tokens has its key"


def test_a_still_working_api_token_fails_verification(provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    alice = authentik.add_user(1, "alice")
    authentik.add_api_token(alice, "ci-deploy", API_KEY)
    assert provider.verify(request(Verb.DELETE_API_TOKEN, credential=API_KEY)) is False


# ---- REVOKE_TOKEN (RFC 7009) --------------------------------------------------------------------------


def test_rfc7009_revocation_and_verification(oauth_provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    token = access_jwt()
    authentik.oauth_tokens[token] = CLIENT_ID
    req = request(Verb.REVOKE_TOKEN, credential=token, kind=Kind.ACCESS_TOKEN, subject=Subject("ak", "u1"))
    assert oauth_provider.verify(req) is False  # live before
    outcome = oauth_provider.execute(req)
    assert outcome.status is OutcomeStatus.REVOKED
    assert outcome.subject == Subject("ak", "u1")
    assert token not in authentik.oauth_tokens
    assert oauth_provider.verify(req) is True
    assert "POST /application/o/revoke/" in authentik.seen
    assert_no_secret(outcome)


def test_introspection_cannot_speak_for_another_clients_token(
    oauth_provider: AuthentikProvider, authentik: FakeAuthentik
) -> None:
    token = access_jwt(azp="another-app")
    req = request(Verb.REVOKE_TOKEN, credential=token, kind=Kind.ACCESS_TOKEN)
    assert oauth_provider.execute(req).status is OutcomeStatus.REVOKED
    assert oauth_provider.verify(req) is None  # authentik says inactive to every client but the issuer
    opaque = request(Verb.REVOKE_TOKEN, credential=REFRESH, kind=Kind.REFRESH_TOKEN)
    assert oauth_provider.execute(opaque).status is OutcomeStatus.REVOKED
    assert oauth_provider.verify(opaque) is None


def test_refused_client_credentials(monkeypatch: pytest.MonkeyPatch, authentik: FakeAuthentik) -> None:
    monkeypatch.setenv("RESPONDER_TEST_AK_TOKEN", RESPONDER_TOKEN)
    monkeypatch.setenv("RESPONDER_TEST_AK_CLIENT_SECRET", "wrong")
    plugin = make_provider(client_id=CLIENT_ID, client_secret_env="RESPONDER_TEST_AK_CLIENT_SECRET")
    outcome = plugin.execute(request(Verb.REVOKE_TOKEN, credential=access_jwt(), kind=Kind.ACCESS_TOKEN))
    assert outcome.status is OutcomeStatus.FAILED_PERMANENT
    assert outcome.detail == f"revocation: HTTP 401: client credentials refused for client {CLIENT_ID!r}"
    plugin.close()


def test_revocation_needs_a_client(provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    outcome = provider.execute(request(Verb.REVOKE_TOKEN, credential=access_jwt(), kind=Kind.ACCESS_TOKEN))
    assert outcome.status is OutcomeStatus.UNSUPPORTED
    assert provider.verify(request(Verb.REVOKE_TOKEN, credential=access_jwt())) is None
    assert authentik.seen == []


def test_an_unknown_verb_is_unsupported(provider: AuthentikProvider) -> None:
    assert provider.execute(request(Verb.END_SESSION)).status is OutcomeStatus.UNSUPPORTED


# ---- dry run and resolve ------------------------------------------------------------------------------


def test_resolve_in_a_dry_run_only_reads(oauth_provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    alice = authentik.add_user(1, "alice", sessions=1, refresh_tokens=1)
    authentik.add_api_token(alice, "ci-deploy", API_KEY)
    token = access_jwt()
    authentik.oauth_tokens[token] = CLIENT_ID
    with dry_run():
        by_uid = oauth_provider.resolve(sessions_request(alice.uid))
        by_key = oauth_provider.resolve(request(Verb.DELETE_API_TOKEN, credential=API_KEY))
        by_introspection = oauth_provider.resolve(request(Verb.REVOKE_TOKEN, credential=token, kind=Kind.ACCESS_TOKEN))
        unknown = oauth_provider.resolve(request(Verb.DELETE_API_TOKEN, credential=OTHER_KEY))
    assert by_uid == by_key == Subject("ak", alice.uid, "alice")
    assert by_introspection == Subject("ak", "u", "alice")
    assert unknown is None
    assert all(line.startswith("GET ") or line.startswith("POST /application/o/introspect/") for line in authentik.seen)
    assert len(authentik.sessions) == 1
    assert len(authentik.api_tokens) == 1


@pytest.mark.parametrize(
    "req",
    [
        sessions_request("uid-of-alice"),
        sessions_request("uid-of-alice", Verb.REVOKE_REFRESH_TOKENS),
        request(Verb.DELETE_API_TOKEN, credential=API_KEY),
        request(Verb.REVOKE_TOKEN, credential="a.b.c", kind=Kind.ACCESS_TOKEN),
    ],
    ids=["sessions", "refresh-tokens", "api-token", "rfc7009"],
)
def test_a_mutating_call_in_a_dry_run_is_refused(
    oauth_provider: AuthentikProvider, authentik: FakeAuthentik, req: ActionRequest
) -> None:
    alice = authentik.add_user(1, "alice", sessions=1, refresh_tokens=1)
    authentik.add_api_token(alice, "ci-deploy", API_KEY)
    req = req if req.subject is None else sessions_request(alice.uid, req.verb)
    with dry_run(), pytest.raises(DryRunViolation):
        oauth_provider.execute(req)
    assert not [line for line in authentik.seen if not line.startswith("GET ")]
    assert (len(authentik.sessions), len(authentik.refresh_tokens), len(authentik.api_tokens)) == (1, 1, 1)


# ---- check --------------------------------------------------------------------------------------------


def test_check_proves_token_and_permissions(oauth_provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    result = oauth_provider.check()
    assert result.ok
    assert result.detail == (
        "authenticated as responder; may read users, sessions and tokens; OAuth client 'responder-client' accepted"
    )


@pytest.mark.parametrize(
    ("path", "status", "body", "detail"),
    [
        ("users/me/$", 403, {"detail": "Token invalid/expired"},
         "responder's API token was refused (HTTP 403): token invalid or expired"),
        ("users/me/$", 0, None, f"cannot reach {BASE}/api/v3/core/users/me/: ConnectError (wrong base_url?)"),
        ("users/me/$", 404, {"detail": "Not found."},
         f"GET {BASE}/api/v3/core/users/me/ answered HTTP 404: wrong base_url?"),
        ("authenticated_sessions/$", 403, {"detail": "You do not have permission to perform this action."},
         "authenticated as responder, but: missing permission authentik_core.view_authenticatedsession"),
    ],
)  # fmt: skip
def test_check_says_exactly_what_is_wrong(
    provider: AuthentikProvider, authentik: FakeAuthentik, path: str, status: int, body: Any, detail: str
) -> None:
    authentik.fail("GET", path, status, body)
    result = provider.check()
    assert (result.ok, result.detail) == (False, detail)


def test_check_on_a_page_that_is_not_authentik(provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    authentik.fail("GET", "users/me/$", 200, "<html>login</html>", headers={NOT_AUTHENTIK: "1"})
    result = provider.check()
    assert (result.ok, result.detail) == (
        False,
        f"GET {BASE}/api/v3/core/users/me/ did not answer as authentik does: wrong base_url?",
    )


def test_check_names_a_refused_oauth_client(monkeypatch: pytest.MonkeyPatch, authentik: FakeAuthentik) -> None:
    monkeypatch.setenv("RESPONDER_TEST_AK_TOKEN", RESPONDER_TOKEN)
    monkeypatch.setenv("RESPONDER_TEST_AK_CLIENT_SECRET", "wrong")
    plugin = make_provider(client_id=CLIENT_ID, client_secret_env="RESPONDER_TEST_AK_CLIENT_SECRET")
    result = plugin.check()
    assert (result.ok, result.detail) == (
        False,
        "authenticated as responder, but: client credentials refused for OAuth client 'responder-client'",
    )
    plugin.close()


def test_only_the_configured_host_is_ever_called(provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    alice = authentik.add_user(1, "alice", sessions=1)
    provider.execute(sessions_request(alice.uid))
    assert authentik.seen  # every one of them went through the respx route bound to BASE
    with pytest.raises(AllMockedAssertionError):
        httpx.get("https://elsewhere.example.test/")


# ---- the contract check itself ------------------------------------------------------------------------


def _call(method: str, url: str, *, token: str | None = RESPONDER_TOKEN, **kwargs: Any) -> httpx.Request:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Request(method, url, headers=headers, **kwargs)


def test_the_contract_check_rejects_wrong_requests_and_fixtures(authentik_spec: OpenAPI) -> None:
    api = f"{BASE}/api/v3"
    wrong = [
        (_call("DELETE", f"{api}/core/authenticated_sessions/bulk_delete/"), None),  # user_pks is required
        (_call("DELETE", f"{api}/core/authenticated_sessions/bulk_delete/?user_pks=alice"), None),  # integer
        (_call("POST", f"{api}/core/users/me/"), None),  # no such operation
        (_call("GET", f"{api}/core/userz/"), None),  # no such path
        (_call("GET", f"{api}/core/users/", token=None), None),  # the schema requires bearer auth
        (_call("GET", f"{api}/oauth2/refresh_tokens/?user=me"), None),  # user is an integer
        (_call("GET", f"{BASE}/somewhere/else/"), None),  # neither the API nor an OAuth endpoint
        (
            _call("DELETE", f"{api}/core/authenticated_sessions/bulk_delete/?user_pks=1"),
            httpx.Response(200, json={"deleted": "two"}),  # a fixture that does not follow the schema
        ),
        (_call("GET", f"{api}/core/users/me/"), httpx.Response(200, json={"pk": 1})),  # SessionUser needs `user`
    ]
    report = check_calls(authentik_spec, wrong)
    assert len(report.errors) == len(wrong), report.errors
    assert report.checked_responses == 0


def test_the_contract_check_accepts_and_lists_its_skips(authentik_spec: OpenAPI) -> None:
    api = f"{BASE}/api/v3"
    right = [
        (
            _call("DELETE", f"{api}/core/authenticated_sessions/bulk_delete/?user_pks=1"),
            httpx.Response(200, json={"deleted": 2}),
        ),
        (
            _call("DELETE", f"{api}/core/tokens/ci-deploy/"),
            httpx.Response(404, json={"detail": "No Token matches the given query."}),
        ),
        (_call("POST", f"{BASE}/application/o/revoke/", data={"token": "t"}), httpx.Response(200, json={})),
    ]
    report = check_calls(authentik_spec, right)
    assert report.errors == []
    assert (report.checked_requests, report.checked_responses) == (2, 1)
    assert report.skipped == [
        "DELETE /api/v3/core/tokens/ci-deploy/: HTTP 404 is not declared in the schema",
        "POST /application/o/revoke/: outside /api/v3, not in the schema",
    ]


def test_a_session_left_fails_verification(provider: AuthentikProvider, authentik: FakeAuthentik) -> None:
    alice = authentik.add_user(1, "alice", sessions=1)
    assert provider.verify(sessions_request(alice.uid)) is False
