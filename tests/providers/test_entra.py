"""The Entra plugin against a fake Microsoft Entra (token endpoint + Graph) behind respx. Every request the
plugin sends and every fixture served is checked by tests/providers/entra_contract.py: revokeSignInSessions
against the CSDL extract in shared/specs/msgraph, the reads and the token endpoint against their references."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import jwt
import pytest
import respx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from providers.entra import EntraProvider
from responder.errors import ConfigError, DirectoryError
from responder.http import DryRunViolation, build_client, dry_run
from responder.model import (
    ActionRequest,
    Family,
    Field,
    Finding,
    Kind,
    Location,
    OutcomeStatus,
    ProviderRef,
    Subject,
    Target,
    Verb,
)
from responder.secret import Secret
from responder.settings import ProviderConfig
from tests.conftest import require_peer
from tests.providers.entra_contract import NOT_GRAPH, SPEC_PATH, Contract, GraphSchema, load_schema

LOGIN = "https://login.microsoftonline.com"
GRAPH = "https://graph.microsoft.com"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
MSA_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
SP_OID = "0c5b6bd4-1ba3-4d72-8c2f-7e0f1cc8a0a1"  # responder's own service principal
CLIENT_SECRET = "CANARY~responder-client-secret-5f0b1c"
ALL_ROLES = ("User.RevokeSessions.All", "User.Read.All", "GroupMember.Read.All")
ALICE = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b"
BOB = "8e7d6c5b-4a39-4281-9f0e-1d2c3b4a5968"
CAROL = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"


# ---- the fake ---------------------------------------------------------------------------------------------


@dataclass
class User:
    id: str
    upn: str
    enabled: bool = True
    mail: str | None = None
    other_mails: list[str] = field(default_factory=list)
    revocations: int = 0


@dataclass
class Failure:
    method: str
    path: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int


@dataclass
class FakeEntra:
    """Just enough of Entra: client credentials (secret or certificate assertion), users, groups with nested
    members, revokeSignInSessions, paging by $skiptoken. Answers are shaped as the references show."""

    login: str = LOGIN
    graph: str = GRAPH
    users: dict[str, User] = field(default_factory=dict)
    groups: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # id → (displayName, member ids)
    roles: tuple[str, ...] = ALL_ROLES
    certificate: x509.Certificate | None = None
    page_size: int = 2
    foreign_next_link: bool = False
    live_tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    seen: list[str] = field(default_factory=list)
    answered: int = 0
    failures: list[Failure] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_user(self, user_id: str, upn: str, **extra: Any) -> User:
        self.users[user_id] = user = User(user_id, upn, **extra)
        return user

    def fail(self, method: str, path: str, status: int, body: Any = None, headers: dict[str, str] | None = None,
             times: int = 1) -> None:  # fmt: skip
        """The next `times` requests matching method and path regex get this answer (status 0: refused)."""
        self.failures.append(Failure(method, re.compile(path), status, body, headers or {}, times))

    def expire_tokens(self) -> None:
        self.live_tokens.clear()

    # ---- routing -----------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:  # several engine threads may call at once
            self.answered += 1
            # As sent: percent-encoding and query included
            self.seen.append(f"{request.method} {request.url.host}{request.url.raw_path.decode()}")
            for failure in self.failures:
                if failure.times and failure.method == request.method and failure.path.search(request.url.path):
                    failure.times -= 1
                    if failure.status == 0:
                        raise httpx.ConnectError("connection refused", request=request)
                    if isinstance(failure.body, str):
                        return httpx.Response(failure.status, text=failure.body, headers=failure.headers)
                    if failure.body is None:
                        return httpx.Response(failure.status, headers=failure.headers)
                    return httpx.Response(failure.status, json=failure.body, headers=failure.headers)
            if f"{request.url.scheme}://{request.url.host}" == self.login:
                return self._token(request)
            return self._graph(request)

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.token_requests += 1
        form = dict(parse_qsl(request.content.decode()))
        if request.url.path != f"/{TENANT}/oauth2/v2.0/token":
            return token_error(400, "invalid_request", 90002, "Tenant not found.")
        if form.get("client_id") != CLIENT_ID:
            return token_error(400, "unauthorized_client", 700016, "Application not found in the directory.")
        if not self._client_authenticated(form):
            return token_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        token = jwt.encode(
            {"aud": self.graph, "iss": f"https://sts.windows.net/{TENANT}/", "tid": TENANT, "oid": SP_OID,
             "sub": SP_OID, "idtyp": "app", "appid": CLIENT_ID, "roles": list(self.roles),
             "jti": str(uuid.uuid4()), "exp": 4102444800},
            "graph-signing-key-not-known-to-responder",
            algorithm="HS256",
        )  # fmt: skip
        self.live_tokens.add(token)
        return httpx.Response(
            200, json={"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
        )

    def _client_authenticated(self, form: dict[str, str]) -> bool:
        if self.certificate is None:
            return form.get("client_secret") == CLIENT_SECRET
        assertion = form.get("client_assertion", "")
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        thumbprint = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
        try:
            claims = jwt.decode(
                assertion, self.certificate.public_key(), algorithms=["PS256"],  # type: ignore[arg-type]
                audience=f"{self.login}/{TENANT}/oauth2/v2.0/token", issuer=CLIENT_ID,
            )  # fmt: skip
        except jwt.PyJWTError:
            return False
        return jwt.get_unverified_header(assertion).get("x5t#S256") == thumbprint and claims["sub"] == CLIENT_ID

    def _graph(self, request: httpx.Request) -> httpx.Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.live_tokens:
            return graph_error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
        path, params = request.url.path, request.url.params
        if not set(ALL_ROLES[:1]) <= set(self.roles) and path.endswith("/revokeSignInSessions"):
            return graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        if match := re.fullmatch(r"/v1\.0/users/([^/]+)/revokeSignInSessions", path):
            user = self._user(match[1])
            if user is None:
                return not_found(match[1])
            user.revocations += 1
            return httpx.Response(
                200, json={"@odata.context": f"{self.graph}/v1.0/$metadata#Edm.Boolean", "value": True}
            )
        if not {"User.Read.All", "Directory.Read.All"} & set(self.roles) and path.startswith("/v1.0/users"):
            return graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        if not {"GroupMember.Read.All", "Directory.Read.All"} & set(self.roles) and path.startswith("/v1.0/groups"):
            return graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        if match := re.fullmatch(r"/v1\.0/users/([^/]+)|/v1\.0/users\('([^/]+)'\)", path):
            key = match[1] or match[2].replace("''", "'")
            user = self._user(key)
            if user is None:
                return not_found(key)
            return httpx.Response(200, json={"@odata.context": f"{self.graph}/v1.0/$metadata#users/$entity",
                                             **self._user_json(user, params)})  # fmt: skip
        if path == "/v1.0/users":
            users = [u for u in self.users.values() if self._matches(u, params.get("$filter", ""))]
            return self._page(request, [self._user_json(u, params) for u in users])
        if path == "/v1.0/groups":
            wanted = re.fullmatch(r"displayName eq '(.*)'", params.get("$filter", ""), re.S)
            name = (wanted[1].replace("''", "'") if wanted else "").lower()
            items = [{"id": gid, "displayName": shown} for gid, (shown, _) in self.groups.items()
                     if shown.lower() == name]  # fmt: skip
            return self._page(request, items)
        if match := re.fullmatch(r"/v1\.0/groups/([^/]+)/transitiveMembers/microsoft\.graph\.user", path):
            if match[1] not in self.groups:
                return not_found(match[1])
            members = [self._user_json(self.users[m], params) for m in self._transitive(match[1])]
            return self._page(request, members)
        return graph_error(400, "BadRequest", "Resource not found for the segment.")

    def _user(self, key: str) -> User | None:
        by_upn = (u for u in self.users.values() if u.upn.lower() == key.lower())
        return self.users.get(key.lower()) or next(by_upn, None)

    def _matches(self, user: User, odata: str) -> bool:
        if not odata:
            return True
        if odata == "accountEnabled eq true":
            return user.enabled
        mail = re.fullmatch(r"mail eq '(.*)' or otherMails/any\(m:m eq '(.*)'\)", odata, re.S)
        if mail and mail[1] == mail[2]:
            address = mail[1].replace("''", "'").lower()
            return (user.mail or "").lower() == address or address in [m.lower() for m in user.other_mails]
        raise AssertionError(f"the fake does not know the filter {odata!r}")

    def _transitive(self, group_id: str, seen: set[str] | None = None) -> list[str]:
        seen = seen if seen is not None else set()
        found: list[str] = []
        for member in self.groups[group_id][1]:
            if member in self.groups and member not in seen:
                seen.add(member)
                found += [m for m in self._transitive(member, seen) if m not in found]
            elif member in self.users and member not in found:
                found.append(member)
        return found

    def _user_json(self, user: User, params: httpx.QueryParams) -> dict[str, Any]:
        full = {"id": user.id, "userPrincipalName": user.upn, "accountEnabled": user.enabled, "mail": user.mail,
                "otherMails": user.other_mails, "displayName": user.upn.split("@")[0].title()}  # fmt: skip
        selected = params.get("$select", "").split(",")
        return {key: value for key, value in full.items() if key in selected}

    def _page(self, request: httpx.Request, items: list[dict[str, Any]]) -> httpx.Response:
        params = request.url.params
        size = min(int(params.get("$top", "100")), self.page_size)
        start = int(params.get("$skiptoken", "0"))
        body: dict[str, Any] = {
            "@odata.context": f"{self.graph}/v1.0/$metadata#users",
            "value": items[start : start + size],
        }
        if params.get("$count") == "true":
            body["@odata.count"] = len(items)
        if start + size < len(items):
            host = "https://graph.evil.example" if self.foreign_next_link else self.graph
            query = httpx.QueryParams(params).set("$skiptoken", str(start + size))
            body["@odata.nextLink"] = f"{host}{request.url.path}?{query}"
        return httpx.Response(200, json=body)


def token_error(status: int, error: str, code: int, text: str) -> httpx.Response:
    trace = str(uuid.uuid4())
    return httpx.Response(
        status,
        json={
            "error": error,
            "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {uuid.uuid4()} "
            "Timestamp: 2026-11-29 10:00:00Z",
            "error_codes": [code],
            "timestamp": "2026-11-29 10:00:00Z",
            "trace_id": trace,
            "correlation_id": str(uuid.uuid4()),
            "error_uri": f"{LOGIN}/error?code={code}",
        },
    )


def graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    request = str(uuid.uuid4())
    inner = {"date": "2026-11-29T10:00:00", "request-id": request, "client-request-id": request}
    body = {"error": {"code": code, "message": message, "innerError": inner}}
    return httpx.Response(status, json=body, headers={"request-id": request, **(headers or {})})


def not_found(key: str) -> httpx.Response:
    message = f"Resource '{key}' does not exist or one of its queried reference-property objects are not present."
    return graph_error(404, "Request_ResourceNotFound", message)


def graph_error_body(code: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": "m", "innerError": {"date": "2026-11-29T10:00:00"}}}


# ---- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def schema() -> GraphSchema:
    require_peer(SPEC_PATH.is_file(), f"Graph CSDL extract not found at {SPEC_PATH}")
    return load_schema()


@contextmanager
def serving(fake: FakeEntra, schema: GraphSchema) -> Iterator[FakeEntra]:
    """The fake behind respx on its login and Graph hosts (any other host is refused), then the contract
    check of everything it saw."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        router.route(host=httpx.URL(fake.login).host).mock(side_effect=fake.handle)
        router.route(host=httpx.URL(fake.graph).host).mock(side_effect=fake.handle)
        yield fake
        calls = [(call.request, call.optional_response) for call in router.calls]  # respx forgets on exit
    assert len(calls) == fake.answered, "the contract check must see every request the fake answered"
    report = Contract(schema, fake.login, fake.graph, TENANT, CLIENT_ID).check_calls(calls)
    assert not report.errors, "contract violations:\n" + "\n".join(report.errors)
    assert report.checked_requests == len(calls)


