"""Contract checks for the Google plugin. Google publishes discovery documents, not OpenAPI, so this is a small
checker of its own:

- Directory API (shared/specs/google/admin.directory_v1.json, revision 20261104): each request must match one
  method by HTTP method and path template (`flatPath`, which equals `path` unless `path` has a `{+name}`); its
  query parameters must be the method's or the API's global ones, with the declared type, enum and bounds,
  required ones present; no body where the method takes none; a bearer token whose scopes (those responder
  requests) include one the method accepts. Credentials never ride in the query (`access_token`, `oauth_token`,
  `key` are refused although the document allows them). A JSON answer with 2xx is validated against the method's
  response schema (unknown properties are errors, so a fixture typo cannot pass); an error answer must be
  Google's error envelope.
- Google's OAuth endpoints on oauth2.googleapis.com (token, tokeninfo, revoke) are in no discovery document:
  they are checked against the table below, whose sources are cited there. Nothing may be in their query string,
  so a leaked token never ends up in a URL.

oauth2.v2.json describes another tokeninfo (`POST www.googleapis.com/oauth2/v2/tokeninfo?access_token=…`), which
takes the token only in the URL; the plugin does not use it (test_google.py proves that reading of the document)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx

from tests.conftest import ROOT

SPEC_DIR = ROOT.parent / "shared" / "specs" / "google"
DIRECTORY_SPEC = SPEC_DIR / "admin.directory_v1.json"
OAUTH2_V2_SPEC = SPEC_DIR / "oauth2.v2.json"
OAUTH_HOST = "oauth2.googleapis.com"
CREDENTIAL_PARAMETERS = frozenset({"access_token", "oauth_token", "key"})
# Marks a fixture that deliberately is not Google's answer (a login page at a wrong URL).
NOT_GOOGLE = "x-test-not-google"


@dataclass(frozen=True)
class OAuthEndpoint:
    form: Mapping[str, str | None]  # field → exact value, or None for "any non-empty value"
    bearer: bool  # the token travels in the Authorization header
    answer: Mapping[str, type | tuple[type, ...]]  # fields a 200 answer may have, with their JSON types


# Sources: RFC 7523 §2.1 and developers.google.com/identity/protocols/oauth2/service-account ("HTTP/REST": form
# grant_type + assertion; answer access_token, expires_in, token_type); tokeninfo as google-auth-library-nodejs
# OAuth2Client.getTokenInfo sends it (POST, `Authorization: Bearer`, fields aud, azp, sub, scope, exp, expires_in,
# email, email_verified, access_type, all JSON strings); revoke as developers.google.com/identity/protocols/oauth2
# ("Revoking a token": POST https://oauth2.googleapis.com/revoke, parameter `token`, 200 or 400).
OAUTH_ENDPOINTS: dict[str, OAuthEndpoint] = {
    "/token": OAuthEndpoint(
        form={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": None},
        bearer=False,
        answer={"access_token": str, "expires_in": int, "token_type": str, "scope": str, "id_token": str},
    ),
    "/tokeninfo": OAuthEndpoint(
        form={},
        bearer=True,
        answer={
            name: str
            for name in ("aud", "azp", "sub", "scope", "exp", "expires_in", "email", "email_verified", "access_type")
        },
    ),
    "/revoke": OAuthEndpoint(form={"token": None}, bearer=False, answer={}),
}


@dataclass(frozen=True)
class Method:
    id: str
    http_method: str
    patterns: tuple[re.Pattern[str], ...]
    parameters: Mapping[str, Mapping[str, Any]]
    scopes: frozenset[str]
    response: str | None
    takes_body: bool


@dataclass
class ContractReport:
    checked_requests: int = 0
    checked_responses: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Discovery:
    """One discovery document: its methods (by template), global parameters and schemas."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.root = str(document["rootUrl"]) + str(document.get("servicePath", ""))
        self.host = httpx.URL(self.root).host
        self.parameters: Mapping[str, Mapping[str, Any]] = document.get("parameters", {})
        self.schemas: Mapping[str, Mapping[str, Any]] = document.get("schemas", {})
        self.methods = tuple(_methods(document))

    @classmethod
    def load(cls, path: Path = DIRECTORY_SPEC) -> Discovery:
        return cls(json.loads(path.read_text()))

    def match(self, method: str, path: str) -> tuple[Method, dict[str, str]] | None:
        """The method whose template matches; the most literal one (fewest parameters) when several do."""
        found = [
            (m, match.groupdict())
            for m in self.methods
            if m.http_method == method
            for pattern in m.patterns
            if (match := pattern.fullmatch(path))
        ]
        return min(found, key=lambda item: len(item[1])) if found else None

    def check_request(self, request: httpx.Request, scopes: frozenset[str]) -> list[str]:
        where = f"{request.method} {request.url.path}"
        matched = self.match(request.method, request.url.path)
        if matched is None:
            return [f"{where}: no method of the discovery document has this HTTP method and path"]
        method, path_values = matched
        errors = [f"{where}: path parameter {name} is empty" for name, v in path_values.items() if not unquote(v)]
        errors += self._check_query(method, request.url.params, where)
        if request.content and not method.takes_body:
            errors.append(f"{where}: {method.id} takes no request body")
        if not request.headers.get("authorization", "").startswith("Bearer "):
            errors.append(f"{where}: no bearer token")
        if not method.scopes & scopes:
            errors.append(f"{where}: {method.id} needs one of {sorted(method.scopes)}, none of which is requested")
        return errors

    def _check_query(self, method: Method, params: httpx.QueryParams, where: str) -> list[str]:
        errors = []
        for name in params:
            declared = method.parameters.get(name) or self.parameters.get(name)
            values = params.get_list(name)
            if name in CREDENTIAL_PARAMETERS:
                errors.append(f"{where}: a credential in the query ({name})")
            elif declared is None or declared.get("location") != "query":
                errors.append(f"{where}: {method.id} has no query parameter {name}")
            elif len(values) > 1 and not declared.get("repeated"):
                errors.append(f"{where}: {name} given {len(values)} times")
            else:
                errors += [f"{where}: {name}: {problem}" for v in values if (problem := _bad_value(declared, v))]
        for name, declared in method.parameters.items():
            if declared.get("required") and declared.get("location") == "query" and name not in params:
                errors.append(f"{where}: required query parameter {name} missing")
        # users.list says in prose: "You must provide either the customer or the domain parameter".
        if method.id == "directory.users.list" and "customer" not in params and "domain" not in params:
            errors.append(f"{where}: users.list needs customer or domain")
        return errors

    def check_response(self, method: Method, response: httpx.Response) -> list[str]:
        where = f"{method.id} HTTP {response.status_code}"
        if not response.is_success:
            return [f"{where}: {p}" for p in _google_error(response)]
        if method.response is None:
            return [] if not response.content else [f"{where}: the method answers no body, the fixture has one"]
        try:
            body = response.json()
        except ValueError:
            return [f"{where}: not JSON"]
        errors: list[str] = []
        self.validate(body, {"$ref": method.response}, method.response, errors)
        return [f"{where}: {e}" for e in errors]

    def validate(self, value: Any, schema: Mapping[str, Any], where: str, errors: list[str]) -> None:
        if "$ref" in schema:
            schema = self.schemas[schema["$ref"]]
        kind = schema.get("type")
        if kind == "object":
            if not isinstance(value, dict):
                errors.append(f"{where}: expected an object")
                return
            properties, extra = schema.get("properties", {}), schema.get("additionalProperties")
            for name, item in value.items():
                if name in properties:
                    self.validate(item, properties[name], f"{where}.{name}", errors)
                elif extra is not None:
                    self.validate(item, extra, f"{where}.{name}", errors)
                else:
                    errors.append(f"{where}: unknown property {name}")
        elif kind == "array":
            if not isinstance(value, list):
                errors.append(f"{where}: expected an array")
                return
            for number, item in enumerate(value):
                self.validate(item, schema.get("items", {}), f"{where}[{number}]", errors)
        elif kind in _JSON_TYPES and not _is(value, _JSON_TYPES[kind]):
            errors.append(f"{where}: expected {kind}, got {type(value).__name__}")


