"""Contract checks against Okta's published OpenAPI documents (shared/specs/okta: the Management API and the
OpenID Connect & OAuth 2.0 API, both 2026.06.3), and a spec-shaped fake Okta org to test the plugin against.

Every request a test sends is validated with openapi-core (path, method, parameters, body), plus what
openapi-core does not check: that every query parameter is one the operation declares (it ignores unknown
ones, so a typo such as `oauthToken=true` would pass), and that each call carries the authentication the
spec asks for (openapi-core skips `oauth2` schemes, which makes every Okta security requirement pass).
Every JSON fixture served for a status the spec declares is validated too."""

from __future__ import annotations

import base64
import json
import re
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

import httpx
from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.request.validators import V30RequestBodyValidator, V30RequestParametersValidator

from tests.conftest import ROOT
from tests.providers.authentik_contract import HttpxOpenAPIRequest, HttpxOpenAPIResponse

SPEC_DIR = ROOT.parent / "shared" / "specs" / "okta"
MANAGEMENT_SPEC = SPEC_DIR / "management-minimal.yaml"
OAUTH_SPEC = SPEC_DIR / "oauth-minimal.yaml"
# Marks a fixture that deliberately is not Okta's answer (a login page at a wrong base_url).
NOT_OKTA = "x-test-not-okta"
# getUser's description: "You can substitute `me` for the `id` to fetch the current user linked to an API token
# or session cookie ... it's possible to retrieve the current user without the Authorization header."
COOKIE_READ = ("GET", "/api/v1/users/me")


@dataclass(frozen=True)
class OktaSpecs:
    management: OpenAPI
    oauth: OpenAPI


@cache
def load_specs() -> OktaSpecs:
    """Both documents as openapi-core sees them (~3 s). Validating the documents themselves is skipped: they
    are upstream's published files, and that proves nothing about responder."""
    config = Config(spec_validator_cls=None)
    return OktaSpecs(
        OpenAPI.from_file_path(str(MANAGEMENT_SPEC), config=config),
        OpenAPI.from_file_path(str(OAUTH_SPEC), config=config),
    )


def specs_available() -> bool:
    return MANAGEMENT_SPEC.is_file() and OAUTH_SPEC.is_file()


@dataclass
class ContractReport:
    checked_requests: int = 0
    checked_responses: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def check_calls(specs: OktaSpecs, calls: Iterable[tuple[httpx.Request, httpx.Response | None]]) -> ContractReport:
    """Validate each request and each response whose status its operation declares. Statuses the spec does
    not declare (401 on most operations, 5xx, Okta's 404 where only 403/429 are listed) are skipped, listed."""
    report = ContractReport()
    for request, response in calls:
        path = request.url.path
        where = f"{request.method} {path}"
        spec = specs.management if path.startswith("/api/v1/") else specs.oauth if path.startswith("/oauth2/") else None
        if spec is None:
            report.errors.append(f"{where}: neither the Management API nor an authorization server")
            continue
        adapted = HttpxOpenAPIRequest(request)
        try:
            if _public_client(request):
                # Client authentication "none": the documents list only secret/JWT schemes for these endpoints
                # (while /introspect's description tells public clients to send client_id), so security is
                # checked by _authentication below and everything else by openapi-core.
                V30RequestParametersValidator(spec.spec).validate(adapted)
                V30RequestBodyValidator(spec.spec).validate(adapted)
            else:
                with warnings.catch_warnings():  # "Unsupported scheme type": the oauth2 alternative
                    warnings.simplefilter("ignore", UserWarning)
                    spec.validate_request(adapted)
        except Exception as exc:
            report.errors.append(f"request {where}?{request.url.query.decode()}: {type(exc).__name__}: {exc}")
            continue
        problems = _undeclared_query(spec, request) + _authentication(request)
        if problems:
            report.errors.extend(f"request {where}: {problem}" for problem in problems)
            continue
        report.checked_requests += 1
        if response is None:  # the connection was refused: nothing was answered
            continue
        if NOT_OKTA in response.headers:
            report.skipped.append(f"{where}: HTTP {response.status_code} deliberately not Okta's answer")
            continue
        if not response.content and _declares_no_content(spec, request, response.status_code):
            report.checked_responses += 1  # `content: {}` (a 204): openapi-core would demand a body
            continue
        try:
            spec.validate_response(adapted, HttpxOpenAPIResponse(response))
        except ResponseNotFound:
            report.skipped.append(f"{where}: HTTP {response.status_code} is not declared in the spec")
            continue
        except Exception as exc:
            report.errors.append(f"response {where} HTTP {response.status_code}: {type(exc).__name__}: {exc}")
            continue
        report.checked_responses += 1
    return report


