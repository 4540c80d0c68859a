"""The Google Workspace plugin against a discovery-shaped fake Google (respx). Every request the plugin sends and
every fixture served in these tests is checked by the `google` fixture against the Directory API discovery
document and the OAuth endpoint table (tests/providers/google_contract.py)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from providers._google_auth import REFRESH_MARGIN
from providers.google import DIRECTORY_URL, OAUTH_URL, SCOPES, GoogleProvider
from responder.errors import ConfigError, DirectoryError
from responder.http import DryRunViolation, build_client, dry_run
from responder.interfaces import CheckResult
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
from tests.providers.google_contract import (
    NOT_GOOGLE,
    OAUTH2_V2_SPEC,
    OAUTH_HOST,
    Discovery,
    check_calls,
)

DIRECTORY_HOST = "admin.googleapis.com"
TOKEN_URI = f"{OAUTH_URL}/token"
ADMIN = "responder-admin@example.com"
DOMAIN = "example.com"
CUSTOMER = "C01abc234"
SA_EMAIL = "responder@responder-prj.iam.gserviceaccount.com"
SA_CLIENT_ID = "118234567890123456789"
KEY_ID = "4f2a9c0d1e2b3a4f5e6d7c8b9a0f1e2d3c4b5a69"
APP = "123456789012-mailapp.apps.googleusercontent.com"
OTHER_APP = "987654321098-notes.apps.googleusercontent.com"
LEAKED_ACCESS = "ya29.a0AfB_byC-leaked-access-token-canary-Zx81Qw"
LEAKED_REFRESH = "1//0gLeaked-refresh-token-canary-abcdefghijklmnopqrstu"
TS = "2026-01-02T03:04:05.000Z"
ENVELOPE_403_SCOPE = {
    "error": {
        "code": 403,
        "message": "Request had insufficient authentication scopes.",
        "errors": [{"message": "Insufficient Permission", "domain": "global", "reason": "insufficientPermissions"}],
        "status": "PERMISSION_DENIED",
    }
}
ENVELOPE_403_FORBIDDEN = {
    "error": {
        "code": 403,
        "message": "Not Authorized to access this resource/api",
        "errors": [
            {"message": "Not Authorized to access this resource/api", "domain": "global", "reason": "forbidden"}
        ],
    }
}
ENVELOPE_403_RATE = {
    "error": {
        "code": 403,
        "message": "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user'",
        "errors": [{"message": "Quota exceeded", "domain": "usageLimits", "reason": "userRateLimitExceeded"}],
        "status": "PERMISSION_DENIED",
    }
}


# ---- a fake Google -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceAccount:
    pem: str
    public_key: Any


@pytest.fixture(scope="session")
def service_account() -> ServiceAccount:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return ServiceAccount(pem, key.public_key())


@pytest.fixture(scope="session")
def discovery() -> Discovery:
    return Discovery.load()


@dataclass
class GUser:
    id: str
    email: str
    suspended: bool = False
    customer: str = CUSTOMER
    grants: dict[str, str] = field(default_factory=dict)  # client id → application name


@dataclass
class Failure:
    method: str
    path: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int


@dataclass
class FakeGoogle:
    """Just enough of the Directory API and Google's OAuth endpoints, with the shapes of the discovery document."""

    public_key: Any
    users: list[GUser] = field(default_factory=list)
    groups: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # group email → Member resources
    access_tokens: dict[str, tuple[str, str]] = field(default_factory=dict)  # value → (user id, client id)
    refresh_tokens: set[str] = field(default_factory=set)
    tokeninfo_names: tuple[str, ...] = ("sub", "email")  # what tokeninfo reveals about the user
    signed_out: list[str] = field(default_factory=list)
    admin_tokens: set[str] = field(default_factory=set)
    issued: int = 0
    assertions: list[dict[str, Any]] = field(default_factory=list)
    grant_error: tuple[int, dict[str, str]] | None = None
    leeway: float = 0.0  # seconds the plugin's clock may run ahead (tests that move it)
    next_page_tokens: list[str] = field(default_factory=list)  # served instead of our own page tokens
    seen: list[str] = field(default_factory=list)
    answered: int = 0
    failures: list[Failure] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- state -------------------------------------------------------------------------------------

    def add_user(self, number: int, name: str, *, suspended: bool = False, grants: tuple[str, ...] = ()) -> GUser:
        user = GUser(f"1{number:020d}", f"{name}@{DOMAIN}", suspended, grants={c: f"App {c[:4]}" for c in grants})
        self.users.append(user)
        return user

    def leak_access_token(self, user: GUser, client: str = APP, value: str = LEAKED_ACCESS) -> None:
        user.grants.setdefault(client, "Mail app")
        self.access_tokens[value] = (user.id, client)

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` requests matching method and path regex get this answer; status 0 refuses."""
        self.failures.append(Failure(method, re.compile(path), status, body, headers or {}, times))

    def user(self, key: str) -> GUser | None:
        return next((u for u in self.users if key in (u.id, u.email)), None)

    def mutating(self) -> list[str]:
        return [line for line in self.seen if not line.startswith(("GET ", "POST /token", "POST /tokeninfo"))]

    # ---- resources (shapes from the discovery document) --------------------------------------------

    @staticmethod
    def user_json(user: GUser) -> dict[str, Any]:
        given = user.email.split("@")[0].title()
        return {
            "kind": "admin#directory#user",
            "id": user.id,
            "etag": f'"etag-{user.id}"',
            "primaryEmail": user.email,
            "name": {"givenName": given, "familyName": "Example", "fullName": f"{given} Example"},
            "isAdmin": user.email == ADMIN,
            "isDelegatedAdmin": False,
            "lastLoginTime": TS,
            "creationTime": TS,
            "agreedToTerms": True,
            "suspended": user.suspended,
            "archived": False,
            "changePasswordAtNextLogin": False,
            "ipWhitelisted": False,
            "emails": [{"address": user.email, "primary": True}],
            "customerId": user.customer,
            "orgUnitPath": "/",
            "isMailboxSetup": True,
            "isEnrolledIn2Sv": True,
            "isEnforcedIn2Sv": False,
            "includeInGlobalAddressList": True,
        }

    @staticmethod
    def token_json(user: GUser, client: str, name: str) -> dict[str, Any]:
        return {
            "kind": "admin#directory#token",
            "etag": f'"etag-{client}"',
            "clientId": client,
            "displayText": name,
            "anonymous": False,
            "nativeApp": False,
            "userKey": user.id,
            "scopes": ["https://mail.google.com/", "openid"],
        }

    @staticmethod
    def member_json(member_id: str, email: str, kind: str = "USER", status: str = "ACTIVE") -> dict[str, str]:
        return {
            "kind": "admin#directory#member",
            "etag": f'"etag-{member_id}"',
            "id": member_id,
            "email": email,
            "role": "MEMBER",
            "type": kind,
            "status": status,
        }

    def _page(self, items: list[Any], key: str, params: httpx.QueryParams, size: int, kind: str) -> dict[str, Any]:
        start = int(params.get("pageToken", "page-0").removeprefix("page-"))
        chunk = items[start : start + size]
        body: dict[str, Any] = {"kind": kind, "etag": '"etag-list"'}
        if chunk:
            body[key] = chunk
        if start + size < len(items):
            body["nextPageToken"] = self.next_page_tokens.pop(0) if self.next_page_tokens else f"page-{start + size}"
        return body

    # ---- routing -----------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            return self._handle(request)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        method, path, query = request.method, request.url.path, request.url.query.decode()
        self.answered += 1
        self.seen.append(f"{method} {path.removeprefix('/admin/directory/v1')}" + (f"?{query}" if query else ""))
        for failure in self.failures:
            if failure.times and failure.method == method and failure.path.search(path):
                failure.times -= 1
                if failure.status == 0:
                    raise httpx.ConnectError("connection refused", request=request)
                if isinstance(failure.body, str):
                    headers = {"content-type": "text/html", NOT_GOOGLE: "1", **failure.headers}
                    return httpx.Response(failure.status, text=failure.body, headers=headers)
                body = None if failure.body is None else json.dumps(failure.body).encode()
                headers = {"content-type": "application/json", **failure.headers} if body else failure.headers
                return httpx.Response(failure.status, content=body or b"", headers=headers)
        if request.url.host == OAUTH_HOST:
            return self._oauth(request)
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in self.admin_tokens:
            return _error(401, "Invalid Credentials", "authError")
        return self._directory(method, path.removeprefix("/admin/directory/v1/").split("/"), request.url.params)

    def _directory(self, method: str, parts: list[str], params: httpx.QueryParams) -> httpx.Response:
        if not re.fullmatch(r"page-\d+", params.get("pageToken", "page-0")):
            return _error(400, "Invalid Input: pageToken", "invalid")
        if parts == ["users"] and method == "GET":
            wanted = [u for u in self.users if "domain" not in params or u.email.endswith("@" + params["domain"])]
            page = self._page([self.user_json(u) for u in wanted], "users", params, int(params["maxResults"]),
                              "admin#directory#users")  # fmt: skip
            return httpx.Response(200, json=page)
        if parts[0] == "users" and len(parts) >= 2:
            user = self.user(parts[1])
            if user is None:
                return _error(404, "Resource Not Found: userKey", "notFound")
            return self._user_resource(method, user, parts[2:])
        if parts[0] == "groups" and len(parts) == 3 and parts[2] == "members" and method == "GET":
            if parts[1] not in self.groups:
                return _error(404, "Resource Not Found: groupKey", "notFound")
            page = self._page(self.groups[parts[1]], "members", params, int(params["maxResults"]),
                              "admin#directory#members")  # fmt: skip
            return httpx.Response(200, json=page)
        return _error(404, "Not Found", "notFound")

    def _user_resource(self, method: str, user: GUser, rest: list[str]) -> httpx.Response:
        if not rest and method == "GET":
            return httpx.Response(200, json=self.user_json(user))
        if rest == ["signOut"] and method == "POST":
            self.signed_out.append(user.id)
            return httpx.Response(204)
        if rest == ["tokens"] and method == "GET":
            body: dict[str, Any] = {"kind": "admin#directory#tokenList", "etag": '"etag-tokens"'}
            if user.grants:
                body["items"] = [self.token_json(user, client, name) for client, name in user.grants.items()]
            return httpx.Response(200, json=body)
        if len(rest) == 2 and rest[0] == "tokens" and method == "DELETE":
            if user.grants.pop(rest[1], None) is None:
                return _error(404, "Resource Not Found: clientId", "notFound")
            self._forget(lambda owner, client: owner == user.id and client == rest[1])
            return httpx.Response(204)
        return _error(404, "Not Found", "notFound")

    def _forget(self, match: Any) -> None:
        for value, (owner, client) in list(self.access_tokens.items()):
            if match(owner, client):
                del self.access_tokens[value]

    def _oauth(self, request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode())) if request.content else {}
        if request.url.path == "/token":
            return self._grant(form)
        if request.url.path == "/tokeninfo":
            value = request.headers.get("authorization", "").removeprefix("Bearer ")
            if value not in self.access_tokens:
                return httpx.Response(400, json={"error": "invalid_token", "error_description": "Invalid Value"})
            owner, client = self.access_tokens[value]
            user = self.user(owner)
            info = {"azp": client, "aud": client, "scope": "openid https://mail.google.com/", "exp": "1767330000",
                    "expires_in": "3210", "email_verified": "true", "access_type": "offline"}  # fmt: skip
            if "sub" in self.tokeninfo_names:
                info["sub"] = owner
            if "email" in self.tokeninfo_names and user is not None:
                info["email"] = user.email
            return httpx.Response(200, json=info)
        if request.url.path == "/revoke":
            token = form.get("token", "")
            if token in self.access_tokens:
                owner, client = self.access_tokens[token]
                user = self.user(owner)
                if user is not None:
                    user.grants.pop(client, None)
                self._forget(lambda o, c: (o, c) == (owner, client))
                return httpx.Response(200, json={})
            if token in self.refresh_tokens:
                self.refresh_tokens.discard(token)
                return httpx.Response(200, json={})
            return httpx.Response(400, json={"error": "invalid_token", "error_description": "Token expired or revoked"})
        return httpx.Response(404, json={"error": "not_found"})

    def _grant(self, form: dict[str, str]) -> httpx.Response:
        if self.grant_error is not None:
            return httpx.Response(self.grant_error[0], json=self.grant_error[1])
        claims = jwt.decode(
            form["assertion"],
            self.public_key,
            algorithms=["RS256"],
            audience=TOKEN_URI,
            issuer=SA_EMAIL,
            leeway=self.leeway,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "scope"]},
        )
        self.assertions.append(claims)
        if claims["sub"] != ADMIN or set(claims["scope"].split()) != set(SCOPES):
            return httpx.Response(401, json={"error": "unauthorized_client", "error_description": "not authorized"})
        self.issued += 1
        token = f"ya29.c.responder-admin-token-{self.issued}"
        self.admin_tokens.add(token)
        return httpx.Response(200, json={"access_token": token, "expires_in": 3599, "token_type": "Bearer"})


def _error(status: int, message: str, reason: str) -> httpx.Response:
    item = {"message": message, "domain": "global", "reason": reason}
    return httpx.Response(status, json={"error": {"code": status, "message": message, "errors": [item]}})


@pytest.fixture
def google(service_account: ServiceAccount, discovery: Discovery) -> Iterator[FakeGoogle]:
    """The fake behind respx (any other host is refused), and the contract check of everything it saw."""
    fake = FakeGoogle(service_account.public_key)
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        router.route(host=DIRECTORY_HOST).mock(side_effect=fake.handle)
        router.route(host=OAUTH_HOST).mock(side_effect=fake.handle)
        yield fake
        calls = [(call.request, call.optional_response) for call in router.calls]
    assert len(calls) == fake.answered, "the contract check must see every request the fake answered"
    report = check_calls(discovery, calls, frozenset(SCOPES))
    assert not report.errors, "contract violations:\n" + "\n".join(report.errors)


def key_json(service_account: ServiceAccount, **changes: Any) -> str:
    key = {
        "type": "service_account",
        "project_id": "responder-prj",
        "private_key_id": KEY_ID,
        "private_key": service_account.pem,
        "client_email": SA_EMAIL,
        "client_id": SA_CLIENT_ID,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": TOKEN_URI,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/responder",
        "universe_domain": "googleapis.com",
    }
    key.update(changes)
    return json.dumps({k: v for k, v in key.items() if v is not None})


@pytest.fixture
def key_file(tmp_path: Path, service_account: ServiceAccount) -> Path:
    path = tmp_path / "responder-sa.json"
    path.write_text(key_json(service_account))
    return path


def make_provider(key_file: Path, *, dry: bool = False, **extra: Any) -> GoogleProvider:
    table = {"name": "gws", "plugin": "google", "key_file": str(key_file), "subject": ADMIN, **extra}
    return GoogleProvider.from_config(table, build_client(DIRECTORY_URL, always_dry_run=dry))


@pytest.fixture
def provider(google: FakeGoogle, key_file: Path) -> Iterator[GoogleProvider]:
    google.add_user(0, ADMIN.split("@")[0])
    plugin = make_provider(key_file)
    yield plugin
    plugin.close()


# ---- builders -----------------------------------------------------------------------------------------


def finding(
    kind: Kind,
    value: str,
    claims: dict[str, str] | None = None,
    *,
    name: str = "authorization",
    where: Field = Field.HEADER,
    instance: str = "gws",
) -> Finding:
    return Finding(
        fingerprint=hashlib.sha256(value.encode()).hexdigest(),
        kind=kind,
        detector="test",
        label="test",
        revocable=True,
        provider=ProviderRef(Family.GOOGLE, instance),
        claims=claims or {},
        expires_at=None,
        locations=(Location(where, name, host="mail.google.com"),),
        value=Secret(value),
    )


def cookie(name: str = "__Secure-1PSID", value: str = "g.a000abcDEF-cookie-value") -> Finding:
    return finding(Kind.SESSION_COOKIE, value, name=name, where=Field.COOKIE)


def id_token(sub: str, iss: str = "https://accounts.google.com") -> Finding:
    value = f"eyJhbGciOiJSUzI1NiJ9.{sub}.sig"
    return finding(Kind.ID_TOKEN, value, {"iss": iss, "sub": sub, "aud": APP, "azp": APP})


def request(
    verb: str, *, subject: Subject | None = None, credential: str | None = None, kind: Kind | None = None
) -> ActionRequest:
    return ActionRequest(
        action_id="action-1",
        provider="gws",
        verb=verb,
        fingerprint="fp",
        kind=kind,
        subject=subject,
        credential=Secret(credential) if credential is not None else None,
    )


def for_user(user: GUser, verb: str = Verb.END_ALL_SESSIONS) -> ActionRequest:
    return request(verb, subject=Subject("gws", user.id))


def access(value: str = LEAKED_ACCESS) -> ActionRequest:
    return request(Verb.REVOKE_TOKEN, credential=value, kind=Kind.ACCESS_TOKEN)


def refresh(value: str = LEAKED_REFRESH) -> ActionRequest:
    return request(Verb.REVOKE_TOKEN, credential=value, kind=Kind.REFRESH_TOKEN)


# ---- settings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"key_file": None}, "set key_file or key_env"),
        ({"subject": None}, "set subject (or admin_email)"),
        ({"admin_email": ADMIN}, "not both"),
        ({"subject": "responder-admin"}, "email address of the admin"),
        ({"base_url": "https://admin.example.test/admin/directory/v1"}, "base_url: must be a googleapis.com host"),
        ({"base_url": "http://admin.googleapis.com/admin/directory/v1"}, "base_url: must be an https URL"),
        ({"token_uri": "https://oauth2.example.test/token"}, "token_uri: must be a googleapis.com host"),
        ({"issuer": "https://idp.example.test"}, "issuer may only be https://accounts.google.com"),
        ({"domain": "@example.com"}, "bare domain name"),
        ({"customer": "my customer"}, "customer is my_customer"),
        ({"subjekt": ADMIN}, "subjekt"),
        ({"key_file": None, "key_env": "RESPONDER_TEST_GOOGLE_UNSET"}, "is not set"),
    ],
)
def test_settings_errors_name_the_key(
    monkeypatch: pytest.MonkeyPatch, key_file: Path, extra: dict[str, Any], problem: str
) -> None:
    monkeypatch.delenv("RESPONDER_TEST_GOOGLE_UNSET", raising=False)
    table = {"name": "gws", "plugin": "google", "key_file": str(key_file), "subject": ADMIN, **extra}
    table = {k: v for k, v in table.items() if v is not None}
    with pytest.raises(ConfigError, match=re.escape(problem)):
        GoogleProvider.from_config(table, build_client(DIRECTORY_URL))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json at all", "not JSON"),
        (json.dumps({"type": "authorized_user", "refresh_token": LEAKED_REFRESH}), "not a service-account key"),
        ("PEM", "private_key is not a PEM RSA private key"),
        ("NO_EMAIL", "lacks client_email or private_key"),
        ("FOREIGN_TOKEN_URI", "token_uri (from the key file): must be a googleapis.com host"),
    ],
)
def test_a_bad_key_file_is_named_without_its_content(
    tmp_path: Path, service_account: ServiceAccount, content: str, problem: str
) -> None:
    body = {
        "PEM": key_json(service_account, private_key="-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END"),
        "NO_EMAIL": key_json(service_account, client_email=None),
        "FOREIGN_TOKEN_URI": key_json(service_account, token_uri="https://evil.example.test/token"),
    }.get(content, content)
    path = tmp_path / "key.json"
    path.write_text(body)
    with pytest.raises(ConfigError, match=re.escape(problem)) as raised:
        make_provider(path)
    text = str(raised.value)
    assert "c2VjcmV0LWJ5dGVz" not in text
    assert service_account.pem.splitlines()[1] not in text
    assert LEAKED_REFRESH not in text


def test_key_from_the_environment_and_admin_email(
    monkeypatch: pytest.MonkeyPatch, service_account: ServiceAccount, google: FakeGoogle
) -> None:
    monkeypatch.setenv("RESPONDER_TEST_GOOGLE_KEY", key_json(service_account))
    table = {"name": "gws", "plugin": "google", "key_env": "RESPONDER_TEST_GOOGLE_KEY", "admin_email": ADMIN}
    plugin = GoogleProvider.from_config(table, build_client(DIRECTORY_URL))
    assert google.user(ADMIN) is None  # the token grant does not need the admin in the fake's directory
    google.add_user(0, "responder-admin")
    assert plugin.check().ok
    assert google.assertions[0]["sub"] == ADMIN
    plugin.close()


def test_a_test_token_uri_needs_the_explicit_switch(key_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"googleapis\.com host"):
        make_provider(key_file, token_uri="https://sts.internal.test/token")
    plugin = make_provider(key_file, token_uri="https://sts.internal.test/token", allow_non_google_hosts=True)
    assert plugin._credentials.token_uri == "https://sts.internal.test/token"
    with pytest.raises(ConfigError, match="https URL"):
        make_provider(key_file, token_uri="http://sts.internal.test/token", allow_non_google_hosts=True)
    plugin.close()


# ---- claims and plan (no I/O) -------------------------------------------------------------------------


def test_claims_only_its_own_instance(provider: GoogleProvider) -> None:
    assert provider.claims(cookie())
    assert not provider.claims(finding(Kind.ACCESS_TOKEN, LEAKED_ACCESS, instance="other"))


def test_a_cookie_with_an_id_token_signs_that_user_out_and_deletes_their_grants(
    provider: GoogleProvider, google: FakeGoogle
) -> None:
    google.seen.clear()
    subject = Subject("gws", "112233")
    for related in ([id_token("112233")], [id_token("112233", iss="accounts.google.com"), id_token("112233")]):
        assert provider.plan(cookie(), related) == (
            Target(Verb.END_ALL_SESSIONS, uses_credential=False, subject=subject),
            Target(Verb.REVOKE_REFRESH_TOKENS, uses_credential=False, subject=subject),
        )
    assert google.seen == []


@pytest.mark.parametrize(
    "related",
    [
        [],
        [id_token("112233"), id_token("445566")],  # two users: never a guess
        [id_token("112233", iss="https://login.example.test/")],  # not Google's
        [id_token("sha256:" + "a" * 64)],  # a masked claim
        [finding(Kind.API_KEY, "AIzaSy-not-a-user", {})],
    ],
    ids=["nothing", "two-users", "foreign-issuer", "masked", "no-jwt"],
)
def test_a_cookie_without_evidence_needs_a_subject(provider: GoogleProvider, related: list[Finding]) -> None:
    assert provider.plan(cookie(), related) == (
        Target(Verb.END_ALL_SESSIONS, uses_credential=False, subject=None),
        Target(Verb.REVOKE_REFRESH_TOKENS, uses_credential=False, subject=None),
    )


def test_google_oauth_tokens_are_revoked_by_value(provider: GoogleProvider) -> None:
    expected = (Target(Verb.REVOKE_TOKEN, uses_credential=True),)
    assert provider.plan(finding(Kind.ACCESS_TOKEN, LEAKED_ACCESS)) == expected
    assert provider.plan(finding(Kind.REFRESH_TOKEN, LEAKED_REFRESH)) == expected


def test_nothing_is_planned_for_what_google_cannot_end(provider: GoogleProvider) -> None:
    others = [
        cookie(name="NID"),  # a preference cookie that a configured instance may still claim
        id_token("112233"),
        finding(Kind.JWT, "eyJhbGciOiJSUzI1NiJ9.e30.sig", {"iss": "https://accounts.google.com", "sub": "1"}),
        finding(Kind.ACCESS_TOKEN, "opaque-but-not-google-0123456789"),
        finding(Kind.API_KEY, "AIzaSyA-0123456789abcdefghijklmnopqrstu"),
    ]
    for other in others:
        assert provider.plan(other, [id_token("112233")]) == ()


# ---- the admin token ----------------------------------------------------------------------------------


def test_the_jwt_bearer_grant_follows_rfc_7523(provider: GoogleProvider, google: FakeGoogle) -> None:
    alice = google.add_user(1, "alice")
    assert provider.execute(for_user(alice)).status is OutcomeStatus.REVOKED
    assert provider.execute(for_user(alice, Verb.REVOKE_REFRESH_TOKENS)).status is OutcomeStatus.ALREADY_INVALID
    assert google.issued == 1  # cached across calls
    claims = google.assertions[0]  # decoded and signature-checked by the fake with the public key
    assert claims["iss"] == SA_EMAIL
    assert claims["sub"] == ADMIN
    assert claims["aud"] == TOKEN_URI
    assert claims["scope"].split() == list(SCOPES)
    assert claims["exp"] - claims["iat"] == 3600
    token_call = next(line for line in google.seen if line.startswith("POST /token"))
    assert token_call == "POST /token"  # no query: the assertion is in the form body


def test_the_token_request_passes_the_dry_run_guard(google: FakeGoogle, key_file: Path) -> None:
    alice = google.add_user(1, "alice")
    plugin = make_provider(key_file)
    with dry_run():
        assert plugin.resolve(for_user(alice)) == Subject("gws", alice.id, alice.email)
    assert google.issued == 1


def test_an_admin_token_refused_with_401_is_replaced_once(provider: GoogleProvider, google: FakeGoogle) -> None:
    alice = google.add_user(1, "alice")
    assert provider.execute(for_user(alice)).status is OutcomeStatus.REVOKED
    google.admin_tokens.clear()  # revoked at Google, or expired early
    assert provider.execute(for_user(alice)).status is OutcomeStatus.REVOKED
    assert google.issued == 2
    google.fail("POST", "signOut$", 401, _error(401, "Invalid Credentials", "authError").json(), times=2)
    outcome = provider.execute(for_user(alice))
    assert outcome.status is OutcomeStatus.FAILED_PERMANENT
    assert outcome.detail == "sign out: HTTP 401: Google refused responder's admin token, also a fresh one"
    assert google.issued == 3  # one fresh token per 401, never a loop


def test_a_token_near_its_expiry_is_replaced(provider: GoogleProvider, google: FakeGoogle) -> None:
    alice = google.add_user(1, "alice")
    now = [time.time()]
    provider._credentials._clock = lambda: now[0]
    provider.execute(for_user(alice))
    now[0] += 3599 - REFRESH_MARGIN - 1
    provider.execute(for_user(alice))
    assert google.issued == 1
    now[0] += 2
    google.leeway = 3600
    provider.execute(for_user(alice))
    assert google.issued == 2


def test_threads_share_one_token(provider: GoogleProvider, google: FakeGoogle) -> None:
    users = [google.add_user(n, f"user{n}") for n in range(1, 9)]
    outcomes: list[Outcome] = []
    threads = [threading.Thread(target=lambda u=u: outcomes.append(provider.execute(for_user(u)))) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [o.status for o in outcomes] == [OutcomeStatus.REVOKED] * 8
    assert google.issued == 1
    assert sorted(google.signed_out) == sorted(u.id for u in users)


@pytest.mark.parametrize(
    ("status", "body", "expected", "detail"),
    [
        (401, {"error": "unauthorized_client", "error_description": "Client is unauthorized to retrieve access "
               "tokens using this method, or client not authorized for any of the scopes requested."},
         OutcomeStatus.FAILED_PERMANENT,
         f"token endpoint: HTTP 401: the service account's client ID {SA_CLIENT_ID} is not authorized for the "
         "scopes admin.directory.user.readonly, admin.directory.user.security, "
         "admin.directory.group.member.readonly (Admin console → Security → Access and data control → API "
         "controls → Domain-wide delegation)"),
        (400, {"error": "invalid_grant", "error_description": "Invalid email or User ID"},
         OutcomeStatus.FAILED_PERMANENT,
         f"token endpoint: HTTP 400: the subject {ADMIN} is not a user of this Google Workspace"),
        (400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
         OutcomeStatus.FAILED_PERMANENT,
         "token endpoint: HTTP 400: the service-account key was refused (deleted, disabled or not this account's "
         "key)"),
        (400, {"error": "invalid_grant", "error_description": "Invalid JWT: Token must be a short-lived token (60 "
               "minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."},
         OutcomeStatus.FAILED_PERMANENT,
         "token endpoint: HTTP 400: the assertion's time was refused: check this host's clock"),
        (503, {"error": "temporarily_unavailable"}, OutcomeStatus.FAILED_TRANSIENT, "token endpoint: HTTP 503"),
    ],
)  # fmt: skip
def test_a_refused_grant_is_named(
    provider: GoogleProvider,
    google: FakeGoogle,
    status: int,
    body: dict[str, str],
    expected: OutcomeStatus,
    detail: str,
) -> None:
    alice = google.add_user(1, "alice")
    google.grant_error = (status, body)
    outcome = provider.execute(for_user(alice))
    assert (outcome.status, outcome.detail) == (expected, detail)
    assert provider.check() == CheckResult(False, detail)
    assert google.signed_out == []


# ---- END_ALL_SESSIONS ---------------------------------------------------------------------------------


def test_sign_out_of_all_sessions(provider: GoogleProvider, google: FakeGoogle) -> None:
    alice = google.add_user(1, "alice")
    google.add_user(2, "bob")
    outcome = provider.execute(for_user(alice))
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.REVOKED,
        "signed the user out of all web and device sessions",
    )
    assert outcome.subject == Subject("gws", alice.id, alice.email)
    assert google.signed_out == [alice.id]
    assert f"GET /users/{alice.id}?fields=id%2CprimaryEmail%2Csuspended%2CcustomerId" in google.seen
    assert f"POST /users/{alice.id}/signOut" in google.seen
    assert provider.verify(for_user(alice)) is None  # Google lists no sessions


def test_a_user_outside_this_workspace_is_not_acted_on(
    google: FakeGoogle, key_file: Path, provider: GoogleProvider
) -> None:
    outcome = provider.execute(request(Verb.END_ALL_SESSIONS, subject=Subject("gws", "109999999999999999999")))
    assert outcome.status is OutcomeStatus.FAILED_PERMANENT
    assert outcome.detail.startswith("user not found: this Workspace has no user 109999999999999999999")
    partner = google.add_user(3, "pat")
    partner.email = "pat@partner.example.org"
    scoped = make_provider(key_file, domain=DOMAIN)
    outcome = scoped.execute(for_user(partner))
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.UNSUPPORTED,
        f"pat@partner.example.org is outside the configured domain {DOMAIN}: not acted on",
    )
    other_customer = google.add_user(4, "olga")
    other_customer.customer = "C09other"
    outcome = make_provider(key_file, customer=CUSTOMER).execute(for_user(other_customer))
    assert outcome.status is OutcomeStatus.UNSUPPORTED
    assert google.signed_out == []


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "detail"),
    [
        (403, ENVELOPE_403_SCOPE, {}, OutcomeStatus.FAILED_PERMANENT,
         "sign out: HTTP 403 insufficientPermissions: responder's token lacks the scope "
         f"https://www.googleapis.com/auth/admin.directory.user.security: authorize it for client ID {SA_CLIENT_ID} "
         "(Admin console → Security → Access and data control → API controls → Domain-wide delegation)"),
        (403, ENVELOPE_403_FORBIDDEN, {}, OutcomeStatus.FAILED_PERMANENT,
         f"sign out: HTTP 403 forbidden: the admin {ADMIN} lacks the privilege Users → Update → Manage user "
         "security, or the user or group is outside this Workspace"),
        (403, ENVELOPE_403_RATE, {}, OutcomeStatus.FAILED_TRANSIENT, "sign out: HTTP 403 userRateLimitExceeded"),
        (429, _error(429, "Too many requests", "rateLimitExceeded").json(), {"Retry-After": "7"},
         OutcomeStatus.FAILED_TRANSIENT, "sign out: HTTP 429"),
        (503, None, {}, OutcomeStatus.FAILED_TRANSIENT, "sign out: HTTP 503"),
        (500, _error(500, "Backend Error", "backendError").json(), {}, OutcomeStatus.FAILED_TRANSIENT,
         "sign out: HTTP 500"),
        (404, _error(404, "Resource Not Found: userKey", "notFound").json(), {}, OutcomeStatus.ALREADY_INVALID,
         "sign out: HTTP 404: not found at the provider"),
        (400, _error(400, "Invalid Input", "invalid").json(), {}, OutcomeStatus.FAILED_PERMANENT,
         "sign out: HTTP 400: refused (invalid)"),
    ],
)  # fmt: skip
def test_status_meanings_on_sign_out(
    provider: GoogleProvider,
    google: FakeGoogle,
    status: int,
    body: Any,
    headers: dict[str, str],
    expected: OutcomeStatus,
    detail: str,
) -> None:
    alice = google.add_user(1, "alice")
    google.fail("POST", "signOut$", status, body, headers)
    outcome = provider.execute(for_user(alice))
    assert (outcome.status, outcome.detail) == (expected, detail)
    assert outcome.retry_after == (7.0 if status == 429 else None)
    assert outcome.subject == Subject("gws", alice.id, alice.email)


def test_a_lookup_that_is_not_googles_json(provider: GoogleProvider, google: FakeGoogle) -> None:
    alice = google.add_user(1, "alice")
    google.fail("GET", f"users/{alice.id}$", 200, "<html>Sign in - Google Accounts</html>")
    outcome = provider.execute(for_user(alice))
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.FAILED_PERMANENT,
        "find user: the answer is not Google's JSON (wrong URL?)",
    )
    assert google.signed_out == []


def test_without_a_subject_nothing_is_called(provider: GoogleProvider, google: FakeGoogle) -> None:
    google.seen.clear()
    outcome = provider.execute(request(Verb.END_ALL_SESSIONS))
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.FAILED_PERMANENT,
        "end_all_sessions needs the user's id; none given",
    )
    assert provider.execute(request(Verb.END_SESSION)).status is OutcomeStatus.UNSUPPORTED
    assert google.seen == []


# ---- REVOKE_REFRESH_TOKENS ----------------------------------------------------------------------------


def test_every_third_party_grant_of_the_user_is_deleted(provider: GoogleProvider, google: FakeGoogle) -> None:
    alice = google.add_user(1, "alice", grants=(APP, OTHER_APP))
    bob = google.add_user(2, "bob", grants=(APP,))
    req = for_user(alice, Verb.REVOKE_REFRESH_TOKENS)
    assert provider.verify(req) is False
    outcome = provider.execute(req)
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.REVOKED,
        "deleted 2 third-party OAuth grant(s) of the user",
    )
    assert outcome.subject == Subject("gws", alice.id, alice.email)
    assert alice.grants == {}
    assert list(bob.grants) == [APP]
    assert f"DELETE /users/{alice.id}/tokens/{APP}" in google.seen
    assert provider.verify(req) is True
    again = provider.execute(req)
    assert (again.status, again.detail) == (
        OutcomeStatus.ALREADY_INVALID,
        "the user had no third-party OAuth grant left",
    )


def test_a_grant_gone_meanwhile_and_a_failure_midway(provider: GoogleProvider, google: FakeGoogle) -> None:
    alice = google.add_user(1, "alice", grants=(APP, OTHER_APP))
    google.fail("DELETE", f"tokens/{re.escape(APP)}$", 404, _error(404, "Resource Not Found", "notFound").json())
    outcome = provider.execute(for_user(alice, Verb.REVOKE_REFRESH_TOKENS))
    assert outcome.detail == "deleted 1 third-party OAuth grant(s) of the user"
    carol = google.add_user(3, "carol", grants=(APP, OTHER_APP))
    google.fail("DELETE", f"tokens/{re.escape(OTHER_APP)}$", 503, headers={"Retry-After": "4"})
    outcome = provider.execute(for_user(carol, Verb.REVOKE_REFRESH_TOKENS))
    assert outcome.status is OutcomeStatus.FAILED_TRANSIENT
    assert outcome.detail == "delete OAuth grant 2 of 2: HTTP 503 (1 deleted before)"
    assert outcome.retry_after == 4.0


def test_listing_grants_without_the_scope(provider: GoogleProvider, google: FakeGoogle) -> None:
    alice = google.add_user(1, "alice", grants=(APP,))
    google.fail("GET", "/tokens$", 403, ENVELOPE_403_SCOPE, times=2)
    outcome = provider.execute(for_user(alice, Verb.REVOKE_REFRESH_TOKENS))
    assert outcome.status is OutcomeStatus.FAILED_PERMANENT
    assert "lacks the scope https://www.googleapis.com/auth/admin.directory.user.security" in outcome.detail
    assert provider.verify(for_user(alice, Verb.REVOKE_REFRESH_TOKENS)) is None


# ---- REVOKE_TOKEN: a leaked access token --------------------------------------------------------------


def test_a_leaked_access_token_signs_its_user_out_and_kills_the_clients_tokens(
    provider: GoogleProvider, google: FakeGoogle
) -> None:
    alice = google.add_user(1, "alice", grants=(OTHER_APP,))
    google.leak_access_token(alice)
    assert provider.verify(access()) is False  # live before
    google.seen.clear()
    outcome = provider.execute(access())
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.REVOKED,
        f"signed the user out; delete the client's tokens: deleted client {APP}'s tokens of the user",
    )
    assert outcome.subject == Subject("gws", alice.id, alice.email)
    assert google.signed_out == [alice.id]
    assert list(alice.grants) == [OTHER_APP]  # only the leaking client's grant
    assert google.seen == [
        "POST /tokeninfo",
        "POST /token",
        f"GET /users/{alice.id}?fields=id%2CprimaryEmail%2Csuspended%2CcustomerId",
        f"POST /users/{alice.id}/signOut",
        f"DELETE /users/{alice.id}/tokens/{APP}",
    ]
    assert provider.verify(access()) is True
    again = provider.execute(access())
    assert (again.status, again.detail) == (
        OutcomeStatus.ALREADY_INVALID,
        "tokeninfo: HTTP 400: Google no longer accepts the token (expired or revoked)",
    )


def test_a_first_party_client_falls_back_to_revoking_the_token(provider: GoogleProvider, google: FakeGoogle) -> None:
    alice = google.add_user(1, "alice")
    google.leak_access_token(alice, client="77185425430.apps.googleusercontent.com")
    alice.grants.clear()  # not listed among the user's third-party grants: the Directory answers 404
    outcome = provider.execute(access())
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.REVOKED,
        "signed the user out; revoke access token: Google revoked the token and its grant",
    )
    assert LEAKED_ACCESS not in google.access_tokens


def test_a_directory_refusal_still_revokes_the_token(provider: GoogleProvider, google: FakeGoogle) -> None:
    alice = google.add_user(1, "alice")
    google.leak_access_token(alice)
    google.fail("POST", "signOut$", 403, ENVELOPE_403_FORBIDDEN)
    google.fail("DELETE", "/tokens/", 403, ENVELOPE_403_FORBIDDEN)
    outcome = provider.execute(access())
    assert outcome.status is OutcomeStatus.FAILED_PERMANENT  # the user's sessions live on: a person must act
    assert outcome.detail.startswith("revoke access token: Google revoked the token and its grant (the Directory ")
    assert outcome.detail.endswith(
        f"; but signing the user out failed: sign out: HTTP 403 forbidden: the admin {ADMIN} lacks the privilege "
        "Users → Update → Manage user security, or the user or group is outside this Workspace"
    )
    assert LEAKED_ACCESS not in google.access_tokens


def test_a_transient_sign_out_failure_touches_nothing(provider: GoogleProvider, google: FakeGoogle) -> None:
    alice = google.add_user(1, "alice")
    google.leak_access_token(alice)
    google.fail("POST", "signOut$", 503, headers={"Retry-After": "3"})
    outcome = provider.execute(access())
    assert (outcome.status, outcome.retry_after) == (OutcomeStatus.FAILED_TRANSIENT, 3.0)
    assert LEAKED_ACCESS in google.access_tokens  # still whole: the retry can ask tokeninfo again
    assert provider.execute(access()).status is OutcomeStatus.REVOKED


def test_a_token_of_another_domain_is_not_acted_on(
    google: FakeGoogle, key_file: Path, provider: GoogleProvider
) -> None:
    stranger = google.add_user(5, "sam")
    stranger.email = "sam@gmail.com"
    google.leak_access_token(stranger)
    scoped = make_provider(key_file, domain=DOMAIN)
    google.seen.clear()
    outcome = scoped.execute(access())
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.UNSUPPORTED,
        f"the access token's user is outside the configured domain {DOMAIN}: not acted on",
    )
    assert google.seen == ["POST /tokeninfo"]
    assert scoped.resolve(access()) is None


def test_a_token_naming_nobody_is_only_revoked(provider: GoogleProvider, google: FakeGoogle) -> None:
    alice = google.add_user(1, "alice")
    google.leak_access_token(alice)
    google.tokeninfo_names = ()
    outcome = provider.execute(access())
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.REVOKED,
        "revoke access token: Google revoked the token and its grant; Google did not say whose it was: nobody "
        "signed out",
    )
    assert outcome.subject is None
    assert google.signed_out == []


def test_an_email_only_token_finds_its_user_by_email(provider: GoogleProvider, google: FakeGoogle) -> None:
    alice = google.add_user(1, "alice")
    google.leak_access_token(alice)
    google.tokeninfo_names = ("email",)
    outcome = provider.execute(access())
    assert outcome.status is OutcomeStatus.REVOKED
    assert outcome.subject == Subject("gws", alice.id, alice.email)


def test_an_expired_access_token_is_already_invalid(provider: GoogleProvider, google: FakeGoogle) -> None:
    google.seen.clear()
    outcome = provider.execute(access())
    assert outcome.status is OutcomeStatus.ALREADY_INVALID
    assert google.mutating() == []


# ---- REVOKE_TOKEN: a leaked refresh token -------------------------------------------------------------


def test_a_refresh_token_is_revoked_at_google(provider: GoogleProvider, google: FakeGoogle) -> None:
    google.refresh_tokens.add(LEAKED_REFRESH)
    outcome = provider.execute(refresh())
    assert (outcome.status, outcome.detail) == (
        OutcomeStatus.REVOKED,
        "revoke refresh token: Google revoked the token and its grant",
    )
    assert LEAKED_REFRESH not in google.refresh_tokens
    assert google.seen == ["POST /revoke"]  # the token travels in the form body, never in the URL
    assert provider.verify(refresh()) is None  # cannot be checked without the client's secret
    again = provider.execute(refresh())
    assert (again.status, again.detail) == (
        OutcomeStatus.ALREADY_INVALID,
        "revoke refresh token: Google no longer knows the token",
    )


@pytest.mark.parametrize(
    ("status", "body", "expected", "detail"),
    [
        (503, None, OutcomeStatus.FAILED_TRANSIENT, "revoke refresh token: HTTP 503"),
        (400, {"error": "invalid_request", "error_description": "Bad Request"}, OutcomeStatus.FAILED_PERMANENT,
         "revoke refresh token: HTTP 400: refused (invalid_request)"),
        (200, "<html>proxy login</html>", OutcomeStatus.REVOKED,
         "revoke refresh token: Google revoked the token and its grant"),
    ],
)  # fmt: skip
def test_revocation_answers(
    provider: GoogleProvider, google: FakeGoogle, status: int, body: Any, expected: OutcomeStatus, detail: str
) -> None:
    google.fail("POST", "^/revoke$", status, body)
    outcome = provider.execute(refresh())
    assert (outcome.status, outcome.detail) == (expected, detail)


def test_an_unknown_credential_shape_is_unsupported(provider: GoogleProvider) -> None:
    outcome = provider.execute(request(Verb.REVOKE_TOKEN, credential="eyJ.e30.x", kind=Kind.JWT))
    assert outcome.status is OutcomeStatus.UNSUPPORTED
    assert provider.execute(request(Verb.REVOKE_TOKEN)).status is OutcomeStatus.FAILED_PERMANENT


# ---- resolve and dry runs -----------------------------------------------------------------------------


def test_resolve_in_a_dry_run_only_reads(provider: GoogleProvider, google: FakeGoogle) -> None:
    alice = google.add_user(1, "alice", grants=(OTHER_APP,))
    google.leak_access_token(alice)
    google.refresh_tokens.add(LEAKED_REFRESH)
    with dry_run():
        by_id = provider.resolve(for_user(alice))
        by_token = provider.resolve(access())
        nobody = provider.resolve(refresh())
        unknown = provider.resolve(request(Verb.END_ALL_SESSIONS, subject=Subject("gws", "1999")))
    assert by_id == by_token == Subject("gws", alice.id, alice.email)
    assert nobody is None
    assert unknown == Subject("gws", "1999")  # the IdP could not say more: what was known stays
    assert google.mutating() == []
    assert LEAKED_ACCESS in google.access_tokens
    assert google.signed_out == []


@pytest.mark.parametrize(
    "req",
    [
        request(Verb.END_ALL_SESSIONS, subject=Subject("gws", "100000000000000000001")),
        request(Verb.REVOKE_REFRESH_TOKENS, subject=Subject("gws", "100000000000000000001")),
        access(),
        refresh(),
    ],
    ids=["sign-out", "grants", "access-token", "refresh-token"],
)
def test_a_dry_run_client_sends_no_mutating_call(google: FakeGoogle, key_file: Path, req: ActionRequest) -> None:
    alice = google.add_user(1, "alice", grants=(APP, OTHER_APP))
    google.leak_access_token(alice)
    google.refresh_tokens.add(LEAKED_REFRESH)
    plugin = make_provider(key_file, dry=True)
    with pytest.raises(DryRunViolation):
        plugin.execute(req)
    assert google.mutating() == []
    assert google.signed_out == []
    assert len(alice.grants) == 2
    assert LEAKED_ACCESS in google.access_tokens
    assert LEAKED_REFRESH in google.refresh_tokens


# ---- check --------------------------------------------------------------------------------------------


def test_check_proves_the_grant_and_the_reads(provider: GoogleProvider, google: FakeGoogle) -> None:
    result = provider.check()
    assert result.ok
    assert result.detail == (
        f"token granted to {SA_EMAIL} acting as {ADMIN} for the scopes admin.directory.user.readonly, "
        "admin.directory.user.security, admin.directory.group.member.readonly; may read users and OAuth grants "
        "(the sign-out privilege shows only when acting)"
    )
    assert google.mutating() == []


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "detail"),
    [
        ("POST", "^/token$", 0, None, f"cannot reach {TOKEN_URI}: ConnectError"),
        ("GET", "users/responder-admin@example.com$", 0, None,
         f"token granted to {SA_EMAIL} acting as {ADMIN}, but cannot reach "
         f"{DIRECTORY_URL}/users/responder-admin%40example.com: ConnectError"),
        ("GET", "users/responder-admin@example.com$", 404, _error(404, "Not Found", "notFound").json(),
         f"token granted to {SA_EMAIL} acting as {ADMIN}, but GET {DIRECTORY_URL}/users/responder-admin%40example.com:"
         f" HTTP 404: not found (or base_url is not the Directory API, {DIRECTORY_URL})"),
        ("GET", "users/responder-admin@example.com$", 200, "<html>not the api</html>",
         f"token granted to {SA_EMAIL} acting as {ADMIN}, but GET {DIRECTORY_URL}/users/responder-admin%40example.com:"
         " the answer is not Google's JSON (wrong URL?)"),
        ("GET", "/tokens$", 403, ENVELOPE_403_FORBIDDEN,
         f"token granted to {SA_EMAIL} acting as {ADMIN}, but GET {DIRECTORY_URL}/users/responder-admin%40example.com"
         f"/tokens: HTTP 403 forbidden: the admin {ADMIN} lacks the privilege Users → Update → Manage user security,"
         " or the user or group is outside this Workspace"),
    ],
)  # fmt: skip
def test_check_says_exactly_what_is_wrong(
    provider: GoogleProvider, google: FakeGoogle, method: str, path: str, status: int, body: Any, detail: str
) -> None:
    google.fail(method, path, status, body)
    result = provider.check()
    assert (result.ok, result.detail) == (False, detail)


def test_check_names_an_unauthorized_client(provider: GoogleProvider, google: FakeGoogle) -> None:
    google.grant_error = (401, {"error": "unauthorized_client", "error_description": "Client is unauthorized"})
    result = provider.check()
    assert not result.ok
    assert f"client ID {SA_CLIENT_ID} is not authorized for the scopes" in result.detail


# ---- directory (panic) --------------------------------------------------------------------------------


def test_panic_verbs() -> None:
    assert GoogleProvider.panic_verbs == ("end_all_sessions", "revoke_refresh_tokens")


def test_find_user_by_id_email_and_login(provider: GoogleProvider, google: FakeGoogle, key_file: Path) -> None:
    alice = google.add_user(1, "alice")
    expected = Subject("gws", alice.id, alice.email)
    assert provider.find_user(alice.id) == expected
    assert provider.find_user(alice.email) == expected
    assert provider.find_user("nobody@example.com") is None
    assert provider.find_user("  ") is None
    assert make_provider(key_file, domain=DOMAIN).find_user("alice") == expected
    google.fail("GET", "users/bob@example.com$", 403, ENVELOPE_403_FORBIDDEN)
    with pytest.raises(DirectoryError, match=r"find user: HTTP 403 forbidden: the admin .* lacks the privilege"):
        provider.find_user("bob@example.com")
    partner = google.add_user(2, "pat")
    partner.email = "pat@partner.example.org"
    with pytest.raises(DirectoryError, match="outside the configured domain"):
        make_provider(key_file, domain=DOMAIN).find_user(partner.email)


def test_group_members_across_pages_and_nested_groups(provider: GoogleProvider, google: FakeGoogle) -> None:
    members = [google.member_json(f"2{n:020d}", f"m{n}@{DOMAIN}") for n in range(250)]
    members[3]["status"] = "SUSPENDED"
    nested = google.member_json("03abc", f"nested@{DOMAIN}", kind="GROUP")
    members.append(nested)
    google.groups[f"everyone@{DOMAIN}"] = members
    google.groups["03abc"] = [
        google.member_json("2" + "0" * 20, f"m0@{DOMAIN}"),  # also a direct member: listed once
        google.member_json("3" + "0" * 20, f"deep@{DOMAIN}"),
        google.member_json("04cycle", f"everyone@{DOMAIN}", kind="GROUP"),  # a cycle Google would refuse
    ]
    google.groups["04cycle"] = [google.member_json("03abc", f"nested@{DOMAIN}", kind="GROUP")]
    found = list(provider.group_members(f"everyone@{DOMAIN}"))
    assert len(found) == 250  # 249 active direct members + deep
    assert Subject("gws", "3" + "0" * 20, f"deep@{DOMAIN}") in found
    assert all(s.user_id != members[3]["id"] for s in found)
    assert [line for line in google.seen if "/members" in line] == [
        "GET /groups/everyone@example.com/members?maxResults=200",
        "GET /groups/everyone@example.com/members?maxResults=200&pageToken=page-200",
        "GET /groups/03abc/members?maxResults=200",
        "GET /groups/04cycle/members?maxResults=200",  # its member 03abc was expanded already: the end
    ]


def test_group_errors_are_directory_errors(provider: GoogleProvider, google: FakeGoogle) -> None:
    with pytest.raises(DirectoryError, match=re.escape("list members of group nope@example.com: HTTP 404")):
        list(provider.group_members("nope@example.com"))
    google.groups[f"all@{DOMAIN}"] = [google.member_json("C01abc234", "", kind="CUSTOMER")]
    with pytest.raises(DirectoryError, match="contains every user of the organisation: panic all users"):
        list(provider.group_members(f"all@{DOMAIN}"))
    google.groups[f"eng@{DOMAIN}"] = [google.member_json("1", f"a@{DOMAIN}")]
    google.fail("GET", "/members$", 403, ENVELOPE_403_SCOPE)
    with pytest.raises(DirectoryError, match=r"lacks the scope .*admin\.directory\.group\.member\.readonly"):
        list(provider.group_members(f"eng@{DOMAIN}"))


def test_all_users_across_pages_without_suspended_ones(
    provider: GoogleProvider, google: FakeGoogle, key_file: Path
) -> None:
    for n in range(1, 601):
        google.add_user(n, f"user{n}", suspended=n % 100 == 0)
    found = list(provider.all_users())
    assert len(found) == 601 - 6  # the admin plus 600 users, 6 of them suspended
    pages = [line for line in google.seen if line.startswith("GET /users?")]
    assert pages == [
        "GET /users?maxResults=500&fields=nextPageToken%2Cusers%28id%2CprimaryEmail%2Csuspended%2CcustomerId%29"
        "&customer=my_customer",
        "GET /users?maxResults=500&fields=nextPageToken%2Cusers%28id%2CprimaryEmail%2Csuspended%2CcustomerId%29"
        "&customer=my_customer&pageToken=page-500",
    ]
    google.seen.clear()
    scoped = list(make_provider(key_file, domain=DOMAIN).all_users())
    assert len(scoped) == 595
    assert "&domain=example.com" in google.seen[-1]
    assert "customer=" not in google.seen[-1]
    google.seen.clear()
    provider.execute(for_user(google.users[42]))  # the listing filled the cache: no look-up
    assert not any(line.startswith("GET /users/") for line in google.seen)


def test_page_tokens_are_never_followed_as_urls(provider: GoogleProvider, google: FakeGoogle) -> None:
    for n in range(1, 601):
        google.add_user(n, f"user{n}")
    google.next_page_tokens = ["https://evil.example.test/admin/directory/v1/users?page=2"]
    # Sent back to the configured host as an opaque parameter; a call to any other host would fail the test
    # (respx refuses unmocked hosts). The fake does not know that token and answers 400, as Google would.
    with pytest.raises(DirectoryError, match="list users: HTTP 400"):
        list(provider.all_users())
    assert any("pageToken=https%3A%2F%2Fevil.example.test" in line for line in google.seen)


def test_a_repeated_page_token_stops_the_listing(provider: GoogleProvider, google: FakeGoogle) -> None:
    for n in range(1, 1201):
        google.add_user(n, f"user{n}")
    google.next_page_tokens = ["page-500", "page-500"]
    with pytest.raises(DirectoryError, match="list users: Google repeated a page token"):
        list(provider.all_users())


# ---- secrets never leak -------------------------------------------------------------------------------


def test_no_secret_in_outcomes_checks_errors_or_logs(
    google: FakeGoogle,
    key_file: Path,
    service_account: ServiceAccount,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    google.add_user(0, "responder-admin")
    alice = google.add_user(1, "alice", grants=(OTHER_APP,))
    google.leak_access_token(alice)
    google.refresh_tokens.add(LEAKED_REFRESH)
    plugin = make_provider(key_file)
    texts: list[str] = [repr(plugin.check())]
    texts += [repr(plugin.execute(r)) for r in (access(), refresh(), for_user(alice, Verb.REVOKE_REFRESH_TOKENS))]
    texts += [repr(plugin.verify(access())), repr(plugin.resolve(access()))]
    google.fail("POST", "signOut$", 403, ENVELOPE_403_SCOPE)
    google.leak_access_token(alice, value=LEAKED_ACCESS + "2")
    texts.append(repr(plugin.execute(access(LEAKED_ACCESS + "2"))))
    google.grant_error = (400, {"error": "invalid_grant", "error_description": f"echo {LEAKED_REFRESH}"})
    plugin._credentials.invalidate(plugin._credentials.token())
    texts += [repr(plugin.check()), repr(plugin.execute(for_user(alice)))]
    try:
        list(plugin.all_users())
    except DirectoryError as exc:
        texts.append(str(exc))
    texts += [repr(plugin), repr(plugin._credentials.key), caplog.text, *capsys.readouterr()]
    canaries = [LEAKED_ACCESS, LEAKED_REFRESH, service_account.pem.splitlines()[1], *google.admin_tokens]
    canaries += [c.removeprefix("ya29.") for c in canaries if c.startswith("ya29.")]
    for text in texts:
        for canary in canaries:
            assert canary not in text
    plugin.close()


# ---- the contract check itself ------------------------------------------------------------------------


def _call(method: str, url: str, *, bearer: str | None = "ya29.admin", **kwargs: Any) -> httpx.Request:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return httpx.Request(method, url, headers=headers, **kwargs)


def test_the_contract_check_rejects_wrong_requests_and_fixtures(discovery: Discovery) -> None:
    api, oauth, scopes = DIRECTORY_URL, OAUTH_URL, frozenset(SCOPES)
    wrong: list[tuple[httpx.Request, httpx.Response | None]] = [
        (_call("GET", f"{api}/userz/1"), None),  # no such path
        (_call("PUT", f"{api}/users/1/signOut"), None),  # no such method there
        (_call("GET", f"{api}/users/1?colour=blue"), None),  # unknown parameter
        (_call("GET", f"{api}/users/1?access_token=ya29.x"), None),  # a credential in the URL
        (_call("GET", f"{api}/users/1?projection=everything"), None),  # enum
        (_call("GET", f"{api}/users?customer=my_customer&maxResults=501"), None),  # maximum
        (_call("GET", f"{api}/users?customer=my_customer&maxResults=ten"), None),  # integer
        (_call("GET", f"{api}/users?maxResults=10"), None),  # customer or domain
        (_call("GET", f"{api}/groups/g/members?includeDerivedMembership=yes"), None),  # boolean
        (_call("POST", f"{api}/users/1/signOut", content=b"{}"), None),  # signOut takes no body
        (_call("GET", f"{api}/users/1", bearer=None), None),  # no token
        (_call("GET", f"{api}/groups/g"), None),  # groups.get needs a scope responder does not request
        (_call("GET", f"{api}/users/1"), httpx.Response(200, json={"id": 1})),  # id is a string
        (_call("GET", f"{api}/users/1"), httpx.Response(200, json={"primaryEmial": "a@b"})),  # a typo
        (_call("DELETE", f"{api}/users/1/tokens/c"), httpx.Response(200, json={"ok": True})),  # no body declared
        (_call("GET", f"{api}/users/1"), httpx.Response(404, json={"detail": "Not found."})),  # not Google's error
        (_call("POST", f"{oauth}/revoke?token=1//x", bearer=None), None),  # a token in the URL
        (_call("POST", f"{oauth}/token", bearer=None, data={"grant_type": "password", "assertion": "a"}), None),
        (_call("POST", f"{oauth}/tokeninfo", bearer=None), None),  # the bearer header is missing
        (_call("GET", f"{oauth}/tokeninfo"), None),  # only POST
        (_call("POST", f"{oauth}/tokeninfo"), httpx.Response(200, json={"user_id": "1"})),  # a v2 field
        (_call("POST", "https://www.googleapis.com/oauth2/v2/tokeninfo?access_token=ya29.x"), None),
    ]
    for call in wrong:
        report = check_calls(discovery, [call], scopes)
        assert report.errors, call[0]
        assert report.checked_requests == 0


def test_the_contract_check_accepts_what_the_plugin_sends(discovery: Discovery) -> None:
    api, oauth = DIRECTORY_URL, OAUTH_URL
    user = FakeGoogle.user_json(GUser("100000000000000000001", f"alice@{DOMAIN}"))
    right: list[tuple[httpx.Request, httpx.Response | None]] = [
        (_call("GET", f"{api}/users/alice%40example.com?fields=id"), httpx.Response(200, json=user)),
        (_call("POST", f"{api}/users/1/signOut"), httpx.Response(204)),
        (_call("DELETE", f"{api}/users/1/tokens/{APP}"), _error(404, "Resource Not Found: clientId", "notFound")),
        (_call("GET", f"{api}/users?domain=example.com&maxResults=500&pageToken=x"), None),
        (_call("POST", f"{oauth}/tokeninfo"), httpx.Response(200, json={"sub": "1", "azp": APP, "aud": APP})),
        (_call("POST", f"{oauth}/revoke", bearer=None, data={"token": "1//x"}), httpx.Response(200, json={})),
    ]
    report = check_calls(discovery, right, frozenset(SCOPES))
    assert report.errors == []
    assert (report.checked_requests, report.checked_responses) == (6, 3)


def test_the_v2_tokeninfo_would_put_the_token_in_the_url() -> None:
    """Why the plugin asks oauth2.googleapis.com/tokeninfo with a bearer header instead of the method in
    oauth2.v2.json: there the token is a query parameter, and a URL is logged by every proxy on the way."""
    document = json.loads(OAUTH2_V2_SPEC.read_text())
    method = document["methods"]["tokeninfo"]
    assert (method["httpMethod"], method["path"]) == ("POST", "oauth2/v2/tokeninfo")
    assert method["parameters"]["access_token"]["location"] == "query"
    assert "request" not in method  # no body form is declared
    assert set(document["schemas"]["Tokeninfo"]["properties"]) >= {"user_id", "email", "issued_to", "audience"}


def test_every_directory_call_is_covered_by_the_requested_scopes(discovery: Discovery) -> None:
    used = {
        "directory.users.get",
        "directory.users.list",
        "directory.users.signOut",
        "directory.tokens.list",
        "directory.tokens.delete",
        "directory.members.list",
    }
    methods = {m.id: m for m in discovery.methods}
    for method_id in used:
        assert methods[method_id].scopes & set(SCOPES), method_id
    # and nothing broader is requested than these three read/security scopes
    assert set(SCOPES) == {
        "https://www.googleapis.com/auth/admin.directory.user.readonly",
        "https://www.googleapis.com/auth/admin.directory.user.security",
        "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
    }