def check_calls(
    discovery: Discovery, calls: Iterable[tuple[httpx.Request, httpx.Response | None]], scopes: frozenset[str]
) -> ContractReport:
    """Validate every request, and every answer served to it, as the module docstring says."""
    report = ContractReport()
    for request, response in calls:
        host, where = request.url.host, f"{request.method} {request.url.host}{request.url.path}"
        if host == OAUTH_HOST:
            errors = _check_oauth(request, response)
        elif host == discovery.host:
            errors = discovery.check_request(request, scopes)
            matched = discovery.match(request.method, request.url.path)
            if not errors and matched is not None and response is not None:
                if NOT_GOOGLE in response.headers:
                    report.skipped.append(f"{where}: HTTP {response.status_code} deliberately not Google's answer")
                else:
                    report.checked_responses += 1
                    errors = discovery.check_response(matched[0], response)
        else:
            errors = [f"{where}: neither the Directory API nor Google's OAuth endpoints"]
        if errors:
            report.errors.extend(errors)
        else:
            report.checked_requests += 1
    return report


def _check_oauth(request: httpx.Request, response: httpx.Response | None) -> list[str]:
    where = f"{request.method} {OAUTH_HOST}{request.url.path}"
    endpoint = OAUTH_ENDPOINTS.get(request.url.path)
    if endpoint is None:
        return [f"{where}: not an OAuth endpoint the plugin may call"]
    errors = [f"{where}: only POST"] if request.method != "POST" else []
    if request.url.query:
        errors.append(f"{where}: nothing may be in the query string (a token in a URL ends up in logs)")
    form = dict(httpx.QueryParams(request.content.decode())) if request.content else {}
    if set(form) != set(endpoint.form):
        errors.append(f"{where}: form fields {sorted(form)}, expected {sorted(endpoint.form)}")
    errors += [f"{where}: {k} must be {v}" for k, v in endpoint.form.items() if v is not None and form.get(k) != v]
    errors += [f"{where}: {k} is empty" for k, v in endpoint.form.items() if v is None and not form.get(k)]
    if endpoint.bearer != request.headers.get("authorization", "").startswith("Bearer "):
        errors.append(f"{where}: the bearer header is {'missing' if endpoint.bearer else 'unexpected'}")
    if response is not None and NOT_GOOGLE not in response.headers:
        errors += _check_oauth_answer(where, endpoint, response)
    return errors


