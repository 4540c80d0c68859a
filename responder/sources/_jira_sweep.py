"""Sweeping Jira: the JQL of a sweep, the connector's own cursor, and reading issues and attachments out of
Jira's answers. No I/O here.

JQL's `updated` takes a wall-clock time to the minute ("yyyy-MM-dd HH:mm"), read in the searching account's
time zone, and the search index is eventually consistent: sweeps overlap by a minute on purpose and the core
drops attachments it has already handled."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from responder.model import AttachmentRef

SEARCH_FIELDS = ("attachment", "updated", "status")
OVERLAP = timedelta(minutes=1)  # JQL resolution, and search lag: the next sweep starts a minute early
# When the account's time zone is unknown, a JQL time is read in some zone between UTC-12 and UTC+14: writing
# the bound this much earlier in UTC can only widen the search, never miss an issue.
UNKNOWN_ZONE_MARGIN = timedelta(hours=14)
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)  # the search must be bounded: "from the beginning" is a bound too

_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")  # attachment ids are numeric in Jira Cloud; keep anything path-safe
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,254}-[0-9]{1,18}|[0-9]{1,18}")  # PROJ-123, or an issue id
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)


class CursorError(ValueError):
    """A cursor this connector did not write (or a corrupted one)."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where a sweep stands. `since`: the lower bound of the search under way (UTC; None: the beginning).
    `token`: Jira's nextPageToken inside that search. `newest`: the latest `updated` seen in it so far."""

    since: datetime | None
    token: str | None = None
    newest: datetime | None = None

    def encode(self) -> str:
        fields = {"since": _iso(self.since), "token": self.token, "newest": _iso(self.newest)}
        return json.dumps({k: v for k, v in fields.items() if v is not None}, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, cursor: str) -> Position:
        try:
            data = json.loads(cursor)
        except ValueError:
            raise CursorError("not a Jira sweep cursor") from None
        if not isinstance(data, dict) or set(data) - {"since", "token", "newest"}:
            raise CursorError("not a Jira sweep cursor")
        token = data.get("token")
        if token is not None and (not isinstance(token, str) or not token):
            raise CursorError("not a Jira sweep cursor")
        return cls(_instant(data.get("since")), token, _instant(data.get("newest")))

    def seen(self, newest: datetime | None) -> datetime | None:
        if newest is None:
            return self.newest
        return newest if self.newest is None else max(self.newest, newest)

    def finished(self) -> Position:
        """Where the next sweep starts once this search has no next page: a minute before the newest update
        seen, never before this search's own start."""
        if self.newest is None:
            return Position(self.since)
        start = self.newest - OVERLAP
        return Position(start if self.since is None else max(self.since, start))


def search_jql(since: datetime | None, zone: tzinfo | None, extra: str | None) -> str:
    """`updated >= "<since in the account's zone>" [AND (<extra>)] ORDER BY updated ASC, key ASC`."""
    bound = (since or BEGINNING).astimezone(UTC)
    local = bound.astimezone(zone) if zone is not None else bound - UNKNOWN_ZONE_MARGIN
    jql = f'updated >= "{local:%Y-%m-%d %H:%M}"'
    if extra:
        jql += f" AND ({extra})"
    return jql + " ORDER BY updated ASC, key ASC"


def extra_jql_problem(jql: str) -> str | None:
    """Why a configured filter cannot be ANDed into the sweep's query, or None."""
    if not jql.strip():
        return "jql must not be empty (leave it out to sweep every project the account can browse)"
    if _CONTROL.search(jql):
        return "jql must not contain control characters"
    if _ORDER_BY.search(jql):
        return "jql is a filter only: the sweep sets its own ORDER BY"
    return None


def account_zone(name: Any) -> tzinfo | None:
    """The account's time zone from `GET /rest/api/3/myself` (`timeZone`, an IANA name), or None."""
    if not isinstance(name, str) or not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def jira_time(value: Any) -> datetime | None:
    """Jira's timestamps ("2024-05-01T10:15:30.123+0000") as aware datetimes; None when unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class IssuePage:
    tickets: int
    attachments: tuple[AttachmentRef, ...]
    newest: datetime | None


def read_issues(issues: Any) -> IssuePage:
    """An issue-search page (`issues[]` with `key` and `fields.attachment`/`fields.updated`)."""
    tickets, refs, newest = 0, [], None
    for issue in issues if isinstance(issues, list) else []:
        key = issue_key(issue.get("key")) if isinstance(issue, dict) else None
        if key is None:
            continue
        tickets += 1
        fields = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}
        refs.extend(attachments_of_issue(key, fields))
        updated = jira_time(fields.get("updated"))
        if updated is not None and (newest is None or updated > newest):
            newest = updated
    return IssuePage(tickets, tuple(refs), newest)


def attachments_of_issue(key: str, fields: dict[str, Any]) -> list[AttachmentRef]:
    found = fields.get("attachment")
    return [ref for item in (found if isinstance(found, list) else []) if (ref := attachment_ref(key, item))]


def attachment_ref(key: str, item: Any) -> AttachmentRef | None:
    """One Jira attachment object (`id`, `filename`, `mimeType`, `size`) as a reference; `content` (a URL) is
    never kept: downloads go through the attachment id."""
    if not isinstance(item, dict):
        return None
    raw_id = item.get("id")
    ref_id = str(raw_id) if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) else ""
    if not _ID.fullmatch(ref_id):
        return None
    name = _CONTROL.sub("", item["filename"])[:255] if isinstance(item.get("filename"), str) else ""
    mime = item.get("mimeType")
    size = item.get("size")
    return AttachmentRef(
        ticket_id=key,
        attachment_id=ref_id,
        name=name or ref_id,
        content_type=mime if isinstance(mime, str) and mime and len(mime) <= 255 else None,
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
    )


def issue_key(value: Any) -> str | None:
    return value if isinstance(value, str) and _KEY.fullmatch(value) else None


def attachment_id(value: str) -> str | None:
    return value if _ID.fullmatch(value) else None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _instant(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = jira_time(value)
    if parsed is None:
        raise CursorError("not a Jira sweep cursor")
    return parsed
