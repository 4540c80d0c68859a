"""The Keycloak plugin against a spec-shaped fake (respx). Every request the plugin sends and every fixture the fake
serves in these tests is checked against the Keycloak 23.0.7 Admin REST API description by the `keycloak` fixture
(see keycloak_contract.py)."""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import respx
import structlog
from respx.models import AllMockedAssertionError

from providers.keycloak import KeycloakProvider
from responder.errors import ConfigError, DirectoryError
from responder.http import DryRunViolation, build_client, dry_run
from responder.interfaces import CheckResult, Directory, Provider
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
from responder.settings import load_settings
from tests import harbuild
from tests.conftest import TEST_KEY, require_peer
from tests.providers.keycloak_contract import (
    ADMIN_CLIENT,
    ADMIN_SECRET,
    BASE,
    CLIENT_ID,
    CLIENT_SECRET,
    NOT_KEYCLOAK,
    REALM,
    SPEC_PATH,
    FakeKeycloak,
    KcUser,
    KeycloakSpec,
    check_calls,
    kc_jwt,
    load_spec,
    session_hash,
)

HOST = "sso.example.test"
ISS = f"{BASE}/realms/{REALM}"
LEAK_CANARY = "LEAKED-TOKEN-CANARY-91c0ffee"


@pytest.fixture(scope="session")
def keycloak_spec() -> KeycloakSpec:
    require_peer(SPEC_PATH.is_file(), f"Keycloak OpenAPI description not found at {SPEC_PATH}")
    return load_spec()


def _serve(fake: FakeKeycloak, spec: KeycloakSpec) -> Iterator[FakeKeycloak]:
    """The fake behind respx (any other host is refused), and the contract check of everything it saw."""
    with respx.mock(base_url=BASE, assert_all_called=False, assert_all_mocked=True) as router:
        router.route().mock(side_effect=fake.handle)
        yield fake
        calls = [(call.request, call.optional_response) for call in router.calls]
    assert len(calls) == fake.answered, "the contract check must see every request the fake answered"
    report = check_calls(spec, calls, fake.prefix)
    assert not report.errors, "contract violations:\n" + "\n".join(report.errors)
    assert report.checked_requests + report.checked_oidc == len(calls)


@pytest.fixture
def keycloak(keycloak_spec: KeycloakSpec) -> Iterator[FakeKeycloak]:
    yield from _serve(FakeKeycloak(), keycloak_spec)


@pytest.fixture
def legacy_keycloak(keycloak_spec: KeycloakSpec) -> Iterator[FakeKeycloak]:
    """Keycloak 16 and older (WildFly): everything under /auth, administered from master."""
    yield from _serve(FakeKeycloak(prefix="/auth", admin_realm="master"), keycloak_spec)


def make_provider(base: str = BASE, *, dry: bool = False, **extra: Any) -> KeycloakProvider:
    table = {
        "name": "kc",
        "plugin": "keycloak",
        "base_url": base,
        "realm": REALM,
        "admin_client_id": ADMIN_CLIENT,
        "admin_client_secret_env": "RESPONDER_TEST_KC_ADMIN_SECRET",
        **extra,
    }
    return KeycloakProvider.from_config(table, build_client(base, always_dry_run=dry))


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPONDER_TEST_KC_ADMIN_SECRET", ADMIN_SECRET)
    monkeypatch.setenv("RESPONDER_TEST_KC_CLIENT_SECRET", CLIENT_SECRET)


@pytest.fixture
def provider(keycloak: FakeKeycloak) -> Iterator[KeycloakProvider]:
    plugin = make_provider()
    yield plugin
    plugin.close()


@pytest.fixture
def oauth_provider(keycloak: FakeKeycloak) -> Iterator[KeycloakProvider]:
    plugin = make_provider(client_id=CLIENT_ID, client_secret_env="RESPONDER_TEST_KC_CLIENT_SECRET")
    yield plugin
    plugin.close()


# ---- builders -----------------------------------------------------------------------------------------


def token(
    typ: str = "Bearer",
    *,
    sub: str | None = "user-1",
    sid: str | None = "session-1",
    azp: str = "account-console",
    iss: str = ISS,
    legacy_sid: bool = False,
) -> str:
    claims: dict[str, Any] = {"exp": 4102444800, "iat": 1767225600, "jti": LEAK_CANARY, "iss": iss, "typ": typ}
    claims["azp"] = azp
    if sub is not None:
        claims["sub"] = sub
    if sid is not None:
        claims["session_state" if legacy_sid else "sid"] = sid
    return kc_jwt(claims)


def identity_cookie(sub: str, sid: str, *, iss: str = ISS, legacy_sid: bool = False) -> str:
    return token("Serialized-ID", sub=sub, sid=sid, iss=iss, azp="", legacy_sid=legacy_sid)


def recorded(value: str, kind: Kind) -> dict[str, str]:
    """The claims the scanner keeps (a session cookie's own sid masked, as scan.mask_secret_claims does)."""
    claims = {k: str(v) for k, v in jwt.decode(value, options={"verify_signature": False}).items()}
    kept = {k: v for k, v in claims.items() if k in ("iss", "sub", "sid", "azp", "typ")}
    if kind is Kind.SESSION_COOKIE and "sid" in kept:
        kept["sid"] = "sha256:" + hashlib.sha256(kept["sid"].encode()).hexdigest()
    return kept


def finding(
    kind: Kind,
    value: str,
    claims: dict[str, str] | None = None,
    *,
    name: str = "authorization",
    where: Field = Field.HEADER,
    instance: str = "kc",
) -> Finding:
    if claims is None:
        claims = recorded(value, kind) if value.startswith("eyJ") else {}
    return Finding(
        fingerprint=hashlib.sha256(value.encode()).hexdigest(),
        kind=kind,
        detector="test",
        label="test",
        revocable=True,
        provider=ProviderRef(Family.KEYCLOAK, instance),
        claims=claims,
        expires_at=None,
        locations=(Location(where, name, host=HOST),),
        value=Secret(value),
    )


def cookie(name: str, value: str) -> Finding:
    return finding(Kind.SESSION_COOKIE, value, name=name, where=Field.COOKIE)


def request(
    verb: str, *, subject: Subject | None = None, credential: str | None = None, kind: Kind | None = None
) -> ActionRequest:
    return ActionRequest(
        action_id="action-1",
        provider="kc",
        verb=verb,
        fingerprint="fp",
        kind=kind,
        subject=subject,
        credential=Secret(credential) if credential is not None else None,
    )


def of(user: KcUser, login: str = "") -> Subject:
    return Subject("kc", user.id, login)


