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
    degraded = any(p["ok"] is False for p in providers.values()) or bool(state.source_problems)
    body = {
        "status": "ready" if ready and not degraded else "degraded" if ready else "not ready",
        "ledger": ledger,
        "engine": engine,
        "providers": providers,
        "sources": sources,
    }
    return JSONResponse(body, status_code=200 if ready else 503)


def _provider_checks(state: AppState) -> dict[str, dict[str, Any]]:
    """Each provider's last `providers check`. A probe never waits on an IdP: when the results are older than
    `serve.ready_cache_seconds` (a probe every few seconds must not become load on the IdPs) one background
    round refreshes them, and this probe shows what is known (`ok: null` until a first check has answered)."""
    refresh_provider_checks(state)
    with _checks_lock:
        known = {name: entry for name, (_, entry) in state.ready_cache.items()}
    return {name: known.get(name, {"ok": None, "detail": "checking"}) for name in state.responder.providers}


def refresh_provider_checks(state: AppState) -> None:
    """Start one background round of checks if the cache is stale and none is running."""
    ttl = state.settings.serve.ready_cache_seconds
    now = time.monotonic()
    with _checks_lock:
        stale = [
            name
            for name in state.responder.providers
            if name not in state.ready_cache or now - state.ready_cache[name][0] >= ttl
        ]
        if not stale or state.ready_checking:
            return
        state.ready_checking = True
    threading.Thread(target=_check_round, args=(state, stale), name="ready-checks", daemon=True).start()


def _check_round(state: AppState, names: list[str]) -> None:
    try:
        for name in names:
            provider = state.responder.providers[name]
            try:
                result = provider.check()
                entry: dict[str, Any] = {"ok": result.ok, "detail": result.detail}
            except Exception as exc:
                entry = {"ok": False, "detail": f"check raised {type(exc).__name__}"}
            with _checks_lock:
                state.ready_cache[name] = (time.monotonic(), entry)
    finally:
        with _checks_lock:
            state.ready_checking = False


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **refusals(401, 403)},
    summary="Prometheus metrics (auditor role)",
)
def metrics(request: Request, caller: Annotated[Caller, Depends(require("auditor"))]) -> Response:
    return Response(generate_latest(state_of(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)
