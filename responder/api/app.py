"""The app factory and the state one process holds: the Responder (ledger, providers, sealer), the scanner,
API keys, metrics, and the engine thread. Nothing happens at import time; `create_app` builds everything."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from responder import __version__
from responder.api.auth import ApiKeys
from responder.api.limits import BodyLimit
from responder.api.schemas import validation_refusal
from responder.errors import ResponderError
from responder.execute import Engine
from responder.keys import fingerprinter
from responder.leases import owner_name
from responder.metrics import Metrics, observed
from responder.notify.worker import start_in_background
from responder.plugins import load_readers, load_sources_tolerant
from responder.sanitize.writer import Sanitizer
from responder.scan import Scanner
from responder.service import Responder
from responder.settings import Settings
from responder.sources.pipeline import TicketWork
from responder.sources.runner import SourceRunner
from responder.spool import process_spool, remove_dead_spools

log = structlog.get_logger("responder.api")

WEBHOOK_BODY_LIMIT = 1024 * 1024  # a webhook announces an attachment; it never carries one
OTHER_BODY_LIMIT = 64 * 1024  # JSON requests: a panic, a filter


@dataclass
class AppState:
    settings: Settings
    responder: Responder
    scanner: Scanner
    sanitizer: Sanitizer
    keys: ApiKeys
    metrics: Metrics
    engine: Engine
    spool_dir: Path
    sanitized_dir: Path
    stop: threading.Event = field(default_factory=threading.Event)
    engine_thread: threading.Thread | None = None
    # provider name → (monotonic time of its last check, what /readyz shows of it)
    ready_cache: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    ready_checking: bool = False  # a background round of provider checks is running (/readyz)
    # Ticket work and scheduled sweeps of the configured sources, beside the engine (None: no sources).
    tickets: SourceRunner | None = None
    source_problems: dict[str, str] = field(default_factory=dict)  # sources that did not build, and why
    stop_notifications: Callable[[float], None] | None = None

    def start_engine(self) -> None:
        def run() -> None:
            try:
                self.engine.run(until_idle=False, stop=self.stop)
            except Exception as exc:  # the service stays up (uploads are still recorded); readyz tells
                log.error("engine_stopped", error=type(exc).__name__)

        self.engine_thread = threading.Thread(target=run, name="responder-engine", daemon=True)
        self.engine_thread.start()

    def start_tickets(self) -> None:
        """The configured sources' ticket work (webhook deliveries, item steps) and scheduled sweeps."""
        if not self.settings.sources:
            return
        sources, self.source_problems = load_sources_tolerant(self.settings)
        for name, problem in self.source_problems.items():
            log.error("source_unusable", source=name, problem=problem)
        if not sources:
            return
        owner = owner_name()
        work = TicketWork.assemble(
            self.responder, sources, owner, wake_engine=self.engine.wake, scanner=self.scanner, sanitizer=self.sanitizer
        )
        self.tickets = SourceRunner(work, sources, owner, schedules=True)
        self.tickets.start()

    def stop_engine(self, timeout: float) -> None:
        """Graceful: no new claims; the actions and ticket steps in hand finish and are recorded (or their
        lease lets another worker finish them, should the process be killed first)."""
        if self.tickets is not None:
            self.tickets.stop(timeout)
        if self.stop_notifications is not None:
            self.stop_notifications(timeout)
        self.stop.set()
        self.engine.wake()
        if self.engine_thread is not None:
            self.engine_thread.join(timeout)


def state_of(request: Request) -> AppState:
    state: AppState = request.app.state.responder
    return state


def create_app(settings: Settings, *, responder: Responder | None = None, run_engine: bool | None = None) -> FastAPI:
    responder = responder or Responder.from_settings(settings)
    registry = load_readers()
    metrics, engine = observed(responder)
    state = AppState(
        settings=settings,
        responder=responder,
        scanner=Scanner(registry, fingerprinter(settings), settings.scan, settings.providers),
        sanitizer=Sanitizer(registry, settings.scan),
        keys=ApiKeys(settings.api_keys),
        metrics=metrics,
        engine=engine,
        spool_dir=_upload_spool(settings.data_dir / "spool" / "uploads"),
        sanitized_dir=_private_dir(settings.data_dir / "sanitized"),
    )
    engine_on = settings.serve.engine if run_engine is None else run_engine

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if engine_on:
            state.start_engine()
            state.start_tickets()
            state.stop_notifications = start_in_background(settings, responder.ledger, threading.Event())
        health.refresh_provider_checks(state)  # so the first readiness probe already has answers
        artifacts.expire_sanitized(state.sanitized_dir, settings.serve.sanitized_keep_hours)
        log.info("service_started", engine=engine_on, api_keys=len(state.keys))
        try:
            yield
        finally:
            state.stop_engine(timeout=settings.engine.lease_seconds)
            responder.close()
            log.info("service_stopped")

    app = FastAPI(
        title="responder",
        version=__version__,
        summary="Finds live credentials in browser captures, revokes them at the identity provider, records it.",
        lifespan=lifespan,
    )
    app.state.responder = state
    upload_limit = settings.serve.max_upload_bytes

    def limit_for(path: str) -> int:
        if path.startswith("/v1/artifacts"):
            return upload_limit
        return WEBHOOK_BODY_LIMIT if path.startswith("/v1/webhooks") else OTHER_BODY_LIMIT

    app.add_middleware(BodyLimit, limit_for=limit_for)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_refusal(exc)

    @app.exception_handler(ResponderError)
    async def _responder_error(request: Request, exc: ResponderError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422 if exc.exit_code == 2 else 400)

    from responder.api import artifacts, health, ledger_routes, page, panic_routes, webhooks

    for module in (health, artifacts, panic_routes, ledger_routes, webhooks, page):
        app.include_router(module.router)
    page.install(app, settings)  # the panic page's session-signing key and templates
    return app


def _upload_spool(base: Path) -> Path:
    """This process's own upload spool; those of processes gone from this host (killed mid-upload, their
    raw captures still there) are removed first."""
    remove_dead_spools(base)
    return _private_dir(process_spool(base, owner_name()))


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
