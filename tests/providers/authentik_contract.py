"""Contract checks against authentik's published OpenAPI schema (shared/specs/authentik/schema.yml, 3.0.3,
server `/api/v3`): every request a test sends, and every JSON fixture served for a status the schema declares,
is validated with openapi-core. Adapters turn httpx's request and response into openapi-core's protocols."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.responses.exceptions import ResponseNotFound
from werkzeug.datastructures import Headers, ImmutableMultiDict

from tests.conftest import ROOT

SPEC_PATH = ROOT.parent / "shared" / "specs" / "authentik" / "schema.yml"
API_PREFIX = "/api/v3/"
# RFC 7009 revocation and RFC 7662 introspection live outside /api/v3 and are not described by the schema.
OUTSIDE_THE_SPEC = frozenset({"/application/o/revoke/", "/application/o/introspect/"})
# Marks a fixture that deliberately is not authentik's answer (a login page at a wrong base_url).
NOT_AUTHENTIK = "x-test-not-authentik"


def load_spec(path: Path = SPEC_PATH) -> OpenAPI:
    """The schema as openapi-core sees it. Validating the 1.7 MB schema document itself (openapi-spec-validator)
    takes ~10 s and proves nothing about responder: it is upstream's published file, so that step is skipped."""
    return OpenAPI.from_file_path(str(path), config=Config(spec_validator_cls=None))


class HttpxOpenAPIRequest:
    """openapi-core's Request protocol over an httpx.Request. `path` keeps `/api/v3`: openapi-core matches it
    against the schema's server `/api/v3` on `host_url`."""

    def __init__(self, request: httpx.Request) -> None:
        url = request.url
        self.host_url = f"{url.scheme}://{url.netloc.decode('ascii')}"
        self.path = url.path
        self.method = request.method.lower()
        cookies = SimpleCookie()
        cookies.load(request.headers.get("cookie", ""))
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(url.params.multi_items())),
            header=Headers(list(request.headers.multi_items())),
            cookie=ImmutableMultiDict({name: morsel.value for name, morsel in cookies.items()}),
            path={},
        )
        self.content_type = request.headers.get("content-type", "").lower()
        self.body: bytes | None = request.content or None


class HttpxOpenAPIResponse:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.content_type = response.headers.get("content-type", "").lower()
        self.headers = Headers(list(response.headers.multi_items()))
        self.data: bytes | None = response.content


@dataclass
class ContractReport:
    checked_requests: int = 0
    checked_responses: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def check_calls(spec: OpenAPI, calls: Iterable[tuple[httpx.Request, httpx.Response | None]]) -> ContractReport:
    """Validate each request (path, method, parameters, security, body) and each response whose status the
    schema declares. Skips are explicit and listed: the RFC 7009/7662 endpoints (outside the schema) and
    statuses the schema does not declare (DRF's 404 on a gone object, 405, 429, 5xx)."""
    report = ContractReport()
    for request, response in calls:
        path = request.url.path
        where = f"{request.method} {path}"
        if not path.startswith(API_PREFIX):
            if path in OUTSIDE_THE_SPEC:
                report.skipped.append(f"{where}: outside /api/v3, not in the schema")
            else:
                report.errors.append(f"{where}: neither under /api/v3 nor an OAuth endpoint the plugin may call")
            continue
        adapted = HttpxOpenAPIRequest(request)
        try:
            spec.validate_request(adapted)
        except Exception as exc:
            report.errors.append(f"request {where}?{request.url.query.decode()}: {type(exc).__name__}: {exc}")
            continue
        report.checked_requests += 1
        if response is None:  # the connection was refused: nothing was answered
            continue
        if NOT_AUTHENTIK in response.headers:
            report.skipped.append(f"{where}: HTTP {response.status_code} deliberately not authentik's answer")
            continue
        try:
            spec.validate_response(adapted, HttpxOpenAPIResponse(response))
        except ResponseNotFound:
            report.skipped.append(f"{where}: HTTP {response.status_code} is not declared in the schema")
            continue
        except Exception as exc:
            report.errors.append(f"response {where} HTTP {response.status_code}: {type(exc).__name__}: {exc}")
            continue
        report.checked_responses += 1
    return report
