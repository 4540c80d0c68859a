"""The Jira connector against respx, with the shapes of Atlassian's REST reference (Jira Cloud platform v3 and
Jira Service Management): what it sends, how it reads Jira's answers, and what each status becomes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import structlog
from pydantic import SecretStr

from responder.errors import AttachmentGone, AttachmentTooLarge, ConfigError, SourceError, WebhookRefused
from responder.http import DryRunViolation, build_client, dry_run
from responder.model import AttachmentRef, SweepPage
from responder.plugins import load_sources, source_plugins
from responder.secret import Secret
from responder.settings import Settings
from responder.sources._jira_sweep import Position
from responder.sources.jira import JiraSource

BASE = "https://acme.atlassian.net"
EMAIL = "responder-bot@acme.example"
TOKEN = "ATATT3xFfGF0" + secrets.token_hex(16) + "JiraCanary"  # planted: must never show up anywhere
BASIC = "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
HOOK_SECRET = "jira-hook-" + secrets.token_hex(12)
SEARCH = f"{BASE}/rest/api/3/search/jql"
MYSELF = f"{BASE}/rest/api/3/myself"
SINCE = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def make(**overrides: Any) -> JiraSource:
    table: dict[str, Any] = {"name": "servicedesk", "base_url": BASE, "email": EMAIL, "api_token": SecretStr(TOKEN)}
    table.update(overrides)
    secret = Secret(HOOK_SECRET)
    return JiraSource.from_config("servicedesk", table, build_client(str(table["base_url"])), secret)


def myself(zone: str | None = "Australia/Sydney") -> dict[str, Any]:
    """GET /rest/api/3/myself, as in Atlassian's example (timeZone is the account's profile zone)."""
    account: dict[str, Any] = {
        "accountId": "5b10a2844c20165700ede21g",
        "accountType": "atlassian",
        "active": True,
        "displayName": "Responder Bot",
        "emailAddress": EMAIL,
        "self": f"{BASE}/rest/api/3/user?accountId=5b10a2844c20165700ede21g",
    }
    if zone is not None:
        account["timeZone"] = zone
    return account


def attachment(att_id: int, name: str, size: int, mime: str = "application/json") -> dict[str, Any]:
    """An issue's `fields.attachment[]` item (ids are numbers there in Atlassian's examples)."""
    return {
        "author": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Mia Krystof"},
        "content": f"{BASE}/rest/api/3/attachment/content/{att_id}",
        "created": "2024-05-01T09:58:00.000+0000",
        "filename": name,
        "id": att_id,
        "mimeType": mime,
        "self": f"{BASE}/rest/api/3/attachments/{att_id}",
        "size": size,
        "thumbnail": f"{BASE}/rest/api/3/attachment/thumbnail/{att_id}",
    }


def issue(key: str, updated: str, *attachments: dict[str, Any]) -> dict[str, Any]:
    fields = {"attachment": list(attachments), "updated": updated, "status": {"name": "Waiting for support"}}
    return {
        "expand": "",
        "id": str(10000 + int(key.split("-")[1])),
        "key": key,
        "self": f"{BASE}/rest/api/3/issue/1",
        "fields": fields,
    }


PAGE_1 = {
    "issues": [
        issue("SUP-1", "2024-05-01T20:01:10.000+1000", attachment(10001, "login.har", 2460)),
        issue("SUP-2", "2024-05-01T20:02:00.000+1000"),
    ],
    "nextPageToken": "CAEaAggD",
    "isLast": False,
}
PAGE_2 = {
    "issues": [issue("SUP-3", "2024-05-01T20:05:30.000+1000", attachment(10007, "trace.saz", 99, "application/zip"))],
    "isLast": True,
}


def bodies(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


def read_all(pages: Any) -> list[SweepPage]:
    return list(pages)


# ---- settings and loading -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"base_url": "http://acme.atlassian.net"}, "https"),
        ({"base_url": "https://acme.atlassian.net/rest/api/3"}, "without /rest"),
        ({"base_url": "acme.atlassian.net"}, "base_url"),
        ({"base_url": "https://acme.atlassian.net/?x=1"}, "base_url"),
        ({"jql": "project = SUP ORDER BY created DESC"}, "ORDER BY"),
        ({"jql": "  "}, "empty"),
        ({"email": "not-an-address"}, "email"),
        ({"page_size": 0}, "page_size"),
        ({"tokn": "typo"}, "tokn"),
        ({"api_token_env": "JIRA_TOKEN"}, "not several"),
    ],
)
def test_bad_settings_name_the_key_and_never_the_token(overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        make(**overrides)
    assert problem in str(raised.value)
    assert "sources.servicedesk" in str(raised.value)
    assert TOKEN not in str(raised.value)


def test_a_token_is_required(tmp_path: Path) -> None:
    table = {"name": "sd", "base_url": BASE, "email": EMAIL}
    with pytest.raises(ConfigError, match="api_token_file or api_token_env"):
        JiraSource.from_config("sd", table, build_client(BASE), None)
    token_file = tmp_path / "jira-token"
    token_file.write_text(TOKEN + "\n")
    source = JiraSource.from_config("sd", {**table, "api_token_file": str(token_file)}, build_client(BASE), None)
    assert source.name == "sd"


def test_local_http_is_allowed_for_tests_only() -> None:
    assert make(base_url="http://127.0.0.1:8080/").name == "servicedesk"
    with pytest.raises(ConfigError, match="https"):
        make(base_url="http://jira.internal.example")


def test_the_client_must_be_for_base_url() -> None:
    table = {"name": "sd", "base_url": BASE, "email": EMAIL, "api_token": SecretStr(TOKEN)}
    with pytest.raises(ConfigError, match="not for base_url"):
        JiraSource.from_config("sd", table, build_client("https://elsewhere.example"), None)


def test_registered_and_built_by_the_core_loader() -> None:
    assert source_plugins()["jira"] == "responder.sources.jira:JiraSource"
    settings = Settings(
        sources=[
            {
                "name": "sd",
                "plugin": "jira",
                "base_url": BASE,
                "email": EMAIL,
                "api_token": TOKEN,
                "jql": "project = SUP",
            }
        ]
    )
    sources = load_sources(settings)
    assert isinstance(sources["sd"], JiraSource)
    assert TOKEN not in repr(sources["sd"])


# ---- sweep --------------------------------------------------------------------------------------------


@respx.mock
def test_sweep_pages_through_search_with_the_accounts_time_zone() -> None:
    respx.get(MYSELF).respond(200, json=myself("Australia/Sydney"))
    search = respx.post(SEARCH).mock(side_effect=[httpx.Response(200, json=PAGE_1), httpx.Response(200, json=PAGE_2)])
    source = make(jql="project in (SUP)", page_size=2)
    with dry_run():  # a search is a read: a rehearsal may sweep
        pages = read_all(source.changed_since(None, SINCE))
    first, second = bodies(search)
    # 10:00 UTC is 20:00 in Sydney (AEST): JQL reads the literal in the account's zone.
    assert first == {
        "jql": 'updated >= "2024-05-01 20:00" AND (project in (SUP)) ORDER BY updated ASC, key ASC',
        "fields": ["attachment", "updated", "status"],
        "maxResults": 2,
    }
    assert second["nextPageToken"] == "CAEaAggD"
    assert second["jql"] == first["jql"]
    assert search.calls[0].request.headers["authorization"] == BASIC
    assert [(p.tickets, p.done) for p in pages] == [(2, False), (1, True)]
    assert pages[0].attachments == (
        AttachmentRef("SUP-1", "10001", "login.har", content_type="application/json", size=2460),
    )
    assert pages[1].attachments == (
        AttachmentRef("SUP-3", "10007", "trace.saz", content_type="application/zip", size=99),
    )
    middle = Position.decode(pages[0].cursor)
    assert (middle.since, middle.token) == (SINCE, "CAEaAggD")
    # Done: the next sweep starts a minute before the newest update seen (10:05:30 UTC).
    assert Position.decode(pages[1].cursor) == Position(datetime(2024, 5, 1, 10, 4, 30, tzinfo=UTC))


@respx.mock
def test_a_sweep_resumes_from_a_page_cursor() -> None:
    respx.get(MYSELF).respond(200, json=myself("UTC"))
    search = respx.post(SEARCH).respond(200, json=PAGE_2)
    cursor = Position(SINCE, "CAEaAggD", SINCE + timedelta(minutes=2)).encode()
    pages = read_all(make().changed_since(cursor, None))
    (body,) = bodies(search)
    assert body["nextPageToken"] == "CAEaAggD"
    assert body["jql"] == 'updated >= "2024-05-01 10:00" ORDER BY updated ASC, key ASC'
    assert [p.done for p in pages] == [True]


@respx.mock
def test_a_refused_page_token_restarts_the_search_from_its_start() -> None:
    respx.get(MYSELF).respond(200, json=myself("UTC"))

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("nextPageToken") == "expired":
            return httpx.Response(400, json={"errorMessages": ["The provided next page token is invalid."]})
        return httpx.Response(200, json=PAGE_2)

    search = respx.post(SEARCH).mock(side_effect=answer)
    cursor = Position(SINCE, "expired").encode()
    pages = read_all(make().changed_since(cursor, None))
    assert [("nextPageToken" in b, b["jql"]) for b in bodies(search)] == [
        (True, 'updated >= "2024-05-01 10:00" ORDER BY updated ASC, key ASC'),
        (False, 'updated >= "2024-05-01 10:00" ORDER BY updated ASC, key ASC'),
    ]
    assert pages[-1].done
    assert pages[-1].attachments[0].attachment_id == "10007"


@respx.mock
def test_a_second_refused_token_in_one_sweep_is_an_error_not_a_loop() -> None:
    respx.get(MYSELF).respond(200, json=myself("UTC"))

    def answer(request: httpx.Request) -> httpx.Response:
        if "nextPageToken" in json.loads(request.content):
            return httpx.Response(400, json={"errorMessages": ["invalid token"]})
        return httpx.Response(200, json=PAGE_1)

    respx.post(SEARCH).mock(side_effect=answer)
    with pytest.raises(SourceError, match="HTTP 400") as raised:
        read_all(make().changed_since(Position(SINCE, "stale").encode(), None))
    assert not raised.value.transient


@respx.mock
def test_a_refused_query_is_permanent_and_names_the_jql_setting() -> None:
    respx.get(MYSELF).respond(200, json=myself("UTC"))
    respx.post(SEARCH).respond(400, json={"errorMessages": ["Field 'projct' does not exist: SECRET-ECHO"]})
    with pytest.raises(SourceError) as raised:
        read_all(make(jql="projct = SUP").changed_since(None, SINCE))
    assert not raised.value.transient
    assert "jql" in str(raised.value)
    assert "SECRET-ECHO" not in str(raised.value)  # a body can echo what was sent: never repeated


@respx.mock
def test_without_a_known_time_zone_the_bound_is_widened_never_narrowed() -> None:
    respx.get(MYSELF).respond(200, json=myself(None))
    search = respx.post(SEARCH).respond(200, json={"issues": [], "isLast": True})
    pages = read_all(make().changed_since(None, SINCE))
    assert bodies(search)[0]["jql"].startswith('updated >= "2024-04-30 20:00"')  # 14 hours before, in UTC
    assert pages == [SweepPage(0, (), Position(SINCE).encode(), True)]


@respx.mock
def test_a_date_without_a_zone_is_utc() -> None:
    respx.get(MYSELF).respond(200, json=myself("Europe/Berlin"))
    search = respx.post(SEARCH).respond(200, json={"issues": [], "isLast": True})
    read_all(make().changed_since(None, datetime(2024, 1, 15, 8, 30)))
    assert bodies(search)[0]["jql"].startswith('updated >= "2024-01-15 09:30"')  # CET is UTC+1 in January


@respx.mock
def test_from_the_beginning_is_still_a_bounded_query() -> None:
    respx.get(MYSELF).respond(200, json=myself("UTC"))
    search = respx.post(SEARCH).respond(200, json={"issues": [], "isLast": True})
    read_all(make().changed_since(None, None))
    assert bodies(search)[0]["jql"] == 'updated >= "1970-01-01 00:00" ORDER BY updated ASC, key ASC'


@respx.mock
def test_minute_overlap_sees_the_last_issue_again() -> None:
    """`updated` has minute resolution: the next sweep's bound is the minute before the newest update seen."""
    respx.get(MYSELF).respond(200, json=myself("UTC"))
    last = {"issues": [issue("SUP-9", "2024-05-01T10:05:30.000+0000", attachment(1, "a.har", 1))], "isLast": True}
    search = respx.post(SEARCH).respond(200, json=last)
    source = make()
    (done,) = read_all(source.changed_since(None, SINCE))
    (again,) = read_all(source.changed_since(done.cursor, None))
    assert bodies(search)[1]["jql"].startswith('updated >= "2024-05-01 10:04"')
    assert again.attachments == done.attachments  # overlap by design; the core drops attachment ids it has seen