def _undeclared_query(spec: OpenAPI, request: httpx.Request) -> list[str]:
    try:
        found = APICallPathFinder(spec.spec).find(request.method.lower(), str(request.url.copy_with(query=None)))
    except PathError as exc:
        return [f"{type(exc).__name__}"]
    declared = {
        (parameter / "name").read_value()
        for owner in (found.path, found.operation)
        if "parameters" in owner
        for parameter in owner / "parameters"
        if (parameter / "in").read_value() == "query"
    }
    return [f"query parameter {name!r} is not declared" for name in request.url.params if name not in declared]


def _public_client(request: httpx.Request) -> bool:
    form = dict(parse_qsl(request.content.decode()))
    return request.url.path.startswith("/oauth2/") and "authorization" not in request.headers and "client_id" in form


def _declares_no_content(spec: OpenAPI, request: httpx.Request, status: int) -> bool:
    found = APICallPathFinder(spec.spec).find(request.method.lower(), str(request.url.copy_with(query=None)))
    responses = found.operation / "responses"
    if str(status) not in responses:
        return False
    declared = responses / str(status)
    return "content" not in declared or not (declared / "content").read_value()


def _authentication(request: httpx.Request) -> list[str]:
    """Management calls carry `Authorization: SSWS <token>` (securitySchemes.apiToken), except getUser's
    `me` with a session cookie and no Authorization. Authorization servers: client_secret_basic, or a public
    client's client_id in the form."""
    authorization = request.headers.get("authorization", "")
    if request.url.path.startswith("/api/v1/"):
        if (request.method, request.url.path) == COOKIE_READ and "cookie" in request.headers and not authorization:
            return []
        if not re.fullmatch(r"SSWS [0-9A-Za-z_-]{8,}", authorization):
            return ["no `Authorization: SSWS <token>`"]
        return [] if "cookie" not in request.headers else ["an API call must not carry a cookie"]
    form = dict(parse_qsl(request.content.decode()))
    if authorization.startswith("Basic ") or (not authorization and form.get("client_id")):
        return []
    return ["no client authentication (client_secret_basic, or client_id of a public client)"]


# ---- the fake org ------------------------------------------------------------------------------------

BASE = "https://sso.acme.test"  # a custom domain: nothing assumes *.okta.com
RESPONDER_TOKEN = "00" + "R" * 20 + "responder-canary00"  # 42 characters, like an SSWS token
CLIENT_ID = "0oa1clientAAAAAAAAAA"
CLIENT_SECRET = "client-secret-canary-value-0123456789"
TS = "2026-01-02T03:04:05.000Z"


@dataclass
class User:
    id: str
    login: str
    status: str = "ACTIVE"
    email: str = ""

    def __post_init__(self) -> None:
        self.email = self.email or self.login

    def json(self) -> dict[str, Any]:
        first, _, last = self.login.partition("@")[0].partition(".")
        return {
            "id": self.id,
            "status": self.status,
            "created": TS,
            "activated": TS if self.status != "STAGED" else None,
            "statusChanged": TS,
            "lastLogin": TS,
            "lastUpdated": TS,
            "passwordChanged": TS,
            "type": {"id": "oty1162QAr8hJjTaq0g4"},
            "profile": {
                "firstName": first.title(),
                "lastName": (last or "user").title(),
                "mobilePhone": None,
                "secondEmail": None,
                "login": self.login,
                "email": self.email,
            },
            "credentials": {"password": {}, "provider": {"type": "OKTA", "name": "OKTA"}},
            "_links": {"self": {"href": f"{BASE}/api/v1/users/{self.id}"}},
        }


@dataclass
class Group:
    id: str
    name: str
    members: list[str]
    type: str = "OKTA_GROUP"

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": TS,
            "lastUpdated": TS,
            "lastMembershipUpdated": TS,
            "objectClass": ["okta:user_group"],
            "type": self.type,
            "profile": {"name": self.name, "description": ""},
            "_links": {"users": {"href": f"{BASE}/api/v1/groups/{self.id}/users"}},
        }


