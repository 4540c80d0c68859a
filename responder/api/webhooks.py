"""Ticketing webhooks (`POST /v1/webhooks/{source}`): signature first, then the delivery recorded durably.

`{source}` is a configured `[[sources]]` name and its `plugin` picks the scheme (docs/webhooks.md):
zendesk signs base64(HMAC-SHA256(secret, timestamp + body)) and the timestamp must be within 5 minutes;
jira (admin webhooks with a secret) and github sign "sha256=" + hex HMAC-SHA256(secret, body). No API key:
the signature is the credential. Until it checks out nothing is parsed, recorded or logged; a refusal only
counts. Then the references the delivery announces (ticket, attachment ids, names, URLs) are recorded and
the answer is 202; fetching the attachment is the source connector's job, later, never this request's."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

import structlog
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from responder.api.app import AppState, state_of
from responder.errors import ConfigError, ResponderError
from responder.ledger.store import DeliveryRecord
from responder.secret import Secret, read_secret
from responder.settings import SourceConfig

router = APIRouter(tags=["webhooks"])
log = structlog.get_logger("responder.api.webhooks")

WINDOW = timedelta(minutes=5)  # a Zendesk timestamp further than this from our clock is a replay or a bad clock
MIN_SECRET_CHARS = 16  # a shorter shared secret could be guessed offline from one captured delivery
_UNKNOWN = "(unknown)"  # metric label for a name that is not configured (names cannot contain parentheses)
_REFUSED = "invalid webhook signature"  # one text for every refusal: the answer is no oracle
_NO_SOURCE = "no webhook source by that name"
_build_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Scheme:
    """How one vendor signs: the headers it must send, exactly what its MAC covers, how the MAC is written."""

    required: tuple[str, ...]
    signature: str
    signed: Callable[[Mapping[str, str], bytes], bytes]
    written: Callable[[bytes], bytes]
    case_sensitive: bool = True
    fresh: Callable[[Mapping[str, str], datetime], bool] = lambda headers, now: True


def _zendesk_signed(headers: Mapping[str, str], body: bytes) -> bytes:
    # Header values arrive decoded as latin-1, so this gives back the timestamp's bytes exactly.
    return headers["x-zendesk-webhook-signature-timestamp"].encode("latin-1") + body


def _zendesk_fresh(headers: Mapping[str, str], now: datetime) -> bool:
    sent = parse_timestamp(headers["x-zendesk-webhook-signature-timestamp"])
    return sent is not None and abs(now - sent) <= WINDOW


def parse_timestamp(stamp: str) -> datetime | None:
    """Zendesk sends ISO 8601 ("2021-07-25T10:00:00Z"); Unix seconds are accepted too. Naive means UTC."""
    try:
        parsed = datetime.fromtimestamp(int(stamp), UTC) if stamp.isdigit() else datetime.fromisoformat(stamp)
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _body_only(headers: Mapping[str, str], body: bytes) -> bytes:
    return body


def _hub_written(mac: bytes) -> bytes:
    return b"sha256=" + mac.hex().encode()


SCHEMES: dict[str, Scheme] = {
    "zendesk": Scheme(
        required=("x-zendesk-webhook-signature", "x-zendesk-webhook-signature-timestamp"),
        signature="x-zendesk-webhook-signature",
        signed=_zendesk_signed,
        written=base64.b64encode,
        fresh=_zendesk_fresh,
    ),
    "jira": Scheme(("x-hub-signature",), "x-hub-signature", _body_only, _hub_written, case_sensitive=False),
    "github": Scheme(("x-hub-signature-256",), "x-hub-signature-256", _body_only, _hub_written, case_sensitive=False),
}


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


def refusal(scheme: Scheme, secret: Secret, headers: Mapping[str, str], body: bytes, now: datetime) -> str | None:
    """None when the delivery is authentic and fresh; otherwise the reason (a metric label, never shown)."""
    if any(not headers.get(name) for name in scheme.required):
        return "missing_signature"
    key = secret.reveal().encode()  # revealed only to key the MAC
    mac = hmac.new(key, scheme.signed(headers, body), hashlib.sha256).digest()
    presented = headers[scheme.signature].strip()
    presented = presented if scheme.case_sensitive else presented.lower()
    if not hmac.compare_digest(scheme.written(mac), presented.encode("latin-1", "replace")):
        return "bad_signature"
    return None if scheme.fresh(headers, now) else "stale_timestamp"


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
    said = announced(source, _payload(body, headers.get("content-type", "")), headers)
    delivery = _delivery(source, hashlib.sha256(scheme.signed(headers, body)).hexdigest(), said)
    try:
        new = state.responder.ledger.record_delivery(delivery)
    except ResponderError as exc:  # the ledger is down: a 503 makes the vendor deliver again
        log.error("webhook_not_recorded", source=source.name, error=type(exc).__name__)
        raise HTTPException(503, "the delivery could not be recorded; deliver it again later") from None
    log.info("webhook_received", source=source.name, delivery=delivery.id if new else None, duplicate=not new)
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


def _payload(body: bytes, content_type: str) -> dict[str, Any]:
    """The signed body as JSON (GitHub may send it form-encoded as `payload=`). Anything else is recorded
    with no references: the delivery is authentic even when its shape is unknown."""
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            body = parse_qs(body.decode(), max_num_fields=10).get("payload", [""])[0].encode()
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


# ---- what a delivery announces (read only after its signature checked out) ---------------------------------

MAX_REFERENCES = 100  # a ticket event names a few attachments; more is noise we do not keep
_MAX_NODES = 20_000  # JSON nodes visited per delivery: a 1 MiB body cannot keep the request busy
_WORD = re.compile(r"[A-Za-z0-9._:#/@+-]{1,200}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CAPABILITY_PATH = re.compile(r"(/attachments/token/)[^/]+", re.IGNORECASE)  # Zendesk: the path downloads
_URL_IN_TEXT = re.compile(r"https?://[^\s()<>\[\]\"'`]{1,2000}")
_GITHUB_FILE = re.compile(r"/(?:user-attachments/(?:files|assets)|[^/]+/[^/]+/files)/([^/]+)(?:/([^/]+))?$")

Reference = dict[str, str | None]


class Announced(NamedTuple):
    event: str | None
    ticket_id: str | None
    delivery_id: str | None
    attachments: tuple[Reference, ...]


def announced(source: WebhookSource, payload: dict[str, Any], headers: Mapping[str, str]) -> Announced:
    if source.plugin == "zendesk":
        return _zendesk(payload, headers)
    if source.plugin == "jira":
        return _jira(payload, headers)
    return _github(payload, headers, source.hosts)


def _zendesk(payload: dict[str, Any], headers: Mapping[str, str]) -> Announced:
    """Event webhooks carry an envelope (type, id, subject "zen:ticket:<id>", detail, event); trigger
    webhooks carry whatever body the admin wrote, e.g. {"ticket_id": "{{ticket.id}}"}. The envelope id is
    inside the signed body, so it is preferred over the (unsigned) invocation id header."""
    kind = _word(payload.get("type"))
    if kind and kind.startswith("zen:event-type:"):
        subject = _word(payload.get("subject")) or ""
        ticket = subject.removeprefix("zen:ticket:") if subject.startswith("zen:ticket:") else None
        if kind.startswith("zen:event-type:ticket."):
            ticket = ticket or _word(_dig(payload, "detail", "id"))
        delivery = _word(payload.get("id"))
    else:
        ticket = _word(payload.get("ticket_id")) or _word(_dig(payload, "ticket", "id"))
        delivery = None
    delivery = delivery or _word(headers.get("x-zendesk-webhook-invocation-id"))
    return Announced(kind, ticket, delivery, _references(payload))


def _jira(payload: dict[str, Any], headers: Mapping[str, str]) -> Announced:
    """`jira:issue_updated` lists every attachment of the issue: only those its changelog adds are new."""
    event = _word(payload.get("webhookEvent"))
    ticket = _word(_dig(payload, "issue", "key")) or _word(_dig(payload, "issue", "id"))
    found = _references(payload)
    if event == "jira:issue_updated":
        known = {ref["id"]: ref for ref in found if ref["id"]}
        items = _dig(payload, "changelog", "items")
        added = [
            (_word(item.get("to")), _name(item.get("toString")))
            for item in (items if isinstance(items, list) else [])
            if isinstance(item, dict) and str(item.get("field", "")).lower() == "attachment"
        ]
        found = tuple(
            known.get(ref_id) or {"id": ref_id, "name": name, "url": None, "comment_id": None}
            for ref_id, name in added[:MAX_REFERENCES]
            if ref_id
        )
    return Announced(event, ticket, _word(headers.get("x-atlassian-webhook-identifier")), found)


def _github(payload: dict[str, Any], headers: Mapping[str, str], hosts: frozenset[str]) -> Announced:
    """GitHub has no attachment object: uploads are links in the issue or comment text. Only links to
    github.com (or the configured base_url's host) count: anyone can paste any link into a comment."""
    kind, action = _word(headers.get("x-github-event")), _word(payload.get("action"))
    event = f"{kind}.{action}" if kind and action else kind
    repo, number = _word(_dig(payload, "repository", "full_name")), _word(_dig(payload, "issue", "number"))
    ticket = f"{repo}#{number}" if repo and number else None
    comment = payload.get("comment")
    text = _dig(payload, "comment", "body") if isinstance(comment, dict) else _dig(payload, "issue", "body")
    comment_id = _word(comment.get("id")) if isinstance(comment, dict) else None
    found: list[Reference] = []
    for match in _URL_IN_TEXT.finditer(text if isinstance(text, str) else ""):
        url = _url(match.group())
        parts = urlsplit(url) if url else None
        file = _GITHUB_FILE.search(parts.path) if parts and parts.netloc.lower() in hosts else None
        if file and len(found) < MAX_REFERENCES:
            name = _name(unquote(file.group(2))) if file.group(2) else None
            found.append({"id": _word(file.group(1)), "name": name, "url": url, "comment_id": comment_id})
    return Announced(event, ticket, _word(headers.get("x-github-delivery")), tuple(found))


def _references(payload: dict[str, Any]) -> tuple[Reference, ...]:
    """Every object under an `attachment` / `attachments` key, anywhere (Zendesk event.comment.attachment,
    Jira issue.fields.attachment[], a trigger body's own layout), with the id of the comment holding it."""
    found: list[Reference] = []
    stack: list[tuple[Any, str | None]] = [(payload, None)]
    visited = 0
    while stack and visited < _MAX_NODES and len(found) < MAX_REFERENCES:
        node, comment_id = stack.pop()
        visited += 1
        if isinstance(node, list):
            stack.extend((item, comment_id) for item in reversed(node))
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            items = value if isinstance(value, list) else [value]
            if key in ("attachment", "attachments"):
                found.extend(ref for item in items if (ref := _reference(item, comment_id)))
            elif key in ("comment", "comments"):
                stack.extend((item, _word(item.get("id"))) for item in items if isinstance(item, dict))
            else:
                stack.append((value, comment_id))
    return tuple(found[:MAX_REFERENCES])


def _reference(item: Any, comment_id: str | None) -> Reference | None:
    if not isinstance(item, dict):
        return None
    name = next((_name(item[k]) for k in ("file_name", "filename", "name") if item.get(k)), None)
    url = next((u for k in ("content_url", "content", "url", "attachment_url") if (u := _url(item.get(k)))), None)
    ref_id = _word(item.get("id"))
    return {"id": ref_id, "name": name, "url": url, "comment_id": comment_id} if ref_id or url else None


def _url(value: Any) -> str | None:
    """http(s) only; no user:password@, no query string or fragment (some vendors put a download token
    there), and no Zendesk /attachments/token/<token>/ path (the path itself is a download credential)."""
    if not isinstance(value, str) or len(value) > 4096:
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    host = parts.netloc.rpartition("@")[2]
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    path = _CAPABILITY_PATH.sub(r"\1[redacted]", parts.path)
    return _CONTROL.sub("", urlunsplit((parts.scheme.lower(), host, path, "", "")))[:2000]


def _word(value: Any) -> str | None:
    """An id or event name: a string or integer of safe characters, else nothing."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and _WORD.fullmatch(value) else None


def _name(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return _CONTROL.sub("", value)[:255] or None


def _dig(node: Any, *keys: str) -> Any:
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node
