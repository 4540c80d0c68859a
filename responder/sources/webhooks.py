"""Webhook signatures and what an authentic delivery announces, for every vendor that signs (Zendesk, Jira,
GitHub). Shared by the API route (`POST /v1/webhooks/{source}`) and the source plugins' `parse_webhook`, so a
delivery is judged by one piece of code whichever path it takes.

zendesk signs base64(HMAC-SHA256(secret, timestamp + body)) and the timestamp must be within 5 minutes;
jira (admin webhooks with a secret) and github sign "sha256=" + hex HMAC-SHA256(secret, body). Nothing in a
payload is read until its signature checked out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from responder.errors import WebhookRefused
from responder.model import AttachmentRef, WebhookNotice
from responder.secret import Secret

WINDOW = timedelta(minutes=5)  # a Zendesk timestamp further than this from our clock is a replay or a bad clock


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


def announced(
    plugin: str, payload: dict[str, Any], headers: Mapping[str, str], hosts: frozenset[str] = frozenset()
) -> Announced:
    """What an authentic delivery names. `hosts`: GitHub only, the hosts whose file links are attachments."""
    if plugin == "zendesk":
        return _zendesk(payload, headers)
    if plugin == "jira":
        return _jira(payload, headers)
    return _github(payload, headers, hosts)


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


def payload_of(body: bytes, content_type: str) -> dict[str, Any]:
    """The signed body as JSON (GitHub may send it form-encoded as `payload=`). Anything else reads as no
    references: the delivery is authentic even when its shape is unknown."""
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            body = parse_qs(body.decode(), max_num_fields=10).get("payload", [""])[0].encode()
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def read_delivery(plugin: str, secret: Secret, headers: Mapping[str, str], body: bytes, now: datetime) -> WebhookNotice:
    """Signature and freshness first (WebhookRefused), then what the delivery announced, as source ids.
    `headers` must be case-insensitive or lower-case."""
    scheme = SCHEMES.get(plugin)
    if scheme is None:
        raise WebhookRefused("no_scheme")
    reason = refusal(scheme, secret, headers, body, now)
    if reason is not None:
        raise WebhookRefused(reason)
    said = announced(plugin, payload_of(body, headers.get("content-type", "")), headers)
    refs = tuple(
        AttachmentRef(
            ticket_id=said.ticket_id,
            attachment_id=str(ref["id"]),
            name=ref["name"] or str(ref["id"]),
            comment_id=ref["comment_id"],
        )
        for ref in said.attachments
        if ref["id"] and said.ticket_id
    )
    return WebhookNotice(said.event, said.ticket_id, said.delivery_id, refs)
