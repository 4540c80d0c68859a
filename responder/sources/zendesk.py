"""Zendesk Support as a ticketing source (docs/sources/zendesk.md).

- Sweep: the cursor-based incremental ticket export (`/api/v2/incremental/tickets/cursor`, paced to its own
  per-minute limit), then each changed ticket's comments (cursor pagination, inline images included) for
  their attachments. A page's cursor is Zendesk's `after_cursor`, so a sweep resumes exactly where it stopped.
- Download: a fresh `content_url` from `GET /api/v2/attachments/{id}` (the ledger never keeps one: its path is
  a download token), fetched with no credential from an allowed host, following at most one redirect.
- Clean-up: redact the original (`…/attachments/{id}/redact` while the ticket is open; `comment_redactions`
  with `external_attachment_urls` once it is closed), then upload the sanitized copy and attach it with an
  internal comment. Internal notes are comments with `public: false`.

responder's API token goes to the account's own host only, through `ZendeskApi.send`. Nothing here retries
or sleeps except to stay inside Zendesk's rate limits before a call."""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import httpx
from pydantic import BaseModel

from responder.errors import AttachmentGone, AttachmentTooLarge, ConfigError, SourceError, TicketClosed, WebhookRefused
from responder.interfaces import CheckResult
from responder.model import AttachmentRef, Replaced, SweepPage, WebhookNotice
from responder.secret import Secret, read_secret
from responder.sources._zendesk_http import (
    AccountWindow,
    Clock,
    ExportPacer,
    Sleep,
    ZendeskApi,
    basic_credentials,
    origin,
)
from responder.sources._zendesk_objects import (
    CLOSED_STATUSES,
    DELETED_STATUS,
    AttachmentInfo,
    Comment,
    CommentPage,
    ExportPage,
    audit_copy,
    checked_id,
    display_name,
    json_id,
)
from responder.sources._zendesk_settings import AttachmentHosts, ZendeskSettings, validate
from responder.sources.webhooks import read_delivery

EXPORT_PATH = "/api/v2/incremental/tickets/cursor"
COMMENTS_PAGE_SIZE = 100  # Zendesk's maximum for cursor pagination
MAX_COMMENT_PAGES = 60  # a ticket holds at most 5,000 comments: 50 pages
REDACTED = "redacted"
COMMENT_REDACTION = "comment redaction"
_COPY_MARK = "original attachment id"  # in the copy's comment: finds an earlier run's copy after a crash
_CAPTURE_TYPES = {".har": "application/json", ".saz": "application/zip"}  # unknown to the mimetypes table