@pytest.fixture
def entra(schema: GraphSchema) -> Iterator[FakeEntra]:
    with serving(FakeEntra(), schema) as fake:
        yield fake


def make_provider(monkeypatch: pytest.MonkeyPatch, client: httpx.Client | None = None, **extra: Any) -> EntraProvider:
    monkeypatch.setenv("RESPONDER_TEST_ENTRA_SECRET", CLIENT_SECRET)
    table = {
        "name": "corp",
        "plugin": "entra",
        "tenant_id": TENANT,
        "client_id": CLIENT_ID,
        "client_secret_env": "RESPONDER_TEST_ENTRA_SECRET",
        "hosts": ["login.microsoftonline.com", "graph.microsoft.com"],
        **extra,
    }
    return EntraProvider.from_config(table, client or build_client(GRAPH))


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch, entra: FakeEntra) -> Iterator[EntraProvider]:
    plugin = make_provider(monkeypatch)
    yield plugin
    plugin.close()


# ---- builders ---------------------------------------------------------------------------------------------


def user_jwt(
    oid: str = ALICE, tid: str = TENANT, *, sub: str | None = None, aud: str = "00000003-0000-0000-c000-000000000000"
) -> str:
    claims = {"aud": aud, "iss": f"https://sts.windows.net/{tid}/", "tid": tid, "oid": oid,
              "sub": sub or "pairwise-" + oid[:8], "upn": "alice@contoso.example", "exp": 4102444800}  # fmt: skip
    return jwt.encode(claims, "entra-signing-key-not-known-to-responder", algorithm="HS256")