SECRETS = (ADMIN_SECRET, CLIENT_SECRET, LEAK_CANARY)


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in repr(text)


# ---- settings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"admin_client_secret_env": None}, "set admin_client_secret_file or admin_client_secret_env"),
        ({"admin_client_secret": "a"}, "not several"),
        ({"base_url": f"{BASE}/realms/{REALM}"}, "not a realm or admin URL"),
        ({"base_url": f"{BASE}/auth/admin/"}, "not a realm or admin URL"),
        ({"base_url": HOST}, "http(s) URL"),
        ({"realm": "https://sso.example.test/realms/corp"}, "a realm name"),
        ({"client_secret_env": "X"}, "set client_id too"),
        ({"admin_client_secrt": "typo"}, "admin_client_secrt"),
        ({"admin_client_secret_env": "RESPONDER_TEST_KC_UNSET"}, "is not set"),
    ],
)
def test_settings_errors_name_the_key(monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], problem: str) -> None:
    monkeypatch.delenv("RESPONDER_TEST_KC_UNSET", raising=False)
    table = {
        "name": "kc",
        "plugin": "keycloak",
        "base_url": BASE,
        "realm": REALM,
        "admin_client_id": ADMIN_CLIENT,
        "admin_client_secret_env": "RESPONDER_TEST_KC_ADMIN_SECRET",
        **extra,
    }
    table = {k: v for k, v in table.items() if v is not None}
    with pytest.raises(ConfigError, match=problem.replace("(", r"\(").replace(")", r"\)")) as raised:
        KeycloakProvider.from_config(table, build_client(BASE))
    assert ADMIN_SECRET not in str(raised.value)


def test_secret_from_a_file_and_the_protocols(tmp_path: Path) -> None:
    path = tmp_path / "kc-admin"
    path.write_text(ADMIN_SECRET + "\n")
    plugin = make_provider(BASE + "/", admin_client_secret_env=None, admin_client_secret_file=str(path))
    assert plugin.name == "kc"
    as_provider: Provider = plugin  # mypy proves the signatures; the runtime check proves the directory
    assert isinstance(as_provider, Directory)
    assert plugin.panic_verbs == ("end_all_sessions",)
    plugin.close()


# ---- claims and plan (no I/O) -------------------------------------------------------------------------


def test_claims_only_its_own_instance(provider: KeycloakProvider) -> None:
    assert provider.claims(cookie("KEYCLOAK_IDENTITY", identity_cookie("u", "s")))
    assert not provider.claims(finding(Kind.ACCESS_TOKEN, token(), instance="other"))


