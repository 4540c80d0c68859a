"""A fake Jira Cloud site on 127.0.0.1 that keeps state, for the connector's tests and the sweep benchmark.

It speaks the documented shapes of the calls responder makes (docs/sources/jira.md) and behaves like Jira
where it matters to a sweep:
- Basic auth (email + API token) on every call, 401 otherwise; `forbid(route)` answers 403 for one route.
- `POST /rest/api/3/search/jql`: a small JQL subset (`updated >= "yyyy-MM-dd HH:mm"` read in the account's
  time zone, `project in (...)` / `project = X`, `ORDER BY updated ASC, key ASC`); anything else is a 400,
  as is an unbounded query. `nextPageToken` is opaque and signed; it encodes the last (updated, key) seen, so
  issues changed during a sweep come again at the end instead of shifting pages. A bogus token, one from
  another query, or one issued before `expire_page_tokens()` is a 400.
- Attachment content with `redirect=false` (the bytes), or a 303 to a second server (the "media host") that
  counts its hits: the connector must never go there.
- Delete, multipart upload (403 without `X-Atlassian-Token: no-check`, like Jira's XSRF check), Service
  Management request comments and platform comments, each recorded; every change bumps the issue's `updated`.
- A per-second burst limit answering 429 with Retry-After, X-RateLimit-Reset (ISO, to the minute) and
  RateLimit-Reason: jira-burst-based.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

_ORDER = re.compile(r"\s+ORDER\s+BY\s+(.+)$", re.IGNORECASE)
_UPDATED = re.compile(r'\bupdated\s*>=\s*"(\d{4}-\d{2}-\d{2} \d{2}:\d{2})"', re.IGNORECASE)
_PROJECT_IN = re.compile(r"\bproject\s+in\s*\(([^()]*)\)", re.IGNORECASE)
_PROJECT_EQ = re.compile(r'\bproject\s*=\s*"?([A-Za-z][A-Za-z0-9_]*)"?', re.IGNORECASE)
_LEFTOVER = re.compile(r"\bAND\b|[()\s]", re.IGNORECASE)
_ISSUE = re.compile(r"/rest/api/3/issue/([^/]+)")
_ISSUE_ATTACH = re.compile(r"/rest/api/3/issue/([^/]+)/attachments")
_ISSUE_COMMENT = re.compile(r"/rest/api/3/issue/([^/]+)/comment")
_REQUEST_COMMENT = re.compile(r"/rest/servicedeskapi/request/([^/]+)/comment")
_CONTENT = re.compile(r"/rest/api/3/attachment/content/([^/]+)")
_ATTACHMENT = re.compile(r"/rest/api/3/attachment/([^/]+)")
_MEDIA = re.compile(r"/media/([0-9]+)")

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class FakeIssue:
    key: str
    id: int
    status: str
    updated: datetime
    service_desk: bool
    attachments: list[int] = field(default_factory=list)

    @property
    def project(self) -> str:
        return self.key.rsplit("-", 1)[0]

    def order(self) -> tuple[datetime, str, int]:
        project, number = self.key.rsplit("-", 1)
        return (self.updated, project, int(number))


@dataclass(frozen=True)
class FakeAttachment:
    id: int
    issue: str
    filename: str
    mime: str
    data: bytes


@dataclass(frozen=True)
class RecordedComment:
    key: str
    text: str
    internal: bool
    api: str  # "servicedesk" (JSM request comment) or "platform"


@dataclass(frozen=True)
class RecordedUpload:
    key: str
    attachment_id: str
    filename: str
    mime: str
    data: bytes


class FakeJira:
    """Use as a context manager; seed with `add_issue` / `add_attachment`; read `deletions`, `uploads`,
    `comments`, `calls` (per route), `requests`, `rejected_429` and `media_hits` afterwards."""

    def __init__(
        self,
        email: str,
        api_token: str,
        *,
        requests_per_second: float | None = None,
        time_zone: str = "UTC",
        max_page: int = 100,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.email = email
        self.zone = ZoneInfo(time_zone)
        self.clock = clock
        self.max_page = max_page
        self.issues: dict[str, FakeIssue] = {}
        self.attachments: dict[int, FakeAttachment] = {}
        self.deletions: list[str] = []
        self.uploads: list[RecordedUpload] = []
        self.comments: list[RecordedComment] = []
        self.calls: Counter[str] = Counter()
        self.requests = 0
        self.rejected_429 = 0
        self.media_hits = 0
        self._forbidden: set[str] = set()
        self._failures: deque[tuple[int, int | None]] = deque()
        self._auth = "Basic " + base64.b64encode(f"{email}:{api_token}".encode()).decode()
        self._page_key = secrets.token_bytes(16)
        self._next_id = 10000
        self._lock = threading.Lock()
        self._rate = requests_per_second
        self._window_start = time.monotonic()
        self._window_count = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(self._respond))
        self._server.daemon_threads = True
        self._media = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(self._media_respond))
        self._media.daemon_threads = True
        self._threads = [
            threading.Thread(target=server.serve_forever, args=(0.05,), name=f"fake-jira-{i}", daemon=True)
            for i, server in enumerate((self._server, self._media))
        ]

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def media_url(self) -> str:
        host, port = self._media.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeJira:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self._server, self._media):
            server.shutdown()
            server.server_close()

    # ---- seeding and controls ----------------------------------------------------------------------

    def add_issue(
        self, key: str, *, status: str = "Open", updated: datetime | None = None, service_desk: bool = True
    ) -> None:
        with self._lock:
            self.issues[key] = FakeIssue(key, self._new_id(), status, updated or self.clock(), service_desk)

    def add_attachment(self, key: str, filename: str, data: bytes, mime: str = "application/octet-stream") -> str:
        """Seeds a file on an issue without changing its `updated` (old tickets stay old)."""
        with self._lock:
            return str(self._attach(key, filename, data, mime))

    def set_updated(self, key: str, when: datetime) -> None:
        with self._lock:
            self.issues[key].updated = when

    def attachment_ids(self, key: str) -> list[str]:
        with self._lock:
            return [str(a) for a in self.issues[key].attachments]

    def forbid(self, route: str) -> None:
        """Answer 403 to every call of `route` (e.g. "delete_attachment", "upload", "search")."""
        with self._lock:
            self._forbidden.add(route)

    def fail_next(self, count: int, status: int = 503, retry_after: int | None = None) -> None:
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    def expire_page_tokens(self) -> None:
        """Every nextPageToken issued so far is now refused with 400, as Jira does with expired tokens."""
        with self._lock:
            self._page_key = secrets.token_bytes(16)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _attach(self, key: str, filename: str, data: bytes, mime: str) -> int:
        attachment = FakeAttachment(self._new_id(), key, filename, mime, data)
        self.attachments[attachment.id] = attachment
        self.issues[key].attachments.append(attachment.id)
        return attachment.id

    # ---- request handling --------------------------------------------------------------------------

    def _respond(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urlsplit(target)
        path, query = parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            self.requests += 1
            limited = self._rate_limited()
            if limited is not None:
                self.rejected_429 += 1
                return 429, limited, _errors("Rate limit exceeded.")
            if self._failures:
                status, retry_after = self._failures.popleft()
                extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                return status, extra, _errors("Injected failure.")
            if headers.get("authorization") != self._auth:
                return 401, {}, _errors("Client must be authenticated to access this resource.")
            route, handler = self._route(method, path)
            self.calls[route] += 1
            if route in self._forbidden:
                return 403, {}, _errors("You do not have permission to do this.")
            return handler(path, query, headers, body)

    def _route(self, method: str, path: str) -> tuple[str, Callable[..., Answer]]:
        table: list[tuple[str, re.Pattern[str] | str, str, Callable[..., Answer]]] = [
            ("GET", "/rest/api/3/myself", "myself", self._myself),
            ("POST", "/rest/api/3/search/jql", "search", self._search),
            ("POST", _ISSUE_ATTACH, "upload", self._upload),
            ("POST", _ISSUE_COMMENT, "platform_comment", self._platform_comment),
            ("POST", _REQUEST_COMMENT, "servicedesk_comment", self._servicedesk_comment),
            ("GET", _CONTENT, "content", self._content),
            ("DELETE", _ATTACHMENT, "delete_attachment", self._delete),
            ("GET", _ISSUE, "issue", self._issue),
        ]
        for verb, pattern, name, handler in table:
            matched = path == pattern if isinstance(pattern, str) else pattern.fullmatch(path) is not None
            if verb == method and matched:
                return name, handler
        return "unknown", lambda *_: (404, {}, _errors("No such endpoint in the fake."))

    def _rate_limited(self) -> dict[str, str] | None:
        if not self._rate:
            return None
        now = time.monotonic()
        if now - self._window_start >= 1.0:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        if self._window_count <= max(1, int(self._rate)):
            return None
        reset = self.clock() + timedelta(seconds=1)
        return {
            "Retry-After": "1",
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%MZ"),
            "RateLimit-Reason": "jira-burst-based",
            "X-RateLimit-Limit": str(max(1, int(self._rate))),
        }

    def _myself(self, *_: Any) -> Answer:
        account = {
            "accountId": "5b10ac8d82e05b22cc7d4ef5",
            "emailAddress": self.email,
            "displayName": "responder",
            "active": True,
            "timeZone": str(self.zone.key),
        }
        return _json(200, account)

    def _search(self, _path: str, _query: dict[str, str], _headers: dict[str, str], body: bytes) -> Answer:
        try:
            request = json.loads(body)
        except ValueError:
            return 400, {}, _errors("Invalid request payload.")
        jql = request.get("jql") if isinstance(request, dict) else None
        if not isinstance(jql, str):
            return 400, {}, _errors("The JQL query is required.")
        try:
            since, projects = self._parse_jql(jql)
        except ValueError as exc:
            return 400, {}, _errors(str(exc))
        after: tuple[datetime, str, int] | None = None
        token = request.get("nextPageToken")
        if token is not None:
            after = self._read_token(token, jql)
            if after is None:
                return 400, {}, _errors("The provided next page token is invalid or expired.")
        matching = sorted(
            (
                issue
                for issue in self.issues.values()
                if (since is None or issue.updated >= since) and (projects is None or issue.project in projects)
            ),
            key=FakeIssue.order,
        )
        if after is not None:
            matching = [issue for issue in matching if issue.order() > after]
        size = request.get("maxResults", 50)
        size = min(size if isinstance(size, int) and size > 0 else 50, self.max_page)
        page, rest = matching[:size], matching[size:]
        fields = request.get("fields") if isinstance(request.get("fields"), list) else ["id"]
        answer: dict[str, Any] = {"issues": [self._issue_json(issue, fields) for issue in page], "isLast": not rest}
        if rest:
            answer["nextPageToken"] = self._token(page[-1].order(), jql)
        return _json(200, answer)

    def _parse_jql(self, jql: str) -> tuple[datetime | None, set[str] | None]:
        order = _ORDER.search(jql)
        if order is None or re.sub(r"\s+", " ", order.group(1).strip()).lower() != "updated asc, key asc":
            raise ValueError("The fake Jira only orders by: updated ASC, key ASC.")
        where = jql[: order.start()]
        since: datetime | None = None
        projects: set[str] | None = None
        if found := _UPDATED.search(where):
            wall = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M")
            since = wall.replace(tzinfo=self.zone).astimezone(UTC)  # JQL times are the account's wall clock
            where = where.replace(found.group(0), " ")
        if found := _PROJECT_IN.search(where):
            projects = {p.strip().strip('"') for p in found.group(1).split(",") if p.strip()}
            where = where.replace(found.group(0), " ")
        elif found := _PROJECT_EQ.search(where):
            projects = {found.group(1)}
            where = where.replace(found.group(0), " ")
        if _LEFTOVER.sub("", where):
            raise ValueError("Error in the JQL Query: the fake Jira does not understand it.")
        if since is None and projects is None:
            raise ValueError("Unbounded JQL queries are not allowed here. Please add a search restriction.")
        return since, projects

    def _token(self, after: tuple[datetime, str, int], jql: str) -> str:
        payload = json.dumps(
            {"u": after[0].isoformat(), "p": after[1], "n": after[2], "q": hashlib.sha256(jql.encode()).hexdigest()}
        ).encode()
        mac = hmac.new(self._page_key, payload, hashlib.sha256).hexdigest()[:24]
        return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + mac

    def _read_token(self, token: Any, jql: str) -> tuple[datetime, str, int] | None:
        if not isinstance(token, str) or token.count(".") != 1:
            return None
        encoded, mac = token.split(".")
        try:
            payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            data = json.loads(payload)
        except ValueError:
            return None
        expected = hmac.new(self._page_key, payload, hashlib.sha256).hexdigest()[:24]
        if not hmac.compare_digest(mac, expected) or data.get("q") != hashlib.sha256(jql.encode()).hexdigest():
            return None
        return (datetime.fromisoformat(data["u"]), str(data["p"]), int(data["n"]))

    def _issue_json(self, issue: FakeIssue, fields: list[Any]) -> dict[str, Any]:
        wanted = {f for f in fields if isinstance(f, str)}
        every = "*all" in wanted or "*navigable" in wanted
        shown: dict[str, Any] = {}
        if every or "updated" in wanted:
            shown["updated"] = self._time(issue.updated)
        if every or "status" in wanted:
            shown["status"] = {"name": issue.status, "id": "1"}
        if every or "attachment" in wanted:
            # Jira's issue fields show attachment ids as numbers; the upload answer shows them as strings.
            shown["attachment"] = [self._attachment_json(self.attachments[a], numeric=True) for a in issue.attachments]
        answer: dict[str, Any] = {
            "id": str(issue.id),
            "key": issue.key,
            "self": f"{self.url}/rest/api/3/issue/{issue.id}",
        }
        if shown:
            answer["fields"] = shown
        return answer

    def _attachment_json(self, attachment: FakeAttachment, *, numeric: bool = False) -> dict[str, Any]:
        return {
            "self": f"{self.url}/rest/api/3/attachments/{attachment.id}",
            "id": attachment.id if numeric else str(attachment.id),
            "filename": attachment.filename,
            "mimeType": attachment.mime,
            "size": len(attachment.data),
            "content": f"{self.url}/rest/api/3/attachment/content/{attachment.id}",
            "created": self._time(self.clock()),
        }

    def _time(self, when: datetime) -> str:
        local = when.astimezone(self.zone)
        return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")

    def _issue(self, path: str, query: dict[str, str], *_: Any) -> Answer:
        issue = self.issues.get(unquote(path.rsplit("/", 1)[1]))
        if issue is None:
            return 404, {}, _errors("Issue does not exist or you do not have permission to see it.")
        return _json(200, self._issue_json(issue, query.get("fields", "*navigable").split(",")))

    def _content(self, path: str, query: dict[str, str], *_: Any) -> Answer:
        attachment = self._attachment_at(path)
        if attachment is None:
            return 404, {}, _errors("The attachment does not exist.")
        if query.get("redirect", "true").lower() == "false":
            return 200, {"Content-Type": attachment.mime}, attachment.data
        return 303, {"Location": f"{self.media_url}/media/{attachment.id}"}, b""

    def _delete(self, path: str, *_: Any) -> Answer:
        attachment = self._attachment_at(path)
        if attachment is None:
            return 404, {}, _errors("The attachment does not exist.")
        del self.attachments[attachment.id]
        issue = self.issues[attachment.issue]
        issue.attachments.remove(attachment.id)
        issue.updated = self.clock()
        self.deletions.append(str(attachment.id))
        return 204, {}, b""

    def _upload(self, path: str, _query: dict[str, str], headers: dict[str, str], body: bytes) -> Answer:
        if headers.get("x-atlassian-token", "").lower() != "no-check":
            return 403, {}, b"XSRF check failed"
        issue = self.issues.get(unquote(path.split("/")[5]))
        if issue is None:
            return 404, {}, _errors("Issue does not exist or you do not have permission to see it.")
        message = BytesParser(policy=policy.HTTP).parsebytes(
            b"Content-Type: " + headers.get("content-type", "").encode() + b"\r\n\r\n" + body
        )
        files = [
            part
            for part in (message.iter_parts() if message.is_multipart() else [])
            if part.get_param("name", header="content-disposition") == "file"
        ]
        if not files:
            return 400, {}, _errors("No file was sent in the 'file' field.")
        created = []
        for part in files:
            data = part.get_payload(decode=True)
            name, mime = part.get_filename() or "unnamed", part.get_content_type()
            new_id = self._attach(issue.key, name, data if isinstance(data, bytes) else b"", mime)
            self.uploads.append(RecordedUpload(issue.key, str(new_id), name, mime, self.attachments[new_id].data))
            created.append(self._attachment_json(self.attachments[new_id]))
        issue.updated = self.clock()
        return _json(200, created)

    def _servicedesk_comment(self, path: str, _query: dict[str, str], _headers: dict[str, str], body: bytes) -> Answer:
        issue = self.issues.get(unquote(path.split("/")[4]))
        if issue is None or not issue.service_desk:
            return 404, {}, json.dumps({"errorMessage": "The request could not be found."}).encode()
        request = _payload(body)
        if not isinstance(request.get("body"), str) or not isinstance(request.get("public"), bool):
            return 400, {}, json.dumps({"errorMessage": "body and public are required"}).encode()
        self.comments.append(RecordedComment(issue.key, request["body"], not request["public"], "servicedesk"))
        issue.updated = self.clock()
        return _json(201, {"id": str(self._new_id()), "body": request["body"], "public": request["public"]})

    def _platform_comment(self, path: str, _query: dict[str, str], _headers: dict[str, str], body: bytes) -> Answer:
        issue = self.issues.get(unquote(path.split("/")[5]))
        if issue is None:
            return 404, {}, _errors("Issue does not exist or you do not have permission to see it.")
        request = _payload(body)
        document = request.get("body")
        if not isinstance(document, dict) or document.get("type") != "doc":
            return 400, {}, _errors("Comment body must be an Atlassian Document Format document.")
        properties = request.get("properties") if isinstance(request.get("properties"), list) else []
        internal = any(
            isinstance(p, dict)
            and p.get("key") == "sd.public.comment"
            and (p.get("value") or {}).get("internal") is True
            for p in properties
        )
        self.comments.append(RecordedComment(issue.key, _adf_text(document), internal, "platform"))
        issue.updated = self.clock()
        return _json(201, {"id": str(self._new_id()), "body": document, "jsdPublic": not internal})

    def _attachment_at(self, path: str) -> FakeAttachment | None:
        raw = unquote(path.rsplit("/", 1)[1])
        return self.attachments.get(int(raw)) if raw.isdigit() else None

    def _media_respond(self, method: str, target: str, _headers: dict[str, str], _body: bytes) -> Answer:
        with self._lock:
            self.media_hits += 1
            found = _MEDIA.fullmatch(urlsplit(target).path)
            attachment = self.attachments.get(int(found.group(1))) if found and method == "GET" else None
            return (200, {}, attachment.data) if attachment else (404, {}, b"")

    @staticmethod
    def _handler(respond: Callable[[str, str, dict[str, str], bytes], Answer]) -> type[BaseHTTPRequestHandler]:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, extra, payload = respond(self.command, self.path, headers, body)
                self.send_response(status)
                if "Content-Type" not in extra and payload:
                    self.send_header("Content-Type", "application/json")
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


def _json(status: int, value: Any) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(value).encode()


def _errors(message: str) -> bytes:
    return json.dumps({"errorMessages": [message], "errors": {}}).encode()


def _payload(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _adf_text(node: Any) -> str:
    """The text of an ADF document, one line per paragraph."""
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    inner = [_adf_text(child) for child in node.get("content", []) if isinstance(child, dict)]
    return ("\n" if node.get("type") == "doc" else "").join(inner)
