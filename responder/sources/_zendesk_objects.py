"""Zendesk's JSON objects, read defensively into small values: an attachment, a comment, a page of comments,
a page of the incremental ticket export. Anything of an unexpected shape is skipped, never guessed at."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from responder.errors import SourceError
from responder.model import AttachmentRef

REDACTED_NAME = "redacted.txt"  # what Zendesk leaves in place of a redacted attachment (empty)
CLOSED_STATUSES = frozenset({"closed"})  # archived tickets are closed ones; both refuse updates
DELETED_STATUS = "deleted"
_ID = re.compile(r"[0-9]{1,20}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def checked_id(value: str | None, what: str, source: str) -> str:
    """A Zendesk id from a ref (which may come from a webhook payload) before it goes into a URL path."""
    if value is None or not _ID.fullmatch(value):
        raise SourceError(f"{source}: {what} is not a Zendesk id: refused")
    return value


def json_id(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def display_name(value: Any, fallback: str) -> str:
    text = _CONTROL.sub("", value)[:255].strip() if isinstance(value, str) else ""
    return text or fallback


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """One attachment object. `content_url` is a download capability: used once, never stored or shown."""

    id: str
    name: str
    content_url: str | None
    content_type: str | None
    size: int | None
    deleted: bool
    inline: bool

    @classmethod
    def from_api(cls, item: Any) -> AttachmentInfo | None:
        if not isinstance(item, dict) or (attachment_id := json_id(item.get("id"))) is None:
            return None
        url, kind, size = item.get("content_url"), item.get("content_type"), item.get("size")
        return cls(
            id=attachment_id,
            name=display_name(item.get("file_name"), f"attachment-{attachment_id}"),
            content_url=url if isinstance(url, str) and url else None,
            content_type=kind if isinstance(kind, str) and kind else None,
            size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
            deleted=item.get("deleted") is True,
            inline=item.get("inline") is True,
        )

    @property
    def removed(self) -> bool:
        """Deleted, or already redacted (Zendesk swaps the file for an empty redacted.txt)."""
        return self.deleted or (self.name == REDACTED_NAME and not self.size)

    def ref(self, ticket_id: str, comment_id: str | None) -> AttachmentRef:
        return AttachmentRef(ticket_id, self.id, self.name, comment_id, self.content_type, self.size)


@dataclass(frozen=True, slots=True)
class Comment:
    id: str
    body: str
    public: bool
    attachments: tuple[AttachmentInfo, ...]

    @classmethod
    def from_api(cls, item: Any) -> Comment | None:
        if not isinstance(item, dict) or (comment_id := json_id(item.get("id"))) is None:
            return None
        body = item.get("body") if isinstance(item.get("body"), str) else item.get("plain_body")
        found = item.get("attachments")
        attachments = tuple(
            a for a in (AttachmentInfo.from_api(x) for x in (found if isinstance(found, list) else [])) if a
        )
        return cls(comment_id, body if isinstance(body, str) else "", item.get("public") is not False, attachments)


@dataclass(frozen=True, slots=True)
class CommentPage:
    """`GET /api/v2/tickets/{id}/comments` with cursor pagination: `meta.has_more` and `meta.after_cursor`."""

    comments: tuple[Comment, ...]
    after: str | None

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> CommentPage:
        found = body.get("comments")
        comments = tuple(c for c in (Comment.from_api(x) for x in (found if isinstance(found, list) else [])) if c)
        meta = _object(body.get("meta"))
        after = meta.get("after_cursor")
        more = meta.get("has_more") is True and isinstance(after, str) and bool(after)
        return cls(comments, after if more else None)


@dataclass(frozen=True, slots=True)
class ExportPage:
    """`GET /api/v2/incremental/tickets/cursor`: tickets (id, status), `after_cursor`, `end_of_stream`."""

    tickets: tuple[tuple[str, str], ...]
    after_cursor: str | None
    end_of_stream: bool
    newest: datetime | None = None  # the latest `updated_at` on the page (how far the sweep has come)

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> ExportPage:
        found = body.get("tickets")
        items = [item for item in (found if isinstance(found, list) else []) if isinstance(item, dict)]
        tickets = tuple(
            (ticket_id, status if isinstance(status := item.get("status"), str) else "")
            for item in items
            if (ticket_id := json_id(item.get("id"))) is not None
        )
        times = [when for item in items if (when := _timestamp(item.get("updated_at"))) is not None]
        after = body.get("after_cursor")
        return cls(
            tickets,
            after if isinstance(after, str) and after else None,
            body.get("end_of_stream") is True,
            max(times, default=None),
        )


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def audit_copy(body: dict[str, Any], ticket_id: str) -> AttachmentRef | None:
    """The attachment a ticket update just added, from the answer's `audit.events[]` Comment event."""
    events = _object(body.get("audit")).get("events")
    for event in events if isinstance(events, list) else []:
        if isinstance(event, dict) and event.get("type") == "Comment":
            comment = Comment.from_api(event)
            if comment is not None and comment.attachments:
                return comment.attachments[0].ref(ticket_id, comment.id)
    return None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
