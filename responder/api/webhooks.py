"""Ticketing webhooks (`POST /v1/webhooks/{source}`): signature first, then the delivery recorded durably.

`{source}` is a configured `[[sources]]` name and its `plugin` picks the scheme (docs/webhooks.md):
zendesk signs base64(HMAC-SHA256(secret, timestamp + body)) and the timestamp must be within 5 minutes;
jira (admin webhooks with a secret) and github sign "sha256=" + hex HMAC-SHA256(secret, body). No API key:
the signature is the credential. Until it checks out nothing is parsed, recorded or logged; a refusal only
counts. Then the references the delivery announces (ticket, attachment ids, names, URLs) are recorded and
the answer is 202; fetching the attachment is the source connector's job, later, never this request's."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from responder.api.app import AppState, state_of
from responder.errors import ConfigError, ResponderError
from responder.ledger.store import DeliveryRecord
from responder.secret import Secret, read_secret
from responder.settings import SourceConfig
from responder.sources.webhooks import SCHEMES, Announced, Scheme, announced, payload_of, refusal

router = APIRouter(tags=["webhooks"])
log = structlog.get_logger("responder.api.webhooks")

MIN_SECRET_CHARS = 16  # a shorter shared secret could be guessed offline from one captured delivery
_UNKNOWN = "(unknown)"  # metric label for a name that is not configured (names cannot contain parentheses)
_REFUSED = "invalid webhook signature"  # one text for every refusal: the answer is no oracle
_NO_SOURCE = "no webhook source by that name"
_build_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class WebhookSource:
    """A configured source as the webhook route sees it: enabled (a secret), misconfigured (`problem`, for
    the log), or neither (no secret: webhooks are off for it, and unsigned deliveries are never taken)."""

    name: str
    plugin: str
    secret: Secret | None = None
    problem: str = ""
    hosts: frozenset[str] = frozenset()  # GitHub: the host whose file links are attachments


def webhook_sources(configs: Sequence[SourceConfig]) -> dict[str, WebhookSource]:
    """Read every source's webhook secret once. A bad one makes only that source answer 503, and is logged
    (the message names the setting, never the value)."""
    sources: dict[str, WebhookSource] = {}
    for config in configs:
        where = f"sources.{config.name}.webhook_secret"
        try:
            secret = read_secret(where, config.webhook_secret, config.webhook_secret_file, config.webhook_secret_env)
        except ConfigError as exc:
            sources[config.name] = WebhookSource(config.name, config.plugin, problem=str(exc))
            continue
        if secret is not None and config.plugin not in SCHEMES:
            problem = f"{where}: plugin {config.plugin!r} has no webhook scheme (zendesk, jira, github)"
            sources[config.name] = WebhookSource(config.name, config.plugin, problem=problem)
        elif secret is not None and len(secret) < MIN_SECRET_CHARS:
            problem = f"{where}: shorter than {MIN_SECRET_CHARS} characters; use the vendor's generated secret"
            sources[config.name] = WebhookSource(config.name, config.plugin, problem=problem)
        else:
            sources[config.name] = WebhookSource(config.name, config.plugin, secret, hosts=_hosts(config))
    for source in sources.values():
        if source.problem:
            log.error("webhook_source_unusable", source=source.name, problem=source.problem)
    return sources


def _hosts(config: SourceConfig) -> frozenset[str]:
    """github.com, or a GitHub Enterprise Server at the source's base_url."""
    base_url = (config.model_extra or {}).get("base_url")
    return frozenset({urlsplit(base_url).netloc.lower() if isinstance(base_url, str) else "github.com"} - {""})


def _sources_of(request: Request, state: AppState) -> dict[str, WebhookSource]:
    """Built on first use and kept for the app (a secret change needs a restart)."""
    sources: dict[str, WebhookSource] | None = getattr(request.app.state, "webhook_sources", None)
    if sources is None:
        with _build_lock:
            sources = getattr(request.app.state, "webhook_sources", None)
            if sources is None:
                sources = webhook_sources(state.settings.sources)
                request.app.state.webhook_sources = sources
    return sources


class WebhookAccepted(BaseModel):
    delivery_id: str | None = Field(description="responder's id of the recorded delivery; null for a duplicate")
    duplicate: bool = Field(description="this delivery id or signed content was recorded before: nothing new was")
    attachments: int = Field(description="attachment references recorded (fetched later by the connector)")


@router.post(
    "/v1/webhooks/{source}",
    status_code=202,
    response_model=WebhookAccepted,
    responses={
        401: {"description": "signature missing, wrong, or (Zendesk) timestamp outside 5 minutes"},
        404: {"description": "no source by that name takes webhooks"},
        413: {"description": "body over 1 MiB"},
        503: {"description": "the source's secret is misconfigured, or the ledger is unavailable: retry"},
    },
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {}}}}},
    summary="A ticketing system's signed webhook (Zendesk, Jira, GitHub); no API key: the signature is the key",
)
async def receive_webhook(source: str, request: Request) -> WebhookAccepted:
    state = state_of(request)
    found = _sources_of(request, state).get(source)
    refusals = state.metrics.webhook_refusals
    if found is None or (found.secret is None and not found.problem):
        refusals.labels(found.name if found else _UNKNOWN, "not_enabled" if found else "unknown_source").inc()
        raise HTTPException(404, _NO_SOURCE)  # the requested name is never echoed
    if found.secret is None:
        refusals.labels(found.name, "misconfigured").inc()
        raise HTTPException(503, "this webhook source is misconfigured; the service log says how")
    scheme = SCHEMES[found.plugin]
    if any(not request.headers.get(name) for name in scheme.required):  # before reading a byte of the body
        refusals.labels(found.name, "missing_signature").inc()
        raise HTTPException(401, _REFUSED)
    body = await request.body()
    reason = refusal(scheme, found.secret, request.headers, body, datetime.now(UTC))
    if reason is not None:
        refusals.labels(found.name, reason).inc()
        raise HTTPException(401, _REFUSED)
    return await run_in_threadpool(_record, state, found, scheme, request.headers, body)


def _record(
    state: AppState, source: WebhookSource, scheme: Scheme, headers: Mapping[str, str], body: bytes
) -> WebhookAccepted:
    said = announced(source.plugin, payload_of(body, headers.get("content-type", "")), headers, source.hosts)
    delivery = _delivery(source, hashlib.sha256(scheme.signed(headers, body)).hexdigest(), said)
    try:
        new = state.responder.ledger.record_delivery(delivery)
    except ResponderError as exc:  # the ledger is down: a 503 makes the vendor deliver again
        log.error("webhook_not_recorded", source=source.name, error=type(exc).__name__)
        raise HTTPException(503, "the delivery could not be recorded; deliver it again later") from None
    log.info("webhook_received", source=source.name, delivery=delivery.id if new else None, duplicate=not new)
    if new and state.tickets is not None:
        state.tickets.wake()  # the connector fetches the attachment now, not at the next poll
    return WebhookAccepted(
        delivery_id=delivery.id if new else None, duplicate=not new, attachments=len(said.attachments) if new else 0
    )


def _delivery(source: WebhookSource, signed_sha256: str, said: Announced) -> DeliveryRecord:
    return DeliveryRecord(
        id=str(uuid.uuid4()),
        source=source.name,
        plugin=source.plugin,
        delivery_id=said.delivery_id,
        signed_sha256=signed_sha256,
        event=said.event,
        ticket_id=said.ticket_id,
        attachments=said.attachments,
    )
