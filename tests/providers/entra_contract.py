"""Contract checks for the Entra plugin: every request a test sends, and every fixture served, is checked.

- `revokeSignInSessions` against the CSDL extract in shared/specs/msgraph (parsed here, not restated): a
  bound action on `graph.user`, so `POST /v1.0/users/{key}/revokeSignInSessions` with no body (it has no
  parameter besides the binding one) and, for its `Edm.Boolean` return type, a 200 answer `{"value": <bool>}`.
- the Graph reads the plugin uses, which the extract does not describe, against a table written from their
  reference pages (learn.microsoft.com/graph/api/user-get, user-list, group-list,
  group-list-transitivemembers, /graph/aad-advanced-queries, /graph/paging, /graph/errors);
- the token endpoint against the client-credentials reference (…/v2-oauth2-client-creds-grant-flow and
  …/certificate-credentials): form fields, and the client assertion's header and claims.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt

from tests.conftest import ROOT

SPEC_PATH = ROOT.parent / "shared" / "specs" / "msgraph" / "revokeSignInSessions.v1.0.csdl.xml"
NOT_GRAPH = "x-test-not-graph"  # marks a fixture that deliberately is not Graph's answer (a wrong URL)
_EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
# Graph's entity container (schemas/v1.0-Prod.csdl) binds the entity set `users` to `microsoft.graph.user`;
# the saved extract keeps only the action and the property, so this one mapping is restated here.
ENTITY_SETS = {"graph.user": "users", "microsoft.graph.user": "users"}
_PRIMITIVES = {"Edm.Boolean": bool, "Edm.String": str, "Edm.Int32": int}
_GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class BoundAction:
    name: str
    binding: str
    parameters: tuple[str, ...]  # the non-binding ones
    returns: str | None


@dataclass(frozen=True)
class GraphSchema:
    actions: dict[str, BoundAction]
    properties: dict[str, frozenset[str]]  # entity type name → property names the extract declares


def load_schema(path: Path = SPEC_PATH) -> GraphSchema:
    # The extract is a file of this repository's shared specs (upstream Microsoft metadata), not input.
    root = ElementTree.parse(path).getroot()  # noqa: S314
    actions: dict[str, BoundAction] = {}
    properties: dict[str, frozenset[str]] = {}
    for schema in root.iter(f"{_EDM}Schema"):
        for action in schema.iter(f"{_EDM}Action"):
            if action.get("IsBound") != "true":
                continue
            params = action.findall(f"{_EDM}Parameter")
            returns = action.find(f"{_EDM}ReturnType")
            actions[str(action.get("Name"))] = BoundAction(
                name=str(action.get("Name")),
                binding=str(params[0].get("Type")),
                parameters=tuple(str(p.get("Name")) for p in params[1:]),
                returns=returns.get("Type") if returns is not None else None,
            )
        for entity in schema.iter(f"{_EDM}EntityType"):
            names = frozenset(str(p.get("Name")) for p in entity.findall(f"{_EDM}Property"))
            properties[str(entity.get("Name"))] = names
    return GraphSchema(actions, properties)


@dataclass(frozen=True)
class Read:
    """A documented Graph read: path pattern, the OData options its page lists, its $select vocabulary."""

    name: str
    path: re.Pattern[str]
    options: frozenset[str]
    fields: frozenset[str]
    collection: bool
    cast: bool = False  # an OData cast on a relationship: advanced query parameters are required


_LIST_OPTIONS = frozenset({"$select", "$filter", "$top", "$count", "$orderby", "$search", "$expand", "$skiptoken"})
_USER_FIELDS = frozenset({"id", "userPrincipalName", "accountEnabled", "mail", "displayName", "otherMails"})
_GROUP_FIELDS = frozenset({"id", "displayName", "mail", "mailEnabled", "securityEnabled"})
READS = (
    Read("user-get", re.compile(r"/v1\.0/users/(?P<key>[^/()]+)|/v1\.0/users\('(?P<dollar>\$[^/]+)'\)"),
         frozenset({"$select", "$expand"}), _USER_FIELDS, collection=False),
    Read("user-list", re.compile(r"/v1\.0/users"), _LIST_OPTIONS, _USER_FIELDS, collection=True),
    Read("group-list", re.compile(r"/v1\.0/groups"), _LIST_OPTIONS, _GROUP_FIELDS, collection=True),
    Read("group-list-transitivemembers",
         re.compile(rf"/v1\.0/groups/{_GUID}/transitiveMembers/microsoft\.graph\.user"),
         frozenset({"$select", "$filter", "$top", "$count", "$search", "$skiptoken"}), _USER_FIELDS,
         collection=True, cast=True),
)  # fmt: skip


@dataclass
class ContractReport:
    checked_requests: int = 0
    checked_responses: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class Contract:
    schema: GraphSchema
    login_url: str
    graph_url: str
    tenant: str
    client_id: str

    def check_calls(self, calls: Iterable[tuple[httpx.Request, httpx.Response | None]]) -> ContractReport:
        report = ContractReport()
        for request, response in calls:
            where = f"{request.method} {request.url.path}"
            origin = f"{request.url.scheme}://{request.url.host}"
            if origin == self.login_url:
                problems = self._token_request(request)
            elif origin == self.graph_url:
                problems = self._graph_request(request)
            else:
                problems = [f"{origin} is neither the configured login_url nor graph_url"]
            if problems:
                report.errors += [f"request {where}: {p}" for p in problems]
                continue
            report.checked_requests += 1
            if response is None:  # refused connection: nothing was answered
                continue
            if NOT_GRAPH in response.headers:
                report.skipped.append(f"{where}: HTTP {response.status_code} deliberately not Graph's answer")
                continue
            check = self._token_response if origin == self.login_url else self._graph_response
            answer_problems = check(request, response)
            report.errors += [f"response {where} HTTP {response.status_code}: {p}" for p in answer_problems]
            report.checked_responses += not answer_problems
        return report

    # ---- token endpoint ----------------------------------------------------------------------------

    def _token_request(self, request: httpx.Request) -> list[str]:
        token_url = f"{self.login_url}/{self.tenant}/oauth2/v2.0/token"
        if request.method != "POST" or str(request.url) != token_url:
            return [f"the token endpoint is POST {token_url}"]
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            return ["the token request must be form-encoded"]
        form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        problems = []
        expected = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "scope": f"{self.graph_url}/.default",
        }
        problems += [f"{key} must be {value!r}" for key, value in expected.items() if form.get(key) != value]
        has_secret = "client_secret" in form
        has_assertion = "client_assertion" in form or "client_assertion_type" in form
        if has_secret == has_assertion:
            problems.append("exactly one of client_secret or client_assertion(+_type) must be sent")
        if has_assertion:
            problems += self._assertion(form, token_url)
        unknown = set(form) - {*expected, "client_secret", "client_assertion", "client_assertion_type"}
        problems += [f"undocumented form field {name!r}" for name in sorted(unknown)]
        return problems

    def _assertion(self, form: dict[str, str], token_url: str) -> list[str]:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return [f"client_assertion_type must be {ASSERTION_TYPE}"]
        assertion = form.get("client_assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            return [f"client_assertion is not a JWT: {exc}"]
        problems = []
        if header.get("alg") != "PS256" or header.get("typ") != "JWT" or not header.get("x5t#S256"):
            problems.append(f"assertion header must be alg PS256, typ JWT, with x5t#S256: {header}")
        if claims.get("aud") != token_url:
            problems.append("assertion aud must be the token endpoint")
        if not claims.get("iss") == claims.get("sub") == self.client_id:
            problems.append("assertion iss and sub must be the client id")
        if not claims.get("jti") or not all(isinstance(claims.get(c), int) for c in ("nbf", "exp", "iat")):
            problems.append("assertion needs jti, nbf, iat and exp")
        elif not 0 < claims["exp"] - claims["nbf"] <= 600:
            problems.append("assertion must expire within 10 minutes of nbf")
        return problems

    def _token_response(self, request: httpx.Request, response: httpx.Response) -> list[str]:
        body = _json(response)
        if response.status_code == 200:
            shape = {"token_type": str, "expires_in": int, "ext_expires_in": int, "access_token": str}
            return _shape(body, shape, exact=True)
        if response.status_code in (400, 401):
            shape = {"error": str, "error_description": str, "error_codes": list, "timestamp": str,
                     "trace_id": str, "correlation_id": str}  # fmt: skip
            return _shape(body, shape)
        return []  # throttling and outages: no body is documented

    # ---- Graph -------------------------------------------------------------------------------------

    def _graph_request(self, request: httpx.Request) -> list[str]:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return ["Graph needs Authorization: Bearer <app token>"]
        path = request.url.path
        if match := re.fullmatch(r"/v1\.0/(\w+)/([^/]+)/(?:microsoft\.graph\.)?(\w+)", path):
            action = self.schema.actions.get(match[3])
            if action is not None:
                return self._action_request(request, action, match[1])
        for read in READS:
            if read.path.fullmatch(path):
                return self._read_request(request, read)
        return [f"{path} is neither the CSDL's action nor a documented read"]

    def _action_request(self, request: httpx.Request, action: BoundAction, entity_set: str) -> list[str]:
        problems = []
        if ENTITY_SETS.get(action.binding) != entity_set:
            problems.append(f"{action.name} is bound to {action.binding}, not to /{entity_set}")
        if request.method != "POST":
            problems.append("an OData action is invoked with POST")
        if request.url.query:
            problems.append("the action takes no query options")
        body = request.content.strip()
        if body:
            sent = json.loads(body)
            extra = set(sent) - set(action.parameters) if isinstance(sent, dict) else {"(not an object)"}
            problems += [f"{action.name} has no parameter {name!r}" for name in sorted(extra)]
        return problems

    def _read_request(self, request: httpx.Request, read: Read) -> list[str]:
        problems = [] if request.method == "GET" else [f"{read.name} is a GET"]
        if request.content:
            problems.append("a GET carries no body")
        params = dict(request.url.params.multi_items())
        problems += [f"{read.name} takes no {name}" for name in sorted(set(params) - read.options)]
        selected = [name for name in params.get("$select", "").split(",") if name]
        known = read.fields | self.schema.properties.get("user", frozenset()) if "user" in read.name else read.fields
        problems += [f"$select of unknown property {name!r}" for name in selected if name not in known]
        if "$top" in params and not (params["$top"].isdigit() and 1 <= int(params["$top"]) <= 999):
            problems.append("$top must be 1..999")
        advanced = params.get("$count") == "true" and request.headers.get("consistencylevel") == "eventual"
        if read.cast and not advanced:
            problems.append("an OData cast needs ConsistencyLevel: eventual and $count=true")
        if "otherMails" in params.get("$filter", "") and not advanced:
            problems.append("$filter on otherMails is an advanced query (ConsistencyLevel + $count)")
        if params.get("$count") == "true" and request.headers.get("consistencylevel") != "eventual":
            problems.append("$count=true on directory objects needs ConsistencyLevel: eventual")
        return problems

    def _graph_response(self, request: httpx.Request, response: httpx.Response) -> list[str]:
        body = _json(response)
        if not response.is_success:
            if body is None and not response.content:
                return []
            error = body.get("error") if isinstance(body, dict) else None
            return _shape(error, {"code": str, "message": str}) if isinstance(error, dict) else ["not Graph's error"]
        match = re.fullmatch(r"/v1\.0/(\w+)/([^/]+)/(?:microsoft\.graph\.)?(\w+)", request.url.path)
        action = self.schema.actions.get(match[3]) if match else None
        if action is not None:
            return self._action_response(action, response, body)
        read = next(r for r in READS if r.path.fullmatch(request.url.path))
        if not isinstance(body, dict):
            return ["not JSON"]
        selected = set(request.url.params.get("$select", "").split(",")) - {""}
        items = body.get("value") if read.collection else [body]
        if not isinstance(items, list):
            return ["a collection answer has a value list"]
        problems = []
        for item in items:
            extra = {k for k in item if not k.startswith("@odata.")} - selected - {"id"}
            problems += [f"{read.name} item has unselected {sorted(extra)}"] if selected and extra else []
            problems += [] if isinstance(item.get("id"), str) else [f"{read.name} item without id"]
        link = body.get("@odata.nextLink")
        if link is not None and not (isinstance(link, str) and urlsplit(link).scheme == "https"):
            problems.append("@odata.nextLink is an absolute https URL")
        if request.url.params.get("$count") == "true" and not isinstance(body.get("@odata.count"), int):
            problems.append("$count=true answers carry @odata.count")
        return problems

    def _action_response(self, action: BoundAction, response: httpx.Response, body: Any) -> list[str]:
        if action.returns is None:
            return [] if response.status_code == 204 else ["an action without a return type answers 204"]
        if response.status_code != 200 or not isinstance(body, dict):
            return [f"{action.name} returns {action.returns}: a 200 JSON answer"]
        kind = _PRIMITIVES[action.returns]
        problems = [] if isinstance(body.get("value"), kind) else [f"value must be a {action.returns}"]
        context = body.get("@odata.context")
        if context is not None and not str(context).endswith(f"$metadata#{action.returns}"):
            problems.append(f"@odata.context must end with $metadata#{action.returns}")
        problems += [f"unexpected member {k!r}" for k in body if k not in ("value", "@odata.context")]
        return problems


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _shape(body: Any, shape: dict[str, type], *, exact: bool = False) -> list[str]:
    if not isinstance(body, dict):
        return ["not a JSON object"]
    problems = [
        f"{key} must be a {kind.__name__}" for key, kind in shape.items() if not isinstance(body.get(key), kind)
    ]
    if exact:
        problems += [f"unexpected member {key!r}" for key in body if key not in shape]
    return problems
