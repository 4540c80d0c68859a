"""Contract checks against the Keycloak Admin REST API description (shared/specs/keycloak/keycloak-23.0.7.json,
OpenAPI 3.0.2, third party, generated from Keycloak's published API docs), and a spec-shaped fake Keycloak.

Every admin request a test sends is validated with openapi-core (path, method, parameters, bearer auth), plus a
check openapi-core does not make: every query parameter must be declared for the operation (an undeclared one,
like `isOffline` on 23.0.7's session delete, is silently ignored by older servers). Every JSON fixture the fake
serves for a status the spec declares is validated too. The OpenID Connect endpoints (token, RFC 7009 revoke,
RFC 7662 introspect) are not in the spec: their form fields and client authentication are checked by the RFCs."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.responses.exceptions import ResponseNotFound
from werkzeug.datastructures import Headers, ImmutableMultiDict

from tests.conftest import ROOT
from tests.providers.authentik_contract import HttpxOpenAPIResponse

SPEC_PATH = ROOT.parent / "shared" / "specs" / "keycloak" / "keycloak-23.0.7.json"
SPEC_HOST = "https://keycloak.example.com"  # the spec's server is `https://keycloak.example.com/admin/realms`
ADMIN = "/admin/realms"
OIDC = re.compile(r"/realms/[^/]+/protocol/openid-connect/(token|revoke|token/introspect)")
# Marks a fixture that deliberately is not Keycloak's answer (a login page at a wrong base_url).
NOT_KEYCLOAK = "x-test-not-keycloak"


@dataclass(frozen=True)
class KeycloakSpec:
    openapi: OpenAPI
    document: dict[str, Any]

    def declared_query(self, method: str, path: str) -> set[str] | None:
        """Query parameters the operation at `path` (below /admin/realms) declares; None when no path matches.
        The most literal template wins (`/{realm}/users/count` before `/{realm}/users/{id}`)."""
        best: tuple[int, dict[str, Any]] | None = None
        for template, item in self.document["paths"].items():
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            if re.fullmatch(pattern, path):
                literal = len(re.sub(r"\{[^}]+\}", "", template))
                if best is None or literal > best[0]:
                    best = (literal, item)
        if best is None:
            return None
        item = best[1]
        operation = item.get(method.lower(), {})
        parameters = [*item.get("parameters", []), *operation.get("parameters", [])]
        return {p["name"] for p in parameters if p.get("in") == "query"}


def load_spec(path: Path = SPEC_PATH) -> KeycloakSpec:
    """Upstream's published file is not itself validated (slow, and it proves nothing about responder)."""
    return KeycloakSpec(
        OpenAPI.from_file_path(str(path), config=Config(spec_validator_cls=None)), json.loads(path.read_text())
    )


class KeycloakOpenAPIRequest:
    """openapi-core's Request protocol over an httpx.Request to an admin endpoint: the host is the spec's own and the
    path starts at /admin/realms (a legacy /auth prefix is taken off before)."""

    def __init__(self, request: httpx.Request, local_path: str) -> None:
        self.host_url = SPEC_HOST
        self.path = local_path
        self.method = request.method.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(list(request.headers.multi_items())),
            cookie=ImmutableMultiDict(),
            path={},
        )
        self.content_type = request.headers.get("content-type", "").lower()
        self.body: bytes | None = request.content or None