def test_a_foreign_cursor_is_refused() -> None:
    with pytest.raises(SourceError, match="cursor"):
        read_all(make().changed_since('{"page": 3}', None))


@respx.mock
def test_attachments_of_one_issue() -> None:
    route = respx.get(f"{BASE}/rest/api/3/issue/SUP-42").respond(
        200, json=issue("SUP-42", "2024-05-01T10:00:00.000+0000", attachment(10001, "picture.jpg", 23123, "image/jpeg"))
    )
    refs = make().attachments_of("SUP-42")
    assert refs == [AttachmentRef("SUP-42", "10001", "picture.jpg", content_type="image/jpeg", size=23123)]
    assert route.calls[0].request.url.params["fields"] == "attachment"


# ---- status mapping -----------------------------------------------------------------------------------


def _reset_in(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%MZ")


@pytest.mark.parametrize(
    ("answer", "transient", "words", "wait"),
    [
        (
            httpx.Response(429, headers={"Retry-After": "7", "RateLimit-Reason": "jira-burst-based"}),
            True,
            ["rate limited", "jira-burst-based"],
            (7, 7),
        ),
        (
            # Made when the test runs, not when it is collected: a long suite would otherwise pass the reset.
            lambda: httpx.Response(
                429, headers={"X-RateLimit-Reset": _reset_in(3), "RateLimit-Reason": "jira-per-issue-on-write"}
            ),
            True,
            ["jira-per-issue-on-write"],
            (119, 180),
        ),
        (httpx.Response(503, headers={"Retry-After": "2"}), True, ["unavailable"], (2, 2)),
        (httpx.Response(500), True, ["unavailable"], None),
        (httpx.Response(401), False, ["credentials"], None),
        (httpx.Response(403), False, ["permission", "Browse projects"], None),
        (httpx.Response(400), False, ["refused"], None),
        (
            httpx.Response(303, headers={"Location": "https://api.media.atlassian.com/file/x"}),
            False,
            ["redirect"],
            None,
        ),
    ],
)
@respx.mock
def test_status_mapping(
    answer: httpx.Response | Callable[[], httpx.Response],
    transient: bool,
    words: list[str],
    wait: tuple[int, int] | None,
) -> None:
    respx.get(f"{BASE}/rest/api/3/issue/SUP-1").mock(return_value=answer() if callable(answer) else answer)
    with pytest.raises(SourceError) as raised:
        make().attachments_of("SUP-1")
    error = raised.value
    assert error.transient is transient
    assert all(word in str(error) for word in words), str(error)
    if wait is None:
        assert error.retry_after is None
    else:
        assert error.retry_after is not None
        assert wait[0] <= error.retry_after <= wait[1]
    assert TOKEN not in str(error)
    assert BASIC not in str(error)


@pytest.mark.parametrize("failure", [httpx.ReadTimeout("slow"), httpx.ConnectError("refused")])
@respx.mock
def test_network_failures_are_transient(failure: Exception) -> None:
    respx.get(f"{BASE}/rest/api/3/issue/SUP-1").mock(side_effect=failure)
    with pytest.raises(SourceError) as raised:
        make().attachments_of("SUP-1")
    assert raised.value.transient
    assert raised.value.__cause__ is None


@respx.mock
def test_a_gone_issue_is_attachment_gone() -> None:
    respx.get(f"{BASE}/rest/api/3/issue/SUP-1").respond(404, json={"errorMessages": ["Issue does not exist"]})
    with pytest.raises(AttachmentGone):
        make().attachments_of("SUP-1")


# ---- download -----------------------------------------------------------------------------------------

REF = AttachmentRef("SUP-1", "10001", "login.har", content_type="application/json", size=None)
CONTENT = f"{BASE}/rest/api/3/attachment/content/10001"


@respx.mock
def test_download_asks_for_the_bytes_without_a_redirect() -> None:
    route = respx.get(CONTENT).respond(200, content=b'{"log": {}}', headers={"Content-Type": "application/json"})
    out = io.BytesIO()
    assert make().download(REF, 1024, out) == 11
    assert out.getvalue() == b'{"log": {}}'
    request = route.calls[0].request
    assert request.url.params["redirect"] == "false"
    assert request.headers["authorization"] == BASIC


@respx.mock
def test_a_redirect_to_the_media_host_is_never_followed() -> None:
    media = respx.get(url__startswith="https://api.media.atlassian.com").respond(200, content=b"x")
    respx.get(CONTENT).respond(303, headers={"Location": "https://api.media.atlassian.com/file/abc/binary"})
    with pytest.raises(SourceError, match="redirect"):
        make().download(REF, 1024, io.BytesIO())
    assert not media.called


@respx.mock
def test_known_size_over_the_limit_is_not_fetched() -> None:
    route = respx.get(CONTENT).respond(200, content=b"x")
    with pytest.raises(AttachmentTooLarge):
        make().download(AttachmentRef("SUP-1", "10001", "big.har", size=2048), 1024, io.BytesIO())
    assert not route.called


@respx.mock
def test_declared_length_over_the_limit_stops_before_reading() -> None:
    respx.get(CONTENT).respond(200, content=b"y" * 2048)
    out = io.BytesIO()
    with pytest.raises(AttachmentTooLarge):
        make().download(REF, 1024, out)
    assert out.getvalue() == b""


@respx.mock
def test_undeclared_length_is_counted_while_streaming() -> None:
    respx.get(CONTENT).mock(
        return_value=httpx.Response(200, content=iter([b"z" * 600, b"z" * 600, b"z" * 600]))  # chunked, no length
    )
    out = io.BytesIO()
    with pytest.raises(AttachmentTooLarge):
        make().download(REF, 1024, out)
    assert len(out.getvalue()) <= 1024
    respx.get(CONTENT).mock(return_value=httpx.Response(200, content=iter([b"z" * 512, b"z" * 512])))
    exact = io.BytesIO()
    assert make().download(REF, 1024, exact) == 1024


@respx.mock
def test_a_deleted_attachment_is_gone() -> None:
    respx.get(CONTENT).respond(404)
    with pytest.raises(AttachmentGone):
        make().download(REF, 1024, io.BytesIO())


# ---- replace ------------------------------------------------------------------------------------------

DELETE = f"{BASE}/rest/api/3/attachment/10001"
UPLOAD = f"{BASE}/rest/api/3/issue/SUP-1/attachments"
UPLOADED = [  # Atlassian's "Add attachment" answer: a list, ids as strings
    {
        "author": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Responder Bot"},
        "content": f"{BASE}/rest/api/3/attachment/content/10002",
        "created": 1651316514000,
        "filename": "login.sanitized.har",
        "id": "10002",
        "mimeType": "application/json",
        "self": f"{BASE}/rest/api/3/attachments/10002",
        "size": 5,
    }
]


def _multipart(request: httpx.Request) -> list[tuple[str | None, str | None, bytes]]:
    raw = b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n" + request.content
    message = BytesParser(policy=policy.HTTP).parsebytes(raw)
    return [
        (part.get_param("name", header="content-disposition"), part.get_filename(), part.get_payload(decode=True))
        for part in message.iter_parts()
    ]


@respx.mock
def test_replace_deletes_first_then_uploads_the_copy(tmp_path: Path) -> None:
    order: list[str] = []
    respx.delete(DELETE).mock(side_effect=lambda r: order.append("delete") or httpx.Response(204))
    upload = respx.post(UPLOAD).mock(side_effect=lambda r: order.append("upload") or httpx.Response(200, json=UPLOADED))
    clean = tmp_path / "clean.har"
    clean.write_bytes(b"clean")
    replaced = make().replace_with_sanitized(REF, clean, "login.sanitized.har")
    assert order == ["delete", "upload"]
    request = upload.calls[0].request
    assert request.headers["x-atlassian-token"] == "no-check"
    assert _multipart(request) == [("file", "login.sanitized.har", b"clean")]
    assert replaced.how == "deleted"
    assert replaced.copy == AttachmentRef(
        "SUP-1", "10002", "login.sanitized.har", content_type="application/json", size=5
    )


@respx.mock
def test_replace_when_the_original_is_already_gone_still_uploads(tmp_path: Path) -> None:
    respx.delete(DELETE).respond(404)
    upload = respx.post(UPLOAD).respond(200, json=UPLOADED)
    clean = tmp_path / "c"
    clean.write_bytes(b"clean")
    assert make().replace_with_sanitized(REF, clean, "../evil/na\x00me.har").how == "deleted"
    assert _multipart(upload.calls[0].request)[0][1] == ".._evil_na_me.har"


@respx.mock
def test_replace_without_delete_permission_uploads_nothing(tmp_path: Path) -> None:
    respx.delete(DELETE).respond(403)
    upload = respx.post(UPLOAD).respond(200, json=UPLOADED)
    clean = tmp_path / "c"
    clean.write_bytes(b"clean")
    with pytest.raises(SourceError, match="Delete all attachments") as raised:
        make().replace_with_sanitized(REF, clean, "c.har")
    assert not raised.value.transient
    assert not upload.called


@respx.mock
def test_replace_on_a_deleted_issue_is_gone(tmp_path: Path) -> None:
    respx.delete(DELETE).respond(404)
    respx.post(UPLOAD).respond(404)
    clean = tmp_path / "c"
    clean.write_bytes(b"clean")
    with pytest.raises(AttachmentGone):
        make().replace_with_sanitized(REF, clean, "c.har")


@respx.mock
def test_dry_run_never_deletes(tmp_path: Path) -> None:
    delete = respx.delete(DELETE).respond(204)
    clean = tmp_path / "c"
    clean.write_bytes(b"clean")
    with dry_run(), pytest.raises(DryRunViolation):
        make().replace_with_sanitized(REF, clean, "c.har")
    assert not delete.called


@respx.mock
def test_a_missing_copy_fails_before_the_original_is_deleted(tmp_path: Path) -> None:
    delete = respx.delete(DELETE).respond(204)
    with pytest.raises(FileNotFoundError):
        make().replace_with_sanitized(REF, tmp_path / "never-written.har", "c.har")
    assert not delete.called


# ---- notes --------------------------------------------------------------------------------------------

JSM_COMMENT = f"{BASE}/rest/servicedeskapi/request/SUP-1/comment"
PLATFORM_COMMENT = f"{BASE}/rest/api/3/issue/SUP-1/comment"
NOTE = "responder revoked 2 sessions of alice@acme.example (okta).\n\nThe capture was replaced by a sanitized copy."


@respx.mock
def test_internal_note_through_service_management() -> None:
    route = respx.post(JSM_COMMENT).respond(201, json={"id": "1000", "body": NOTE, "public": False})
    make().annotate(REF, NOTE)
    assert json.loads(route.calls[0].request.content) == {"body": NOTE, "public": False}


@respx.mock
def test_internal_note_as_a_platform_comment() -> None:
    route = respx.post(PLATFORM_COMMENT).respond(201, json={"id": "10000", "jsdPublic": False})
    make(service_desk=False).annotate(REF, NOTE)
    sent = json.loads(route.calls[0].request.content)
    assert sent["properties"] == [{"key": "sd.public.comment", "value": {"internal": True}}]
    assert sent["body"] == {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": NOTE.splitlines()[0]}]},
            {"type": "paragraph"},
            {"type": "paragraph", "content": [{"type": "text", "text": NOTE.splitlines()[2]}]},
        ],
    }
    assert "visibility" not in sent
    assert "jsdPublic" not in sent


