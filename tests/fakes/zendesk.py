"""A fake Zendesk Support account on 127.0.0.1 that keeps state, for the connector's tests and the sweep benchmark.

It answers the calls responder makes (docs/sources/zendesk.md) in Zendesk's documented shapes, and behaves like
Zendesk where it matters to a sweep and a clean-up:
- Basic auth `{email}/token:{api_token}` on every /api/v2 call (401 "Couldn't authenticate you" otherwise);
  the incremental export is admin-only (403 for an agent).
- `GET /api/v2/incremental/tickets/cursor`: `start_time` or `cursor`, `per_page`; `after_cursor`,
  `after_url`, `before_cursor`, `end_of_stream`. A cursor is an encoded position (generated timestamp, ticket
  id), not a server-side session, so it stays valid across restarts of the sweeper; every ticket change gives
  the ticket a newer position, so it comes again after the cursor. Deleted tickets come with status "deleted".
- `GET /api/v2/tickets/{id}/comments`: cursor pagination (`page[size]`, `page[after]`; `meta.has_more`,
  `meta.after_cursor`, `links.next`); inline images only with `include_inline_images=true`.
- Attachments: `content_url` is `{url}/attachments/token/<random>/?name=…` on this server, which answers 302
  to a short-lived link at a second tiny server (the "CDN", another port, so another host:port) serving the
  bytes. Attachments are private by default, as Zendesk made end users' uploads in 2026 ("Accessing end user
  uploaded attachments": request the content_url with the API token, follow the 302): without the account's
  credentials the link sends to the sign-in page. Both servers record whether a request carried an
  Authorization header or a cookie (`download_requests`, `cdn_requests`).
- Redaction: `…/attachments/{id}/redact` swaps the file for an empty redacted.txt (same id, new token; old links
  404) and is refused on a closed ticket with 422 RecordInvalid (Zendesk documents that it is "no longer
  possible" once closed, not the answer: the status is an assumption); `PUT /api/v2/comment_redactions/{id}`
  with `external_attachment_urls` works on any ticket.
- `POST /api/v2/uploads?filename=…` (binary body) → 201 `upload.token`; `PUT /api/v2/tickets/{id}` with a
  comment (and `uploads`) adds it, answering `audit.events[]`; a closed ticket refuses any update with 422
  ("Status: closed prevents ticket update", Zendesk's long-standing behaviour, not checked on a live account).
- Rate limits: an account-wide limit per window (default a minute) answering 429 + Retry-After, with
  `X-Rate-Limit`, `X-Rate-Limit-Remaining`, `ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset` on every
  answer (all of them are Ticketing API calls), and the incremental export's own per-minute limit (default 10).
  Counters of requests and 429s.
- Records: `redactions` (which attachment, how), `uploads`, `notes` (public or internal), for assertions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

Answer = tuple[int, dict[str, str], bytes]
STATUSES = ("new", "open", "pending", "hold", "solved", "closed", "deleted")
REDACTED_NAME = "redacted.txt"


@dataclass
class FakeAttachment:
    id: int
    file_name: str
    content_type: str
    data: bytes
    token: str  # the download capability in content_url; a new one after redaction
    inline: bool = False
    deleted: bool = False
    redacted: bool = False
    content_url_override: str | None = None  # tests: pretend Zendesk hosts this file elsewhere
    redirect_override: str | None = None  # tests: where the token link sends, instead of the CDN


@dataclass
class FakeComment:
    id: int
    ticket_id: int
    author_id: int
    body: str
    public: bool
    attachment_ids: list[int]
    created_at: str


@dataclass
class FakeTicket:
    id: int
    status: str
    subject: str
    created_at: str
    updated_at: str
    generated: int  # the export position: strictly increasing over all changes (ms-like)
    comment_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Redaction:
    ticket_id: int
    comment_id: int
    attachment_id: int
    how: str  # "redact" (…/attachments/{id}/redact) or "comment_redactions"


@dataclass(frozen=True)
class Upload:
    token: str
    file_name: str
    content_type: str
    size: int
    attachment_id: int


@dataclass(frozen=True)
class Note:
    ticket_id: int
    comment_id: int
    body: str
    public: bool
    attachment_names: tuple[str, ...]


@dataclass(frozen=True)
class Download:
    """One request for an attachment's bytes: did it carry a credential?"""

    authorization: bool
    cookie: bool