@dataclass
class ContractReport:
    checked_requests: int = 0
    checked_responses: int = 0
    checked_oidc: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def check_calls(
    spec: KeycloakSpec, calls: Iterable[tuple[httpx.Request, httpx.Response | None]], prefix: str = ""
) -> ContractReport:
    """Validate each admin request and each admin response whose status the spec declares; check the OIDC
    endpoints' forms. Skips are explicit and listed (statuses the spec does not declare: 404, 429, 5xx, and the
    204 Keycloak really answers to `POST /users/{id}/logout`, which 23.0.7's description calls 201)."""
    report = ContractReport()
    for request, response in calls:
        path = request.url.path
        where = f"{request.method} {path}"
        local = path[len(prefix) :] if path.startswith(prefix + "/") else None
        if local is not None and OIDC.fullmatch(local):
            report.errors += [f"{where}: {problem}" for problem in _oidc_problems(request, local)]
            report.checked_oidc += 1
            continue
        if local is None or not local.startswith(ADMIN + "/"):
            report.errors.append(f"{where}: neither under {prefix}/admin/realms nor an OIDC endpoint")
            continue
        adapted = KeycloakOpenAPIRequest(request, local)
        try:
            spec.openapi.validate_request(adapted)
        except Exception as exc:
            report.errors.append(f"request {where}?{request.url.query.decode()}: {type(exc).__name__}: {exc}")
            continue
        declared = spec.declared_query(request.method, local.removeprefix(ADMIN)) or set()
        undeclared = sorted(set(request.url.params.keys()) - declared)
        if undeclared:
            report.errors.append(f"request {where}: undeclared query parameter(s) {', '.join(undeclared)}")
            continue
        report.checked_requests += 1
        if response is None:  # the connection was refused: nothing was answered
            continue
        if NOT_KEYCLOAK in response.headers:
            report.skipped.append(f"{where}: HTTP {response.status_code} deliberately not Keycloak's answer")
            continue
        try:
            spec.openapi.validate_response(adapted, HttpxOpenAPIResponse(response))
        except ResponseNotFound:
            report.skipped.append(f"{where}: HTTP {response.status_code} is not declared in the spec")
            continue
        except Exception as exc:
            report.errors.append(f"response {where} HTTP {response.status_code}: {type(exc).__name__}: {exc}")
            continue
        report.checked_responses += 1
    return report


def _oidc_problems(request: httpx.Request, local: str) -> list[str]:
    """RFC 6749 §4.4 (client credentials), RFC 7009 §2.1, RFC 7662 §2.1: a form POST with client authentication."""
    if request.method != "POST":
        return ["must be a POST"]
    if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
        return ["must be a form (application/x-www-form-urlencoded)"]
    form = dict(httpx.QueryParams(request.content.decode()))
    problems = []
    basic = request.headers.get("authorization", "").startswith("Basic ")
    if not basic and "client_id" not in form:
        problems.append("no client authentication")
    if basic and "client_secret" in form:
        problems.append("two client authentication methods (RFC 6749 §2.3)")
    if local.endswith("/token"):
        if form.get("grant_type") != "client_credentials":
            problems.append("grant_type must be client_credentials")
        if not basic:
            problems.append("the admin client is confidential: it must authenticate with its secret")
    else:
        if not form.get("token"):
            problems.append("token is required")
        if form.get("token_type_hint") not in (None, "access_token", "refresh_token"):
            problems.append("token_type_hint must be access_token or refresh_token")
    return problems


# ---- a spec-shaped fake Keycloak ---------------------------------------------------------------------------

BASE = "https://sso.example.test"
REALM = "corp"
ADMIN_CLIENT = "responder-admin"
ADMIN_SECRET = "admin-client-secret-CANARY-7f3a9c"
CLIENT_ID = "webapp"
CLIENT_SECRET = "webapp-client-secret-CANARY-2b8d41"
ALL_ROLES = frozenset({"manage-users", "view-users", "query-users", "query-groups"})
SIGNING_KEY = "keycloak-realm-hmac-key-not-known-to-responder"


def session_hash(session_id: str) -> str:
    """KEYCLOAK_SESSION as current Keycloak writes it (CookieManager.sha256UrlEncodedHash)."""
    return base64.urlsafe_b64encode(hashlib.sha256(session_id.encode("latin-1")).digest()).rstrip(b"=").decode()


def kc_jwt(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, SIGNING_KEY, algorithm="HS256")


