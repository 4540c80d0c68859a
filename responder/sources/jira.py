"""Jira Cloud and Jira Service Management as a ticketing source (docs/sources/jira.md).

- Sweep: `POST /rest/api/3/search/jql` (a read, allowed in dry runs) over `updated >= <since>`, paged by
  Jira's `nextPageToken`; the cursor is this connector's own (see _jira_sweep.Position).
- Files: `GET /rest/api/3/attachment/content/{id}?redirect=false`, so Jira answers with the bytes itself and
  never sends responder to its media host.
- Cleaning: `DELETE /rest/api/3/attachment/{id}` first (the exposure ends before anything else happens), then
  the sanitized copy is uploaded (`POST /rest/api/3/issue/{key}/attachments`, field `file`).
- Notes: an internal comment through the Service Management API, or a platform comment with the
  `sd.public.comment` property set internal; never a public comment.

Every call goes through JiraHttp.send with responder's own Basic credentials, to base_url only. Nothing here
retries or sleeps, and no error text holds the token, a URL with a query, or a response body."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, BinaryIO, ClassVar
from urllib.parse import quote

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from responder.errors import AttachmentGone, AttachmentTooLarge, ConfigError, SourceError, WebhookRefused
from responder.interfaces import CheckResult
from responder.model import AttachmentRef, Replaced, SweepPage, WebhookNotice
from responder.secret import Secret, read_secret
from responder.sources._jira_http import JiraHttp
from responder.sources._jira_sweep import (
    SEARCH_FIELDS,
    CursorError,
    Position,
    account_zone,
    attachment_id,
    attachment_ref,
    attachments_of_issue,
    extra_jql_problem,
    issue_key,
    read_issues,
    search_jql,
)
from responder.sources.webhooks import read_delivery

log = structlog.get_logger("responder.sources.jira")

SEARCH = "/rest/api/3/search/jql"
MYSELF = "/rest/api/3/myself"
INTERNAL_PROPERTY = "sd.public.comment"  # JSM reads {"internal": true} on it: the comment stays agent-only

# What a 403 means is missing (project permissions of responder's Jira account, per Atlassian's REST reference).
BROWSE = "Browse projects on the swept projects"
DELETE = "Delete all attachments (Browse projects too)"
CREATE = "Create attachments"
COMMENT = "Add comments (and a Service Management agent licence for internal notes)"

_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


class JiraSettings(BaseModel):
    """The keys of a `[[sources]]` table with `plugin = "jira"` (besides the core's own)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="the source's name, recorded in the ledger")
    base_url: str = Field(
        description="the site's root URL, https://<site>.atlassian.net (http only for 127.0.0.1/localhost, in tests)"
    )
    email: str = Field(description="the Atlassian account responder acts as: the owner of api_token")
    api_token: SecretStr | None = Field(
        default=None, description="that account's API token (exactly one of api_token, _file, _env); keep it out"
    )
    api_token_file: Path | None = Field(default=None, description="file holding the account's API token")
    api_token_env: str | None = Field(default=None, description="environment variable holding the API token")
    jql: str | None = Field(
        default=None,
        description='extra JQL filter ANDed to every sweep, e.g. "project in (SUP, HELP)"; no ORDER BY',
    )
    service_desk: bool = Field(
        default=True,
        description="internal notes through the Service Management API (an agent); false: a platform comment "
        "with the sd.public.comment internal property (for projects that are not service projects)",
    )
    page_size: int = Field(default=100, ge=1, le=5000, description="issues per search page (Jira may send fewer)")

    @field_validator("base_url")
    @classmethod
    def _site_url(cls, value: str) -> str:
        try:
            parts = httpx.URL(value) if "://" in value else None
        except httpx.InvalidURL:
            parts = None
        if parts is None or not parts.host or parts.query or parts.fragment or parts.userinfo:
            raise ValueError("base_url must be the site's URL, e.g. https://acme.atlassian.net")
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.host in _LOCAL_HOSTS):
            raise ValueError("base_url must use https (http only for 127.0.0.1 or localhost)")
        if parts.path.strip("/").startswith("rest"):
            raise ValueError("base_url is the site's root URL, without /rest/api/3")
        return value.rstrip("/")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if "@" not in value or any(c.isspace() for c in value) or len(value) > 320:
            raise ValueError("email must be the Atlassian account's email address")
        return value

    @field_validator("jql")
    @classmethod
    def _filter(cls, value: str | None) -> str | None:
        problem = None if value is None else extra_jql_problem(value)
        if problem:
            raise ValueError(problem)
        return value.strip() if value is not None else None