@respx.mock
def test_service_management_404_on_a_live_issue_is_a_configuration_error() -> None:
    respx.post(JSM_COMMENT).respond(404, json={"errorMessage": "The request could not be found."})
    respx.get(f"{BASE}/rest/api/3/issue/SUP-1").respond(200, json={"id": "10001", "key": "SUP-1"})
    with pytest.raises(SourceError, match="service_desk = false") as raised:
        make().annotate(REF, NOTE)
    assert not isinstance(raised.value, AttachmentGone)
    assert not raised.value.transient


@respx.mock
def test_service_management_404_on_a_gone_issue_is_gone() -> None:
    respx.post(JSM_COMMENT).respond(404)
    respx.get(f"{BASE}/rest/api/3/issue/SUP-1").respond(404)
    with pytest.raises(AttachmentGone):
        make().annotate(REF, NOTE)


# ---- check --------------------------------------------------------------------------------------------


@respx.mock
def test_check_proves_the_credentials() -> None:
    respx.get(MYSELF).respond(200, json=myself())
    result = make().check()
    assert result.ok
    assert EMAIL in result.detail


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (httpx.Response(401), "api_token"),
        (httpx.Response(403), "HTTP 403"),
        (httpx.Response(404, text="<html>nope</html>"), "Jira Cloud site"),
        (httpx.Response(200, text="<html>login</html>"), "wrong base_url"),
        (httpx.ConnectError("refused"), "cannot reach"),
    ],
)
@respx.mock
def test_check_says_what_is_wrong(answer: Any, words: str) -> None:
    if isinstance(answer, Exception):
        respx.get(MYSELF).mock(side_effect=answer)
    else:
        respx.get(MYSELF).mock(return_value=answer)
    result = make().check()
    assert not result.ok
    assert words in result.detail
    assert TOKEN not in result.detail