@dataclass
class OAuthToken:
    client_id: str
    server: str  # "/oauth2/default/v1" or "/oauth2/v1"
    user: User | None
    kind: str  # "access_token" or "refresh_token"


@dataclass
class Failure:
    method: str
    path: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int


def user_id(number: int) -> str:
    return f"00u{number:017d}"


@dataclass
class FakeOkta:
    """Just enough of an Okta org: users, Classic sessions (`sid` = session id), Identity Engine `idx` cookies,
    SSWS API tokens, groups, and the OAuth tokens of authorization servers (RFC 7009 / 7662)."""

    users: dict[str, User] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)  # Classic session id (the sid cookie) → user id
    idx: dict[str, str] = field(default_factory=dict)  # idx cookie value → user id
    unaddressed: dict[str, str] = field(default_factory=dict)  # sid cookie → user id, unknown by id (Identity Engine)
    api_tokens: dict[str, str] = field(default_factory=dict)  # SSWS token value → owner's user id
    oauth: dict[str, OAuthToken] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    admin: User = field(default_factory=lambda: User("00uADMIN0000000000000", "responder-admin@acme.test"))
    next_link_host: str = ""  # serve next-page links on another host (a hostile or broken proxy)
    set_cookie: str = ""  # a Set-Cookie header on every answer (Okta refreshing a session)
    cleared: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (user id, query) per DELETE
    seen: list[str] = field(default_factory=list)  # "METHOD /path?query" of every request (tests may clear it)
    answered: int = 0  # every request, never cleared
    cookies_sent: list[str | None] = field(default_factory=list)  # the Cookie header of every request
    failures: list[Failure] = field(default_factory=list)

    # ---- state -------------------------------------------------------------------------------------

    def add_user(self, number: int, login: str, *, status: str = "ACTIVE", email: str = "") -> User:
        user = User(user_id(number), login, status, email)
        self.users[user.id] = user
        return user

    def add_group(self, number: int, name: str, members: Iterable[User], *, kind: str = "OKTA_GROUP") -> Group:
        group = Group(f"00g{number:017d}", name, [m.id for m in members], kind)
        self.groups[group.id] = group
        return group

    def live_sessions(self, user: User) -> int:
        owners = [*self.sessions.values(), *self.idx.values(), *self.unaddressed.values()]
        return sum(1 for owner in owners if owner == user.id)

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` requests matching method and path regex get this answer; status 0 refuses the
        connection."""
        self.failures.append(Failure(method, re.compile(path), status, body, headers or {}, times))

    # ---- routing -----------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        query = request.url.query.decode()
        self.answered += 1
        self.seen.append(f"{method} {path}" + (f"?{query}" if query else ""))
        self.cookies_sent.append(request.headers.get("cookie"))
        for failure in self.failures:
            if failure.times and failure.method == method and failure.path.search(path):
                failure.times -= 1
                if failure.status == 0:
                    raise httpx.ConnectError("connection refused", request=request)
                return self._answer(failure.status, failure.body, failure.headers, paced=False)
        if path.startswith("/oauth2/"):
            return self._oauth(request)
        if (method, path) == COOKIE_READ and not request.headers.get("authorization"):
            return self._cookie_user(request)
        caller = self._caller(request)
        if caller is None:
            return self._error(401, "E0000011", "Invalid token provided")
        return self._api(request, caller)

    def _api(self, request: httpx.Request, caller: User) -> httpx.Response:
        path, method, params = request.url.path, request.method, request.url.params
        if method == "GET" and path == "/api/v1/users/me":
            return self._answer(200, caller.json())
        if method == "DELETE" and path == "/api/v1/api-tokens/current":
            token = request.headers["authorization"].removeprefix("SSWS ")
            self.api_tokens.pop(token, None)
            return self._answer(204)
        if match := re.fullmatch(r"/api/v1/users/([^/]+)/sessions", path):
            return self._clear_sessions(match[1], dict(params))
        if method == "GET" and path == "/api/v1/users":
            return self._list_users(request)
        if method == "GET" and (match := re.fullmatch(r"/api/v1/users/([^/]+)", path)):
            user = self._user(match[1])
            return self._answer(200, user.json()) if user else self._not_found(f"{match[1]} (User)")
        if match := re.fullmatch(r"/api/v1/sessions/([^/]+)", path):
            return self._session(method, match[1])
        if method == "GET" and path == "/api/v1/groups":
            return self._list_groups(request)
        if method == "GET" and (match := re.fullmatch(r"/api/v1/groups/([^/]+)", path)):
            group = self.groups.get(match[1])
            return self._answer(200, group.json()) if group else self._not_found(f"{match[1]} (UserGroup)")
        if method == "GET" and (match := re.fullmatch(r"/api/v1/groups/([^/]+)/users", path)):
            group = self.groups.get(match[1])
            if group is None:
                return self._not_found(f"{match[1]} (UserGroup)")
            members = [self.users[m].json() for m in group.members if m in self.users]
            return self._page(request, members)
        return self._not_found(path)

    def _caller(self, request: httpx.Request) -> User | None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme != "SSWS":
            return None
        if value == RESPONDER_TOKEN:
            return self.admin
        owner = self.api_tokens.get(value)
        return self.users.get(owner) if owner else None

    def _cookie_user(self, request: httpx.Request) -> httpx.Response:
        cookies = SimpleCookie()
        cookies.load(request.headers.get("cookie", ""))
        owner = None
        if "idx" in cookies:
            owner = self.idx.get(cookies["idx"].value)
        elif "sid" in cookies:
            owner = self.sessions.get(cookies["sid"].value) or self.unaddressed.get(cookies["sid"].value)
        if owner is None or owner not in self.users:
            return self._error(403, "E0000005", "Invalid session")
        return self._answer(200, self.users[owner].json())

    def _user(self, key: str) -> User | None:
        return self.users.get(key) or next((u for u in self.users.values() if u.login.lower() == key.lower()), None)

    def _clear_sessions(self, key: str, params: dict[str, str]) -> httpx.Response:
        user = self.users.get(key)  # an id only (pathUserId)
        if user is None:
            return self._not_found(f"{key} (User)")
        self.cleared.append((user.id, params))
        for store in (self.sessions, self.idx, self.unaddressed):
            for value in [v for v, owner in store.items() if owner == user.id]:
                del store[value]
        if params.get("oauthTokens") == "true":
            for value in [v for v, t in self.oauth.items() if t.user is not None and t.user.id == user.id]:
                del self.oauth[value]
        return self._answer(204)

    def _session(self, method: str, session_id: str) -> httpx.Response:
        owner = self.sessions.get(session_id)
        if owner is None:
            return self._not_found("session")
        if method == "DELETE":
            del self.sessions[session_id]
            return self._answer(204)
        user = self.users[owner]
        return self._answer(
            200,
            {
                "amr": ["pwd"],
                "createdAt": TS,
                "expiresAt": TS,
                "id": session_id,
                "idp": {"id": "00o1n8sbwArJ7OQRw406", "type": "OKTA"},
                "lastFactorVerification": TS,
                "lastPasswordVerification": TS,
                "login": user.login,
                "status": "ACTIVE",
                "userId": user.id,
                "_links": {"self": {"href": f"{BASE}/api/v1/sessions/{session_id}", "hints": {"allow": ["DELETE"]}}},
            },
        )

    def _list_users(self, request: httpx.Request) -> httpx.Response:
        search = request.url.params.get("search")
        if search is not None:
            match = re.fullmatch(r'profile\.(email|login) eq "((?:[^"\\]|\\.)*)"', search)
            if match is None:
                return self._error(400, "E0000031", "Invalid search criteria.")
            wanted = re.sub(r"\\(.)", r"\1", match[2]).lower()
            users = [u.json() for u in self.users.values() if getattr(u, match[1]).lower() == wanted]
            return self._page(request, users)
        return self._page(request, [u.json() for u in self.users.values() if u.status != "DEPROVISIONED"])

    def _list_groups(self, request: httpx.Request) -> httpx.Response:
        search = request.url.params.get("search")
        groups = list(self.groups.values())
        if search is not None:
            match = re.fullmatch(r'profile\.name eq "((?:[^"\\]|\\.)*)"', search)
            if match is None:
                return self._error(400, "E0000031", "Invalid search criteria.")
            wanted = re.sub(r"\\(.)", r"\1", match[1]).lower()
            groups = [g for g in groups if g.name.lower() == wanted]
        return self._page(request, [g.json() for g in groups])

    def _page(self, request: httpx.Request, items: list[dict[str, Any]]) -> httpx.Response:
        """Okta's cursor paging: `after` is the last id of the previous page, `Link: <…>; rel="next"`."""
        params = request.url.params
        limit = int(params.get("limit", "200"))
        after = params.get("after")
        start = next((i + 1 for i, item in enumerate(items) if item["id"] == after), 0) if after else 0
        chunk = items[start : start + limit]
        links = [f'<{request.url}>; rel="self"']
        if start + limit < len(items):
            host = self.next_link_host or request.url.host
            following = request.url.copy_with(host=host, params=params.set("after", chunk[-1]["id"]))
            links.append(f'<{following}>; rel="next"')
        return self._answer(200, chunk, {"link": ", ".join(links)})

    # ---- authorization servers ---------------------------------------------------------------------

    def _oauth(self, request: httpx.Request) -> httpx.Response:
        match = re.fullmatch(r"(/oauth2(?:/[0-9A-Za-z]+)?/v1)/(revoke|introspect)", request.url.path)
        if match is None:
            return self._answer(404, {"errorCode": "E0000022", "errorSummary": "The endpoint does not support"})
        form = dict(parse_qsl(request.content.decode()))
        client = self._client(request, form)
        if client is None:
            return self._answer(401, {"error": "invalid_client", "error_description": "No client credentials found"})
        token = self.oauth.get(form.get("token", ""))
        mine = token is not None and token.client_id == client and token.server == match[1]
        if match[2] == "revoke":
            if mine:
                del self.oauth[form["token"]]
            return httpx.Response(200, headers=self._headers())
        if not mine or token is None:
            return self._answer(200, {"active": False})
        claims: dict[str, Any] = {
            "active": True,
            "token_type": "Bearer",
            "scope": "openid profile offline_access",
            "client_id": client,
            "exp": 4102444800,
            "iat": 1767225600,
        }
        if token.user is not None:
            claims.update(username=token.user.login, sub=token.user.login)
            if token.kind == "access_token":
                claims["uid"] = token.user.id
        return self._answer(200, claims)

    @staticmethod
    def _client(request: httpx.Request, form: dict[str, str]) -> str | None:
        authorization = request.headers.get("authorization", "")
        if authorization.startswith("Basic "):
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
            return client_id if (client_id, secret) == (CLIENT_ID, CLIENT_SECRET) else None
        return form.get("client_id") or None  # a public client

    # ---- answers -----------------------------------------------------------------------------------

    def _headers(self, extra: dict[str, str] | None = None, *, paced: bool = True) -> dict[str, str]:
        """Okta's request id and rate-limit headers (an injected failure brings its own, if any: a 429 with a
        reset a minute away would make the client hold the test's next call that long)."""
        headers = {"x-okta-request-id": f"req-{self.answered}"}
        if paced:
            headers.update(
                {
                    "x-rate-limit-limit": "600",
                    "x-rate-limit-remaining": "599",
                    "x-rate-limit-reset": str(int(time.time()) + 60),
                }
            )
        if self.set_cookie:
            headers["set-cookie"] = self.set_cookie
        return {**headers, **(extra or {})}

    def _answer(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None, *, paced: bool = True
    ) -> httpx.Response:
        if body is None:
            return httpx.Response(status, headers=self._headers(headers, paced=paced))
        if isinstance(body, str):
            extra = {"content-type": "text/html", **(headers or {})}
            return httpx.Response(status, text=body, headers=self._headers(extra, paced=paced))
        extra = {"content-type": "application/json", **(headers or {})}
        return httpx.Response(status, content=json.dumps(body).encode(), headers=self._headers(extra, paced=paced))

    def _error(self, status: int, code: str, summary: str) -> httpx.Response:
        body = {
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": "oaeFAKE0000",
            "errorCauses": [],
        }
        return self._answer(status, body)

    def _not_found(self, what: str) -> httpx.Response:
        return self._error(404, "E0000007", f"Not found: Resource not found: {what}")


def okta_error(code: str, summary: str) -> dict[str, Any]:
    """An error body as Okta sends it (components.schemas.Error)."""
    return {"errorCode": code, "errorSummary": summary, "errorLink": code, "errorId": "oaeFAKE0001", "errorCauses": []}