class ZendeskSource:
    plugin: ClassVar[str] = "zendesk"
    settings_model: ClassVar[type[BaseModel]] = ZendeskSettings

    def __init__(
        self,
        settings: ZendeskSettings,
        client: httpx.Client,
        webhook_secret: Secret | None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.name = settings.name
        where = f"sources.{settings.name}.api_token"
        token = read_secret(where, settings.api_token, settings.api_token_file, settings.api_token_env)
        if token is None:
            raise ConfigError(f"{where}: set api_token_file or api_token_env to the Zendesk user's API token")
        self._client = client
        self._webhook_secret = webhook_secret
        self._page_size = settings.export_page_size
        self._export = ExportPacer(settings.export_requests_per_minute, clock, sleep)
        self._api = ZendeskApi(
            settings.name,
            settings.base_url,
            client,
            basic_credentials(settings.email, token),
            AttachmentHosts.for_account(settings.base_url, settings.attachment_hosts),
            AccountWindow(clock, sleep, settings.max_rate_limit_wait_seconds),
        )

    @classmethod
    def from_config(
        cls,
        name: str,
        table: Mapping[str, Any],
        client: httpx.Client,
        webhook_secret: Secret | None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> ZendeskSource:
        return cls(validate({**table, "name": name}), client, webhook_secret, clock=clock, sleep=sleep)

    def __repr__(self) -> str:
        return f"ZendeskSource({self.name!r}, {self._api.base_url!r})"

    # ---- webhooks -------------------------------------------------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: datetime) -> WebhookNotice:
        if self._webhook_secret is None:
            raise WebhookRefused("not_enabled")
        notice = read_delivery("zendesk", self._webhook_secret, {k.lower(): v for k, v in headers.items()}, body, now)
        # Only Zendesk ids go on: they end up in URL paths, and a payload is not trusted to pick those.
        ticket = json_id(notice.ticket_id)
        refs = tuple(
            replace(ref, comment_id=json_id(ref.comment_id))  # no usable comment id: looked up when needed
            for ref in notice.attachments
            if ticket and json_id(ref.attachment_id)
        )
        return WebhookNotice(notice.event, ticket, notice.delivery_id, refs)

    # ---- sweep ----------------------------------------------------------------------------------------------

    def changed_since(self, cursor: str | None, since: datetime | None) -> Iterator[SweepPage]:
        params: dict[str, str | int] = {"per_page": self._page_size}
        if cursor:
            params["cursor"] = cursor
        else:
            params["start_time"] = max(0, int(since.timestamp())) if since is not None else 0
        while True:
            self._export.wait()
            response = self._api.send("GET", EXPORT_PATH, "export changed tickets", params=params)
            page = ExportPage.from_api(self._api.json(response, "export changed tickets"))
            live = [ticket for ticket, status in page.tickets if status != DELETED_STATUS]
            refs = tuple(ref for ticket in live for ref in self._listed(ticket))
            following = page.after_cursor or cursor or ""
            if not page.end_of_stream and page.after_cursor in (None, cursor):
                raise SourceError(f"{self.name}: export changed tickets: Zendesk gave no cursor to go on from")
            yield SweepPage(
                tickets=len(live), attachments=refs, cursor=following, done=page.end_of_stream, reached=page.newest
            )
            if page.end_of_stream:
                return
            cursor = following
            params = {"per_page": self._page_size, "cursor": following}

    def attachments_of(self, ticket_id: str) -> Sequence[AttachmentRef]:
        return self._listed(checked_id(ticket_id, "the ticket id", self.name))

    def _listed(self, ticket_id: str) -> list[AttachmentRef]:
        """Every attachment still on the ticket (deleted and redacted ones are nothing left to clean)."""
        return [
            attachment.ref(ticket_id, comment.id)
            for comment in self._comments(ticket_id)
            for attachment in comment.attachments
            if not attachment.removed
        ]

    def _comments(self, ticket_id: str) -> Iterator[Comment]:
        """Every comment of a ticket, oldest first; none when the ticket is gone (deleted since it changed)."""
        params: dict[str, str | int] = {"page[size]": COMMENTS_PAGE_SIZE, "include_inline_images": "true"}
        step = f"list the comments of ticket {ticket_id}"
        path = f"/api/v2/tickets/{ticket_id}/comments"
        for _ in range(MAX_COMMENT_PAGES):
            response = self._api.send("GET", path, step, params=params, ok=frozenset({404}))
            if response.status_code == 404:
                return
            page = CommentPage.from_api(self._api.json(response, step))
            yield from page.comments
            if page.after is None:
                return
            params = {**params, "page[after]": page.after}
        raise SourceError(f"{self.name}: {step}: more than {MAX_COMMENT_PAGES} pages of comments")

    # ---- download -------------------------------------------------------------------------------------------

    def download(self, ref: AttachmentRef, max_bytes: int, out: BinaryIO) -> int:
        ticket_id = checked_id(ref.ticket_id, "the ticket id", self.name)
        info = self._attachment(ref)
        what = f"attachment {info.id} of ticket {ticket_id}"
        if info.removed:
            raise AttachmentGone(f"{self.name}: {what} was deleted or redacted")
        if info.size is not None and info.size > max_bytes:
            raise AttachmentTooLarge(f"{self.name}: {what} is {info.size} bytes, over the {max_bytes}-byte limit")
        if info.content_url is None:
            raise SourceError(f"{self.name}: {what} has no download link")
        return self._api.fetch(info.content_url, what, max_bytes, out)

    def _attachment(self, ref: AttachmentRef) -> AttachmentInfo:
        attachment_id = checked_id(ref.attachment_id, "the attachment id", self.name)
        step = f"look up attachment {attachment_id}"
        response = self._api.send(
            "GET", f"/api/v2/attachments/{attachment_id}", step, gone=f"attachment {attachment_id}"
        )
        body = self._api.json(response, step)
        info = AttachmentInfo.from_api(body.get("attachment"))
        if info is None:
            raise SourceError(f"{self.name}: {step}: the answer holds no attachment")
        return info

    # ---- clean-up -------------------------------------------------------------------------------------------

    def replace_with_sanitized(self, ref: AttachmentRef, sanitized: Path, name: str) -> Replaced:
        ticket_id = checked_id(ref.ticket_id, "the ticket id", self.name)
        attachment_id = checked_id(ref.attachment_id, "the attachment id", self.name)
        closed = self._status(ticket_id) in CLOSED_STATUSES
        how = COMMENT_REDACTION if closed else REDACTED
        try:
            info: AttachmentInfo | None = self._attachment(ref)
        except AttachmentGone:
            info = None
        if info is not None and not info.removed:
            comment_id = ref.comment_id or self._comment_holding(ticket_id, attachment_id)
            how = self._redact(ticket_id, checked_id(comment_id, "the comment id", self.name), info, closed)
            closed = closed or how == COMMENT_REDACTION
        elif not closed and (earlier := self._earlier_copy(ticket_id, attachment_id, name)) is not None:
            return Replaced(copy=earlier, how=how)  # a re-run after a crash: the copy is already there
        if closed:
            # Zendesk takes no new comment on a closed ticket, so the copy cannot be attached there.
            return Replaced(copy=None, how=how)
        token = self._upload(sanitized, name)
        body = (
            f"responder replaced {display_name(ref.name, 'an attachment')} ({_COPY_MARK} {attachment_id}) with "
            f"this sanitized copy: the credentials in it were removed."
        )
        answer = self._comment(ticket_id, body, uploads=(token,))
        return Replaced(copy=audit_copy(answer, ticket_id), how=how)

    def annotate(self, ref: AttachmentRef, note: str) -> None:
        ticket_id = checked_id(ref.ticket_id, "the ticket id", self.name)
        self._comment(ticket_id, note)

    def _status(self, ticket_id: str) -> str:
        step = f"read ticket {ticket_id}"
        response = self._api.send("GET", f"/api/v2/tickets/{ticket_id}", step, gone=f"ticket {ticket_id}")
        ticket = self._api.json(response, step).get("ticket")
        status = ticket.get("status") if isinstance(ticket, dict) else None
        if not isinstance(status, str):
            raise SourceError(f"{self.name}: {step}: the answer holds no ticket status")
        return status

    def _comment_holding(self, ticket_id: str, attachment_id: str) -> str:
        for comment in self._comments(ticket_id):
            if any(a.id == attachment_id for a in comment.attachments):
                return comment.id
        raise AttachmentGone(f"{self.name}: attachment {attachment_id} is on no comment of ticket {ticket_id}")

    def _redact(self, ticket_id: str, comment_id: str, info: AttachmentInfo, closed: bool) -> str:
        """Remove the original; return how. An open ticket that closed meanwhile (422) takes the closed path."""
        if not closed:
            path = f"/api/v2/tickets/{ticket_id}/comments/{comment_id}/attachments/{info.id}/redact"
            step = f"redact attachment {info.id} of ticket {ticket_id}"
            response = self._api.send("PUT", path, step, ok=frozenset({404, 422}))
            if response.status_code != 422:
                return REDACTED  # 404: gone since we looked, nothing left to remove
            if self._status(ticket_id) not in CLOSED_STATUSES:
                raise SourceError(f"{self.name}: {step}: Zendesk refused (HTTP 422)")
        if info.content_url is None:
            raise SourceError(f"{self.name}: attachment {info.id} of ticket {ticket_id} has no link to redact by")
        self._api.send(
            "PUT",
            f"/api/v2/comment_redactions/{comment_id}",
            f"redact attachment {info.id} of closed ticket {ticket_id}",
            json={"ticket_id": int(ticket_id), "external_attachment_urls": [info.content_url]},
        )
        return COMMENT_REDACTION

    def _earlier_copy(self, ticket_id: str, attachment_id: str, name: str) -> AttachmentRef | None:
        mark = f"{_COPY_MARK} {attachment_id})"
        for comment in self._comments(ticket_id):
            if not comment.public and mark in comment.body:
                for attachment in comment.attachments:
                    if attachment.name == name and not attachment.removed:
                        return attachment.ref(ticket_id, comment.id)
        return None

    def _upload(self, sanitized: Path, name: str) -> str:
        filename = display_name(name.replace("/", "_").replace("\\", "_"), "sanitized-capture")
        suffix = Path(filename).suffix.lower()
        kind = _CAPTURE_TYPES.get(suffix) or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        step = f"upload the sanitized copy {filename}"
        try:
            handle = sanitized.open("rb")
        except OSError as exc:
            raise SourceError(f"{self.name}: {step}: cannot read the copy ({exc.strerror})") from None
        with handle:
            response = self._api.send(
                "POST", "/api/v2/uploads", step, params={"filename": filename}, content=handle, content_type=kind
            )
        upload = self._api.json(response, step).get("upload")
        token = upload.get("token") if isinstance(upload, dict) else None
        if not isinstance(token, str) or not token:
            raise SourceError(f"{self.name}: {step}: the answer holds no upload token")
        return token

    def _comment(self, ticket_id: str, body: str, uploads: tuple[str, ...] = ()) -> dict[str, Any]:
        """An internal comment (never customer-visible). Zendesk refuses any comment on a closed ticket."""
        comment: dict[str, Any] = {"body": body, "public": False}
        if uploads:
            comment["uploads"] = list(uploads)
        step = f"add an internal note to ticket {ticket_id}"
        response = self._api.send(
            "PUT",
            f"/api/v2/tickets/{ticket_id}",
            step,
            json={"ticket": {"comment": comment}},
            gone=f"ticket {ticket_id}",
            ok=frozenset({422}),
        )
        if response.status_code == 422:
            if self._status(ticket_id) in CLOSED_STATUSES:
                raise TicketClosed(f"{self.name}: {step}: the ticket is closed: Zendesk takes no new comment on it")
            raise SourceError(f"{self.name}: {step}: Zendesk refused (HTTP 422)")
        return self._api.json(response, step)

    # ---- health ---------------------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        where = origin(self._api.base_url)
        try:
            response = self._api.send("GET", "/api/v2/users/me", "check responder's Zendesk user")
            user = self._api.json(response, "check responder's Zendesk user").get("user")
        except SourceError as exc:
            return CheckResult(False, str(exc))
        role = user.get("role") if isinstance(user, dict) else None
        if not isinstance(user, dict) or user.get("id") is None:
            return CheckResult(False, f"{where} answered for an anonymous user: email and api_token were not accepted")
        if role == "admin":
            return CheckResult(True, f"signed in to {where} as an admin: sweeps, downloads and clean-up can run")
        if role == "agent":
            return CheckResult(
                True,
                f"signed in to {where} as an agent: webhooks, downloads and clean-up can run if the role may redact; "
                "sweeps need an admin (the incremental export is admin-only)",
            )
        return CheckResult(
            False, f"signed in to {where} as {role or 'an unknown role'}: responder needs an agent or admin"
        )

    def close(self) -> None:
        self._client.close()
