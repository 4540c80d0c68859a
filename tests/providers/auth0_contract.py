"""A schema-shaped fake Auth0 tenant, and the contract check its tests run after each test.

There is no Auth0 spec in shared/specs. The OpenAPI 3.1 fragment below is transcribed, for the operations the
plugin calls, from Auth0's Management API description as split per resource in github.com/api-evangelist/auth0
(`openapi/auth0-{sessions,users,users-by-email,roles}-api-openapi.yml`, commit 4ec582e33519ff7290e3ba4cbe35ab926d00b84f;
they keep Auth0's own `x-release-lifecycle` / `x-operation-name` markers), checked against the Fern-generated
auth0-python client (`src/auth0/management/sessions/raw_client.py`) and auth0.com/docs. The Authentication API
part (`/oauth/token` client credentials, `/oauth/revoke`) follows auth0.com/docs and `auth0-revoke-refresh-token-
api-openapi.yml` of the same commit; both take JSON bodies, as Auth0's SDKs send them.

Deliberate difference: `ListRoleUsersResponseContent` is `oneOf` upstream, but the last checkpoint page
(`{"users": [...]}` without `next`) matches two of its branches, so it is `anyOf` here."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from openapi_core import Config, OpenAPI
from openapi_core.templating.responses.exceptions import ResponseNotFound

from tests.providers.authentik_contract import ContractReport, HttpxOpenAPIRequest, HttpxOpenAPIResponse

BASE = "https://responder-test.eu.auth0.com"
AUDIENCE = f"{BASE}/api/v2/"
M2M_ID = "Rsp0nderM2mClientId0123456789abc"
M2M_SECRET = "m2m-secret-CANARY-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
APP_ID = "SpaAppClientId0123456789abcdefAB"
APP_SECRET = "app-secret-CANARY-a1b2c3d4e5f60718293a4b5c6d7e8f90"
ALL_SCOPES = frozenset(
    {"read:users", "read:sessions", "delete:sessions", "read:refresh_tokens", "delete:refresh_tokens", "read:roles"}
)
TS = "2026-01-02T03:04:05.678Z"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
# Marks a fixture that deliberately is not Auth0's answer (a login page at a wrong base_url).
NOT_AUTH0 = "x-test-not-auth0"

# ---- the spec fragment ---------------------------------------------------------------------------------

_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_STR = {"type": "string"}
_DATE = {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "object"}, {"type": "null"}]}
_USER_DATE = {"oneOf": [{"type": "string"}, {"type": "object"}]}
_FIELDS = (
    "(phone_number)|(email)|(email_verified)|(picture)|(username)|(user_id)|(name)|(nickname)|(created_at)"
    "|(identities)|(app_metadata)|(user_metadata)|(last_ip)|(last_login)|(logins_count)|(updated_at)|(blocked)"
    "|(family_name)|(given_name)"
)
_ERROR = {"description": "an error; the Management API's are declared without a body schema upstream"}
_OAUTH_ERROR = {
    "description": "an OAuth error",
    "content": {
        "application/json": {"schema": {"type": "object", "properties": {"error": _STR, "error_description": _STR}}}
    },
}


def _param(name: str, where: str, schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema}


def _responses(ok: str, schema: dict[str, Any] | None, *errors: int) -> dict[str, Any]:
    success: dict[str, Any] = {"description": "ok"}
    if schema is not None:
        success["content"] = {"application/json": {"schema": schema}}
    return {ok: success, **{str(code): _ERROR for code in errors}}


_TAKE = _param("take", "query", {"type": "integer", "minimum": 1, "maximum": 100})
_FROM = _param("from", "query", _STR)
_TOTALS = _param("include_totals", "query", _BOOL)
_PAGE = _param("page", "query", {"type": "integer", "minimum": 0})
_PER_PAGE_100 = _param("per_page", "query", {"type": "integer", "minimum": 1, "maximum": 100})
_USER_FIELDS = _param("fields", "query", {"type": "string", "pattern": f"^({_FIELDS})(,({_FIELDS}))*$"})
_INCLUDE_FIELDS = _param("include_fields", "query", _BOOL)
_BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]

_SCHEMAS: dict[str, Any] = {
    "Session": {
        "type": "object",
        "properties": {
            "id": _STR,
            "user_id": _STR,
            "created_at": _DATE,
            "updated_at": _DATE,
            "authenticated_at": _DATE,
            "idle_expires_at": _DATE,
            "expires_at": _DATE,
            "last_interacted_at": _DATE,
            "device": {
                "type": "object",
                "properties": {
                    "initial_user_agent": _STR,
                    "initial_ip": {"type": ["string", "null"]},
                    "initial_asn": _STR,
                    "last_user_agent": _STR,
                    "last_ip": {"type": ["string", "null"]},
                    "last_asn": _STR,
                },
            },
            "clients": {"type": "array", "items": {"type": "object", "properties": {"client_id": _STR}}},
            "authentication": {"type": "object", "properties": {"methods": {"type": "array"}}},
            "session_metadata": {"type": ["object", "null"], "maxProperties": 25},
        },
    },
    "RefreshToken": {
        "type": "object",
        "properties": {
            "id": _STR,
            "user_id": _STR,
            "created_at": _DATE,
            "idle_expires_at": _DATE,
            "expires_at": _DATE,
            "device": {"type": "object"},
            "client_id": _STR,
            "session_id": {"type": ["string", "null"]},
            "rotating": _BOOL,
            "resource_servers": {
                "type": "array",
                "items": {"type": "object", "properties": {"audience": _STR, "scopes": _STR}},
            },
            "last_exchanged_at": _DATE,
        },
    },
    "User": {
        "type": "object",
        "properties": {
            "user_id": _STR,
            "email": {"type": "string", "format": "email"},
            "email_verified": _BOOL,
            "username": _STR,
            "name": _STR,
            "nickname": _STR,
            "blocked": _BOOL,
            "created_at": _USER_DATE,
            "updated_at": _USER_DATE,
            "last_login": _USER_DATE,
            "logins_count": _INT,
            "identities": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Role": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"id": _STR, "name": _STR, "description": _STR},
    },
    "RoleUser": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"user_id": _STR, "picture": _STR, "name": _STR, "email": {"type": "string", "format": "email"}},
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list_of(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


def _spec(base: str) -> dict[str, Any]:
    user = _param("user_id", "path", _STR)
    by_id = _param("id", "path", _STR)
    sessions_page = {"type": "object", "properties": {"sessions": _list_of("Session"), "next": _STR}}
    tokens_page = {"type": "object", "properties": {"tokens": _list_of("RefreshToken"), "next": _STR}}
    users_offset = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"start": _INT, "limit": _INT, "length": _INT, "total": _INT, "users": _list_of("User")},
    }
    roles_offset = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"start": _INT, "limit": _INT, "total": _INT, "roles": _list_of("Role")},
    }
    role_users = {
        "anyOf": [
            _list_of("RoleUser"),
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {"start": _INT, "limit": _INT, "total": _INT, "users": _list_of("RoleUser")},
            },
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {"next": _STR, "users": _list_of("RoleUser")},
            },
        ]
    }
    token_body = {
        "type": "object",
        "required": ["grant_type", "client_id"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "client_id": _STR,
            "client_secret": _STR,
            "audience": _STR,
        },
    }
    token_answer = {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {"access_token": _STR, "token_type": _STR, "expires_in": _INT, "scope": _STR},
    }
    revoke_body = {
        "type": "object",
        "required": ["client_id", "token"],
        "properties": {"client_id": _STR, "client_secret": _STR, "token": _STR},
    }
    oauth_errors = {str(code): _OAUTH_ERROR for code in (400, 401, 403, 429)}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Auth0 Management API v2 and Authentication API: what responder calls", "version": "2"},
        "servers": [{"url": base}],
        "security": _BEARER,
        "paths": {
            "/api/v2/sessions/{id}": {
                "get": {
                    "parameters": [by_id],
                    "responses": _responses("200", _ref("Session"), 401, 403, 404, 429),
                },
                "delete": {"parameters": [by_id], "responses": _responses("202", None, 400, 401, 403, 429)},
            },
            "/api/v2/sessions/{id}/revoke": {
                "post": {
                    "parameters": [_param("id", "path", {"type": "string", "maxLength": 50})],
                    "responses": _responses("202", None, 400, 401, 403, 404, 429),
                },
            },
            "/api/v2/users/{user_id}/sessions": {
                "get": {
                    "parameters": [user, _TOTALS, _FROM, _TAKE],
                    "responses": _responses("200", sessions_page, 401, 403, 404, 429),
                },
                "delete": {"parameters": [user], "responses": _responses("202", None, 400, 401, 403, 404, 429)},
            },
            "/api/v2/users/{user_id}/refresh-tokens": {
                "get": {
                    "parameters": [user, _TOTALS, _FROM, _TAKE],
                    "responses": _responses("200", tokens_page, 401, 403, 404, 429),
                },
                "delete": {"parameters": [user], "responses": _responses("202", None, 400, 401, 403, 404, 429)},
            },
            "/api/v2/users": {
                "get": {
                    "parameters": [
                        _PAGE,
                        _param("per_page", "query", {"type": "integer", "minimum": 0, "maximum": 100}),
                        _TOTALS,
                        _param("sort", "query", {"type": "string", "pattern": r"^(([a-zA-Z0-9_\\.]+))\:(1|-1)$"}),
                        _param("connection", "query", _STR),
                        _param("fields", "query", _STR),
                        _INCLUDE_FIELDS,
                        _param("q", "query", _STR),
                        _param("search_engine", "query", {"type": "string", "enum": ["v1", "v2", "v3"]}),
                        _param("primary_order", "query", _BOOL),
                    ],
                    "responses": _responses(
                        "200", {"oneOf": [_list_of("User"), users_offset]}, 400, 401, 403, 429, 503
                    ),
                },
            },
            "/api/v2/users/{id}": {
                "get": {
                    "parameters": [by_id, _USER_FIELDS, _INCLUDE_FIELDS],
                    "responses": _responses("200", _ref("User"), 400, 401, 403, 404, 429),
                },
            },
            "/api/v2/users-by-email": {
                "get": {
                    "parameters": [_USER_FIELDS, _INCLUDE_FIELDS, _param("email", "query", _STR, required=True)],
                    "responses": _responses("200", _list_of("User"), 400, 401, 403, 429),
                },
            },
            "/api/v2/roles": {
                "get": {
                    "parameters": [_PER_PAGE_100, _PAGE, _TOTALS, _param("name_filter", "query", _STR)],
                    "responses": _responses("200", {"oneOf": [_list_of("Role"), roles_offset]}, 400, 401, 403, 429),
                },
            },
            "/api/v2/roles/{id}": {
                "get": {"parameters": [by_id], "responses": _responses("200", _ref("Role"), 400, 401, 403, 404, 429)},
            },
            "/api/v2/roles/{id}/users": {
                "get": {
                    "parameters": [by_id, _PER_PAGE_100, _PAGE, _TOTALS, _FROM, _TAKE],
                    "responses": _responses("200", role_users, 400, 401, 403, 404, 429),
                },
            },
            "/oauth/token": {
                "post": {
                    "security": [],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": token_body}}},
                    "responses": {
                        "200": {"description": "ok", "content": {"application/json": {"schema": token_answer}}},
                        **oauth_errors,
                    },
                },
            },
            "/oauth/revoke": {
                "post": {
                    "security": [],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": revoke_body}}},
                    "responses": {"200": {"description": "revoked (or unknown)"}, **oauth_errors},
                },
            },
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "jwt"}},
        },
    }


def load_spec(base: str = BASE) -> OpenAPI:
    return OpenAPI.from_dict(_spec(base), config=Config(spec_validator_cls=None))


def check_calls(spec: OpenAPI, calls: Iterable[tuple[httpx.Request, httpx.Response | None]]) -> ContractReport:
    """Validate each request (path, method, parameters, security, body) and each response whose status the
    fragment declares; anything the fragment does not describe is an error, undeclared statuses are skipped."""
    report = ContractReport()
    for request, response in calls:
        where = f"{request.method} {request.url.path}"
        adapted = HttpxOpenAPIRequest(request)
        try:
            spec.validate_request(adapted)
        except Exception as exc:
            report.errors.append(f"request {where}?{request.url.query.decode()}: {type(exc).__name__}: {exc}")
            continue
        report.checked_requests += 1
        if response is None:
            continue
        if NOT_AUTH0 in response.headers:
            report.skipped.append(f"{where}: HTTP {response.status_code} deliberately not Auth0's answer")
            continue
        try:
            spec.validate_response(adapted, HttpxOpenAPIResponse(response))
        except ResponseNotFound:
            report.skipped.append(f"{where}: HTTP {response.status_code} is not declared")
            continue
        except Exception as exc:
            report.errors.append(f"response {where} HTTP {response.status_code}: {type(exc).__name__}: {exc}")
            continue
        report.checked_responses += 1
    return report


# ---- the fake tenant -----------------------------------------------------------------------------------


@dataclass
class User:
    user_id: str
    email: str
    username: str = ""
    blocked: bool = False

    def json(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "user_id": self.user_id,
            "email": self.email,
            "email_verified": True,
            "name": self.email,
            "nickname": self.email.split("@")[0],
            "created_at": TS,
            "updated_at": TS,
            "identities": [
                {"connection": "Username-Password-Authentication", "provider": "auth0", "isSocial": False,
                 "user_id": self.user_id.split("|", 1)[-1]}
            ],
        }  # fmt: skip
        if self.username:
            item["username"] = self.username
        if self.blocked:
            item["blocked"] = True
        return item


@dataclass
class RefreshToken:
    user_id: str
    session_id: str | None
    client_id: str = APP_ID


@dataclass
class Failure:
    method: str
    path: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int
    after: int = 0  # matching requests to let through first


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"o:{index}".encode()).decode().rstrip("=")


def _index(cursor: str | None) -> int:
    if not cursor:
        return 0
    return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(":")[1])


def _error(status: int, message: str, code: str = "") -> httpx.Response:
    phrase = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}[status]
    body: dict[str, Any] = {"statusCode": status, "error": phrase, "message": message}
    if code:
        body["errorCode"] = code
    return httpx.Response(status, json=body)


@dataclass
class FakeAuth0:
    """Just enough of one Auth0 tenant: users, sessions, refresh tokens (by id and by value), roles, client
    credentials, the Management API's scopes, its 1000-result search limit, and X-RateLimit-* headers.
    Deletions take effect at once (Auth0's are asynchronous; `async_deletes` keeps them pending)."""

    users: dict[str, User] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)  # session id → user_id
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)  # token id → token
    refresh_values: dict[str, str] = field(default_factory=dict)  # value → token id (revocable by value)
    roles: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # role id → (name, member ids)
    scopes: set[str] = field(default_factory=lambda: set(ALL_SCOPES))
    enterprise: bool = True  # False: session and refresh-token endpoints answer 403 (the plan lacks them)
    async_deletes: bool = False
    token_lifetime: int = 86400
    token_scope_field: bool = True
    valid_tokens: set[str] = field(default_factory=set)
    tokens_issued: int = 0
    seen: list[str] = field(default_factory=list)  # "METHOD /path?query" of every request (tests may clear it)
    answered: int = 0
    failures: list[Failure] = field(default_factory=list)

    # ---- state -------------------------------------------------------------------------------------

    def add_user(self, user_id: str, email: str, *, username: str = "", blocked: bool = False) -> User:
        user = User(user_id, email, username, blocked)
        self.users[user_id] = user
        return user

    def add_session(self, user: User, sid: str | None = None) -> str:
        sid = sid or f"s{len(self.sessions):02d}" + "Ab3dE" * 5
        self.sessions[sid] = user.user_id
        return sid

    def add_refresh_token(self, user: User, sid: str | None = None, value: str | None = None) -> str:
        token_id = f"rt_{len(self.refresh_tokens):04d}" + "x" * 12
        self.refresh_tokens[token_id] = RefreshToken(user.user_id, sid)
        if value is not None:
            self.refresh_values[value] = token_id
        return token_id

    def add_role(self, role_id: str, name: str, members: Iterable[User] = ()) -> None:
        self.roles[role_id] = (name, [m.user_id for m in members])

    def sessions_of(self, user: User) -> list[str]:
        return [sid for sid, owner in self.sessions.items() if owner == user.user_id]

    def tokens_of(self, user: User) -> list[str]:
        return [tid for tid, token in self.refresh_tokens.items() if token.user_id == user.user_id]

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """The next `times` requests matching method and path regex (after the first `after` of them) get this
        answer; status 0 refuses the connection; a str body is sent as HTML (not Auth0)."""
        self.failures.append(Failure(method, re.compile(path), status, body, headers or {}, times, after))

    # ---- routing -----------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        query = request.url.query.decode()
        self.answered += 1
        self.seen.append(f"{request.method} {request.url.path}" + (f"?{query}" if query else ""))
        response = self._failure(request) or self._route(request)
        reset = "4102444800"  # what Auth0 sends: the window's end in epoch seconds
        response.headers.setdefault("x-ratelimit-limit", "50")
        response.headers.setdefault("x-ratelimit-remaining", "49")
        response.headers.setdefault("x-ratelimit-reset", reset)
        return response

    def _failure(self, request: httpx.Request) -> httpx.Response | None:
        for failure in self.failures:
            if failure.times and failure.method == request.method and failure.path.search(request.url.path):
                if failure.after:
                    failure.after -= 1
                    continue
                failure.times -= 1
                if failure.status == 0:
                    raise httpx.ConnectError("connection refused", request=request)
                if isinstance(failure.body, str):
                    headers = {"content-type": "text/html", NOT_AUTH0: "1", **failure.headers}
                    return httpx.Response(failure.status, text=failure.body, headers=headers)
                if failure.body is None:
                    return httpx.Response(failure.status, headers=failure.headers)
                return httpx.Response(failure.status, json=failure.body, headers=failure.headers)
        return None

    def _route(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if path == "/oauth/token" and method == "POST":
            return self._token(json.loads(request.content))
        if path == "/oauth/revoke" and method == "POST":
            return self._revoke(json.loads(request.content))
        if not path.startswith("/api/v2/"):
            return httpx.Response(404, text="<html>Not found</html>", headers={NOT_AUTH0: "1"})
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.valid_tokens:
            return _error(401, "Invalid token", "invalid_token")
        return self._management(method, path.removeprefix("/api/v2"), request.url.params)

    def _token(self, body: dict[str, Any]) -> httpx.Response:
        if body.get("client_id") != M2M_ID or body.get("client_secret") != M2M_SECRET:
            return httpx.Response(401, json={"error": "access_denied", "error_description": "Unauthorized"})
        if body.get("audience") != AUDIENCE:
            description = f"Service not enabled within domain: {body.get('audience')}"
            return httpx.Response(403, json={"error": "access_denied", "error_description": description})
        self.tokens_issued += 1
        token = f"eyJhbGciOiJSUzI1NiJ9.m2m-token-{self.tokens_issued}-CANARY.sig"
        self.valid_tokens.add(token)
        answer: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}
        if self.token_scope_field:
            answer["scope"] = " ".join(sorted(self.scopes))
        return httpx.Response(200, json=answer)

    def _revoke(self, body: dict[str, Any]) -> httpx.Response:
        if body.get("client_id") != APP_ID or body.get("client_secret", APP_SECRET) != APP_SECRET:
            return httpx.Response(401, json={"error": "access_denied", "error_description": "Unauthorized"})
        token_id = self.refresh_values.pop(str(body.get("token")), None)
        if token_id is not None:
            self.refresh_tokens.pop(token_id, None)
        return httpx.Response(200)

    def _needs(self, *scopes: str) -> httpx.Response | None:
        missing = [scope for scope in scopes if scope not in self.scopes]
        if missing:
            return _error(403, f"Insufficient scope, expected any of: {','.join(missing)}", "insufficient_scope")
        return None

    def _management(self, method: str, api: str, params: httpx.QueryParams) -> httpx.Response:
        if match := re.fullmatch(r"/sessions/([^/]+)(/revoke)?", api):
            return self._session(method, match[1], revoke=bool(match[2]))
        if match := re.fullmatch(r"/users/([^/]+)/(sessions|refresh-tokens)", api):
            return self._user_collection(method, match[1], match[2], params)
        if method != "GET":
            return _error(404, "Not Found")
        if api == "/users":
            return self._needs("read:users") or self._list_users(params)
        if match := re.fullmatch(r"/users/([^/]+)", api):
            user = self.users.get(match[1])
            missing = _error(404, "The user does not exist.", "inexistent_user")
            return self._needs("read:users") or (httpx.Response(200, json=user.json()) if user else missing)
        if api == "/users-by-email":
            found = [u.json() for u in self.users.values() if u.email == params.get("email")]
            return self._needs("read:users") or httpx.Response(200, json=found)
        if api == "/roles":
            return self._needs("read:roles") or self._list_roles(params)
        if match := re.fullmatch(r"/roles/([^/]+)(/users)?", api):
            refused = self._needs("read:users", "read:roles") if match[2] else self._needs("read:roles")
            return refused or self._role(match[1], bool(match[2]), params)
        return _error(404, "Not Found")

    def _session(self, method: str, sid: str, *, revoke: bool) -> httpx.Response:
        if not self.enterprise:
            return _error(403, "This feature is not enabled for this tenant.", "operation_not_supported")
        if revoke and method == "POST":
            refused = self._needs("delete:sessions", "delete:refresh_tokens")
        elif method == "GET" and not revoke:
            refused = self._needs("read:sessions")
        else:
            return _error(404, "Not Found")
        if refused:
            return refused
        owner = self.sessions.get(sid)
        if owner is None:
            return _error(404, "The session does not exist.", "inexistent_session")
        if method == "GET":
            return httpx.Response(200, json=self._session_json(sid, owner))
        if not self.async_deletes:
            del self.sessions[sid]
            for token_id in [t for t, token in self.refresh_tokens.items() if token.session_id == sid]:
                del self.refresh_tokens[token_id]
        return httpx.Response(202)

    def _user_collection(self, method: str, user_id: str, what: str, params: httpx.QueryParams) -> httpx.Response:
        if not self.enterprise:
            return _error(403, "This feature is not enabled for this tenant.", "operation_not_supported")
        noun = "sessions" if what == "sessions" else "refresh_tokens"
        refused = self._needs(f"read:{noun}" if method == "GET" else f"delete:{noun}")
        if refused:
            return refused
        user = self.users.get(user_id)
        if user is None:
            return _error(404, "The user does not exist.", "inexistent_user")
        ids = self.sessions_of(user) if what == "sessions" else self.tokens_of(user)
        if method == "DELETE":
            if not self.async_deletes:
                for key in ids:
                    (self.sessions if what == "sessions" else self.refresh_tokens).pop(key)
            return httpx.Response(202)
        start, take = _index(params.get("from")), int(params.get("take", "50"))
        chunk = ids[start : start + take]
        items = [self._session_json(key, user_id) if what == "sessions" else self._token_json(key) for key in chunk]
        body: dict[str, Any] = {"sessions" if what == "sessions" else "tokens": items}
        if start + take < len(ids):
            body["next"] = _cursor(start + take)
        return httpx.Response(200, json=body)

    def _list_users(self, params: httpx.QueryParams) -> httpx.Response:
        users = list(self.users.values())
        if "q" in params:
            wanted = re.fullmatch(r'username:"(.*)"', params["q"])
            users = [u for u in users if wanted and u.username == wanted[1].replace('\\"', '"')]
        page, per_page = int(params.get("page", "0")), int(params.get("per_page", "50"))
        if (page + 1) * per_page > 1000:
            message = "You can only page through the first 1000 records."
            return _error(400, message, "invalid_paging")
        chunk = [u.json() for u in users[page * per_page : (page + 1) * per_page]]
        if params.get("include_totals") != "true":
            return httpx.Response(200, json=chunk)
        total = min(len(users), 1000)  # Auth0's total stops at 1000
        summary = {"start": page * per_page, "limit": per_page, "length": len(chunk), "total": total}
        return httpx.Response(200, json={**summary, "users": chunk})

    def _list_roles(self, params: httpx.QueryParams) -> httpx.Response:
        wanted = params.get("name_filter", "").casefold()
        roles = [{"id": i, "name": n, "description": n} for i, (n, _m) in self.roles.items() if wanted in n.casefold()]
        page, per_page = int(params.get("page", "0")), int(params.get("per_page", "50"))
        return httpx.Response(200, json=roles[page * per_page : (page + 1) * per_page])

    def _role(self, role_id: str, members: bool, params: httpx.QueryParams) -> httpx.Response:
        if role_id not in self.roles:
            return _error(404, "The role does not exist.", "inexistent_role")
        name, member_ids = self.roles[role_id]
        if not members:
            return httpx.Response(200, json={"id": role_id, "name": name, "description": name})
        start, take = _index(params.get("from")), int(params.get("take", "50"))
        chunk = [
            {"user_id": u, "email": self.users[u].email, "name": self.users[u].email, "picture": "https://s.gravatar.com/a.png"}
            for u in member_ids[start : start + take]
        ]  # fmt: skip
        body: dict[str, Any] = {"users": chunk}
        if start + take < len(member_ids):
            body["next"] = _cursor(start + take)
        return httpx.Response(200, json=body)

    def _session_json(self, sid: str, owner: str) -> dict[str, Any]:
        return {
            "id": sid,
            "user_id": owner,
            "created_at": TS,
            "updated_at": TS,
            "authenticated_at": TS,
            "idle_expires_at": TS,
            "expires_at": TS,
            "last_interacted_at": TS,
            "device": {"initial_user_agent": UA, "initial_ip": "192.0.2.10", "initial_asn": "64496",
                       "last_user_agent": UA, "last_ip": "192.0.2.10", "last_asn": "64496"},
            "clients": [{"client_id": APP_ID}],
            "authentication": {"methods": [{"name": "pwd", "timestamp": TS}]},
            "session_metadata": None,
        }  # fmt: skip

    def _token_json(self, token_id: str) -> dict[str, Any]:
        token = self.refresh_tokens[token_id]
        return {
            "id": token_id,
            "user_id": token.user_id,
            "created_at": TS,
            "idle_expires_at": TS,
            "expires_at": TS,
            "device": {"initial_ip": "192.0.2.10", "initial_user_agent": UA},
            "client_id": token.client_id,
            "session_id": token.session_id,
            "rotating": True,
            "resource_servers": [{"audience": "https://api.example.test/", "scopes": "openid offline_access"}],
            "last_exchanged_at": TS,
        }