def test_the_identity_cookie_ends_its_session(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    current = cookie("KEYCLOAK_IDENTITY", identity_cookie("user-1", "session-1"))
    older = cookie("KEYCLOAK_IDENTITY_LEGACY", identity_cookie("user-1", "session-1", legacy_sid=True))
    expected = (Target(Verb.END_SESSION, uses_credential=True, subject=Subject("kc", "user-1")),)
    assert provider.plan(current) == provider.plan(older) == expected
    assert keycloak.seen == []


def test_the_old_clear_keycloak_session_names_realm_user_and_session(provider: KeycloakProvider) -> None:
    clear = cookie("KEYCLOAK_SESSION", f"{REALM}/user-1/session-1")
    assert provider.plan(clear) == (Target(Verb.END_SESSION, True, Subject("kc", "user-1")),)
    encoded = cookie("KEYCLOAK_SESSION_LEGACY", f"{REALM}%2Fuser-1%2Fsession-1")
    assert provider.plan(encoded) == (Target(Verb.END_SESSION, True, Subject("kc", "user-1")),)
    assert provider.plan(cookie("KEYCLOAK_SESSION", "master/user-1/session-1")) == ()


def test_a_hashed_keycloak_session_takes_its_user_from_the_artifact(provider: KeycloakProvider) -> None:
    hashed = cookie("KEYCLOAK_SESSION", session_hash("session-1"))
    id_token = finding(Kind.ID_TOKEN, token("ID", sub="user-1"))
    other_user = finding(Kind.ACCESS_TOKEN, token(sub="user-2"))
    other_realm = finding(Kind.ACCESS_TOKEN, token(sub="user-3", iss=f"{BASE}/realms/partners"))
    assert provider.plan(hashed, [id_token, other_realm]) == (Target(Verb.END_SESSION, True, Subject("kc", "user-1")),)
    needs_subject = (Target(Verb.END_ALL_SESSIONS, uses_credential=False, subject=None),)
    assert provider.plan(hashed) == needs_subject
    assert provider.plan(hashed, [id_token, other_user]) == needs_subject  # two users: never a guess


def test_auth_session_id_ends_the_sessions_of_the_artifacts_user(provider: KeycloakProvider) -> None:
    auth = cookie("AUTH_SESSION_ID", f"{uuid.uuid4()}.keycloak-0")
    id_token = finding(Kind.ID_TOKEN, token("ID", sub="user-1"))
    assert provider.plan(auth, [id_token]) == (Target(Verb.END_ALL_SESSIONS, False, Subject("kc", "user-1")),)
    assert provider.plan(auth) == (Target(Verb.END_ALL_SESSIONS, False, None),)
    assert provider.plan(cookie("JSESSIONID", "0123456789abcdef0123")) == ()  # not Keycloak's


def test_tokens_with_a_session_end_that_session(provider: KeycloakProvider) -> None:
    for kind, typ in ((Kind.ACCESS_TOKEN, "Bearer"), (Kind.REFRESH_TOKEN, "Refresh"), (Kind.JWT, "Bearer")):
        assert provider.plan(finding(kind, token(typ))) == (Target(Verb.END_SESSION, True, Subject("kc", "user-1")),)
    no_sub = finding(Kind.ACCESS_TOKEN, token(sub=None))
    assert provider.plan(no_sub) == (Target(Verb.END_SESSION, True, None),)


def test_a_token_without_a_session_ends_all_sessions_of_its_user(provider: KeycloakProvider) -> None:
    service_account = finding(Kind.ACCESS_TOKEN, token(sid=None))
    assert provider.plan(service_account) == (Target(Verb.END_ALL_SESSIONS, False, Subject("kc", "user-1")),)
    assert provider.plan(finding(Kind.ACCESS_TOKEN, token(sid=None, sub=None))) == ()
    action_token = finding(Kind.JWT, token("reset-credentials", sid=None))  # an e-mail link: no way to end it
    assert provider.plan(action_token) == ()
    assert provider.plan(finding(Kind.ID_TOKEN, token("ID"))) == ()


def test_an_offline_token_revokes_its_clients_offline_tokens(provider: KeycloakProvider) -> None:
    offline = finding(Kind.REFRESH_TOKEN, token("Offline", azp="mobile"))
    assert provider.plan(offline) == (Target(Verb.REVOKE_REFRESH_TOKENS, True, Subject("kc", "user-1")),)
    nameless = finding(Kind.REFRESH_TOKEN, token("Offline", sub=None))
    assert provider.plan(nameless) == (Target(Verb.REVOKE_REFRESH_TOKENS, False, None),)


def test_tokens_of_responders_client_are_revoked_by_rfc7009(oauth_provider: KeycloakProvider) -> None:
    for kind, typ in ((Kind.ACCESS_TOKEN, "Bearer"), (Kind.REFRESH_TOKEN, "Refresh"), (Kind.REFRESH_TOKEN, "Offline")):
        ours = finding(kind, token(typ, azp=CLIENT_ID))
        assert oauth_provider.plan(ours) == (Target(Verb.REVOKE_TOKEN, True, Subject("kc", "user-1")),)
    theirs = finding(Kind.ACCESS_TOKEN, token(azp="another-app"))
    assert oauth_provider.plan(theirs) == (Target(Verb.END_SESSION, True, Subject("kc", "user-1")),)


def test_only_this_realm_at_this_keycloak_is_planned(provider: KeycloakProvider) -> None:
    foreign = [
        token(iss=f"{BASE}/realms/master"),  # another realm: its admin would be needed
        token(iss=f"https://elsewhere.example.test/realms/{REALM}"),  # another Keycloak with the same realm name
        token(iss=f"{BASE}/application/o/corp/"),  # not Keycloak's issuer form
        token(iss=""),
    ]
    for value in foreign:
        assert provider.plan(finding(Kind.ACCESS_TOKEN, value)) == ()
    assert provider.plan(cookie("KEYCLOAK_IDENTITY", identity_cookie("u", "s", iss=f"{BASE}/realms/x"))) == ()
    assert provider.plan(finding(Kind.ACCESS_TOKEN, "opaque-value-0123456789")) == ()


def test_other_hosts_and_the_exact_issuer_setting(keycloak: FakeKeycloak) -> None:
    front = "https://login.example.test"
    by_hosts = make_provider(hosts=[HOST, "login.example.test"])
    assert by_hosts.plan(finding(Kind.ACCESS_TOKEN, token(iss=f"{front}/realms/{REALM}")))
    by_issuer = make_provider(issuer=f"{front}/realms/{REALM}/")
    assert by_issuer.plan(finding(Kind.ACCESS_TOKEN, token(iss=f"{front}/realms/{REALM}")))
    assert by_issuer.plan(finding(Kind.ACCESS_TOKEN, token())) == ()  # base_url's host, but not the issuer
    legacy = make_provider(BASE + "/auth")
    assert legacy.plan(finding(Kind.ACCESS_TOKEN, token(iss=f"{BASE}/auth/realms/{REALM}")))
    for plugin in (by_hosts, by_issuer, legacy):
        plugin.close()


# ---- END_SESSION --------------------------------------------------------------------------------------


def test_a_leaked_identity_cookie_ends_only_its_session(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    alice = keycloak.add_user("alice")
    leaked, other = keycloak.add_session(alice), keycloak.add_session(alice)
    req = request(Verb.END_SESSION, subject=of(alice), credential=identity_cookie(alice.id, leaked.id))
    assert provider.verify(req) is False  # live before
    outcome = provider.execute(req)
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.REVOKED,
        "ended the user session the leaked value belongs to",
    )
    assert outcome.subject == of(alice)
    assert keycloak.sessions_of(alice) == [other.id]
    assert f"DELETE /admin/realms/{REALM}/sessions/{leaked.id}" in keycloak.seen
    assert provider.verify(req) is True
    again = provider.execute(req)
    assert (again.status, again.detail) == (
        OutcomeStatus.ALREADY_INVALID,
        "end session: HTTP 404: no longer exists at Keycloak",
    )
    assert_no_secret(outcome, again)


def test_tokens_and_the_old_clear_cookie_end_their_session(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    alice = keycloak.add_user("alice")
    one, two, three = (keycloak.add_session(alice) for _ in range(3))
    for credential in (
        token("Refresh", sub=alice.id, sid=one.id),
        token(sub=alice.id, sid=two.id, legacy_sid=True),
        f"{REALM}/{alice.id}/{three.id}",
    ):
        outcome = provider.execute(request(Verb.END_SESSION, subject=of(alice), credential=credential))
        assert outcome.status is OutcomeStatus.REVOKED
    assert keycloak.sessions_of(alice) == []


def test_a_hashed_keycloak_session_is_found_among_the_users_sessions(
    provider: KeycloakProvider, keycloak: FakeKeycloak
) -> None:
    alice = keycloak.add_user("alice")
    keep, leaked = keycloak.add_session(alice), keycloak.add_session(alice)
    req = request(Verb.END_SESSION, subject=of(alice), credential=session_hash(leaked.id), kind=Kind.SESSION_COOKIE)
    assert provider.verify(req) is False
    outcome = provider.execute(req)
    assert outcome.status is OutcomeStatus.REVOKED
    assert outcome.subject == of(alice, "alice")  # learned from the session list
    assert keycloak.sessions_of(alice) == [keep.id]
    assert provider.verify(req) is True
    again = provider.execute(req)
    assert again.status is OutcomeStatus.ALREADY_INVALID
    assert again.detail == "end session: none of the user's live sessions has this KEYCLOAK_SESSION (ended already)"
    no_user = provider.execute(request(Verb.END_SESSION, credential=session_hash(leaked.id)))
    assert no_user.status is OutcomeStatus.FAILED_PERMANENT
    assert provider.verify(request(Verb.END_SESSION, credential=session_hash(keep.id))) is None


def test_a_session_value_of_another_realm_or_none_at_all_is_refused(provider: KeycloakProvider) -> None:
    foreign = provider.execute(request(Verb.END_SESSION, credential=token(iss=f"{BASE}/realms/master")))
    assert (foreign.status, foreign.detail) == (
        OutcomeStatus.FAILED_PERMANENT,
        "end session: the token is not of realm 'corp'",
    )
    sessionless = provider.execute(request(Verb.END_SESSION, credential=token(sid=None)))
    assert sessionless.detail == "end session: the token names no session"
    junk = provider.execute(request(Verb.END_SESSION, credential="not-a-keycloak-value"))
    assert junk.detail == "end session: the leaked value names no Keycloak session"
    missing = provider.execute(request(Verb.END_SESSION))
    assert missing.detail == "end session: the leaked value is not available"


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "detail"),
    [
        (403, {"error": "HTTP 403 Forbidden"}, {}, OutcomeStatus.FAILED_PERMANENT,
         "end session: HTTP 403: the service account of 'responder-admin' lacks the role manage-users "
         "(client realm-management)"),
        (429, {"error": "slow down"}, {"Retry-After": "7"}, OutcomeStatus.FAILED_TRANSIENT, "end session: HTTP 429"),
        (503, None, {"Retry-After": "3"}, OutcomeStatus.FAILED_TRANSIENT, "end session: HTTP 503"),
        (500, {"error": "unknown_error"}, {}, OutcomeStatus.FAILED_TRANSIENT, "end session: HTTP 500"),
        (404, {"error": "Realm not found."}, {}, OutcomeStatus.FAILED_PERMANENT,
         "end session: HTTP 404: Keycloak has no realm 'corp'"),
        (404, "<html>Not Found</html>", {NOT_KEYCLOAK: "1"}, OutcomeStatus.FAILED_PERMANENT,
         "end session: HTTP 404: no such endpoint (is base_url Keycloak's root URL, with /auth if used?)"),
        (400, {"error": "invalid session id"}, {}, OutcomeStatus.FAILED_PERMANENT, "end session: HTTP 400: refused"),
    ],
)  # fmt: skip
def test_status_meanings(
    provider: KeycloakProvider,
    keycloak: FakeKeycloak,
    status: int,
    body: Any,
    headers: dict[str, str],
    expected: OutcomeStatus,
    detail: str,
) -> None:
    alice = keycloak.add_user("alice")
    session = keycloak.add_session(alice)
    keycloak.fail("DELETE", "/sessions/", status, body, headers)
    outcome = provider.execute(
        request(Verb.END_SESSION, subject=of(alice), credential=token(sub=alice.id, sid=session.id))
    )
    assert (outcome.status, outcome.detail) == (expected, detail)
    assert outcome.retry_after == {429: 7.0, 503: 3.0}.get(status)
    assert outcome.subject == of(alice)