def recorded(token: str) -> dict[str, str]:
    """What responder keeps of a JWT (responder/detect/jwt.py RECORDED_CLAIMS)."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return {
        k: str(v) for k, v in claims.items() if k in ("iss", "sub", "sid", "aud", "azp", "exp", "typ", "oid", "tid")
    }


def finding(
    kind: Kind,
    value: str,
    claims: dict[str, str] | None = None,
    *,
    name: str = "authorization",
    where: Field = Field.HEADER,
    instance: str = "corp",
) -> Finding:
    return Finding(
        fingerprint=hashlib.sha256(value.encode()).hexdigest(),
        kind=kind,
        detector="test",
        label="test",
        revocable=True,
        provider=ProviderRef(Family.ENTRA, instance),
        claims=claims or {},
        expires_at=None,
        locations=(Location(where, name, host="login.microsoftonline.com"),),
        value=Secret(value),
    )


def token_finding(kind: Kind = Kind.ACCESS_TOKEN, **claims: Any) -> Finding:
    token = user_jwt(**claims)
    return finding(kind, token, recorded(token))


def cookie(name: str = "ESTSAUTHPERSISTENT") -> Finding:
    return finding(Kind.SESSION_COOKIE, "0.AX4A" + "q" * 300, name=name, where=Field.COOKIE)


REFRESH = "0.AX4A" + "r" * 60 + ".AgABAAEAAAD" + "s" * 300


def request(
    verb: str = Verb.END_ALL_SESSIONS, user: str | None = ALICE, credential: str | None = None
) -> ActionRequest:
    return ActionRequest(
        action_id="action-1",
        provider="corp",
        verb=verb,
        fingerprint=None,
        kind=None,
        subject=Subject("corp", user) if user else None,
        credential=Secret(credential) if credential else None,
    )


def ends(user: str | None) -> tuple[Target, ...]:
    return (Target(Verb.END_ALL_SESSIONS, uses_credential=False, subject=Subject("corp", user) if user else None),)


def revocations(fake: FakeEntra) -> list[str]:
    return [line for line in fake.seen if line.endswith("/revokeSignInSessions")]


# ---- settings ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"client_secret_env": None}, "set client_secret_file or client_secret_env"),
        ({"tenant_id": "contoso.onmicrosoft.com"}, "tenant_id: Value error, must be a GUID"),
        ({"client_id": "responder"}, "client_id: Value error, must be a GUID"),
        ({"graph_url": "https://graph.microsoft.com/v1.0"}, "graph_url: Value error, must be an https root URL"),
        ({"login_url": "http://login.microsoftonline.com"}, "login_url: Value error, must be an https root URL"),
        ({"base_url": GRAPH}, "not base_url"),
        ({"issuer": f"{LOGIN}/{OTHER_TENANT}/v2.0"}, "issuer must be this tenant's"),
        ({"client_secret": "x"}, "not several"),
        ({"certificate_env": "RESPONDER_TEST_ENTRA_SECRET"}, "a client secret or a certificate, not both"),
        ({"client_secrt": "typo"}, "client_secrt"),
        ({"hosts": []}, "without them no finding is attributed to this instance"),
    ],
)
def test_settings_errors_name_the_key(monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)) as raised:
        make_provider(monkeypatch, **extra)
    assert CLIENT_SECRET not in str(raised.value)


def test_the_issuer_may_select_this_tenants_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = make_provider(monkeypatch, issuer=f"{LOGIN}/{TENANT.upper()}/v2.0", hosts=["login.microsoftonline.com"])
    assert plugin.name == "corp"
    plugin.close()
    make_provider(monkeypatch, issuer=f"https://sts.windows.net/{TENANT}/", hosts=[]).close()


def test_a_table_as_the_core_loader_passes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """responder/plugins.py hands over ProviderConfig.model_dump(): secret-looking keys as SecretStr, the common
    keys present (None / empty)."""
    monkeypatch.setenv("RESPONDER_TEST_ENTRA_SECRET", CLIENT_SECRET)
    config = ProviderConfig.model_validate(
        {"name": "corp", "plugin": "entra", "tenant_id": TENANT, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
         "hosts": ["login.microsoftonline.com", "graph.microsoft.com"], "requests_per_second": 5}
    )  # fmt: skip
    plugin = EntraProvider.from_config(config.model_dump(), build_client(GRAPH))
    assert plugin.name == "corp"
    assert CLIENT_SECRET not in repr(config.model_dump())
    plugin.close()


# ---- claims and plan (no I/O) -----------------------------------------------------------------------------


def test_claims_only_its_own_instance(provider: EntraProvider) -> None:
    assert provider.claims(token_finding())
    assert not provider.claims(finding(Kind.ACCESS_TOKEN, user_jwt(), instance="other"))


@pytest.mark.parametrize("kind", [Kind.ACCESS_TOKEN, Kind.ID_TOKEN, Kind.JWT, Kind.REFRESH_TOKEN])
def test_a_token_of_this_tenant_ends_all_sessions_of_its_user(
    provider: EntraProvider, entra: FakeEntra, kind: Kind
) -> None:
    assert provider.plan(token_finding(kind)) == ends(ALICE)
    assert provider.plan(token_finding(kind, oid=ALICE.upper())) == ends(ALICE)  # ids are compared lowercase
    assert entra.seen == []


@pytest.mark.parametrize(
    "claims",
    [
        {"tid": OTHER_TENANT},  # another tenant's user: not ours to touch
        {"tid": MSA_TENANT},  # a personal Microsoft account
        {"sub": ALICE},  # app-only: oid == sub is a service principal
        {"oid": "not-a-guid"},
    ],
)
def test_tokens_that_name_no_user_of_this_tenant_get_nothing(provider: EntraProvider, claims: dict[str, str]) -> None:
    assert provider.plan(token_finding(Kind.ACCESS_TOKEN, **claims)) == ()


def test_masked_or_missing_claims_name_nobody(provider: EntraProvider) -> None:
    token = user_jwt()
    masked = {**recorded(token), "oid": "fingerprint:" + "0" * 16}
    assert provider.plan(finding(Kind.ACCESS_TOKEN, token, masked)) == ()
    no_tenant = {k: v for k, v in recorded(token).items() if k != "tid"}
    assert provider.plan(finding(Kind.ACCESS_TOKEN, token, no_tenant)) == ()


def test_an_ests_cookie_takes_its_user_from_the_artifacts_tokens(provider: EntraProvider) -> None:
    id_token = token_finding(Kind.ID_TOKEN)
    foreign = token_finding(Kind.ACCESS_TOKEN, oid=BOB, tid=OTHER_TENANT)
    app_only = token_finding(Kind.ACCESS_TOKEN, oid=CAROL, sub=CAROL)
    assert provider.plan(cookie(), [id_token, foreign, app_only]) == ends(ALICE)
    assert provider.plan(cookie("ESTSAUTH"), [id_token, token_finding(Kind.ACCESS_TOKEN)]) == ends(ALICE)
    same_user_written_twice = [id_token, token_finding(Kind.ACCESS_TOKEN, oid=ALICE.upper())]
    assert provider.plan(cookie(), same_user_written_twice) == ends(ALICE)


def test_an_ests_cookie_without_one_user_needs_a_subject(provider: EntraProvider) -> None:
    two_users = [token_finding(Kind.ID_TOKEN), token_finding(Kind.ID_TOKEN, oid=BOB)]
    assert provider.plan(cookie(), two_users) == ends(None)  # never a guess between two
    assert provider.plan(cookie(), []) == ends(None)
    assert provider.plan(cookie(), [token_finding(Kind.ID_TOKEN, tid=OTHER_TENANT)]) == ends(None)


def test_opaque_refresh_tokens_take_their_user_from_other_evidence(provider: EntraProvider) -> None:
    refresh = finding(Kind.REFRESH_TOKEN, REFRESH, name="refresh_token", where=Field.FORM)
    assert provider.plan(refresh, [token_finding(Kind.ID_TOKEN)]) == ends(ALICE)
    assert provider.plan(refresh) == ends(None)


def test_other_cookies_and_kinds_get_nothing(provider: EntraProvider) -> None:
    assert provider.plan(cookie("JSESSIONID"), [token_finding()]) == ()
    assert provider.plan(finding(Kind.API_KEY, "k" * 40), [token_finding()]) == ()
    assert provider.plan(finding(Kind.PASSWORD, "hunter2", name="passwd", where=Field.FORM)) == ()


# ---- end_all_sessions -------------------------------------------------------------------------------------


def test_revoking_a_users_sessions(provider: EntraProvider, entra: FakeEntra) -> None:
    alice = entra.add_user(ALICE, "alice@contoso.example")
    bob = entra.add_user(BOB, "bob@contoso.example")
    outcome = provider.execute(request())
    assert outcome.status is OutcomeStatus.REVOKED
    assert outcome.detail == (
        "revokeSignInSessions: HTTP 200: the user's refresh tokens and session cookies are revoked (takes effect "
        "within minutes); access tokens already issued stay valid until they expire"
    )
    assert outcome.subject == Subject("corp", ALICE)
    assert (alice.revocations, bob.revocations) == (1, 0)
    assert f"POST graph.microsoft.com/v1.0/users/{ALICE}/revokeSignInSessions" in entra.seen
    again = provider.execute(request())  # idempotent at Entra: each call resets the timestamp again
    assert again.status is OutcomeStatus.REVOKED
    assert entra.token_requests == 1  # the app token is cached
    assert provider.verify(request()) is None  # Graph cannot list sessions (see EntraProvider.verify)


def test_an_unknown_user_is_already_invalid(provider: EntraProvider, entra: FakeEntra) -> None:
    outcome = provider.execute(request(user=CAROL))
    assert outcome.status is OutcomeStatus.ALREADY_INVALID
    assert outcome.detail == f"revokeSignInSessions: HTTP 404: tenant {TENANT} has no user {CAROL} (deleted?)"
    assert outcome.provider_request_id


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "detail", "retry_after"),
    [
        (403, graph_error_body("Authorization_RequestDenied"), {}, OutcomeStatus.FAILED_PERMANENT,
         "revokeSignInSessions: HTTP 403: responder's app lacks the application permission User.RevokeSessions.All "
         "(Authorization_RequestDenied)", None),
        (429, graph_error_body("TooManyRequests"), {"Retry-After": "17"}, OutcomeStatus.FAILED_TRANSIENT,
         "revokeSignInSessions: HTTP 429 (TooManyRequests)", 17.0),
        (503, graph_error_body("serviceNotAvailable"), {"Retry-After": "5"}, OutcomeStatus.FAILED_TRANSIENT,
         "revokeSignInSessions: HTTP 503 (serviceNotAvailable)", 5.0),
        (504, None, {}, OutcomeStatus.FAILED_TRANSIENT, "revokeSignInSessions: HTTP 504", None),
        (400, graph_error_body("Request_BadRequest"), {}, OutcomeStatus.FAILED_PERMANENT,
         "revokeSignInSessions: HTTP 400: refused (Request_BadRequest)", None),
        (404, "<html>Not Found</html>", {NOT_GRAPH: "1"}, OutcomeStatus.FAILED_PERMANENT,
         "revokeSignInSessions: HTTP 404: no such endpoint (is graph_url Graph's root URL?)", None),
        (200, "<html>sign in</html>", {NOT_GRAPH: "1"}, OutcomeStatus.FAILED_PERMANENT,
         "revokeSignInSessions: the answer is not Graph's JSON (wrong graph_url?)", None),
        (200, {"@odata.context": f"{GRAPH}/v1.0/$metadata#Edm.Boolean", "value": False}, {},
         OutcomeStatus.FAILED_PERMANENT, "revokeSignInSessions: HTTP 200 but Graph answered value=False, not true",
         None),
        # The reference promises only "a 2xx response code", the CSDL an Edm.Boolean: tolerated, marked not-Graph
        (204, None, {NOT_GRAPH: "1"}, OutcomeStatus.REVOKED, "revokeSignInSessions: HTTP 204: the user's refresh "
         "tokens and session cookies are revoked (takes effect within minutes); access tokens already issued stay "
         "valid until they expire", None),
    ],
)  # fmt: skip
def test_status_meanings_of_the_revocation(
    provider: EntraProvider,
    entra: FakeEntra,
    status: int,
    body: Any,
    headers: dict[str, str],
    expected: OutcomeStatus,
    detail: str,
    retry_after: float | None,
) -> None:
    entra.add_user(ALICE, "alice@contoso.example")
    entra.fail("POST", "revokeSignInSessions$", status, body, headers)
    outcome = provider.execute(request())
    assert (outcome.status, outcome.detail, outcome.retry_after) == (expected, detail, retry_after)
    assert outcome.subject == Subject("corp", ALICE)


def test_a_stale_app_token_is_replaced_once(provider: EntraProvider, entra: FakeEntra) -> None:
    alice = entra.add_user(ALICE, "alice@contoso.example")
    assert provider.execute(request()).status is OutcomeStatus.REVOKED
    entra.expire_tokens()  # e.g. consent revoked and granted again, or an early expiry
    assert provider.execute(request()).status is OutcomeStatus.REVOKED
    assert (entra.token_requests, alice.revocations) == (2, 2)
    entra.fail("POST", "revokeSignInSessions$", 401, graph_error_body("InvalidAuthenticationToken"), times=2)
    refused = provider.execute(request())
    assert refused.status is OutcomeStatus.FAILED_PERMANENT
    assert refused.detail == (
        "revokeSignInSessions: HTTP 401: Graph refused responder's app token (InvalidAuthenticationToken)"
    )
    assert entra.token_requests == 3  # one fresh token, one retry, no loop


def test_the_app_token_is_renewed_shortly_before_it_expires(provider: EntraProvider, entra: FakeEntra) -> None:
    entra.add_user(ALICE, "alice@contoso.example")
    now = [1000.0]
    provider._token.clock = lambda: now[0]
    provider.execute(request())
    now[0] += 3599 - 301  # still more than five minutes left
    provider.execute(request())
    assert entra.token_requests == 1
    now[0] += 2
    provider.execute(request())
    assert entra.token_requests == 2


def test_threads_share_one_app_token(provider: EntraProvider, entra: FakeEntra) -> None:
    alice = entra.add_user(ALICE, "alice@contoso.example")
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda _: provider.execute(request()), range(24)))
    assert {o.status for o in outcomes} == {OutcomeStatus.REVOKED}
    assert (entra.token_requests, alice.revocations) == (1, 24)


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "detail"),
    [
        (401, "invalid_client:7000215", {}, OutcomeStatus.FAILED_PERMANENT,
         "app token: HTTP 401: the token endpoint refused responder's client credentials "
         "(AADSTS7000215: invalid client secret)"),
        (401, "invalid_client:7000222", {}, OutcomeStatus.FAILED_PERMANENT,
         "app token: HTTP 401: the token endpoint refused responder's client credentials "
         "(AADSTS7000222: the client secret has expired)"),
        (400, "invalid_request:90002", {}, OutcomeStatus.FAILED_PERMANENT,
         "app token: HTTP 400: the token endpoint answered 'invalid_request' "
         "(AADSTS90002: no such tenant (check tenant_id and login_url))"),
        (429, None, {"Retry-After": "30"}, OutcomeStatus.FAILED_TRANSIENT, "app token: HTTP 429"),
        (503, None, {}, OutcomeStatus.FAILED_TRANSIENT, "app token: HTTP 503"),
        (404, "<html>nope</html>", {NOT_GRAPH: "1"}, OutcomeStatus.FAILED_PERMANENT,
         f"app token: {LOGIN}/{TENANT}/oauth2/v2.0/token answered HTTP 404 (wrong login_url or tenant_id?)"),
        (200, "<html>sign in</html>", {NOT_GRAPH: "1"}, OutcomeStatus.FAILED_PERMANENT,
         f"app token: {LOGIN}/{TENANT}/oauth2/v2.0/token did not answer with a token (wrong login_url?)"),
    ],
)  # fmt: skip
def test_token_endpoint_failures_are_named(
    provider: EntraProvider,
    entra: FakeEntra,
    status: int,
    body: str | None,
    headers: dict[str, str],
    expected: OutcomeStatus,
    detail: str,
) -> None:
    if body and ":" in body and not body.startswith("<"):
        error, code = body.split(":")
        served: Any = json.loads(token_error(status, error, int(code), "x").content)
    else:
        served = body
    entra.fail("POST", "/oauth2/v2.0/token$", status, served, headers)
    outcome = provider.execute(request())
    assert (outcome.status, outcome.detail) == (expected, detail)
    assert outcome.retry_after == (30.0 if status == 429 else None)
    assert revocations(entra) == []


def test_a_refused_secret_from_the_fake_itself(monkeypatch: pytest.MonkeyPatch, entra: FakeEntra) -> None:
    monkeypatch.setenv("RESPONDER_TEST_ENTRA_WRONG", "wrong-secret")
    plugin = make_provider(monkeypatch, client_secret_env="RESPONDER_TEST_ENTRA_WRONG")
    outcome = plugin.execute(request())
    assert outcome.detail.endswith("(AADSTS7000215: invalid client secret)")
    plugin.close()


def test_only_end_all_sessions_is_offered(provider: EntraProvider, entra: FakeEntra) -> None:
    for verb in (Verb.REVOKE_TOKEN, Verb.END_SESSION, Verb.REVOKE_REFRESH_TOKENS):
        outcome = provider.execute(request(verb))
        assert outcome.status is OutcomeStatus.UNSUPPORTED
        assert outcome.detail.endswith("Graph only revokes all sign-in sessions of a user")
    nobody = provider.execute(request(user=None))
    assert (nobody.status, nobody.detail) == (
        OutcomeStatus.FAILED_PERMANENT,
        "end_all_sessions needs the user's object id; none given",
    )
    assert entra.seen == []


def test_a_upn_is_encoded_into_the_path(provider: EntraProvider, entra: FakeEntra) -> None:
    guest = "ana_fabrikam.example#EXT#@contoso.onmicrosoft.com"
    entra.add_user(BOB, guest)
    entra.add_user(CAROL, "$admin@contoso.example")
    assert provider.execute(request(user=guest)).status is OutcomeStatus.REVOKED
    assert provider.resolve(request(user="$admin@contoso.example")) == Subject("corp", CAROL, "$admin@contoso.example")
    assert (
        "POST graph.microsoft.com/v1.0/users/ana_fabrikam.example%23EXT%23@contoso.onmicrosoft.com/revokeSignInSessions"
        in entra.seen
    )


# ---- resolve and dry runs ---------------------------------------------------------------------------------


def test_resolve_names_the_login(provider: EntraProvider, entra: FakeEntra) -> None:
    entra.add_user(ALICE, "alice@contoso.example")
    assert provider.resolve(request()) == Subject("corp", ALICE, "alice@contoso.example")
    assert provider.resolve(request(user=CAROL)) == Subject("corp", CAROL)  # unknown: as given
    assert provider.resolve(request(user=None)) is None
    entra.fail("GET", "/v1.0/users/", 403, graph_error_body("Authorization_RequestDenied"))
    assert provider.resolve(request()) == Subject("corp", ALICE)
    assert f"GET graph.microsoft.com/v1.0/users/{ALICE}?%24select=id%2CuserPrincipalName%2CaccountEnabled" in entra.seen


def test_a_dry_run_resolves_but_never_revokes(monkeypatch: pytest.MonkeyPatch, entra: FakeEntra) -> None:
    alice = entra.add_user(ALICE, "alice@contoso.example")
    entra.groups["6e1c0a1e-7d3f-4a9e-9b1f-1a2b3c4d5e6f"] = ("Sales", [ALICE])
    plugin = make_provider(monkeypatch, build_client(GRAPH, always_dry_run=True))
    assert plugin.resolve(request()) == Subject("corp", ALICE, "alice@contoso.example")
    assert plugin.find_user("alice@contoso.example") == Subject("corp", ALICE, "alice@contoso.example")
    assert list(plugin.group_members("Sales")) == [Subject("corp", ALICE, "alice@contoso.example")]
    assert plugin.check().ok
    with pytest.raises(DryRunViolation):
        plugin.execute(request())
    assert alice.revocations == 0
    assert revocations(entra) == []
    assert {line.split(" ")[0] for line in entra.seen} == {"GET", "POST"}
    assert [line for line in entra.seen if line.startswith("POST")] == [
        f"POST login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
    ]
    plugin.close()


def test_a_dry_run_block_refuses_the_revocation(provider: EntraProvider, entra: FakeEntra) -> None:
    entra.add_user(ALICE, "alice@contoso.example")
    with dry_run():
        assert provider.resolve(request()) == Subject("corp", ALICE, "alice@contoso.example")
        with pytest.raises(DryRunViolation):
            provider.execute(request())
    assert revocations(entra) == []


# ---- check ------------------------------------------------------------------------------------------------


def test_check_proves_credential_url_and_permissions(provider: EntraProvider, entra: FakeEntra) -> None:
    result = provider.check()
    assert result.ok
    assert result.detail == (
        f"app {CLIENT_ID} authenticated in tenant {TENANT}; Graph answered; may revoke sessions, read users and "
        "group members"
    )
    assert entra.seen[-1] == "GET graph.microsoft.com/v1.0/users?%24select=id&%24top=1"


@pytest.mark.parametrize(
    ("roles", "missing"),
    [
        (("User.Read.All", "GroupMember.Read.All"), "User.RevokeSessions.All (to revoke sessions)"),
        (("User.RevokeSessions.All", "User.Read.All"), "GroupMember.Read.All (for panic by group)"),
        (("User.RevokeSessions.All", "Directory.Read.All"), None),  # a broader grant covers the reads
        ((), "User.RevokeSessions.All (to revoke sessions); User.Read.All (to name users, and for panic); "
             "GroupMember.Read.All (for panic by group)"),
    ],
)  # fmt: skip
def test_check_names_missing_permissions(
    provider: EntraProvider, entra: FakeEntra, roles: tuple[str, ...], missing: str | None
) -> None:
    entra.roles = roles
    result = provider.check()
    if missing is None:
        assert result.ok, result.detail
        return
    assert (result.ok, result.detail) == (
        False,
        f"app {CLIENT_ID} authenticated in tenant {TENANT}, but missing application permission {missing} "
        "(add it and grant admin consent)",
    )


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "detail"),
    [
        ("POST", "/token$", "invalid_client:7000215",  None,
         "app token: HTTP 401: the token endpoint refused responder's client credentials "
         "(AADSTS7000215: invalid client secret)"),
        ("POST", "/token$", 0, None,
         f"cannot reach {LOGIN}/{TENANT}/oauth2/v2.0/token: ConnectError (wrong login_url?)"),
        ("GET", "/v1.0/users$", 0, None, f"cannot reach {GRAPH}/v1.0/users: ConnectError (wrong graph_url?)"),
        ("GET", "/v1.0/users$", 200, "<html>portal</html>",
         f"GET {GRAPH}/v1.0/users did not answer as Microsoft Graph does: wrong graph_url?"),
        ("GET", "/v1.0/users$", 404, "<html>Not Found</html>",
         f"GET {GRAPH}/v1.0/users answered HTTP 404: wrong graph_url?"),
        ("GET", "/v1.0/users$", 429, None, "list users: HTTP 429"),
    ],
)  # fmt: skip
def test_check_says_exactly_what_is_wrong(
    provider: EntraProvider, entra: FakeEntra, method: str, path: str, status: Any, body: Any, detail: str
) -> None:
    if isinstance(status, str):
        error, code = status.split(":")
        status, body = 401, json.loads(token_error(401, error, int(code), "x").content)
    entra.fail(method, path, status, body, {NOT_GRAPH: "1"} if isinstance(body, str) else {})
    result = provider.check()
    assert (result.ok, result.detail) == (False, detail)


def test_check_when_graph_refuses_the_user_read(provider: EntraProvider, entra: FakeEntra) -> None:
    entra.fail("GET", "/v1.0/users$", 403, graph_error_body("Authorization_RequestDenied"))
    result = provider.check()
    assert not result.ok
    assert "missing application permission User.Read.All (to name users, and for panic)" in result.detail


# ---- directory --------------------------------------------------------------------------------------------


def test_find_user_by_id_upn_and_email(provider: EntraProvider, entra: FakeEntra) -> None:
    entra.add_user(ALICE, "alice@contoso.example", mail="alice.smith@contoso.example")
    entra.add_user(BOB, "bob@contoso.example", mail=None, other_mails=["bob.o'neil@fabrikam.example"])
    alice = Subject("corp", ALICE, "alice@contoso.example")
    assert provider.find_user(ALICE.upper()) == alice
    assert provider.find_user(" alice@contoso.example ") == alice
    assert provider.find_user("Alice.Smith@contoso.example") == alice
    assert provider.find_user("bob.o'neil@fabrikam.example") == Subject("corp", BOB, "bob@contoso.example")
    assert provider.find_user("nobody@contoso.example") is None
    assert provider.find_user(CAROL) is None
    by_mail = [line for line in entra.seen if "%24filter" in line]
    assert by_mail[0] == (
        "GET graph.microsoft.com/v1.0/users?%24filter=mail+eq+%27Alice.Smith%40contoso.example%27+or+otherMails"
        "%2Fany%28m%3Am+eq+%27Alice.Smith%40contoso.example%27%29&%24select=id%2CuserPrincipalName%2CaccountEnabled"
        "&%24count=true&%24top=2"
    )


def test_find_user_refuses_to_guess(provider: EntraProvider, entra: FakeEntra) -> None:
    entra.add_user(ALICE, "alice@contoso.example", mail="shared@contoso.example")
    entra.add_user(BOB, "bob@contoso.example", other_mails=["shared@contoso.example"])
    with pytest.raises(DirectoryError, match=r"several users have the email 'shared@contoso\.example'"):
        provider.find_user("shared@contoso.example")
    with pytest.raises(DirectoryError, match="found by object id, userPrincipalName or email; 'alice' is none"):
        provider.find_user("alice")


def test_find_user_names_a_refusal(provider: EntraProvider, entra: FakeEntra) -> None:
    entra.roles = ("User.RevokeSessions.All",)
    with pytest.raises(DirectoryError) as raised:
        provider.find_user(ALICE)
    assert str(raised.value) == (
        "corp: find user: HTTP 403: responder's app lacks the application permission User.Read.All "
        "(Authorization_RequestDenied)"
    )
    entra.roles = ALL_ROLES
    entra.fail("GET", "/v1.0/users/", 0)
    with pytest.raises(DirectoryError, match=r"corp: find user: cannot reach Microsoft Entra \(ConnectError\)"):
        provider.find_user(ALICE)


SALES = "6e1c0a1e-7d3f-4a9e-9b1f-1a2b3c4d5e6f"
EMEA = "0a9b8c7d-6e5f-4a3b-8c1d-2e3f4a5b6c7d"


def test_group_members_across_pages_nested_and_enabled_only(provider: EntraProvider, entra: FakeEntra) -> None:
    entra.add_user(ALICE, "alice@contoso.example")
    entra.add_user(BOB, "bob@contoso.example", enabled=False)
    entra.add_user(CAROL, "carol@contoso.example")
    extra = [entra.add_user(str(uuid.UUID(int=n)), f"user{n}@contoso.example") for n in range(1, 4)]
    entra.groups[EMEA] = ("Sales EMEA", [CAROL, extra[0].id])
    entra.groups[SALES] = ("Sales", [ALICE, BOB, EMEA, extra[1].id, extra[2].id])
    members = list(provider.group_members("Sales"))
    expected = [ALICE, CAROL, extra[0].id, extra[1].id, extra[2].id]  # bob is disabled; EMEA is expanded
    assert [m.user_id for m in members] == expected
    assert members[0] == Subject("corp", ALICE, "alice@contoso.example")
    pages = [line for line in entra.seen if "/transitiveMembers/" in line]
    assert len(pages) == 3  # page size 2 in the fake: the next links were followed
    assert [m.user_id for m in provider.group_members(SALES.upper())] == expected


def test_group_lookup_is_exact_and_never_a_guess(provider: EntraProvider, entra: FakeEntra) -> None:
    entra.groups[SALES] = ("Sales", [])
    entra.groups[EMEA] = ("SALES", [])
    assert list(provider.group_members("Sales")) == []
    with pytest.raises(
        DirectoryError, match=r"no group is named 'sales' \(only differently written: 'Sales', 'SALES'\)"
    ):
        list(provider.group_members("sales"))
    with pytest.raises(DirectoryError, match=r"^corp: no group is named 'Marketing'$"):
        list(provider.group_members("Marketing"))
    entra.groups[EMEA] = ("Sales", [])
    with pytest.raises(
        DirectoryError, match=rf"2 groups are named 'Sales' \(ids {SALES}, {EMEA}\): give the object id"
    ):
        list(provider.group_members("Sales"))
    with pytest.raises(DirectoryError, match=f"no group has the object id {CAROL}"):
        list(provider.group_members(CAROL))


def test_group_lookup_names_the_group_permission(provider: EntraProvider, entra: FakeEntra) -> None:
    entra.roles = ("User.RevokeSessions.All", "User.Read.All")
    with pytest.raises(DirectoryError, match=r"lacks the application permission GroupMember\.Read\.All"):
        list(provider.group_members("Sales"))


def test_all_users_across_pages_skips_disabled(provider: EntraProvider, entra: FakeEntra) -> None:
    entra.add_user(ALICE, "alice@contoso.example")
    entra.add_user(BOB, "bob@contoso.example", enabled=False)
    for n in range(1, 5):
        entra.add_user(str(uuid.UUID(int=n)), f"user{n}@contoso.example")
    users = list(provider.all_users())
    assert [u.login for u in users] == ["alice@contoso.example"] + [f"user{n}@contoso.example" for n in range(1, 5)]
    listed = [line for line in entra.seen if line.startswith("GET graph.microsoft.com/v1.0/users?")]
    assert len(listed) == 3
    assert listed[0] == (
        "GET graph.microsoft.com/v1.0/users?%24select=id%2CuserPrincipalName%2CaccountEnabled"
        "&%24filter=accountEnabled+eq+true&%24top=999"
    )


def test_a_next_link_to_another_host_is_not_followed(provider: EntraProvider, entra: FakeEntra) -> None:
    for n in range(1, 5):
        entra.add_user(str(uuid.UUID(int=n)), f"user{n}@contoso.example")
    entra.foreign_next_link = True
    seen: list[Subject] = []
    with pytest.raises(DirectoryError) as raised:
        seen.extend(provider.all_users())
    assert str(raised.value) == (
        f"corp: list users: the next-page link points to 'graph.evil.example', not {GRAPH}; not followed"
    )
    assert len(seen) == 2
    assert not any("evil" in line for line in entra.seen)


def test_a_throttled_directory_read_says_so(provider: EntraProvider, entra: FakeEntra) -> None:
    entra.fail("GET", "/v1.0/users$", 429, graph_error_body("TooManyRequests"), {"Retry-After": "9"})
    with pytest.raises(DirectoryError, match=r"^corp: list users: HTTP 429 \(TooManyRequests\)$"):
        list(provider.all_users())


# ---- certificates and national clouds ---------------------------------------------------------------------


def certificate_pem(tmp_path: Path, *, key: Any = None, other_key: Any = None) -> tuple[Path, x509.Certificate]:
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = other_key or key
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "responder")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(signer.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + timedelta(days=30))
        .sign(signer, hashes.SHA256())
    )  # fmt: skip
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = tmp_path / "responder.pem"
    path.write_bytes(pem + cert.public_bytes(serialization.Encoding.PEM))
    return path, cert


def test_a_certificate_credential_signs_a_client_assertion(
    monkeypatch: pytest.MonkeyPatch, entra: FakeEntra, tmp_path: Path
) -> None:
    path, entra.certificate = certificate_pem(tmp_path)
    alice = entra.add_user(ALICE, "alice@contoso.example")
    plugin = make_provider(monkeypatch, certificate_file=str(path), client_secret_env=None)
    assert plugin.execute(request()).status is OutcomeStatus.REVOKED
    assert alice.revocations == 1
    assert "x5t#S256" in repr(plugin._token._credential)
    assert "PRIVATE" not in repr(plugin._token._credential)
    plugin.close()


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p.write_text("not a pem"), "no unencrypted PEM private key found"),
        (lambda p: p.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
         "the private key must be RSA"),
        (lambda p: p.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
         "no PEM certificate found"),
    ],
)  # fmt: skip
def test_certificate_problems_are_config_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make: Callable[[Path], Any], problem: str
) -> None:
    path = tmp_path / "bad.pem"
    make(path)
    with pytest.raises(ConfigError, match=problem):
        make_provider(monkeypatch, certificate_file=str(path), client_secret_env=None)


def test_a_certificate_of_another_key_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path, _ = certificate_pem(tmp_path, other_key=other)
    with pytest.raises(ConfigError, match="the certificate does not belong to the private key"):
        make_provider(monkeypatch, certificate_file=str(path), client_secret_env=None)


def test_a_national_cloud_uses_its_own_hosts(monkeypatch: pytest.MonkeyPatch, schema: GraphSchema) -> None:
    cloud = FakeEntra(login="https://login.microsoftonline.us", graph="https://graph.microsoft.us")
    with serving(cloud, schema):
        alice = cloud.add_user(ALICE, "alice@contoso.example")
        plugin = make_provider(
            monkeypatch, build_client(cloud.graph), login_url=cloud.login + "/", graph_url=cloud.graph
        )
        assert plugin.execute(request()).status is OutcomeStatus.REVOKED
        assert plugin.check().ok
        plugin.close()
    assert alice.revocations == 1
    assert cloud.seen[0] == f"POST login.microsoftonline.us/{TENANT}/oauth2/v2.0/token"


# ---- secrets never leak -----------------------------------------------------------------------------------


def test_no_secret_in_outcomes_checks_errors_or_logs(
    monkeypatch: pytest.MonkeyPatch, entra: FakeEntra, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    leaked = user_jwt()
    plugin = make_provider(monkeypatch)
    texts: list[str] = []
    entra.add_user(ALICE, "alice@contoso.example")
    texts.append(repr(plugin.execute(request(credential=leaked))))
    app_tokens = set(entra.live_tokens)
    for status in (401, 403, 429, 500):
        entra.fail("POST", "revokeSignInSessions$", status, graph_error_body("X"), times=2)
        texts.append(repr(plugin.execute(request(credential=leaked))))
    entra.fail("POST", "/token$", 401, json.loads(token_error(401, "invalid_client", 7000215, "x").content))
    entra.expire_tokens()
    texts.append(repr(plugin.execute(request(credential=leaked))))
    texts.append(repr(plugin.check()))
    entra.roles = ()
    texts.append(repr(plugin.check()))
    texts.append(repr(plugin.resolve(request(credential=leaked))))
    for attempt in (lambda: plugin.find_user(ALICE), lambda: list(plugin.group_members("Sales"))):
        with pytest.raises(DirectoryError) as raised:
            attempt()
        texts.append(str(raised.value))
    app_tokens |= entra.live_tokens
    plugin.close()
    with pytest.raises(ConfigError) as config:
        make_provider(monkeypatch, client_secret=CLIENT_SECRET)
    texts.append(str(config.value))
    captured = capsys.readouterr()
    everything = "\n".join([*texts, caplog.text, captured.out, captured.err, repr(plugin.__dict__)])
    for canary in (CLIENT_SECRET, leaked, *app_tokens):
        assert canary not in everything
    assert app_tokens


# ---- the contract check itself ----------------------------------------------------------------------------


def bearer(method: str, url: str, **kwargs: Any) -> httpx.Request:
    headers = {"Authorization": "Bearer t", **kwargs.pop("headers", {})}
    return httpx.Request(method, url, headers=headers, **kwargs)


def test_the_csdl_extract_is_read_not_restated(schema: GraphSchema) -> None:
    action = schema.actions["revokeSignInSessions"]
    assert (action.binding, action.parameters, action.returns) == ("graph.user", (), "Edm.Boolean")
    assert "signInSessionsValidFromDateTime" in schema.properties["user"]


def test_the_contract_check_rejects_wrong_requests_and_fixtures(schema: GraphSchema) -> None:
    contract = Contract(schema, LOGIN, GRAPH, TENANT, CLIENT_ID)
    revoke = f"{GRAPH}/v1.0/users/{ALICE}/revokeSignInSessions"
    token_url = f"{LOGIN}/{TENANT}/oauth2/v2.0/token"
    form = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "scope": f"{GRAPH}/.default"}
    wrong: list[tuple[httpx.Request, httpx.Response | None]] = [
        (bearer("GET", revoke), None),  # an action is a POST
        (bearer("POST", revoke, json={"userId": ALICE}), None),  # the action has no parameter
        (bearer("POST", f"{GRAPH}/v1.0/groups/{SALES}/revokeSignInSessions"), None),  # bound to users
        (httpx.Request("POST", revoke), None),  # no bearer
        (bearer("GET", f"{GRAPH}/v1.0/users/{ALICE}?$select=password"), None),  # unknown property
        (bearer("GET", f"{GRAPH}/v1.0/users?$top=1000"), None),
        (bearer("GET", f"{GRAPH}/v1.0/groups/{SALES}/transitiveMembers/microsoft.graph.user"), None),  # advanced
        (bearer("GET", f"{GRAPH}/v1.0/users?$count=true"), None),  # $count without ConsistencyLevel
        (bearer("GET", f"{GRAPH}/v1.0/me"), None),  # not a read the plugin may use
        (bearer("GET", "https://graph.evil.example/v1.0/users"), None),
        (httpx.Request("POST", token_url, data={**form, "scope": "User.Read"}), None),
        (httpx.Request("POST", token_url, data=form), None),  # no client authentication
        (httpx.Request("POST", token_url, data={**form, "client_secret": "s", "client_assertion": "a"}), None),
        (bearer("POST", revoke), httpx.Response(200, json={"value": "yes"})),  # not an Edm.Boolean
        (bearer("POST", revoke), httpx.Response(403, json={"message": "no"})),  # not Graph's error shape
        (httpx.Request("POST", token_url, data={**form, "client_secret": "s"}),
         httpx.Response(200, json={"access_token": "a", "token_type": "Bearer"})),  # no expires_in
    ]  # fmt: skip
    for call in wrong:
        report = contract.check_calls([call])
        assert report.errors, call
        assert report.checked_responses == 0


def test_the_contract_check_accepts_the_documented_shapes(schema: GraphSchema) -> None:
    contract = Contract(schema, LOGIN, GRAPH, TENANT, CLIENT_ID)
    revoke = f"{GRAPH}/v1.0/users/{ALICE}/revokeSignInSessions"
    right: list[tuple[httpx.Request, httpx.Response | None]] = [
        (bearer("POST", revoke), httpx.Response(200, json={"@odata.context": f"{GRAPH}/v1.0/$metadata#Edm.Boolean",
                                                            "value": True})),
        (bearer("POST", f"{GRAPH}/v1.0/users/{ALICE}/microsoft.graph.revokeSignInSessions"),
         httpx.Response(404, json=graph_error_body("Request_ResourceNotFound"))),
        (bearer("GET", f"{GRAPH}/v1.0/users/{ALICE}?$select=id,signInSessionsValidFromDateTime"),
         httpx.Response(200, json={"id": ALICE, "signInSessionsValidFromDateTime": "2026-11-29T10:00:00Z"})),
        (bearer("GET", f"{GRAPH}/v1.0/groups/{SALES}/transitiveMembers/microsoft.graph.user?$count=true",
                headers={"ConsistencyLevel": "eventual"}),
         httpx.Response(200, json={"@odata.count": 0, "value": []})),
    ]  # fmt: skip
    report = contract.check_calls(right)
    assert report.errors == []
    assert (report.checked_requests, report.checked_responses) == (4, 4)
