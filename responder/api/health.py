"""Liveness, readiness and metrics. Readiness gates on the ledger only: an upload is recorded durably even
while an IdP is down (its actions wait and retry), so a down IdP degrades, it does not take the service out."""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from responder.api.app import AppState, state_of
from responder.api.auth import Caller, require
from responder.api.schemas import Readiness, refusals

router = APIRouter(tags=["health"])
_checks_lock = threading.Lock()


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={200: {"model": Readiness}, 503: {"model": Readiness, "description": "the ledger does not answer"}},
    summary="Readiness: the ledger answers; each provider's last check is shown",
)
def readyz(request: Request) -> JSONResponse:
    state = state_of(request)
    try:
        with state.responder.ledger.reader() as connection:
            connection.execute(text("SELECT 1"))
        ledger = "ok"
    except Exception as exc:
        ledger = f"unavailable ({type(exc).__name__})"
    providers = _provider_checks(state)
    engine = "off" if state.engine_thread is None else ("running" if state.engine_thread.is_alive() else "stopped")
    ready = ledger == "ok" and engine != "stopped"
    sources = {name: "ok" for name in (state.tickets.source_names if state.tickets else ())}
    sources.update({name: f"misconfigured: {problem}" for name, problem in state.source_problems.items()})
    degraded = any(not p["ok"] for p in providers.values()) or bool(state.source_problems)
    body = {
        "status": "ready" if ready and not degraded else "degraded" if ready else "not ready",
        "ledger": ledger,
        "engine": engine,
        "providers": providers,
        "sources": sources,
    }
    return JSONResponse(body, status_code=200 if ready else 503)


def _provider_checks(state: AppState) -> dict[str, dict[str, Any]]:
    """`providers check` per instance, reused for `serve.ready_cache_seconds` (a probe every few seconds must
    not become load on the IdPs). One prober at a time."""
    cache = state.ready_cache
    ttl = state.settings.serve.ready_cache_seconds
    with _checks_lock:
        for name, provider in state.responder.providers.items():
            checked_at, _ = cache.get(name, (0.0, {}))
            if time.monotonic() - checked_at < ttl and name in cache:
                continue
            try:
                result = provider.check()
                cache[name] = (time.monotonic(), {"ok": result.ok, "detail": result.detail})
            except Exception as exc:
                cache[name] = (time.monotonic(), {"ok": False, "detail": f"check raised {type(exc).__name__}"})
        return {name: entry for name, (_, entry) in cache.items()}


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **refusals(401, 403)},
    summary="Prometheus metrics (auditor role)",
)
def metrics(request: Request, caller: Annotated[Caller, Depends(require("auditor"))]) -> Response:
    return Response(generate_latest(state_of(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)