def _check_oauth_answer(where: str, endpoint: OAuthEndpoint, response: httpx.Response) -> list[str]:
    try:
        body = response.json() if response.content else {}
    except ValueError:
        return [f"{where} HTTP {response.status_code}: not JSON"]
    if not isinstance(body, dict):
        return [f"{where} HTTP {response.status_code}: not a JSON object"]
    if response.status_code != 200:  # RFC 6749 §5.2 error answer
        allowed: Mapping[str, type | tuple[type, ...]] = {"error": str, "error_description": str}
    else:
        allowed = endpoint.answer
    errors = [f"{where} HTTP {response.status_code}: unknown field {k}" for k in body if k not in allowed]
    errors += [
        f"{where} HTTP {response.status_code}: {k} has the wrong type"
        for k, v in body.items()
        if k in allowed and not _is(v, allowed[k])
    ]
    return errors


def _google_error(response: httpx.Response) -> list[str]:
    """Google's JSON error envelope (not in the discovery document): {"error": {"code", "message", "errors"?,
    "status"?, "details"?}}. An answer without a body (a bare 503) is accepted."""
    if not response.content:
        return []
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ["an error answer that is not Google's JSON envelope"]
    if not isinstance(error, dict) or not isinstance(error.get("code"), int) or error["code"] != response.status_code:
        return ["the error envelope's code is missing or differs from the HTTP status"]
    unknown = set(error) - {"code", "message", "errors", "status", "details"}
    problems = [f"unknown error field {name}" for name in sorted(unknown)]
    for item in error.get("errors") or []:
        if not isinstance(item, dict) or not isinstance(item.get("reason"), str):
            problems.append("an error item without reason")
    return problems


_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}


def _is(value: Any, kind: type | tuple[type, ...]) -> bool:
    if isinstance(value, bool) and kind in (int, (int, float)):
        return False  # JSON true is not a number
    return isinstance(value, kind)


def _bad_value(declared: Mapping[str, Any], value: str) -> str:
    kind = declared.get("type")
    if "enum" in declared and value not in declared["enum"]:
        return f"{value!r} is not one of {declared['enum']}"
    if kind == "boolean" and value not in ("true", "false"):
        return f"{value!r} is not a boolean"
    if kind == "integer":
        if not re.fullmatch(r"-?\d+", value):
            return f"{value!r} is not an integer"
        low, high = declared.get("minimum"), declared.get("maximum")
        if (low is not None and int(value) < int(low)) or (high is not None and int(value) > int(high)):
            return f"{value} is outside [{low}, {high}]"
    return ""


def _methods(document: Mapping[str, Any]) -> Iterable[Method]:
    def walk(resources: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        for resource in resources.values():
            yield from resource.get("methods", {}).values()
            yield from walk(resource.get("resources", {}))

    service = "/" + str(document.get("servicePath", "")).lstrip("/")
    for method in [*document.get("methods", {}).values(), *walk(document.get("resources", {}))]:
        # flatPath spells a `{+name}` path out segment by segment; matching `{+name}` itself would match anything.
        template = str(method.get("flatPath") or method["path"])
        yield Method(
            id=method["id"],
            http_method=method["httpMethod"],
            patterns=(_pattern(service.rstrip("/") + "/" + template.lstrip("/")),),
            parameters=method.get("parameters", {}),
            scopes=frozenset(method.get("scopes", ())),
            response=(method.get("response") or {}).get("$ref"),
            takes_body="request" in method,
        )


def _pattern(template: str) -> re.Pattern[str]:
    """`a/{x}/b` → `a/(?P<x>[^/]+)/b`; `{+x}` (reserved expansion) may span segments."""
    parts = re.split(r"(\{\+?[A-Za-z_][A-Za-z0-9_]*\})", template)
    regex = "".join(
        (f"(?P<{p.strip('{}+')}>.+)" if p.startswith("{+") else f"(?P<{p.strip('{}')}>[^/]+)")
        if p.startswith("{")
        else re.escape(p)
        for p in parts
    )
    return re.compile(regex)