# ---- webhooks -----------------------------------------------------------------------------------------

ISSUE_UPDATED = {
    "timestamp": 1714557600000,
    "webhookEvent": "jira:issue_updated",
    "issue_event_type_name": "issue_updated",
    "issue": {
        "id": "10042",
        "key": "SUP-42",
        "fields": {"attachment": [attachment(10001, "old.png", 10, "image/png"), attachment(10002, "capture.har", 5)]},
    },
    "changelog": {
        "id": "10500",
        "items": [
            {
                "field": "Attachment",
                "fieldtype": "jira",
                "fieldId": "attachment",
                "from": None,
                "fromString": None,
                "to": "10002",
                "toString": "capture.har",
            }
        ],
    },
}


def _signed(body: bytes, secret: str = HOOK_SECRET) -> dict[str, str]:
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Hub-Signature": f"sha256={mac}",
        "X-Atlassian-Webhook-Identifier": "delivery-7",
        "Content-Type": "application/json",
    }


def test_webhook_refused_when_no_secret_is_configured() -> None:
    body = json.dumps(ISSUE_UPDATED).encode()
    source = JiraSource.from_config(
        "sd", {"name": "sd", "base_url": BASE, "email": EMAIL, "api_token": SecretStr(TOKEN)}, build_client(BASE), None
    )
    with pytest.raises(WebhookRefused) as raised:
        source.parse_webhook(_signed(body), body, datetime.now(UTC))
    assert raised.value.reason == "not_enabled"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Content-Type": "application/json"}, "missing_signature"),
        (_signed(b"another body"), "bad_signature"),
        (_signed(json.dumps(ISSUE_UPDATED).encode(), secret="the-wrong-secret"), "bad_signature"),
    ],
)
def test_webhook_with_a_bad_signature_is_refused(headers: dict[str, str], reason: str) -> None:
    body = json.dumps(ISSUE_UPDATED).encode()
    with pytest.raises(WebhookRefused) as raised:
        make().parse_webhook(headers, body, datetime.now(UTC))
    assert raised.value.reason == reason