class _Window:
    """A fixed window of `limit` accepted requests per `seconds`, started by the first request after the last."""

    def __init__(self, limit: int | None, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self.start = 0.0
        self.used = 0

    def admit(self, now: float) -> bool:
        if self.limit is None:
            return True
        if now - self.start >= self.seconds:
            self.start, self.used = now, 0
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def reset_in(self, now: float) -> int:
        return max(1, math.ceil(self.start + self.seconds - now)) if self.limit is not None else 0

    def headers(self, now: float) -> dict[str, str]:
        """`X-Rate-Limit(-Remaining)`, and the `ratelimit-*` trio with the reset, which "Ticketing APIs such as
        the Tickets API and the Users API" add (rate-limits reference): every call responder makes is one."""
        if self.limit is None:
            return {}
        left = str(max(0, self.limit - self.used)) if now - self.start < self.seconds else str(self.limit)
        limit, reset = str(self.limit), str(self.reset_in(now))
        return {
            "X-Rate-Limit": limit,
            "X-Rate-Limit-Remaining": left,
            "ratelimit-limit": limit,
            "ratelimit-remaining": left,
            "ratelimit-reset": reset,
        }


class FakeZendesk:
    """The account at `url` (and its CDN at `cdn_url`). Use as a context manager; seed with `add_ticket` and
    `add_comment`; assert on `redactions`, `uploads`, `notes`, `download_requests`, `cdn_requests`."""

    def __init__(
        self,
        *,
        api_token: str,
        email: str = "responder@acme.test",
        role: str = "admin",
        requests_per_window: int | None = None,
        window_seconds: float = 60.0,
        export_requests_per_minute: int | None = 10,
        export_window_seconds: float = 60.0,
        export_lag_seconds: float = 0.0,
        private_attachments: bool = True,
    ) -> None:
        self.email = email
        self.private_attachments = private_attachments
        self.role = role
        self._credentials = "Basic " + base64.b64encode(f"{email}/token:{api_token}".encode()).decode()
        self.tickets: dict[int, FakeTicket] = {}
        self.comments: dict[int, FakeComment] = {}
        self.attachments: dict[int, FakeAttachment] = {}
        self.redactions: list[Redaction] = []
        self.uploads: list[Upload] = []
        self.notes: list[Note] = []
        self.download_requests: list[Download] = []
        self.cdn_requests: list[Download] = []
        self.requests = 0  # /api/v2 requests answered (429s included)
        self.export_requests = 0  # incremental export requests answered with 200
        self.comment_listings: Counter[str] = Counter()  # per ticket id: how often its comments were listed
        self.rejected_429 = 0
        self.export_lag_seconds = export_lag_seconds  # Zendesk leaves out the last minute's changes
        self._window = _Window(requests_per_window, window_seconds)
        self._export_window = _Window(export_requests_per_minute, export_window_seconds)
        self._pending: dict[str, list[int]] = {}  # upload token → attachment ids not yet on a comment
        self._lock = threading.RLock()
        self._ids = 0
        self._generated = 0
        self._server = _server(self._answer_api)
        self._cdn = _server(self._answer_cdn)
        self._threads = [
            threading.Thread(target=s.serve_forever, args=(0.05,), name=f"fake-zendesk-{i}", daemon=True)
            for i, s in enumerate((self._server, self._cdn))
        ]

    # ---- lifecycle and addresses ----------------------------------------------------------------------------

    def __enter__(self) -> FakeZendesk:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self._server, self._cdn):
            server.shutdown()
            server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def cdn_url(self) -> str:
        host, port = self._cdn.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def cdn_host(self) -> str:
        """host:port of the CDN, as `attachment_hosts` names it."""
        return self.cdn_url.removeprefix("http://")

    # ---- seeding and inspection -----------------------------------------------------------------------------

    def add_ticket(self, status: str = "open", subject: str = "Help") -> int:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._lock:
            now = _iso()
            ticket = FakeTicket(self._next_id(), status, subject, now, now, self._next_generated())
            self.tickets[ticket.id] = ticket
            return ticket.id

    def add_comment(
        self,
        ticket_id: int,
        body: str,
        attachments: Iterable[tuple[str, bytes, str]] = (),
        *,
        public: bool = True,
        inline: bool = False,
        author_id: int = 90001,
    ) -> int:
        """A comment with files (name, bytes, content type); the ticket is touched. Returns the comment id."""
        with self._lock:
            ids = [self._store_file(name, data, kind, inline=inline) for name, data, kind in attachments]
            return self._add_comment(self.tickets[ticket_id], body, public, ids, author_id)

    def set_status(self, ticket_id: int, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._lock:
            self.tickets[ticket_id].status = status
            self._touch(self.tickets[ticket_id])

    def touch(self, ticket_id: int) -> None:
        """A change that is no comment (a tag, a field): the ticket comes again in the export."""
        with self._lock:
            self._touch(self.tickets[ticket_id])

    def attachment_ids(self, ticket_id: int) -> list[int]:
        with self._lock:
            ticket = self.tickets[ticket_id]
            return [a for c in ticket.comment_ids for a in self.comments[c].attachment_ids]

    def comment_of(self, attachment_id: int) -> int:
        with self._lock:
            return next(c.id for c in self.comments.values() if attachment_id in c.attachment_ids)

    def content_url(self, attachment_id: int) -> str:
        with self._lock:
            return self._content_url(self.attachments[attachment_id])

    # ---- the account's server -------------------------------------------------------------------------------

    def _answer_api(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urlsplit(target)
        path, query = parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if path.startswith("/attachments/token/"):
            return self._token_link(path, headers)
        if not path.startswith("/api/v2/"):
            return _json(404, {"error": "InvalidEndpoint", "description": "Not found"})
        path = path.removesuffix(".json")
        with self._lock:
            self.requests += 1
            now = time.monotonic()
            if not self._window.admit(now):
                return self._too_many(self._window, now)
            limits = self._window.headers(now)
            if headers.get("authorization") != self._credentials:
                return _json(401, {"error": "Couldn't authenticate you"}, limits)
            status, extra, payload = self._route(method, path, query, headers, body, now)
            return status, {**limits, **extra}, payload

    def _too_many(self, window: _Window, now: float) -> Answer:
        self.rejected_429 += 1
        wait = window.reset_in(now)
        headers = {**window.headers(now), "Retry-After": str(wait)}
        return _json(429, {"error": "APIRateLimitExceeded", "description": "Rate limit exceeded"}, headers)

    def _route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes, now: float
    ) -> Answer:
        segments = path.split("/")[3:]  # after "", "api", "v2"
        match method, segments:
            case "GET", ["users", "me"]:
                return _json(200, {"user": {"id": 90000, "name": "responder", "email": self.email, "role": self.role}})
            case "GET", ["incremental", "tickets", "cursor"]:
                if self.role != "admin":
                    return _json(403, {"error": "Forbidden", "description": "You do not have access to this page"})
                if not self._export_window.admit(now):
                    return self._too_many(self._export_window, now)
                return self._export(query)
            case "GET", ["tickets", ticket_id]:
                ticket = self._ticket(ticket_id)
                return _json(200, {"ticket": self._ticket_json(ticket)}) if ticket else _not_found()
            case "PUT", ["tickets", ticket_id]:
                return self._update(ticket_id, body)
            case "GET", ["tickets", ticket_id, "comments"]:
                if "page[after]" not in query:
                    self.comment_listings[ticket_id] += 1  # a listing starts (its later pages are one listing)
                return self._list_comments(ticket_id, query)
            case "GET", ["attachments", attachment_id]:
                attachment = self.attachments.get(_int(attachment_id))
                return _json(200, {"attachment": self._attachment_json(attachment)}) if attachment else _not_found()
            case "PUT", ["tickets", ticket_id, "comments", comment_id, "attachments", attachment_id, "redact"]:
                return self._redact(ticket_id, comment_id, attachment_id)
            case "PUT", ["comment_redactions", comment_id]:
                return self._comment_redaction(comment_id, body)
            case "POST", ["uploads"]:
                return self._upload(query, headers, body)
        return _json(404, {"error": "InvalidEndpoint", "description": "Not found"})

    def _export(self, query: dict[str, str]) -> Answer:
        size = min(max(_int(query.get("per_page", "1000")) or 1000, 1), 1000)
        if "cursor" in query:
            position = _decode_cursor(query["cursor"])
            if position is None:
                return _json(400, {"error": "InvalidPaginationParameter", "description": "invalid cursor"})
        elif query.get("start_time", "").isdigit():
            position = (max(int(query["start_time"]) * 1000, 1) - 1, 2**62)  # changed at or after start_time
        else:
            return _json(400, {"error": "InvalidValue", "description": "start_time or cursor is required"})
        horizon = time.time() * 1000 - self.export_lag_seconds * 1000 if self.export_lag_seconds else math.inf
        ready = sorted(
            (t for t in self.tickets.values() if (t.generated, t.id) > position and t.generated <= horizon),
            key=lambda t: (t.generated, t.id),
        )
        page = ready[:size]
        after = (page[-1].generated, page[-1].id) if page else position
        cursor = _encode_cursor(after)
        self.export_requests += 1
        return _json(
            200,
            {
                "tickets": [self._ticket_json(t) for t in page],
                "after_cursor": cursor,
                "after_url": f"{self.url}/api/v2/incremental/tickets/cursor.json?cursor={quote(cursor)}",
                "before_cursor": None,
                "before_url": None,
                "end_of_stream": len(ready) <= size,
            },
        )

    def _list_comments(self, ticket_id: str, query: dict[str, str]) -> Answer:
        ticket = self._ticket(ticket_id)
        if ticket is None:
            return _not_found()
        inline = query.get("include_inline_images") == "true"
        comments = [self._comment_json(self.comments[c], inline) for c in ticket.comment_ids]
        if "page[size]" not in query:  # offset pagination: all of them fit one page here
            return _json(200, {"comments": comments, "next_page": None, "previous_page": None, "count": len(comments)})
        size = min(max(_int(query["page[size]"]) or 100, 1), 100)
        after = _int(_b64decode(query.get("page[after]", "")) or "0") or 0
        rest = [c for c in comments if c["id"] > after]
        page, more = rest[:size], len(rest) > size
        cursor = _b64encode(str(page[-1]["id"])) if page else None
        base = f"{self.url}/api/v2/tickets/{ticket.id}/comments.json?page%5Bsize%5D={size}"
        return _json(
            200,
            {
                "comments": page,
                "meta": {"has_more": more, "after_cursor": cursor, "before_cursor": None},
                "links": {"next": f"{base}&page%5Bafter%5D={cursor}" if more else None, "prev": None},
            },
        )

    def _update(self, ticket_id: str, body: bytes) -> Answer:
        ticket = self._ticket(ticket_id)
        if ticket is None:
            return _not_found()
        try:
            update = json.loads(body)["ticket"]
        except (ValueError, KeyError, TypeError):
            return _json(400, {"error": "InvalidValue", "description": "a ticket object is required"})
        if ticket.status == "closed":
            return _record_invalid({"status": [{"description": "Status: closed prevents ticket update"}]})
        comment = update.get("comment")
        events: list[dict[str, Any]] = []
        if isinstance(comment, dict):
            tokens = comment.get("uploads") or []
            if any(t not in self._pending for t in tokens):
                return _record_invalid({"base": [{"description": "Upload token is invalid or expired"}]})
            ids = [a for t in tokens for a in self._pending.pop(t)]
            public = comment.get("public", True) is not False
            comment_id = self._add_comment(ticket, str(comment.get("body", "")), public, ids, 90000)
            names = tuple(self.attachments[a].file_name for a in ids)
            self.notes.append(Note(ticket.id, comment_id, str(comment.get("body", "")), public, names))
            events.append({"type": "Comment", **self._comment_json(self.comments[comment_id], True)})
        if isinstance(update.get("status"), str) and update["status"] in STATUSES:
            ticket.status = update["status"]
        self._touch(ticket)
        audit = {
            "id": self._next_id(),
            "ticket_id": ticket.id,
            "author_id": 90000,
            "created_at": _iso(),
            "events": events,
        }
        return _json(200, {"ticket": self._ticket_json(ticket), "audit": audit})

    def _redact(self, ticket_id: str, comment_id: str, attachment_id: str) -> Answer:
        ticket, comment = self._ticket(ticket_id), self.comments.get(_int(comment_id))
        attachment = self.attachments.get(_int(attachment_id))
        if ticket is None or comment is None or attachment is None or comment.ticket_id != ticket.id:
            return _not_found()
        if attachment.id not in comment.attachment_ids:
            return _not_found()
        if ticket.status == "closed":
            return _record_invalid({"base": [{"description": "Attachments on closed tickets can't be redacted"}]})
        self._redact_file(ticket, comment, attachment, "redact")
        return _json(200, {"attachment": self._attachment_json(attachment)})

    def _comment_redaction(self, comment_id: str, body: bytes) -> Answer:
        comment = self.comments.get(_int(comment_id))
        try:
            request = json.loads(body)
        except ValueError:
            return _json(400, {"error": "InvalidValue", "description": "a JSON body is required"})
        ticket = self._ticket(str(request.get("ticket_id", ""))) if isinstance(request, dict) else None
        if comment is None or ticket is None or comment.ticket_id != ticket.id:
            return _not_found()
        urls = request.get("external_attachment_urls") or []
        for attachment_id in comment.attachment_ids:
            attachment = self.attachments[attachment_id]
            if self._content_url(attachment) in urls and not attachment.redacted:
                self._redact_file(ticket, comment, attachment, "comment_redactions")
        return _json(200, {"comment": self._comment_json(comment, True)})

    def _upload(self, query: dict[str, str], headers: dict[str, str], body: bytes) -> Answer:
        name = query.get("filename", "")
        if not name:
            return _json(400, {"error": "InvalidValue", "description": "filename is required"})
        kind = headers.get("content-type", "application/binary")
        attachment_id = self._store_file(name, body, kind)
        token = query.get("token") or secrets.token_urlsafe(12)
        self._pending.setdefault(token, []).append(attachment_id)
        self.uploads.append(Upload(token, name, kind, len(body), attachment_id))
        attachment = self._attachment_json(self.attachments[attachment_id])
        return _json(201, {"upload": {"token": token, "attachment": attachment, "attachments": [attachment]}})

    def _token_link(self, path: str, headers: dict[str, str]) -> Answer:
        """`/attachments/token/<token>/`: a 302 to a short-lived link at the CDN (or a test's override). With
        private attachments (Zendesk's default for end users' uploads since 2026) only a request signed in with
        the account's API token gets it; anyone else is sent to the sign-in page."""
        with self._lock:
            self.download_requests.append(_seen(headers))
            token = path.removeprefix("/attachments/token/").split("/")[0]
            attachment = next((a for a in self.attachments.values() if a.token == token and not a.deleted), None)
            if attachment is None:
                return _json(404, {"error": "RecordNotFound", "description": "Not found"})
            if self.private_attachments and headers.get("authorization") != self._credentials:
                return 302, {"Location": f"{self.url}/access/unauthenticated", "Content-Type": "text/html"}, b""
            where = attachment.redirect_override or (
                f"{self.cdn_url}/{attachment.token}/{quote(attachment.file_name)}?expires={int(time.time()) + 300}"
            )
            return 302, {"Location": where, "Content-Type": "text/html"}, b""

    # ---- the CDN --------------------------------------------------------------------------------------------

    def _answer_cdn(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        with self._lock:
            self.cdn_requests.append(_seen(headers))
            token = urlsplit(target).path.strip("/").split("/")[0]
            attachment = next((a for a in self.attachments.values() if a.token == token and not a.deleted), None)
            if method != "GET" or attachment is None:
                return 404, {"Content-Type": "text/plain"}, b"Not found"
            return 200, {"Content-Type": attachment.content_type}, attachment.data

    # ---- state helpers (called under the lock) ---------------------------------------------------------------

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _next_generated(self) -> int:
        self._generated = max(self._generated + 1, int(time.time() * 1000))
        return self._generated

    def _touch(self, ticket: FakeTicket) -> None:
        ticket.generated = self._next_generated()
        ticket.updated_at = _iso()

    def _ticket(self, ticket_id: str) -> FakeTicket | None:
        ticket = self.tickets.get(_int(ticket_id))
        return ticket if ticket is not None and ticket.status != "deleted" else None

    def _store_file(self, name: str, data: bytes, kind: str, *, inline: bool = False) -> int:
        attachment = FakeAttachment(self._next_id(), name, kind, data, secrets.token_urlsafe(16), inline=inline)
        self.attachments[attachment.id] = attachment
        return attachment.id

    def _add_comment(self, ticket: FakeTicket, body: str, public: bool, ids: list[int], author_id: int) -> int:
        comment = FakeComment(self._next_id(), ticket.id, author_id, body, public, ids, _iso())
        self.comments[comment.id] = comment
        ticket.comment_ids.append(comment.id)
        self._touch(ticket)
        return comment.id

    def _redact_file(self, ticket: FakeTicket, comment: FakeComment, attachment: FakeAttachment, how: str) -> None:
        attachment.file_name, attachment.content_type, attachment.data = REDACTED_NAME, "text/plain", b""
        attachment.redacted, attachment.token = True, secrets.token_urlsafe(16)
        self.redactions.append(Redaction(ticket.id, comment.id, attachment.id, how))
        self._touch(ticket)

    def _content_url(self, attachment: FakeAttachment) -> str:
        if attachment.content_url_override:
            return attachment.content_url_override
        return f"{self.url}/attachments/token/{attachment.token}/?name={quote(attachment.file_name)}"

    def _attachment_json(self, attachment: FakeAttachment) -> dict[str, Any]:
        url = self._content_url(attachment)
        return {
            "id": attachment.id,
            "url": f"{self.url}/api/v2/attachments/{attachment.id}.json",
            "file_name": attachment.file_name,
            "content_url": url,
            "mapped_content_url": url,
            "content_type": attachment.content_type,
            "size": len(attachment.data),
            "width": None,
            "height": None,
            "inline": attachment.inline,
            "deleted": attachment.deleted,
            "malware_access_override": False,
            "malware_scan_result": "malware_not_found",
            "thumbnails": [],
        }

    def _comment_json(self, comment: FakeComment, inline: bool) -> dict[str, Any]:
        files = [self.attachments[a] for a in comment.attachment_ids]
        return {
            "id": comment.id,
            "type": "Comment",
            "author_id": comment.author_id,
            "body": comment.body,
            "html_body": f'<div class="zd-comment"><p>{comment.body}</p></div>',
            "plain_body": comment.body,
            "public": comment.public,
            "attachments": [self._attachment_json(a) for a in files if inline or not a.inline],
            "audit_id": comment.id,
            "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": comment.created_at,
        }

    def _ticket_json(self, ticket: FakeTicket) -> dict[str, Any]:
        return {
            "id": ticket.id,
            "url": f"{self.url}/api/v2/tickets/{ticket.id}.json",
            "subject": ticket.subject,
            "status": ticket.status,
            "created_at": ticket.created_at,
            "updated_at": ticket.updated_at,
            "generated_timestamp": ticket.generated // 1000,
        }


# ---- plumbing ---------------------------------------------------------------------------------------------------


def _server(answer: Callable[[str, str, dict[str, str], bytes], Answer]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a sweep makes hundreds of calls

        def setup(self) -> None:
            super().setup()
            # Headers and body leave in two writes: without this, Nagle's algorithm holds the body ~40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, payload = answer(self.command, self.path, headers, body)
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: a request line holds download tokens

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, json.dumps(body).encode()


def _not_found() -> Answer:
    return _json(404, {"error": "RecordNotFound", "description": "Not found"})


def _record_invalid(details: dict[str, Any]) -> Answer:
    return _json(422, {"error": "RecordInvalid", "description": "Record validation errors", "details": details})


def _seen(headers: dict[str, str]) -> Download:
    return Download("authorization" in headers, "cookie" in headers)


def _int(text: str | None) -> int:
    return int(text) if text and text.isdigit() else -1


def _iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _b64decode(text: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(unquote(text) + "=" * (-len(text) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def _encode_cursor(position: tuple[int, int]) -> str:
    return _b64encode(f"{position[0]}.{position[1]}")


def _decode_cursor(cursor: str) -> tuple[int, int] | None:
    decoded = _b64decode(cursor) or ""
    generated, _, ticket_id = decoded.partition(".")
    return (int(generated), int(ticket_id)) if generated.isdigit() and ticket_id.isdigit() else None


def signed_delivery(body: bytes, secret: str) -> dict[str, str]:
    """The headers Zendesk sends with a webhook: base64(HMAC-SHA256(secret, timestamp + body)) and the stamp."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    mac = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
    return {
        "X-Zendesk-Webhook-Signature": base64.b64encode(mac).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def attachment_linked_event(ticket: int, comment: int, attachment: int, content_url: str | None = None) -> bytes:
    """Zendesk's event-webhook envelope for "attachment linked to comment"."""
    linked: dict[str, Any] = {"id": attachment, "file_name": "network.har", "content_type": "application/json"}
    if content_url is not None:
        linked["content_url"] = content_url
    return json.dumps(
        {
            "type": "zen:event-type:ticket.attachment_linked_to_comment",
            "id": str(uuid.uuid4()),
            "account_id": 1,
            "time": datetime.now(UTC).isoformat(),
            "zendesk_event_version": "2022-11-06",
            "subject": f"zen:ticket:{ticket}",
            "detail": {"id": str(ticket), "status": "OPEN"},
            "event": {"comment": {"id": comment, "attachment": linked}},
        }
    ).encode()


def source_toml(fake: FakeZendesk, api_token: str, name: str = "support", **extra: str | int) -> str:
    """A `[[sources]]` table for this account, as an operator would write it (the fake's own host and its CDN
    are the allowed attachment hosts). `extra` keys are written as they are (strings quoted)."""
    lines = [
        "[[sources]]",
        f'name = "{name}"',
        'plugin = "zendesk"',
        f'base_url = "{fake.url}"',
        f'email = "{fake.email}"',
        f'api_token = "{api_token}"',
        f'attachment_hosts = ["{fake.url.removeprefix("http://")}", "{fake.cdn_host}"]',
        *(f"{key} = {json.dumps(value)}" for key, value in extra.items()),
    ]
    return "\n".join(lines) + "\n"