@dataclass
class KcUser:
    id: str
    username: str
    email: str
    enabled: bool = True
    not_before: int = 0


@dataclass
class KcSession:
    id: str
    user_id: str
    clients: dict[str, str] = field(default_factory=dict)  # client uuid → clientId


@dataclass
class KcGroup:
    id: str
    name: str
    path: str
    members: list[str] = field(default_factory=list)
    children: list[KcGroup] = field(default_factory=list)


@dataclass
class Failure:
    method: str
    path: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int


@dataclass
class FakeKeycloak:
    """Just enough of Keycloak 23–26: users, sessions, consents and offline tokens, groups, the admin token by
    client credentials, RFC 7009/7662 for one client. Answers as Keycloak's sources do (see the plugin's docs)."""

    realm: str = REALM
    admin_realm: str = REALM
    prefix: str = ""  # "/auth" for Keycloak 16 and older
    users: dict[str, KcUser] = field(default_factory=dict)
    sessions: dict[str, KcSession] = field(default_factory=dict)
    offline: dict[tuple[str, str], int] = field(default_factory=dict)  # (user id, clientId) → offline sessions
    consents: set[tuple[str, str]] = field(default_factory=set)  # (user id, clientId)
    clients: dict[str, str] = field(default_factory=dict)  # clientId → uuid
    groups: list[KcGroup] = field(default_factory=list)
    oauth_tokens: dict[str, str] = field(default_factory=dict)  # live token value → azp
    admin_roles: frozenset[str] = ALL_ROLES
    roles_in_token: bool = True
    expires_in: int = 300
    admin_tokens: set[str] = field(default_factory=set)  # admin tokens still accepted
    token_requests: int = 0
    page_link: str | None = None  # a Link header put on every list answer (Keycloak sends none)
    ignore_first: bool = False  # as a broken proxy that drops the query would
    seen: list[str] = field(default_factory=list)  # "METHOD /path?query" of every request (tests may clear it)
    answered: int = 0  # every request, never cleared
    failures: list[Failure] = field(default_factory=list)

    # ---- state -------------------------------------------------------------------------------------

    def add_user(self, username: str, *, sessions: int = 0, enabled: bool = True) -> KcUser:
        user = KcUser(str(uuid.uuid4()), username, f"{username}@example.test", enabled)
        self.users[user.id] = user
        for _ in range(sessions):
            self.add_session(user)
        return user

    def add_session(self, user: KcUser, *clients: str) -> KcSession:
        session = KcSession(str(uuid.uuid4()), user.id, {self.client_uuid(c): c for c in clients})
        self.sessions[session.id] = session
        return session

    def client_uuid(self, client_id: str) -> str:
        return self.clients.setdefault(client_id, str(uuid.uuid5(uuid.NAMESPACE_URL, client_id)))

    def add_offline(self, user: KcUser, client_id: str, *, consent: bool = False) -> None:
        self.client_uuid(client_id)
        self.offline[(user.id, client_id)] = self.offline.get((user.id, client_id), 0) + 1
        if consent:
            self.consents.add((user.id, client_id))

    def add_group(self, name: str, members: Iterable[KcUser] = (), parent: KcGroup | None = None) -> KcGroup:
        path = f"{parent.path if parent else ''}/{name}"
        group = KcGroup(str(uuid.uuid4()), name, path, [u.id for u in members])
        (parent.children if parent else self.groups).append(group)
        return group

    def sessions_of(self, user: KcUser) -> list[str]:
        return [s.id for s in self.sessions.values() if s.user_id == user.id]

    def issuer(self, realm: str | None = None) -> str:
        return f"{BASE}{self.prefix}/realms/{realm or self.realm}"

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` requests matching method and path regex get this answer; status 0 is a refused
        connection; a str body is sent as it is (not JSON)."""
        self.failures.append(Failure(method, re.compile(path), status, body, headers or {}, times))

    def expire_admin_tokens(self) -> None:
        """As a restarted Keycloak (or an admin's 'not before' push) would: every issued admin token is refused."""
        self.admin_tokens.clear()

    # ---- serialisers (shapes from the spec) -------------------------------------------------------

    @staticmethod
    def _user_json(user: KcUser, brief: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": user.id,
            "createdTimestamp": 1767225600000,
            "username": user.username,
            "enabled": user.enabled,
            "emailVerified": True,
            "firstName": user.username.title(),
            "lastName": "Example",
            "email": user.email,
        }
        if not brief:
            body.update(
                totp=False,
                disableableCredentialTypes=[],
                requiredActions=[],
                notBefore=user.not_before,
                access={"manageGroupMembership": True, "view": True, "mapRoles": True, "impersonate": False,
                        "manage": True},
            )  # fmt: skip
        return body

    def _session_json(self, session: KcSession) -> dict[str, Any]:
        return {
            "id": session.id,
            "username": self.users[session.user_id].username,
            "userId": session.user_id,
            "ipAddress": "192.0.2.10",
            "start": 1767225600000,
            "lastAccess": 1767229200000,
            "rememberMe": False,
            "clients": dict(session.clients),
        }

    def _consents_json(self, user_id: str) -> list[dict[str, Any]]:
        """UserResource.getConsents: explicit consents first (with the offline grant when the client has offline
        tokens), then clients holding offline tokens without a consent."""
        out = []
        offline = {c for (u, c) in self.offline if u == user_id}
        for _, client in sorted(c for c in self.consents if c[0] == user_id):
            grants = [{"client": self.clients[client], "key": "Offline Token"}] if client in offline else []
            out.append(
                {
                    "clientId": client,
                    "grantedClientScopes": ["profile", "email"],
                    "createdDate": 1767225600000,
                    "lastUpdatedDate": 1767225600000,
                    "additionalGrants": grants,
                }
            )
        for client in sorted(offline - {c for (u, c) in self.consents if u == user_id}):
            out.append(
                {
                    "clientId": client,
                    "grantedClientScopes": [],
                    "createdDate": None,
                    "lastUpdatedDate": None,
                    "additionalGrants": [{"client": self.clients[client], "key": "Offline Token"}],
                }
            )
        return out

    def _group_json(self, group: KcGroup, sub: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            "id": group.id,
            "name": group.name,
            "path": group.path,
            "subGroupCount": len(group.children),
            "subGroups": sub if sub is not None else [],
        }

    def _search(self, groups: list[KcGroup], name: str, exact: bool) -> list[dict[str, Any]]:
        """GroupsResource search: matching groups inside their parents' subGroups."""
        found = []
        for group in groups:
            below = self._search(group.children, name, exact)
            hit = group.name == name if exact else name.lower() in group.name.lower()
            if hit or below:
                found.append(self._group_json(group, below))
        return found

    def _find_group(self, group_id: str, groups: list[KcGroup] | None = None) -> KcGroup | None:
        for group in self.groups if groups is None else groups:
            if group.id == group_id:
                return group
            inner = self._find_group(group_id, group.children)
            if inner is not None:
                return inner
        return None

    def _page(self, items: list[Any], params: httpx.QueryParams) -> httpx.Response:
        first = 0 if self.ignore_first else int(params.get("first", "0"))
        size = int(params.get("max", "100"))
        headers = {"Link": f'<{self.page_link}>; rel="next"'} if self.page_link else {}
        return httpx.Response(200, json=items[first : first + size], headers=headers)

    # ---- routing -----------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        query = request.url.query.decode()
        self.answered += 1
        self.seen.append(f"{method} {path}" + (f"?{query}" if query else ""))
        for failure in self.failures:
            if failure.times and failure.method == method and failure.path.search(path):
                failure.times -= 1
                if failure.status == 0:
                    raise httpx.ConnectError("connection refused", request=request)
                if isinstance(failure.body, str):
                    return httpx.Response(failure.status, text=failure.body, headers=failure.headers)
                body = None if failure.body is None else json.dumps(failure.body).encode()
                headers = {"content-type": "application/json", **failure.headers} if body else failure.headers
                return httpx.Response(failure.status, content=body or b"", headers=headers)
        if not path.startswith(self.prefix + "/"):
            return _error(404, "HTTP 404 Not Found")
        local = path[len(self.prefix) :]
        if match := OIDC.fullmatch(local):
            realm = local.split("/")[2]
            return self._oidc(request, realm, match[1])
        if local.startswith(ADMIN + "/"):
            return self._admin(request, local.removeprefix(ADMIN + "/"))
        return _error(404, "Unable to find matching target resource method")

    def _oidc(self, request: httpx.Request, realm: str, endpoint: str) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        user, _, secret = base64.b64decode(value).decode().partition(":") if scheme == "Basic" else ("", "", "")
        if endpoint == "token":
            if realm != self.admin_realm:
                return _error(404, "Realm does not exist")
            self.token_requests += 1
            if (user, secret) != (ADMIN_CLIENT, ADMIN_SECRET):
                return httpx.Response(
                    401, json={"error": "invalid_client", "error_description": "Invalid client or Invalid client "
                               "credentials"}
                )  # fmt: skip
            return self._admin_token()
        if realm != self.realm:
            return _error(404, "Realm does not exist")
        if (user, secret) != (CLIENT_ID, CLIENT_SECRET):
            return httpx.Response(401, json={"error": "invalid_client", "error_description": "Invalid client"})
        token = form.get("token", "")
        if endpoint == "revoke":
            try:
                claims = jwt.decode(token, options={"verify_signature": False})
            except jwt.PyJWTError:
                return httpx.Response(200)  # TokenRevocationEndpoint: an undecodable token is "revoked"
            if claims.get("typ") == "ID":
                return httpx.Response(400, json={"error": "unsupported_token_type", "error_description": "x"})
            if claims.get("azp") != CLIENT_ID:
                return httpx.Response(400, json={"error": "invalid_request", "error_description": "Unmatching clients"})
            self.oauth_tokens.pop(token, None)
            return httpx.Response(200)
        if token in self.oauth_tokens:
            claims = jwt.decode(token, options={"verify_signature": False})
            user_id = claims.get("sub", "")
            name = self.users[user_id].username if user_id in self.users else ""
            return httpx.Response(200, json={"active": True, "sub": user_id, "username": name, "client_id": CLIENT_ID})
        return httpx.Response(200, json={"active": False})

    def _admin_token(self) -> httpx.Response:
        claims: dict[str, Any] = {
            "exp": int(time.time()) + self.expires_in,
            "iat": int(time.time()),
            "jti": str(uuid.uuid4()),
            "iss": self.issuer(self.admin_realm),
            "sub": str(uuid.uuid5(uuid.NAMESPACE_OID, ADMIN_CLIENT)),
            "typ": "Bearer",
            "azp": ADMIN_CLIENT,
            "scope": "profile email",
            "preferred_username": f"service-account-{ADMIN_CLIENT}",
        }
        if self.roles_in_token:
            roles_client = "realm-management" if self.admin_realm == self.realm else f"{self.realm}-realm"
            claims["resource_access"] = {roles_client: {"roles": sorted(self.admin_roles)}}
        token = kc_jwt(claims)
        self.admin_tokens.add(token)
        return httpx.Response(
            200,
            json={
                "access_token": token,
                "expires_in": self.expires_in,
                "refresh_expires_in": 0,
                "token_type": "Bearer",
                "not-before-policy": 0,
                "scope": "profile email",
            },
        )

    def _may(self, *roles: str) -> bool:
        return bool(self.admin_roles & set(roles))

    def _admin(self, request: httpx.Request, rest: str) -> httpx.Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.admin_tokens:
            return _error(401, "HTTP 401 Unauthorized")
        realm, _, rest = rest.partition("/")
        if realm != self.realm:
            return _error(404, "Realm not found.")
        method, params = request.method, request.url.params
        manage, view = self._may("manage-users"), self._may("view-users")
        if match := re.fullmatch(r"sessions/([^/]+)", rest):
            if method != "DELETE":
                return _error(405, "HTTP 405 Method Not Allowed")
            if not manage:
                return _error(403, "HTTP 403 Forbidden")
            if self.sessions.pop(match[1], None) is None:
                return _error(404, "Sesssion not found")  # sic: Keycloak's own spelling
            return httpx.Response(204)
        if rest == "users" and method == "GET":
            if not (view or self._may("query-users")):
                return _error(403, "HTTP 403 Forbidden")
            users = list(self.users.values())
            exact = params.get("exact") == "true"
            for name in ("username", "email"):
                if name in params:
                    wanted = params[name].lower()
                    users = [
                        u for u in users
                        if (getattr(u, name) == wanted if exact else wanted in getattr(u, name))
                    ]  # fmt: skip
            brief = params.get("briefRepresentation") == "true"
            return self._page([self._user_json(u, brief) for u in users], params)
        if rest == "groups" and method == "GET":
            if not (view or self._may("query-groups")):
                return _error(403, "HTTP 403 Forbidden")
            if "search" in params:
                found = self._search(self.groups, params["search"], params.get("exact") == "true")
            else:
                found = [self._group_json(g) for g in self.groups]
            return self._page(found, params)
        if match := re.fullmatch(r"groups/([^/]+)(/members)?", rest):
            if method != "GET":
                return _error(405, "HTTP 405 Method Not Allowed")
            group = self._find_group(match[1])
            if group is None:
                return _error(404, "Could not find group by id")
            if match[2] is None:
                return httpx.Response(200, json=self._group_json(group))
            if not view:
                return _error(403, "HTTP 403 Forbidden")
            brief = params.get("briefRepresentation") == "true"
            return self._page([self._user_json(self.users[u], brief) for u in group.members], params)
        match = re.fullmatch(r"users/([^/]+)(?:/(logout|sessions|consents)(?:/([^/]+))?)?", rest)
        if match is None:
            return _error(404, "Unable to find matching target resource method")
        user = self.users.get(match[1])
        action, client = match[2], match[3]
        if user is None:
            return _error(404, "User not found")
        if action is None and method == "GET":
            return httpx.Response(200, json=self._user_json(user, False)) if view else _error(403, "HTTP 403 Forbidden")
        if action == "logout" and method == "POST":
            if not manage:
                return _error(403, "HTTP 403 Forbidden")
            user.not_before = int(time.time())
            for key in self.sessions_of(user):
                del self.sessions[key]
            return httpx.Response(204)
        if action == "sessions" and method == "GET" and client is None:
            if not view:
                return _error(403, "HTTP 403 Forbidden")
            return httpx.Response(
                200, json=[self._session_json(s) for s in self.sessions.values() if s.user_id == user.id]
            )
        if action == "consents" and method == "GET" and client is None:
            return httpx.Response(200, json=self._consents_json(user.id)) if view else _error(403, "HTTP 403 Forbidden")
        if action == "consents" and method == "DELETE" and client is not None:
            if not manage:
                return _error(403, "HTTP 403 Forbidden")
            if client not in self.clients:
                return _error(404, "Client not found")
            revoked = (user.id, client) in self.consents or (user.id, client) in self.offline
            if not revoked:
                return _error(404, "Consent nor offline token not found")
            self.consents.discard((user.id, client))
            self.offline.pop((user.id, client), None)
            return httpx.Response(204)
        return _error(405, "HTTP 405 Method Not Allowed")


def _error(status: int, text: str) -> httpx.Response:
    return httpx.Response(status, json={"error": text})