def test_webhook_issue_updated_announces_the_attachment_its_changelog_adds() -> None:
    body = json.dumps(ISSUE_UPDATED).encode()
    notice = make().parse_webhook(_signed(body), body, datetime.now(UTC))
    assert (notice.event, notice.ticket_id, notice.delivery_id) == ("jira:issue_updated", "SUP-42", "delivery-7")
    assert [(a.ticket_id, a.attachment_id, a.name) for a in notice.attachments] == [("SUP-42", "10002", "capture.har")]


# ---- the planted token --------------------------------------------------------------------------------


def test_the_api_token_never_appears_in_errors_reprs_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    encoded = base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
    texts: list[str] = []
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as events, respx.mock:
        source = make()
        texts += [repr(source), str(source), repr(source._settings), str(source._settings.model_dump())]
        respx.get(MYSELF).respond(200, json=myself("UTC"))
        respx.post(SEARCH).mock(
            side_effect=[httpx.Response(400, text=f"echo {TOKEN}"), httpx.Response(200, json=PAGE_2)]
        )
        read_all(source.changed_since(Position(SINCE, "expired").encode(), None))  # logs the restart
        for answer in (
            httpx.Response(401, text=f"bad token {TOKEN}"),
            httpx.Response(403, text=TOKEN),
            httpx.Response(429, headers={"Retry-After": "1", "RateLimit-Reason": TOKEN}),
            httpx.ReadTimeout(f"timed out {TOKEN}"),
        ):
            route = respx.get(CONTENT)
            route.mock(side_effect=answer) if isinstance(answer, Exception) else route.mock(return_value=answer)
            with pytest.raises(SourceError) as raised:
                source.download(REF, 1024, io.BytesIO())
            texts += [str(raised.value), repr(raised.value), repr(raised.value.args)]
        with pytest.raises(ConfigError) as bad:
            make(page_size="many")
        texts.append(str(bad.value))
    texts += [json.dumps(events, default=str), caplog.text]
    assert events, "the token restart is logged"
    for text in texts:
        assert TOKEN not in text
        assert encoded not in text
