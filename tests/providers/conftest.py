"""A schema-shaped fake authentik behind respx, and the contract fixture: after each test, every request the
plugin sent and every fixture served is validated against authentik's OpenAPI schema."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import respx
from openapi_core import OpenAPI

from providers.authentik import AuthentikProvider
from responder.http import build_client
from tests.conftest import require_peer
from tests.providers.authentik_contract import SPEC_PATH, check_calls, load_spec

BASE = "https://auth.example.test"
RESPONDER_TOKEN = "responder-service-account-token-0123456789abcdefghijklmnopqrstuv"
CLIENT_ID = "responder-client"
CLIENT_SECRET = "responder-client-secret-value"
PROVIDER_SECRET = "embedded-provider-client-secret-never-shown"
TS = "2026-01-02T03:04:05.000000Z"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"


@pytest.fixture(scope="session")
def authentik_spec() -> OpenAPI:
    require_peer(SPEC_PATH.is_file(), f"authentik OpenAPI schema not found at {SPEC_PATH}")
    return load_spec()


@dataclass
class User:
    pk: int
    username: str
    email: str
    uid: str = ""

    def __post_init__(self) -> None:
        self.uid = self.uid or f"{self.pk:02d}" + "ab" * 31  # sha256-hex shaped, like authentik's uid


@dataclass
class Failure:
    method: str
    path: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int


@dataclass
class FakeAuthentik:
    """Just enough of authentik 2025.12/2026.x: users, sessions, refresh tokens, API tokens, RFC 7009/7662.
    `bulk_delete` False behaves like authentik < 2026.2 (404 on the route)."""

    users: list[User] = field(default_factory=list)
    sessions: dict[str, int] = field(default_factory=dict)  # uuid → user pk
    refresh_tokens: dict[int, tuple[int, bool]] = field(default_factory=dict)  # id → (user pk, revoked)
    api_tokens: dict[str, tuple[int, str]] = field(default_factory=dict)  # identifier → (user pk, key)
    oauth_tokens: dict[str, str] = field(default_factory=dict)  # value → azp; absent once revoked
    bulk_delete: bool = True
    ignore_username_filter: bool = False  # as an older server that does not know the filter would
    seen: list[str] = field(default_factory=list)  # "METHOD /path?query" of every request (tests may clear it)
    answered: int = 0  # every request, never cleared
    failures: list[Failure] = field(default_factory=list)
    service_account: User = field(default_factory=lambda: User(99, "responder", "responder@example.test"))

    # ---- state -------------------------------------------------------------------------------------

    def add_user(self, pk: int, username: str, *, sessions: int = 0, refresh_tokens: int = 0) -> User:
        user = User(pk, username, f"{username}@example.test")
        self.users.append(user)
        for _ in range(sessions):
            self.sessions[str(uuid.uuid4())] = pk
        for _ in range(refresh_tokens):
            self.refresh_tokens[len(self.refresh_tokens) + 1] = (pk, False)
        return user

    def add_api_token(self, user: User, identifier: str, key: str) -> None:
        self.api_tokens[identifier] = (user.pk, key)

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` requests matching method and path regex (under /api/v3 or not) get this answer;
        status 0 is a refused connection."""
        self.failures.append(Failure(method, re.compile(path), status, body, headers or {}, times))

    def sessions_of(self, user: User) -> list[str]:
        return [key for key, pk in self.sessions.items() if pk == user.pk]

    # ---- serialisers (shapes from the schema) -----------------------------------------------------

    def _user_json(self, user: User) -> dict[str, Any]:
        return {
            "pk": user.pk,
            "username": user.username,
            "name": user.username.title(),
            "is_active": True,
            "last_login": None,
            "date_joined": TS,
            "is_superuser": False,
            "groups": [],
            "groups_obj": None,
            "roles": [],
            "roles_obj": None,
            "email": user.email,
            "avatar": "data:image/svg+xml;base64,",
            "attributes": {},
            "uid": user.uid,
            "path": "users",
            "type": "internal",
            "uuid": str(uuid.UUID(int=user.pk)),
            "password_change_date": TS,
            "last_updated": TS,
        }

    def _user_self(self, user: User) -> dict[str, Any]:
        return {
            "user": {
                "pk": user.pk,
                "username": user.username,
                "name": user.username.title(),
                "is_active": True,
                "is_superuser": False,
                "groups": [],
                "roles": [],
                "email": user.email,
                "avatar": "data:image/svg+xml;base64,",
                "uid": user.uid,
                "settings": {},
                "type": "internal",
                "system_permissions": [],
            }
        }

    def _session_json(self, key: str, pk: int) -> dict[str, Any]:
        return {
            "uuid": key,
            "current": False,
            "user_agent": {
                "device": {"brand": None, "family": "Other", "model": None},
                "os": {"family": "Linux", "major": None, "minor": None, "patch": None, "patch_minor": None},
                "user_agent": {"family": "Firefox", "major": "140", "minor": "0", "patch": ""},
                "string": UA,
            },
            "geo_ip": None,
            "asn": None,
            "user": pk,
            "last_ip": "192.0.2.10",
            "last_user_agent": UA,
            "last_used": TS,
            "expires": TS,
        }

    def _refresh_json(self, token_id: int, pk: int, revoked: bool) -> dict[str, Any]:
        provider = {
            "pk": 1,
            "name": "app",
            "authentication_flow": None,
            "authorization_flow": str(uuid.UUID(int=1)),
            "invalidation_flow": str(uuid.UUID(int=2)),
            "property_mappings": [],
            "component": "ak-provider-oauth2-form",
            "assigned_application_slug": "app",
            "assigned_application_name": "App",
            "assigned_backchannel_application_slug": None,
            "assigned_backchannel_application_name": None,
            "verbose_name": "OAuth2/OpenID Provider",
            "verbose_name_plural": "OAuth2/OpenID Providers",
            "meta_model_name": "authentik_providers_oauth2.oauth2provider",
            "client_secret": PROVIDER_SECRET,  # seen live on 2025.12: the list embeds the provider's secret
        }
        return {
            "pk": token_id,
            "provider": provider,
            "user": self._user_json(self._user(pk)),
            "is_expired": False,
            "expires": TS,
            "scope": ["openid", "offline_access"],
            "id_token": "{}",
            "revoked": revoked,
        }

    def _token_json(self, identifier: str, pk: int) -> dict[str, Any]:
        return {
            "pk": str(uuid.uuid5(uuid.NAMESPACE_OID, identifier)),
            "managed": None,
            "identifier": identifier,
            "intent": "api",
            "user": pk,
            "user_obj": self._user_json(self._user(pk)),
            "description": "",
            "expires": None,
            "expiring": False,
        }

    def _user(self, pk: int) -> User:
        return next(u for u in [*self.users, self.service_account] if u.pk == pk)

    @staticmethod
    def _page(items: list[dict[str, Any]], params: httpx.QueryParams) -> dict[str, Any]:
        size = int(params.get("page_size", "100"))
        page = int(params.get("page", "1"))
        pages = max(1, -(-len(items) // size))
        chunk = items[(page - 1) * size : page * size]
        start = (page - 1) * size + 1 if chunk else 0
        return {
            "pagination": {
                "next": page + 1 if page < pages else 0,
                "previous": page - 1 if page > 1 else 0,
                "count": len(items),
                "current": page,
                "total_pages": pages,
                "start_index": start,
                "end_index": start + len(chunk) - 1 if chunk else 0,
            },
            "results": chunk,
            "autocomplete": {},
        }

    # ---- routing -----------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        path, method, params = request.url.path, request.method, request.url.params
        query = request.url.query.decode()
        self.answered += 1
        self.seen.append(f"{method} {path}" + (f"?{query}" if query else ""))
        for failure in self.failures:
            if failure.times and failure.method == method and failure.path.search(path):
                failure.times -= 1
                if failure.status == 0:
                    raise httpx.ConnectError("connection refused", request=request)
                body = None if failure.body is None else json.dumps(failure.body).encode()
                headers = {"content-type": "application/json", **failure.headers} if body else failure.headers
                return httpx.Response(failure.status, content=body or b"", headers=headers)
        if path.startswith("/application/o/"):
            return self._oauth(request, path)
        caller = self._caller(request)
        if caller is None:
            return _json(403, {"detail": "Token invalid/expired"})
        api = path.removeprefix("/api/v3")
        if method == "GET" and api == "/core/users/me/":
            return _json(200, self._user_self(caller))
        if method == "GET" and api == "/core/users/":
            return _json(200, self._page([self._user_json(u) for u in self.users], params))
        if api == "/core/authenticated_sessions/bulk_delete/" and method == "DELETE":
            if not self.bulk_delete:
                return _json(404, {"detail": "Not found."})  # authentik < 2026.2
            pks = {int(pk) for pk in params.get_list("user_pks")}
            gone = [key for key, pk in self.sessions.items() if pk in pks]
            for key in gone:
                del self.sessions[key]
            return _json(200, {"deleted": len(gone)})
        if method == "GET" and api == "/core/authenticated_sessions/":
            wanted = params.get("user__username")
            items = [
                self._session_json(key, pk)
                for key, pk in self.sessions.items()
                if wanted is None or self.ignore_username_filter or self._user(pk).username == wanted
            ]
            return _json(200, self._page(items, params))
        if match := re.fullmatch(r"/core/authenticated_sessions/([^/]+)/", api):
            if method == "DELETE" and self.sessions.pop(match[1], None) is not None:
                return httpx.Response(204)
            return _json(404, {"detail": "No AuthenticatedSession matches the given query."})
        if method == "GET" and api == "/oauth2/refresh_tokens/":
            wanted_pk = params.get("user")
            items = [
                self._refresh_json(token_id, pk, revoked)
                for token_id, (pk, revoked) in self.refresh_tokens.items()
                if wanted_pk is None or str(pk) == wanted_pk
            ]
            return _json(200, self._page(items, params))
        if match := re.fullmatch(r"/oauth2/refresh_tokens/(\d+)/", api):
            if method == "DELETE" and self.refresh_tokens.pop(int(match[1]), None) is not None:
                return httpx.Response(204)
            return _json(404, {"detail": "No RefreshToken matches the given query."})
        if method == "GET" and api == "/core/tokens/":
            wanted = params.get("user__username")
            items = [
                self._token_json(identifier, pk)
                for identifier, (pk, _key) in self.api_tokens.items()
                if wanted is None or self._user(pk).username == wanted
            ]
            return _json(200, self._page(items, params))
        if match := re.fullmatch(r"/core/tokens/([^/]+)/view_key/", api):
            if method == "GET" and match[1] in self.api_tokens:
                return _json(200, {"key": self.api_tokens[match[1]][1]})
            return httpx.Response(404)
        if match := re.fullmatch(r"/core/tokens/([^/]+)/", api):
            if method == "DELETE" and self.api_tokens.pop(match[1], None) is not None:
                return httpx.Response(204)
            return _json(404, {"detail": "No Token matches the given query."})
        return _json(404, {"detail": "Not found."})

    def _caller(self, request: httpx.Request) -> User | None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer":
            return None
        if value == RESPONDER_TOKEN:
            return self.service_account
        owner = next((pk for pk, key in self.api_tokens.values() if key == value), None)
        return None if owner is None else self._user(owner)

    def _oauth(self, request: httpx.Request, path: str) -> httpx.Response:
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return _json(401, {"error": "invalid_client"})
        form = dict(httpx.QueryParams(request.content.decode()))
        token = form.get("token", "")
        if path == "/application/o/revoke/":
            self.oauth_tokens.pop(token, None)
            return _json(200, {})
        if path == "/application/o/introspect/":
            # bound to the issuing provider: another client learns nothing, even about a live token
            if self.oauth_tokens.get(token) == CLIENT_ID:
                return _json(200, {"active": True, "sub": "u", "preferred_username": "alice", "client_id": CLIENT_ID})
            return _json(200, {"active": False})
        return _json(404, {"detail": "Not found."})


def _json(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, json=body)


@pytest.fixture
def authentik(authentik_spec: OpenAPI) -> Iterator[FakeAuthentik]:
    """The fake behind respx (any other host is refused), and the contract check of everything it saw."""
    fake = FakeAuthentik()
    with respx.mock(base_url=BASE, assert_all_called=False, assert_all_mocked=True) as router:
        router.route().mock(side_effect=fake.handle)
        yield fake
        # Inside the block: respx forgets its calls when the mock ends.
        calls = [(call.request, call.optional_response) for call in router.calls]
    assert len(calls) == fake.answered, "the contract check must see every request the fake answered"
    report = check_calls(authentik_spec, calls)
    assert not report.errors, "contract violations:\n" + "\n".join(report.errors)
    outside = sum(1 for request, _ in calls if not request.url.path.startswith("/api/v3/"))
    assert report.checked_requests + outside == len(calls)


def make_provider(**extra: Any) -> AuthentikProvider:
    table = {"name": "ak", "plugin": "authentik", "base_url": BASE, "token_env": "RESPONDER_TEST_AK_TOKEN", **extra}
    return AuthentikProvider.from_config(table, build_client(BASE))


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch, authentik: FakeAuthentik) -> Iterator[AuthentikProvider]:
    monkeypatch.setenv("RESPONDER_TEST_AK_TOKEN", RESPONDER_TOKEN)
    plugin = make_provider()
    yield plugin
    plugin.close()


@pytest.fixture
def oauth_provider(monkeypatch: pytest.MonkeyPatch, authentik: FakeAuthentik) -> Iterator[AuthentikProvider]:
    monkeypatch.setenv("RESPONDER_TEST_AK_TOKEN", RESPONDER_TOKEN)
    monkeypatch.setenv("RESPONDER_TEST_AK_CLIENT_SECRET", CLIENT_SECRET)
    plugin = make_provider(client_id=CLIENT_ID, client_secret_env="RESPONDER_TEST_AK_CLIENT_SECRET")
    yield plugin
    plugin.close()