# ---- END_ALL_SESSIONS ---------------------------------------------------------------------------------


def test_logout_ends_every_session_of_the_user_only(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    alice, bob = keycloak.add_user("alice", sessions=2), keycloak.add_user("bob", sessions=1)
    req = request(Verb.END_ALL_SESSIONS, subject=of(alice))
    assert provider.verify(req) is False
    outcome = provider.execute(req)
    assert outcome.status is OutcomeStatus.REVOKED
    assert outcome.detail.startswith("ended every session of the user; their not-before is now")
    assert keycloak.sessions_of(alice) == []
    assert len(keycloak.sessions_of(bob)) == 1
    assert alice.not_before > 0
    assert f"POST /admin/realms/{REALM}/users/{alice.id}/logout" in keycloak.seen
    assert provider.verify(req) is True


def test_logout_of_an_unknown_user_leaves_nothing_to_end(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    outcome = provider.execute(request(Verb.END_ALL_SESSIONS, subject=Subject("kc", "gone-user")))
    assert outcome.status is OutcomeStatus.ALREADY_INVALID
    assert outcome.detail == "no user gone-user in realm 'corp': no session of theirs can be left"
    assert provider.verify(request(Verb.END_ALL_SESSIONS, subject=Subject("kc", "gone-user"))) is None
    assert provider.execute(request(Verb.END_ALL_SESSIONS)).status is OutcomeStatus.FAILED_PERMANENT


# ---- REVOKE_REFRESH_TOKENS (offline tokens) -----------------------------------------------------------


def test_a_leaked_offline_token_revokes_its_clients_offline_tokens(
    provider: KeycloakProvider, keycloak: FakeKeycloak
) -> None:
    alice = keycloak.add_user("alice")
    keycloak.add_offline(alice, "mobile")
    keycloak.add_offline(alice, "desktop", consent=True)
    req = request(
        Verb.REVOKE_REFRESH_TOKENS, subject=of(alice), credential=token("Offline", sub=alice.id, azp="mobile")
    )
    assert provider.verify(req) is False
    outcome = provider.execute(req)
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.REVOKED,
        "revoked the offline tokens and consent of 1 client(s) of client 'mobile'",
    )
    assert list(keycloak.offline) == [(alice.id, "desktop")]
    assert f"DELETE /admin/realms/{REALM}/users/{alice.id}/consents/mobile" in keycloak.seen
    assert provider.verify(req) is True
    again = provider.execute(req)
    assert (again.status, again.detail) == (
        OutcomeStatus.ALREADY_INVALID,
        "the user holds no offline token of client 'mobile'",
    )


def test_without_the_token_every_offline_token_of_the_user_is_revoked(
    provider: KeycloakProvider, keycloak: FakeKeycloak
) -> None:
    alice, bob = keycloak.add_user("alice"), keycloak.add_user("bob")
    keycloak.add_offline(alice, "mobile")
    keycloak.add_offline(alice, "desktop", consent=True)
    keycloak.add_offline(bob, "mobile")
    keycloak.client_uuid("consent-only")
    keycloak.consents.add((alice.id, "consent-only"))  # a consent without offline tokens: left alone
    req = request(Verb.REVOKE_REFRESH_TOKENS, subject=of(alice))
    outcome = provider.execute(req)
    assert outcome.detail == "revoked the offline tokens and consent of 2 client(s)"
    assert list(keycloak.offline) == [(bob.id, "mobile")]
    assert (alice.id, "consent-only") in keycloak.consents
    assert provider.verify(req) is True


def test_an_offline_token_revoked_meanwhile_counts_as_gone(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    alice = keycloak.add_user("alice")
    keycloak.add_offline(alice, "mobile")
    keycloak.add_offline(alice, "desktop")
    keycloak.fail("DELETE", "/consents/desktop$", 404, {"error": "Consent nor offline token not found"})
    keycloak.fail("DELETE", "/consents/mobile$", 503, headers={"Retry-After": "2"})
    outcome = provider.execute(request(Verb.REVOKE_REFRESH_TOKENS, subject=of(alice)))
    assert outcome.status is OutcomeStatus.FAILED_TRANSIENT
    assert outcome.detail == "revoke offline tokens 2 of 2: HTTP 503 (0 revoked before)"
    assert outcome.retry_after == 2.0


def test_reading_consents_needs_view_users(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    alice = keycloak.add_user("alice")
    keycloak.admin_roles = frozenset({"manage-users"})
    outcome = provider.execute(request(Verb.REVOKE_REFRESH_TOKENS, subject=of(alice)))
    assert outcome.status is OutcomeStatus.FAILED_PERMANENT
    assert outcome.detail.endswith("lacks the role view-users (client realm-management)")


def test_a_deleted_user_leaves_nothing_and_a_foreign_answer_is_named(
    provider: KeycloakProvider, keycloak: FakeKeycloak
) -> None:
    gone = Subject("kc", str(uuid.uuid4()))
    offline = provider.execute(request(Verb.REVOKE_REFRESH_TOKENS, subject=gone))
    assert (offline.status, offline.detail) == (
        OutcomeStatus.ALREADY_INVALID,
        "list offline tokens: HTTP 404: no longer exists at Keycloak",
    )
    hashed = provider.execute(request(Verb.END_SESSION, subject=gone, credential=session_hash("s")))
    assert hashed.status is OutcomeStatus.ALREADY_INVALID
    alice = keycloak.add_user("alice")
    keycloak.fail("GET", "/consents$", 200, "<html>Sign in</html>", headers={NOT_KEYCLOAK: "1"})
    foreign = provider.execute(request(Verb.REVOKE_REFRESH_TOKENS, subject=of(alice)))
    assert (foreign.status, foreign.detail) == (
        OutcomeStatus.FAILED_PERMANENT,
        "list offline tokens: the answer is not Keycloak's JSON (wrong base_url?)",
    )
    assert foreign.subject == of(alice)


# ---- REVOKE_TOKEN (RFC 7009) --------------------------------------------------------------------------


def test_rfc7009_revocation_and_verification(oauth_provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    alice = keycloak.add_user("alice")
    value = token("Refresh", sub=alice.id, azp=CLIENT_ID)
    keycloak.oauth_tokens[value] = CLIENT_ID
    req = request(Verb.REVOKE_TOKEN, credential=value, kind=Kind.REFRESH_TOKEN)
    assert oauth_provider.resolve(req) == of(alice, "alice")  # by introspection
    assert oauth_provider.verify(req) is False
    outcome = oauth_provider.execute(req)
    assert outcome.status is OutcomeStatus.REVOKED
    assert outcome.detail == "revocation: HTTP 200 (Keycloak answers the same for a token it does not know)"
    assert value not in keycloak.oauth_tokens
    assert oauth_provider.verify(req) is True
    assert f"POST /realms/{REALM}/protocol/openid-connect/revoke" in keycloak.seen
    assert_no_secret(outcome)


def test_revocation_refusals_are_named(oauth_provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    theirs = oauth_provider.execute(request(Verb.REVOKE_TOKEN, credential=token(azp="another-app")))
    assert (theirs.status, theirs.detail) == (
        OutcomeStatus.FAILED_PERMANENT,
        "revocation: HTTP 400 (invalid_request): the token was not issued to 'webapp'",
    )
    id_token = oauth_provider.execute(request(Verb.REVOKE_TOKEN, credential=token("ID", azp=CLIENT_ID)))
    assert id_token.status is OutcomeStatus.UNSUPPORTED
    keycloak.fail("POST", "/revoke$", 503, headers={"Retry-After": "5"})
    busy = oauth_provider.execute(request(Verb.REVOKE_TOKEN, credential=token(azp=CLIENT_ID)))
    assert (busy.status, busy.retry_after) == (OutcomeStatus.FAILED_TRANSIENT, 5.0)


def test_refused_client_credentials(monkeypatch: pytest.MonkeyPatch, keycloak: FakeKeycloak) -> None:
    monkeypatch.setenv("RESPONDER_TEST_KC_CLIENT_SECRET", "wrong")
    plugin = make_provider(client_id=CLIENT_ID, client_secret_env="RESPONDER_TEST_KC_CLIENT_SECRET")
    outcome = plugin.execute(request(Verb.REVOKE_TOKEN, credential=token(azp=CLIENT_ID), kind=Kind.ACCESS_TOKEN))
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.FAILED_PERMANENT,
        "revocation: HTTP 401: client credentials refused for client 'webapp'",
    )
    assert plugin.check().detail.endswith("client credentials refused for OAuth client 'webapp'")
    plugin.close()


def test_revocation_needs_a_client(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    outcome = provider.execute(request(Verb.REVOKE_TOKEN, credential=token(), kind=Kind.ACCESS_TOKEN))
    assert outcome.status is OutcomeStatus.UNSUPPORTED
    assert provider.verify(request(Verb.REVOKE_TOKEN, credential=token())) is None
    assert provider.execute(request("delete_api_token")).status is OutcomeStatus.UNSUPPORTED
    assert keycloak.seen == []


# ---- the admin token ----------------------------------------------------------------------------------


def test_the_admin_token_is_cached_until_shortly_before_it_expires(
    provider: KeycloakProvider, keycloak: FakeKeycloak
) -> None:
    alice = keycloak.add_user("alice", sessions=1)
    now = [1000.0]
    provider._tokens.clock = lambda: now[0]
    for _ in range(3):
        provider.verify(request(Verb.END_ALL_SESSIONS, subject=of(alice)))
    assert keycloak.token_requests == 1
    now[0] += 300 - 31  # 300 s lifetime, renewed 30 s early
    provider.verify(request(Verb.END_ALL_SESSIONS, subject=of(alice)))
    assert keycloak.token_requests == 1
    now[0] += 2
    provider.verify(request(Verb.END_ALL_SESSIONS, subject=of(alice)))
    assert keycloak.token_requests == 2
    token_line = f"POST /realms/{REALM}/protocol/openid-connect/token"
    assert keycloak.seen.count(token_line) == 2


def test_a_refused_admin_token_is_renewed_once(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    alice = keycloak.add_user("alice", sessions=1)
    assert provider.verify(request(Verb.END_ALL_SESSIONS, subject=of(alice))) is False
    keycloak.expire_admin_tokens()
    assert provider.execute(request(Verb.END_ALL_SESSIONS, subject=of(alice))).status is OutcomeStatus.REVOKED
    assert keycloak.token_requests == 2
    keycloak.fail("POST", "/logout$", 401, {"error": "HTTP 401 Unauthorized"}, times=2)
    outcome = provider.execute(request(Verb.END_ALL_SESSIONS, subject=of(alice)))
    assert outcome.status is OutcomeStatus.FAILED_PERMANENT
    assert outcome.detail == (
        "log the user out: HTTP 401: Keycloak refused responder's admin token although freshly issued "
        "(admin_realm 'corp' must be 'master' or 'corp')"
    )
    assert keycloak.token_requests == 3  # one renewal, not a loop


@pytest.mark.parametrize(
    ("status", "body", "expected", "detail"),
    [
        (401, {"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"},
         OutcomeStatus.FAILED_PERMANENT,
         "admin token: HTTP 401: Keycloak refused the credentials of admin client 'responder-admin' of realm 'corp'"),
        (400, {"error": "unauthorized_client", "error_description": "Client not enabled to retrieve service account"},
         OutcomeStatus.FAILED_PERMANENT,
         "admin token: HTTP 400: admin client 'responder-admin' of realm 'corp' may not use client credentials "
         "(enable its service account)"),
        (404, {"error": "Realm does not exist"}, OutcomeStatus.FAILED_PERMANENT,
         "admin token: HTTP 404: no realm 'corp' (wrong base_url, /auth prefix or admin_realm?)"),
        (503, None, OutcomeStatus.FAILED_TRANSIENT, "admin token: HTTP 503"),
        (200, "<html>login</html>", OutcomeStatus.FAILED_PERMANENT,
         "admin token: the answer is not Keycloak's JSON (wrong base_url?)"),
    ],
)  # fmt: skip
def test_admin_token_failures(
    provider: KeycloakProvider, keycloak: FakeKeycloak, status: int, body: Any, expected: OutcomeStatus, detail: str
) -> None:
    alice = keycloak.add_user("alice", sessions=1)
    keycloak.fail("POST", "/token$", status, body)
    outcome = provider.execute(request(Verb.END_ALL_SESSIONS, subject=of(alice)))
    assert (outcome.status, outcome.detail) == (expected, detail)
    assert outcome.subject == of(alice)
    assert len(keycloak.sessions_of(alice)) == 1


def test_threads_share_one_admin_token(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    users = [keycloak.add_user(f"user{n}", sessions=1) for n in range(16)]
    start = threading.Barrier(8)

    def end(user: KcUser) -> Outcome:
        start.wait(timeout=5)  # eight calls at once, twice
        return provider.execute(request(Verb.END_ALL_SESSIONS, subject=of(user)))

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(end, users))
    assert {o.status for o in outcomes} == {OutcomeStatus.REVOKED}
    assert keycloak.token_requests == 1
    assert keycloak.sessions == {}


def test_keycloak_16_under_auth_administered_from_master(legacy_keycloak: FakeKeycloak) -> None:
    plugin = make_provider(BASE + "/auth", admin_realm="master")
    alice = legacy_keycloak.add_user("alice")
    session = legacy_keycloak.add_session(alice)
    leaked = cookie("KEYCLOAK_IDENTITY", identity_cookie(alice.id, session.id, iss=f"{BASE}/auth/realms/{REALM}"))
    (target,) = plugin.plan(leaked)
    outcome = plugin.execute(request(target.verb, subject=target.subject, credential=leaked.value.reveal()))
    assert outcome.status is OutcomeStatus.REVOKED
    assert legacy_keycloak.seen[:2] == [
        "POST /auth/realms/master/protocol/openid-connect/token",
        f"DELETE /auth/admin/realms/{REALM}/sessions/{session.id}",
    ]
    result = plugin.check()
    assert result.ok, result.detail
    assert "holds manage-users" in result.detail  # read from the client corp-realm of master
    plugin.close()


# ---- resolve and dry runs -----------------------------------------------------------------------------


def test_resolve_names_the_user_with_reads_only(oauth_provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    alice = keycloak.add_user("alice", sessions=1)
    with dry_run():
        assert oauth_provider.resolve(request(Verb.END_ALL_SESSIONS, subject=of(alice))) == of(alice, "alice")
        unknown = oauth_provider.resolve(request(Verb.END_SESSION, subject=Subject("kc", "nobody")))
        nameless = oauth_provider.resolve(request(Verb.REVOKE_TOKEN, credential=token(azp=CLIENT_ID)))
    assert unknown == Subject("kc", "nobody")
    assert nameless is None  # not live: introspection names nobody
    assert all(line.startswith(("GET ", "POST /realms/corp/protocol/openid-connect/")) for line in keycloak.seen)
    assert len(keycloak.sessions) == 1


@pytest.mark.parametrize(
    "verb",
    [Verb.END_SESSION, Verb.END_ALL_SESSIONS, Verb.REVOKE_REFRESH_TOKENS, Verb.REVOKE_TOKEN],
)
def test_a_dry_run_client_sends_nothing_that_changes_keycloak(keycloak: FakeKeycloak, verb: str) -> None:
    plugin = make_provider(dry=True, client_id=CLIENT_ID, client_secret_env="RESPONDER_TEST_KC_CLIENT_SECRET")
    alice = keycloak.add_user("alice")
    session = keycloak.add_session(alice)
    keycloak.add_offline(alice, CLIENT_ID)
    credential = session_hash(session.id) if verb == Verb.END_SESSION else token("Offline", sub=alice.id, azp=CLIENT_ID)
    keycloak.oauth_tokens[credential] = CLIENT_ID
    req = request(verb, subject=of(alice), credential=credential)
    assert plugin.resolve(req) == of(alice, "alice")
    with pytest.raises(DryRunViolation):
        plugin.execute(req)
    mutating = [line for line in keycloak.seen if not line.startswith("GET ")]
    assert set(mutating) <= {
        f"POST /realms/{REALM}/protocol/openid-connect/token",  # the admin token, marked read-only
        f"POST /realms/{REALM}/protocol/openid-connect/token/introspect",  # introspection, marked read-only
    }
    assert (len(keycloak.sessions), len(keycloak.offline), len(keycloak.oauth_tokens)) == (1, 1, 1)
    plugin.close()


# ---- check --------------------------------------------------------------------------------------------


def test_check_proves_credentials_and_roles(oauth_provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    result = oauth_provider.check()
    assert result == CheckResult(
        True,
        "admin client 'responder-admin' authenticated at realm 'corp'; may read users and groups of realm 'corp' "
        "and holds manage-users; OAuth client 'webapp' accepted",
    )


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "detail"),
    [
        ("POST", "/token$", 401, {"error": "invalid_client"},
         "admin token: HTTP 401: Keycloak refused the credentials of admin client 'responder-admin' of realm 'corp'"),
        ("POST", "/token$", 0, None,
         f"cannot reach {BASE}/realms/corp: ConnectError (wrong base_url?)"),
        ("POST", "/token$", 404, "<html>Not Found</html>",
         "admin token: HTTP 404: no realm 'corp' (wrong base_url, /auth prefix or admin_realm?)"),
        ("GET", "/groups$", 403, {"error": "HTTP 403 Forbidden"},
         "admin client 'responder-admin' authenticated at realm 'corp', but: missing role query-groups (or "
         "view-users) of client realm-management"),
        ("GET", "/users$", 404, {"error": "Realm not found."},
         "admin client 'responder-admin' authenticated at realm 'corp', but: GET /users: HTTP 404: Keycloak has no "
         "realm 'corp'"),
        ("GET", "/users$", 200, "<html>login</html>",
         f"admin client 'responder-admin' authenticated at realm 'corp', but: GET {BASE}/admin/realms/corp/users did "
         "not answer as Keycloak does: wrong base_url?"),
    ],
)  # fmt: skip
def test_check_says_exactly_what_is_wrong(
    provider: KeycloakProvider, keycloak: FakeKeycloak, method: str, path: str, status: int, body: Any, detail: str
) -> None:
    headers = {NOT_KEYCLOAK: "1"} if isinstance(body, str) else {}
    keycloak.fail(method, path, status, body, headers)
    result = provider.check()
    assert (result.ok, result.detail) == (False, detail)


def test_check_reads_manage_users_from_the_admin_token(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    keycloak.admin_roles = frozenset({"view-users"})
    result = provider.check()
    assert (result.ok, result.detail) == (
        False,
        "admin client 'responder-admin' authenticated at realm 'corp', but: missing role manage-users of client "
        "realm-management (needed to end sessions)",
    )
    keycloak.admin_roles = frozenset({"view-users", "manage-users"})
    keycloak.roles_in_token = False
    keycloak.expire_admin_tokens()
    provider._tokens.clock = lambda: 1e12  # the cached token is past its time: a new one is fetched
    result = provider.check()
    assert result.ok
    assert result.detail.endswith("cannot tell whether manage-users is granted (the admin token lists no roles)")


def test_only_the_configured_host_is_ever_called(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    alice = keycloak.add_user("alice", sessions=1)
    provider.execute(request(Verb.END_ALL_SESSIONS, subject=of(alice)))
    assert keycloak.seen
    with pytest.raises(AllMockedAssertionError):
        httpx.get("https://elsewhere.example.test/")


# ---- directory (panic) --------------------------------------------------------------------------------


def test_find_user_by_id_username_or_email(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    alice = keycloak.add_user("alice")
    assert provider.find_user(alice.id) == of(alice, "alice")
    assert provider.find_user("Alice") == of(alice, "alice")
    assert provider.find_user("alice@example.test") == of(alice, "alice")
    assert provider.find_user("nobody") is None
    assert provider.find_user("nobody@example.test") is None
    assert f"GET /admin/realms/{REALM}/users?username=alice&exact=true" not in keycloak.seen  # case kept as given
    assert f"GET /admin/realms/{REALM}/users?email=alice%40example.test&exact=true" in keycloak.seen


def test_find_user_never_guesses_between_two(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    keycloak.add_user("alice")
    twin = keycloak.add_user("alice2")
    twin.email = "alice@example.test"  # realms may allow duplicate e-mails
    with pytest.raises(DirectoryError, match=r"kc: 2 users have the email 'alice@example.test'; give the id"):
        provider.find_user("alice@example.test")


def test_directory_refusals_are_errors_naming_the_role(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    keycloak.admin_roles = frozenset({"manage-users"})
    with pytest.raises(DirectoryError, match="lacks the role query-users"):
        list(provider.all_users())
    keycloak.fail("POST", "/token$", 0)
    keycloak.expire_admin_tokens()
    provider._tokens.clock = lambda: 1e12
    with pytest.raises(DirectoryError, match=f"kc: find user: cannot reach {BASE}: ConnectError"):
        provider.find_user("alice")


def test_group_members_across_pages(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    members = [keycloak.add_user(f"member{n:03d}") for n in range(250)]
    members[7].enabled = False
    outsider = keycloak.add_user("outsider")
    parent = keycloak.add_group("engineering", [outsider])
    keycloak.add_group("oncall", members, parent=parent)
    found = list(provider.group_members("oncall"))
    assert len(found) == 249
    assert of(members[7], "member007") not in found
    pages = [line for line in keycloak.seen if "/members?" in line]
    assert [line.split("first=")[1].split("&")[0] for line in pages] == ["0", "100", "200"]
    assert f"GET /admin/realms/{REALM}/groups?search=oncall&exact=true&briefRepresentation=true&first=0&max=100" in (
        keycloak.seen
    )
    by_path = list(provider.group_members("/engineering/oncall"))
    by_id = list(provider.group_members(keycloak.groups[0].children[0].id))
    assert by_path == by_id == found
    assert list(provider.group_members("engineering")) == [of(outsider, "outsider")]  # direct members only


def test_unknown_and_ambiguous_groups(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    keycloak.add_group("oncall", parent=keycloak.add_group("emea"))
    keycloak.add_group("oncall", parent=keycloak.add_group("apac"))
    with pytest.raises(DirectoryError, match=r"several groups are named 'oncall' \(/apac/oncall, /emea/oncall\)"):
        list(provider.group_members("oncall"))
    with pytest.raises(DirectoryError, match="kc: no group named 'nobody' in realm 'corp'"):
        list(provider.group_members("nobody"))
    assert list(provider.group_members("/emea/oncall")) == []


def test_all_users_across_pages_without_following_links(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    users = [keycloak.add_user(f"user{n:03d}") for n in range(230)]
    users[5].enabled = False
    keycloak.page_link = "https://elsewhere.example.test/admin/realms/corp/users?first=100"
    found = list(provider.all_users())
    assert len(found) == 229
    assert of(users[5], "user005") not in found
    pages = [line for line in keycloak.seen if line.startswith(f"GET /admin/realms/{REALM}/users?")]
    assert [line.split("first=")[1].split("&")[0] for line in pages] == ["0", "100", "200"]


def test_a_server_ignoring_first_is_caught(provider: KeycloakProvider, keycloak: FakeKeycloak) -> None:
    for n in range(150):
        keycloak.add_user(f"user{n:03d}")
    keycloak.ignore_first = True
    with pytest.raises(DirectoryError, match="list users: Keycloak answered the same page twice"):
        list(provider.all_users())


# ---- no secret anywhere -------------------------------------------------------------------------------


def test_no_secret_reaches_outcomes_checks_errors_or_logs(
    monkeypatch: pytest.MonkeyPatch, keycloak: FakeKeycloak, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    plugin = make_provider(client_id=CLIENT_ID, client_secret_env="RESPONDER_TEST_KC_CLIENT_SECRET")
    alice = keycloak.add_user("alice")
    session = keycloak.add_session(alice)
    keycloak.add_offline(alice, "mobile")
    leaked = [
        identity_cookie(alice.id, session.id),
        token("Offline", sub=alice.id, azp="mobile"),
        token(sub=alice.id, azp=CLIENT_ID),
    ]
    texts: list[object] = []
    with structlog.testing.capture_logs() as events:
        for value in leaked:
            for target in plugin.plan(finding(Kind.ACCESS_TOKEN, value)):
                req = request(target.verb, subject=target.subject, credential=value)
                texts += [plugin.resolve(req), plugin.execute(req), plugin.verify(req), plugin.execute(req)]
        texts.append(plugin.check())
        keycloak.fail("POST", "/token$", 401, {"error": "invalid_client", "error_description": ADMIN_SECRET})
        keycloak.expire_admin_tokens()
        plugin._tokens.clock = lambda: 1e12
        texts += [plugin.execute(request(Verb.END_ALL_SESSIONS, subject=of(alice))), plugin.check()]
        keycloak.fail("POST", "/token$", 401, {"error": "invalid_client"})
        try:
            plugin.find_user("alice")
        except DirectoryError as exc:
            texts.append(str(exc))
        monkeypatch.setenv("RESPONDER_TEST_KC_CLIENT_SECRET", "wrong-" + CLIENT_SECRET)
        other = make_provider(client_id=CLIENT_ID, client_secret_env="RESPONDER_TEST_KC_CLIENT_SECRET")
        texts.append(other.execute(request(Verb.REVOKE_TOKEN, credential=leaked[2])))
        other.close()
    texts += [events, caplog.text, repr(plugin.__dict__)]
    assert len(texts) > 10
    assert_no_secret(*texts)
    plugin.close()


# ---- end to end through responder's scanner -----------------------------------------------------------


def test_a_captured_login_is_planned_and_ended_from_what_the_scanner_records(
    provider: KeycloakProvider, keycloak: FakeKeycloak, tmp_path: Path
) -> None:
    """The real detectors and attribution: the identity cookie's sid is masked in the recorded claims, so the plugin
    must read it from the value; the hashed KEYCLOAK_SESSION gets its user from the cookie beside it."""
    alice, bob = keycloak.add_user("alice"), keycloak.add_user("bob", sessions=1)
    session, other = keycloak.add_session(alice), keycloak.add_session(alice)
    identity = identity_cookie(alice.id, session.id)
    capture = harbuild.write(
        tmp_path / "ticket.har",
        harbuild.har(
            harbuild.entry(
                f"{BASE}/realms/{REALM}/account/",
                request_cookies=[("KEYCLOAK_IDENTITY", identity), ("KEYCLOAK_SESSION", session_hash(session.id))],
            ),
        ),
    )
    settings = load_settings(
        None,
        data_dir=tmp_path / "data",
        providers=[{"name": "kc", "plugin": "keycloak", "base_url": BASE, "realm": REALM,
                    "admin_client_id": ADMIN_CLIENT, "admin_client_secret_env": "RESPONDER_TEST_KC_ADMIN_SECRET"}],
    )  # fmt: skip
    report = Scanner(load_readers(), Fingerprinter(TEST_KEY), settings.scan, settings.providers).scan(capture)
    findings = {f.locations[0].name: f for f in report.findings}
    assert set(findings) == {"KEYCLOAK_IDENTITY", "KEYCLOAK_SESSION"}
    assert all(f.provider.instance == "kc" and f.revocable for f in findings.values())
    assert findings["KEYCLOAK_IDENTITY"].claims["sid"].startswith("sha256:")
    outcomes = []
    for name, found in findings.items():
        related = [f for f in report.findings if f is not found]
        (target,) = provider.plan(found, related)
        assert target == Target(Verb.END_SESSION, True, of(alice)), name
        outcomes.append(provider.execute(request(target.verb, subject=target.subject, credential=found.value.reveal(),
                                                 kind=found.kind)))  # fmt: skip
    assert [o.status for o in outcomes] == [OutcomeStatus.REVOKED, OutcomeStatus.ALREADY_INVALID]
    assert keycloak.sessions_of(alice) == [other.id]
    assert len(keycloak.sessions_of(bob)) == 1


# ---- the contract check itself ------------------------------------------------------------------------


def _call(method: str, path: str, *, bearer: bool = True, **kwargs: Any) -> httpx.Request:
    headers = {"Authorization": "Bearer admin-token"} if bearer else {}
    return httpx.Request(method, BASE + path, headers=headers, **kwargs)


def test_the_contract_check_rejects_wrong_requests_and_fixtures(keycloak_spec: KeycloakSpec) -> None:
    admin = f"/admin/realms/{REALM}"
    wrong: list[tuple[httpx.Request, httpx.Response | None]] = [
        (_call("DELETE", f"{admin}/sessions/s1?isOffline=true"), None),  # not in 23.0.7
        (_call("GET", f"{admin}/sessions/s1"), None),  # no such operation
        (_call("POST", f"{admin}/users/u1/sessions"), None),
        (_call("GET", f"{admin}/userz"), None),  # no such path
        (_call("GET", f"{admin}/users", bearer=False), None),  # the spec requires a bearer token
        (_call("GET", f"{admin}/groups/g1/members?search=x"), None),  # members takes no search
        (_call("GET", "/somewhere/else"), None),
        (_call("GET", f"{admin}/users/u1/sessions"), httpx.Response(200, json=[{"id": 5}])),  # id is a string
        (_call("POST", f"/realms/{REALM}/protocol/openid-connect/token", data={"grant_type": "password"}), None),
        (_call("POST", f"/realms/{REALM}/protocol/openid-connect/revoke", data={"token_type_hint": "id_token"}), None),
    ]
    for call in wrong:
        report = check_calls(keycloak_spec, [call])
        assert report.errors, call
        assert report.checked_responses == 0


def test_the_contract_check_accepts_and_lists_its_skips(keycloak_spec: KeycloakSpec) -> None:
    admin = f"/auth/admin/realms/{REALM}"
    basic = {"Authorization": "Basic cmVzcG9uZGVyOnNlY3JldA=="}
    right: list[tuple[httpx.Request, httpx.Response | None]] = [
        (_call("DELETE", f"{admin}/sessions/s1"), httpx.Response(204)),
        (_call("POST", f"{admin}/users/u1/logout"), httpx.Response(204)),
        (_call("GET", f"{admin}/users?username=a&exact=true&first=0&max=1"), httpx.Response(200, json=[])),
        (
            httpx.Request("POST", f"{BASE}/auth/realms/master/protocol/openid-connect/token", headers=basic,
                          data={"grant_type": "client_credentials"}),
            httpx.Response(200, json={"access_token": "x", "expires_in": 60}),
        ),
    ]  # fmt: skip
    report = check_calls(keycloak_spec, right, "/auth")
    assert report.errors == []
    assert (report.checked_requests, report.checked_responses, report.checked_oidc) == (3, 2, 1)
    assert report.skipped == [f"POST {admin}/users/u1/logout: HTTP 204 is not declared in the spec"]
