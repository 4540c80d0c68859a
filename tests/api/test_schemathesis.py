"""Schemathesis against the OpenAPI the service publishes (`app.openapi()`), in process over ASGI, with one key
that holds every role: no 5xx, every status code documented, every body valid against its documented schema.

Examples are bounded and derandomized (the same cases on every run). Operations are driven one by one from
`schema.get_all_operations()`: schemathesis's lazy pytest loader does not run under pytest 9.2."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from responder.api import create_app
from responder.settings import Settings

ALL_ROLES_KEY = "key-all-roles-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ALL_ROLES_KEY}"}
EXAMPLES = 30

# Checks that ask more than a schema can say, per operation:
# - a schema-valid upload is any non-empty body, but only a readable capture is accepted (422 otherwise);
# - a schema-valid panic may lack what its scope needs (targets; for scope=all, confirm = the provider's name);
# - FastAPI reads a repeated scalar query parameter as its last value, and pydantic reads a number given for a
#   date-time as a Unix timestamp: lenient, not wrong, so "invalid" ledger filters can be answered with 200.
NOT_EXPRESSIBLE = {
    (GenerationMode.POSITIVE, "POST /v1/artifacts"): positive_data_acceptance,
    (GenerationMode.POSITIVE, "POST /v1/panic"): positive_data_acceptance,
    (GenerationMode.NEGATIVE, "GET /v1/ledger"): negative_data_rejection,
    (GenerationMode.NEGATIVE, "GET /v1/report"): negative_data_rejection,
}


def without_lifespan(app: FastAPI) -> Callable[..., Any]:
    """The app as schemathesis sees it: the test's TestClient runs the real lifespan once (the engine, the
    ledger), so the one schemathesis starts for its own client must not start or stop them again."""

    async def call(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while (await receive())["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})

    return call


@pytest.fixture
def app(service_settings: Callable[..., Settings]) -> Iterator[FastAPI]:
    every_role = {
        "name": "all-roles",
        "key_sha256": hashlib.sha256(ALL_ROLES_KEY.encode()).hexdigest(),
        "roles": ["uploader", "responder", "auditor"],
    }
    app = create_app(service_settings(api_keys=[every_role]))
    with TestClient(app):
        yield app


def fuzz(operation: Any, mode: GenerationMode) -> str | None:
    """Run EXAMPLES cases of one operation; the failure report, or None."""
    excluded = [c for c in [NOT_EXPRESSIBLE.get((mode, operation.label))] if c is not None]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=AUTH, excluded_checks=excluded)

    try:
        run()
    except Unsatisfiable:
        return None  # nothing to negate (no parameters, or only a free-form string)
    except (Exception, BaseExceptionGroup) as failure:  # schemathesis reports as an exception group
        return f"{operation.label} ({mode.value}): {failure}"
    return None


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_the_api_keeps_its_published_contract(app: FastAPI, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = without_lifespan(app)
    results = list(schema.get_all_operations())
    unusable = [result.err() for result in results if not isinstance(result, Ok)]
    assert not unusable, unusable  # the published schema itself is valid
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) >= 11
    failures = [report for operation in operations if (report := fuzz(operation, mode)) is not None]
    assert not failures, "\n\n".join(failures)