def _settings(table: Mapping[str, Any]) -> JiraSettings:
    try:
        return JiraSettings.model_validate(dict(table))
    except ValidationError as exc:
        name = table.get("name", "?")
        problems = "; ".join(
            f"sources.{name}.{'.'.join(str(p) for p in err['loc']) or '(table)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(problems) from None


class JiraSource:
    plugin: ClassVar[str] = "jira"
    settings_model: ClassVar[type[BaseModel]] = JiraSettings

    def __init__(
        self, settings: JiraSettings, client: httpx.Client, token: Secret, webhook_secret: Secret | None
    ) -> None:
        self.name = settings.name
        site = httpx.URL(settings.base_url)
        if (client.base_url.scheme, client.base_url.host, client.base_url.port) != (site.scheme, site.host, site.port):
            raise ConfigError(f"sources.{self.name}: the HTTP client is not for base_url {settings.base_url}")
        self._settings = settings
        self._http = JiraHttp(self.name, client, settings.email, token)
        self._client = client
        self._webhook_secret = webhook_secret
        self._zone: tzinfo | None = None
        self._zone_known = False

    @classmethod
    def from_config(
        cls, name: str, table: Mapping[str, Any], client: httpx.Client, webhook_secret: Secret | None
    ) -> JiraSource:
        settings = _settings({**table, "name": name})
        where = f"sources.{name}.api_token"
        token = read_secret(where, settings.api_token, settings.api_token_file, settings.api_token_env)
        if token is None:
            raise ConfigError(f"sources.{name}: set api_token_file or api_token_env to the Jira account's API token")
        return cls(settings, client, token, webhook_secret)

    def __repr__(self) -> str:
        return f"JiraSource(name={self.name!r}, base_url={self._settings.base_url!r})"

    # ---- webhooks ----------------------------------------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: datetime) -> WebhookNotice:
        if self._webhook_secret is None:
            raise WebhookRefused("not_enabled")
        lowered = {key.lower(): value for key, value in headers.items()}
        return read_delivery("jira", self._webhook_secret, lowered, body, now)

    # ---- sweep -------------------------------------------------------------------------------------

    def changed_since(self, cursor: str | None, since: datetime | None) -> Iterator[SweepPage]:
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)  # a date without a zone (e.g. --since 2024-05-01) is UTC
        try:
            position = Position.decode(cursor) if cursor else Position(since)
        except CursorError:
            raise SourceError(f"{self.name}: the sweep cursor was not written by the Jira connector") from None
        zone = self._account_zone()
        restarted = False
        while True:
            body: dict[str, Any] = {
                "jql": search_jql(position.since, zone, self._settings.jql),
                "fields": list(SEARCH_FIELDS),
                "maxResults": self._settings.page_size,
            }
            if position.token is not None:
                body["nextPageToken"] = position.token
            response = self._http.send("POST", SEARCH, json=body, read_only=True, step="search issues")
            if response.status_code == 400 and position.token is not None and not restarted:
                # Page tokens expire: start this search over from its own start (the core skips what it saw).
                log.info("jira_page_token_refused", source=self.name)
                restarted = True
                position = Position(position.since, None, position.newest)
                continue
            if response.status_code == 400:
                raise SourceError(
                    f"{self.name}: search issues: HTTP 400: Jira refused the search (check the jql setting)"
                )
            if response.status_code != 200:
                raise self._http.failure(response, "search issues", permission=BROWSE)
            answer = _object(response, self.name, "search issues")
            page = read_issues(answer.get("issues"))
            newest = position.seen(page.newest)
            token = answer.get("nextPageToken")
            more = isinstance(token, str) and bool(token) and answer.get("isLast") is not True
            if more and token == position.token:
                raise SourceError(f"{self.name}: search issues: Jira sent the same page token twice")
            if not more:
                done = Position(position.since, None, newest).finished()
                yield SweepPage(page.tickets, page.attachments, done.encode(), done=True, reached=newest)
                return
            position = Position(position.since, str(token), newest)
            yield SweepPage(page.tickets, page.attachments, position.encode(), done=False, reached=newest)

    def _account_zone(self) -> tzinfo | None:
        """The searching account's time zone, which JQL dates are read in (asked once)."""
        if not self._zone_known:
            response = self._http.send("GET", MYSELF, step="read responder's Jira account")
            if response.status_code != 200:
                raise self._http.failure(response, "read responder's Jira account")
            self._remember_zone(_object(response, self.name, "read responder's Jira account"))
        return self._zone

    def _remember_zone(self, account: Mapping[str, Any]) -> None:
        self._zone = account_zone(account.get("timeZone"))
        self._zone_known = True
        if self._zone is None:
            log.info("jira_time_zone_unknown", source=self.name)

    def attachments_of(self, ticket_id: str) -> Sequence[AttachmentRef]:
        key = self._key(ticket_id)
        response = self._http.send(
            "GET", f"/rest/api/3/issue/{key}", params={"fields": "attachment"}, step=f"read issue {ticket_id}"
        )
        if response.status_code == 404:
            raise AttachmentGone(f"{self.name}: issue {ticket_id} no longer exists (or is hidden from responder)")
        if response.status_code != 200:
            raise self._http.failure(response, f"read issue {ticket_id}", permission=BROWSE)
        issue = _object(response, self.name, f"read issue {ticket_id}")
        fields = issue.get("fields")
        return attachments_of_issue(ticket_id, fields if isinstance(fields, dict) else {})

    # ---- files -------------------------------------------------------------------------------------

    def download(self, ref: AttachmentRef, max_bytes: int, out: BinaryIO) -> int:
        what = f"attachment {ref.attachment_id} on {ref.ticket_id}"
        too_large = f"{self.name}: {what} is larger than max_attachment_bytes ({max_bytes} bytes)"
        if ref.size is not None and ref.size > max_bytes:
            raise AttachmentTooLarge(too_large)
        step = f"download {what}"
        response = self._http.send(
            "GET",
            f"/rest/api/3/attachment/content/{self._attachment(ref)}",
            params={"redirect": "false"},  # the bytes from Jira itself, not a 303 to the media host
            headers={"Accept": "*/*"},
            stream=True,
            step=step,
        )
        try:
            if response.status_code == 404:
                raise AttachmentGone(f"{self.name}: {what} no longer exists")
            if response.status_code != 200:
                raise self._http.failure(response, step, permission=BROWSE)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise AttachmentTooLarge(too_large)
            count = 0
            for chunk in response.iter_bytes():
                count += len(chunk)
                if count > max_bytes:
                    raise AttachmentTooLarge(too_large)
                out.write(chunk)
            return count
        except httpx.TimeoutException:
            raise self._http.unreachable(step, "Jira stopped sending in time") from None
        except httpx.TransportError as exc:
            raise self._http.unreachable(step, f"the download broke off ({type(exc).__name__})") from None
        finally:
            response.close()

    def replace_with_sanitized(self, ref: AttachmentRef, sanitized: Path, name: str) -> Replaced:
        """Delete first: the exposure ends even if the upload then fails (a retry finds the original gone and
        only uploads). Jira has no in-place redaction. The copy is opened before anything is deleted, so a
        missing file fails with the original still in place."""
        key, what = self._key(ref.ticket_id), f"attachment {ref.attachment_id} on {ref.ticket_id}"
        shown = _UNSAFE_NAME.sub("_", name).strip() or "sanitized"
        kind = ref.content_type or mimetypes.guess_type(shown)[0] or "application/octet-stream"
        step = f"upload the sanitized copy to {ref.ticket_id}"
        with sanitized.open("rb") as handle:
            path = f"/rest/api/3/attachment/{self._attachment(ref)}"
            deleted = self._http.send("DELETE", path, step=f"delete {what}")
            if deleted.status_code not in (204, 200, 404):  # 404: already gone, which is what we want
                raise self._http.failure(deleted, f"delete {what}", permission=DELETE)
            uploaded = self._http.send(
                "POST",
                f"/rest/api/3/issue/{key}/attachments",
                files={"file": (shown, handle, kind)},
                headers={"X-Atlassian-Token": "no-check"},  # Jira blocks multipart posts without it (XSRF check)
                step=step,
            )
        if uploaded.status_code == 404:
            raise AttachmentGone(f"{self.name}: issue {ref.ticket_id} no longer exists; the original was deleted")
        if uploaded.status_code != 200:
            raise self._http.failure(uploaded, step, permission=CREATE)
        return Replaced(copy=self._uploaded(ref.ticket_id, uploaded), how="deleted")

    def _uploaded(self, ticket_id: str, response: httpx.Response) -> AttachmentRef | None:
        """The new attachment from the upload's answer (a list); None when Jira's answer is unreadable: the
        copy is on the ticket either way, and a later sweep reading it again finds nothing."""
        try:
            answer = response.json()
        except ValueError:
            return None
        first = answer[0] if isinstance(answer, list) and answer else None
        return attachment_ref(ticket_id, first)

    # ---- notes -------------------------------------------------------------------------------------

    def annotate(self, ref: AttachmentRef, note: str) -> None:
        key = self._key(ref.ticket_id)
        step = f"add an internal note to {ref.ticket_id}"
        if self._settings.service_desk:
            response = self._http.send(
                "POST", f"/rest/servicedeskapi/request/{key}/comment", json={"body": note, "public": False}, step=step
            )
            if response.status_code == 404:
                self._not_a_request(ref.ticket_id, key)
        else:
            body = {"body": _adf(note), "properties": [{"key": INTERNAL_PROPERTY, "value": {"internal": True}}]}
            response = self._http.send("POST", f"/rest/api/3/issue/{key}/comment", json=body, step=step)
            if response.status_code == 404:
                raise AttachmentGone(f"{self.name}: issue {ref.ticket_id} no longer exists")
        if response.status_code not in (200, 201):
            raise self._http.failure(response, step, permission=COMMENT)

    def _not_a_request(self, ticket_id: str, key: str) -> None:
        """The Service Management API answers 404 for a gone issue and for an issue outside a service project:
        one read tells which (the second is a configuration problem, never a reason to skip the note)."""
        issue = self._http.send("GET", f"/rest/api/3/issue/{key}", params={"fields": "id"}, step=f"read {ticket_id}")
        if issue.status_code == 404:
            raise AttachmentGone(f"{self.name}: issue {ticket_id} no longer exists")
        raise SourceError(
            f"{self.name}: {ticket_id} is not a Jira Service Management request: set service_desk = false for "
            "projects that are not service projects"
        )

    # ---- check, close ------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        site = self._settings.base_url
        try:
            response = self._http.send("GET", MYSELF, step="check")
        except SourceError:
            return CheckResult(False, f"cannot reach {site}: wrong base_url, or a network problem")
        code = response.status_code
        if code == 401:
            return CheckResult(
                False, "Jira refused responder's email and api_token (HTTP 401): wrong, revoked or expired"
            )
        if code == 403:
            return CheckResult(
                False, "Jira refused the account (HTTP 403): it may lack access to this site, or need a CAPTCHA login"
            )
        if code in (429, 503) or code >= 500:
            return CheckResult(False, f"{site} is busy or unavailable (HTTP {code}); try again")
        if code != 200:
            return CheckResult(False, f"GET {MYSELF} answered HTTP {code}: is {site} a Jira Cloud site?")
        try:
            account = _object(response, self.name, "check")
        except SourceError:
            return CheckResult(False, f"{site} did not answer as Jira does: wrong base_url?")
        self._remember_zone(account)
        who = account.get("emailAddress") or account.get("displayName") or account.get("accountId") or "?"
        return CheckResult(True, f"authenticated to {site} as {who}")

    def close(self) -> None:
        self._client.close()

    # ---- helpers -----------------------------------------------------------------------------------

    def _key(self, ticket_id: str) -> str:
        key = issue_key(ticket_id)
        if key is None:
            raise SourceError(f"{self.name}: {ticket_id!r} is not a Jira issue key")
        return quote(key, safe="")

    def _attachment(self, ref: AttachmentRef) -> str:
        found = attachment_id(ref.attachment_id)
        if found is None:
            raise SourceError(f"{self.name}: {ref.attachment_id!r} is not a Jira attachment id")
        return quote(found, safe="")


def _object(response: httpx.Response, source: str, step: str) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise SourceError(f"{source}: {step}: the answer is not Jira's JSON (wrong base_url?)")
    return answer


def _adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document, one paragraph per line (ADF text nodes may not
    be empty, so blank lines are empty paragraphs)."""
    paragraphs = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]} if line else {"type": "paragraph"}
        for line in text.splitlines() or [""]
    ]
    return {"type": "doc", "version": 1, "content": paragraphs}
