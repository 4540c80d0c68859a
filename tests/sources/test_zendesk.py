"""The Zendesk connector against respx, with answers shaped like Zendesk's documentation (incremental export,
cursor-paginated comments, attachment objects, uploads, ticket updates with their audit). Any host without a
route is refused by respx, so a request to a host these tests did not plan for fails them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from responder.errors import AttachmentGone, AttachmentTooLarge, ConfigError, SourceError, WebhookRefused
from responder.http import DryRunViolation, RateLimitPacer, build_client
from responder.interfaces import Source
from responder.model import AttachmentRef
from responder.plugins import load_sources
from responder.secret import Secret
from responder.settings import Settings, SourceConfig
from responder.sources.zendesk import ZendeskSource

HOST = "acme.zendesk.com"
BASE = f"https://{HOST}"
CDN_HOST = "acme.zdusercontent.com"
EMAIL = "responder@acme.com"
TOKEN = "zdTOKENcanary0123456789abcdefghijKLMN"
BASIC = "Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
WEBHOOK_SECRET = "dGhpcyBpcyBhIHdlYmhvb2sgc2VjcmV0"
NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


# ---- documented shapes ----------------------------------------------------------------------------------------


def attachment(
    attachment_id: int, name: str = "capture.har", *, size: int = 2532, deleted: bool = False, inline: bool = False
) -> dict[str, Any]:
    token = f"tok{attachment_id}Secret"
    return {
        "content_type": "application/json",
        "content_url": f"{BASE}/attachments/token/{token}/?name={name}",
        "deleted": deleted,
        "file_name": name,
        "height": None,
        "id": attachment_id,
        "inline": inline,
        "malware_access_override": False,
        "malware_scan_result": "malware_not_found",
        "mapped_content_url": f"{BASE}/attachments/token/{token}/?name={name}",
        "size": size,
        "thumbnails": [],
        "url": f"{BASE}/api/v2/attachments/{attachment_id}.json",
        "width": None,
    }


def comment(comment_id: int, *files: dict[str, Any], public: bool = True, body: str = "See attached") -> dict[str, Any]:
    return {
        "id": comment_id,
        "type": "Comment",
        "author_id": 123,
        "body": body,
        "html_body": f"<p>{body}</p>",
        "plain_body": body,
        "public": public,
        "attachments": list(files),
        "audit_id": comment_id + 1,
        "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}},
        "created_at": "2024-05-06T07:08:09Z",
    }


def comments_page(*items: dict[str, Any], after: str | None = None) -> dict[str, Any]:
    return {
        "comments": list(items),
        "meta": {"has_more": after is not None, "after_cursor": after, "before_cursor": "yyy"},
        "links": {
            "next": f"{BASE}/api/v2/tickets/1/comments.json?page[size]=100&page[after]={after}" if after else None
        },
    }


def ticket(ticket_id: int, status: str = "open") -> dict[str, Any]:
    return {
        "id": ticket_id,
        "url": f"{BASE}/api/v2/tickets/{ticket_id}.json",
        "status": status,
        "subject": "Login broken",
        "updated_at": "2024-05-06T07:08:09Z",
        "generated_timestamp": 1715000000,
    }


def export_page(*tickets: dict[str, Any], after: str, end: bool) -> dict[str, Any]:
    return {
        "tickets": list(tickets),
        "after_url": f"{BASE}/api/v2/incremental/tickets/cursor.json?cursor={after}",
        "after_cursor": after,
        "before_url": None,
        "before_cursor": None,
        "end_of_stream": end,
    }


# ---- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


class Clock:
    """A fake monotonic clock whose sleep moves it forward."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_source(
    *, clock: Clock | None = None, dry: bool = False, webhook: str | None = WEBHOOK_SECRET, **extra: Any
) -> ZendeskSource:
    clock = clock or Clock()
    table = {"base_url": BASE, "email": EMAIL, "api_token": TOKEN, **extra}
    secret = Secret(webhook) if webhook else None
    return ZendeskSource.from_config(
        "zd", table, build_client(BASE, always_dry_run=dry), secret, clock=clock, sleep=clock.sleep
    )


def authed(handler: Callable[[httpx.Request], httpx.Response]) -> Callable[[httpx.Request], httpx.Response]:
    """Zendesk's Basic auth check in front of a route: 401 unless the API token credentials are exact."""

    def check(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != BASIC:
            return httpx.Response(401, json={"error": "Couldn't authenticate you"})
        return handler(request)

    return check


def api(
    router: respx.MockRouter, method: str, path: str, handler: Callable[[httpx.Request], httpx.Response]
) -> respx.Route:
    return router.route(method=method, host=HOST, path=path).mock(side_effect=authed(handler))


def answer(status: int, body: Any = None, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=body, headers=headers)


def ref(attachment_id: str = "498483", ticket_id: str = "35436", comment_id: str | None = "7001") -> AttachmentRef:
    return AttachmentRef(ticket_id, attachment_id, "capture.har", comment_id, "application/json", 2532)


# ---- settings -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "problem"),
    [
        ("http://acme.zendesk.com", "https://<subdomain>.zendesk.com"),
        ("https://acme.example.com", "https://<subdomain>.zendesk.com"),
        ("https://zendesk.com", "https://<subdomain>.zendesk.com"),
        ("https://acme.zendesk.com/api/v2", "no path"),
        ("https://acme.zendesk.com?x=1", "no path"),
    ],
)
def test_base_url_must_be_a_zendesk_account(base_url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=r"sources\.zd\.base_url") as caught:
        ZendeskSource.from_config(
            "zd", {"base_url": base_url, "email": EMAIL, "api_token": TOKEN}, httpx.Client(), None
        )
    assert problem in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_a_local_fake_may_use_http_and_the_url_is_normalised() -> None:
    source = ZendeskSource.from_config(
        "zd", {"base_url": "http://127.0.0.1:8123/", "email": EMAIL, "api_token": TOKEN}, httpx.Client(), None
    )
    assert "http://127.0.0.1:8123" in repr(source)


def test_the_token_comes_from_exactly_one_place(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    table = {"base_url": BASE, "email": EMAIL}
    with pytest.raises(ConfigError, match="api_token_file or api_token_env"):
        ZendeskSource.from_config("zd", table, httpx.Client(), None)
    monkeypatch.setenv("ZD_TOKEN", TOKEN)
    with pytest.raises(ConfigError, match="not several") as caught:
        ZendeskSource.from_config(
            "zd", {**table, "api_token": TOKEN, "api_token_env": "ZD_TOKEN"}, httpx.Client(), None
        )
    assert TOKEN not in str(caught.value)
    (tmp_path / "token").write_text(TOKEN + "\n")
    assert ZendeskSource.from_config("zd", {**table, "api_token_file": tmp_path / "token"}, httpx.Client(), None)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("email", "responder:x@acme.com"),
        ("email", "not-an-address"),
        ("attachment_hosts", ["https://cdn.example.com/path"]),
        ("export_requests_per_minute", 0),
        ("export_page_size", 1001),
        ("unknown_key", 1),
    ],
)
def test_bad_keys_are_named(key: str, value: Any) -> None:
    table = {"base_url": BASE, "email": EMAIL, "api_token": TOKEN, key: value}
    with pytest.raises(ConfigError, match=re.escape(f"sources.zd.{key}")) as caught:
        ZendeskSource.from_config("zd", table, httpx.Client(), None)
    assert TOKEN not in str(caught.value)


def test_it_is_a_source() -> None:
    source: Source = make_source()  # mypy checks the protocol here
    assert source.plugin == "zendesk"
    assert source.name == "zd"


def test_the_core_builds_it_through_its_entry_point() -> None:
    table = {"name": "desk", "plugin": "zendesk", "base_url": BASE, "email": EMAIL, "api_token": TOKEN}
    settings = Settings(sources=(SourceConfig.model_validate(table),))
    sources = load_sources(settings)
    assert isinstance(sources["desk"], ZendeskSource)
    assert sources["desk"].name == "desk"


# ---- status mapping -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "transient", "retry_after", "words"),
    [
        (429, {"Retry-After": "7"}, True, 7.0, "HTTP 429"),
        (429, {"ratelimit-reset": "41"}, True, 41.0, "HTTP 429"),
        (503, {"Retry-After": "30"}, True, 30.0, "HTTP 503"),
        (500, {}, True, None, "HTTP 500"),
        (401, {}, False, None, "refused responder's credentials"),
        (403, {}, False, None, "not allowed"),
        (422, {}, False, None, "HTTP 422"),
        (
            302,
            {"Location": "https://elsewhere.example/login?token=abc"},
            False,
            None,
            "redirect to https://elsewhere.example",
        ),
    ],
)
def test_each_status_has_one_meaning(
    router: respx.MockRouter,
    status: int,
    headers: dict[str, str],
    transient: bool,
    retry_after: float | None,
    words: str,
) -> None:
    api(router, "GET", "/api/v2/tickets/35436/comments", answer(status, {"error": "Busy"}, **headers))
    clock = Clock()  # a 429's short waits (the source's, and the HTTP client's pacer) pass on the test's clock
    client = httpx.Client(
        base_url=BASE, transport=RateLimitPacer(httpx.HTTPTransport(), clock=clock, sleep=clock.sleep)
    )
    source = ZendeskSource.from_config(
        "zd", {"base_url": BASE, "email": EMAIL, "api_token": TOKEN}, client, None, clock=clock, sleep=clock.sleep
    )
    with pytest.raises(SourceError) as caught:
        source.attachments_of("35436")
    assert type(caught.value) is SourceError
    assert caught.value.transient is transient
    assert caught.value.retry_after == retry_after
    assert words in str(caught.value)
    assert "token=abc" not in str(caught.value)


@pytest.mark.parametrize("error", [httpx.ReadTimeout("slow"), httpx.ConnectError("refused")])
def test_network_failures_are_transient(router: respx.MockRouter, error: Exception) -> None:
    router.route(host=HOST).mock(side_effect=error)
    with pytest.raises(SourceError) as caught:
        make_source().attachments_of("35436")
    assert caught.value.transient
    assert HOST in str(caught.value)


def test_an_error_message_names_zendesks_error_word_not_its_text(router: respx.MockRouter) -> None:
    body = {"error": "RecordInvalid", "description": "the description could echo anything, like " + TOKEN}
    api(router, "GET", "/api/v2/tickets/35436/comments", answer(422, body))
    with pytest.raises(SourceError) as caught:
        make_source().attachments_of("35436")
    assert "HTTP 422 RecordInvalid" in str(caught.value)
    assert "description" not in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_an_id_from_a_payload_never_shapes_a_path(router: respx.MockRouter) -> None:
    source = make_source()
    for bad in ("../users/me", "1/../../2", "12a", ""):
        with pytest.raises(SourceError, match="not a Zendesk id"):
            source.attachments_of(bad)
        with pytest.raises(SourceError, match="not a Zendesk id"):
            source.download(ref(attachment_id=bad), 100, io.BytesIO())
    assert not router.calls


# ---- sweep ----------------------------------------------------------------------------------------------------


def test_a_sweep_pages_through_the_export_and_every_tickets_comments(router: respx.MockRouter) -> None:
    pages = {
        None: export_page(ticket(1), ticket(2, "deleted"), ticket(3, "closed"), after="c1", end=False),
        "c1": export_page(ticket(4, "solved"), after="c2", end=True),
    }
    exports: list[httpx.QueryParams] = []

    def export(request: httpx.Request) -> httpx.Response:
        exports.append(request.url.params)
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    def comments(request: httpx.Request) -> httpx.Response:
        ticket_id = request.url.path.split("/")[4]
        assert request.url.params["page[size]"] == "100"
        assert request.url.params["include_inline_images"] == "true"
        if ticket_id == "1" and "page[after]" not in request.url.params:
            return httpx.Response(200, json=comments_page(comment(11, attachment(101, "a.har")), after="p2"))
        if ticket_id == "1":
            assert request.url.params["page[after]"] == "p2"
            files = (attachment(102, "shot.png", inline=True), attachment(103, deleted=True))
            return httpx.Response(200, json=comments_page(comment(12, *files)))
        if ticket_id == "3":
            redacted = attachment(104, "redacted.txt", size=0)
            return httpx.Response(200, json=comments_page(comment(31, redacted, attachment(105, "b.har.gz"))))
        return httpx.Response(200, json=comments_page(comment(41, body="no files")))

    api(router, "GET", "/api/v2/incremental/tickets/cursor", export)
    router.route(method="GET", host=HOST, path__regex=r"/api/v2/tickets/\d+/comments").mock(
        side_effect=authed(comments)
    )

    since = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    swept = list(make_source(export_page_size=500).changed_since(None, since))

    assert [(p.tickets, p.cursor, p.done) for p in swept] == [(2, "c1", False), (1, "c2", True)]
    assert [(r.ticket_id, r.attachment_id, r.name, r.comment_id) for r in swept[0].attachments] == [
        ("1", "101", "a.har", "11"),
        ("1", "102", "shot.png", "12"),  # inline images are files too
        ("3", "105", "b.har.gz", "31"),  # deleted and redacted ones are not listed; deleted tickets are skipped
    ]
    assert swept[0].attachments[0].size == 2532
    assert swept[0].attachments[0].content_type == "application/json"
    assert swept[1].attachments == ()
    assert exports[0]["start_time"] == str(int(since.timestamp()))
    assert exports[0]["per_page"] == "500"
    assert "cursor" not in exports[0]
    assert exports[1]["cursor"] == "c1"
    assert "start_time" not in exports[1]


def test_a_sweep_resumes_from_its_cursor_and_starts_at_zero_without_one(router: respx.MockRouter) -> None:
    seen: list[httpx.QueryParams] = []

    def export(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params)
        return httpx.Response(200, json=export_page(after="next", end=True))

    api(router, "GET", "/api/v2/incremental/tickets/cursor", export)
    source = make_source()
    assert [p.cursor for p in source.changed_since("saved-cursor", datetime(2020, 1, 1, tzinfo=UTC))] == ["next"]
    assert [p.done for p in source.changed_since(None, None)] == [True]
    assert seen[0]["cursor"] == "saved-cursor"
    assert "start_time" not in seen[0]
    assert seen[1]["start_time"] == "0"


def test_a_page_without_a_new_cursor_stops_the_sweep(router: respx.MockRouter) -> None:
    api(router, "GET", "/api/v2/incremental/tickets/cursor", answer(200, export_page(after="same", end=False)))
    with pytest.raises(SourceError, match="no cursor"):
        list(make_source().changed_since("same", None))


def test_export_calls_are_paced_to_their_own_limit(router: respx.MockRouter) -> None:
    clock = Clock()
    calls: list[float] = []

    def export(request: httpx.Request) -> httpx.Response:
        calls.append(clock.now)
        n = len(calls)
        return httpx.Response(200, json=export_page(after=f"c{n}", end=n == 7))

    api(router, "GET", "/api/v2/incremental/tickets/cursor", export)
    pages = list(make_source(clock=clock, export_requests_per_minute=3).changed_since(None, None))
    assert len(pages) == 7
    for i, start in enumerate(calls):
        assert sum(1 for t in calls[i:] if t - start < 60) <= 3, calls
    assert calls[3] - calls[0] == pytest.approx(60)  # it waits as long as needed, and no longer
    assert len(clock.sleeps) == 2


def test_the_account_window_is_waited_out_before_a_429(router: respx.MockRouter) -> None:
    clock = Clock()
    times: list[float] = []

    def comments(request: httpx.Request) -> httpx.Response:
        times.append(clock.now)
        headers = {"X-Rate-Limit": "400", "X-Rate-Limit-Remaining": "0", "ratelimit-reset": "7"}
        return httpx.Response(200, json=comments_page(), headers=headers)

    api(router, "GET", "/api/v2/tickets/35436/comments", comments)
    source = make_source(clock=clock)
    source.attachments_of("35436")
    source.attachments_of("35436")
    assert clock.sleeps == [7.0]
    assert times[1] - times[0] == 7.0


def test_an_answer_without_a_reset_still_counts_against_a_minute_window(router: respx.MockRouter) -> None:
    """An answer may carry the count without `ratelimit-reset` (only the Ticketing APIs add the trio)."""
    clock = Clock()
    headers = {"X-Rate-Limit": "400", "X-Rate-Limit-Remaining": "0"}
    route = api(router, "GET", "/api/v2/tickets/35436/comments", answer(200, comments_page(), **headers))
    source = make_source(clock=clock, max_rate_limit_wait_seconds=120)
    source.attachments_of("35436")
    source.attachments_of("35436")
    assert clock.sleeps == [60.0]  # the rest of the minute, taken to start at the first answer
    assert route.call_count == 2


def test_the_window_length_is_learned_from_the_answers_that_name_a_reset(router: respx.MockRouter) -> None:
    clock = Clock()
    listing = {"X-Rate-Limit": "400", "X-Rate-Limit-Remaining": "5", "ratelimit-reset": "10"}
    api(router, "GET", "/api/v2/tickets/35436/comments", answer(200, comments_page(), **listing))
    api(
        router,
        "GET",
        "/api/v2/attachments/498483",
        answer(200, {"attachment": attachment(498483)}, **{"X-Rate-Limit": "400", "X-Rate-Limit-Remaining": "0"}),
    )
    router.route(host=HOST, path__startswith="/attachments/token/").mock(return_value=httpx.Response(200, content=b"x"))
    source = make_source(clock=clock)
    source.attachments_of("35436")  # names a 10 s window
    clock.now += 11  # that window is over
    source.download(ref(), 1 << 20, io.BytesIO())  # a read that says none are left, and names no reset
    source.attachments_of("35436")
    assert clock.sleeps == [10.0]  # the learned window, not a whole minute


def test_a_long_window_is_handed_to_the_core_as_transient(router: respx.MockRouter) -> None:
    route = api(router, "GET", "/api/v2/tickets/35436/comments", answer(429, {}, **{"Retry-After": "600"}))
    source = make_source(max_rate_limit_wait_seconds=60)
    with pytest.raises(SourceError):
        source.attachments_of("35436")
    with pytest.raises(SourceError, match="rate limit is used up") as caught:
        source.attachments_of("35436")
    assert caught.value.transient
    assert caught.value.retry_after == pytest.approx(600)
    assert route.call_count == 1  # the second call was not sent


def test_a_deleted_ticket_has_no_attachments(router: respx.MockRouter) -> None:
    api(
        router,
        "GET",
        "/api/v2/tickets/35436/comments",
        answer(404, {"error": "RecordNotFound", "description": "Not found"}),
    )
    assert make_source().attachments_of("35436") == []


# ---- download -------------------------------------------------------------------------------------------------


def attachment_route(router: respx.MockRouter, body: dict[str, Any], attachment_id: int = 498483) -> respx.Route:
    return api(router, "GET", f"/api/v2/attachments/{attachment_id}", answer(200, {"attachment": body}))


def test_download_signs_in_at_the_account_and_follows_one_redirect_to_the_cdn_without_credentials(
    router: respx.MockRouter,
) -> None:
    """Zendesk's documented way to private attachments: the content_url with the API token, then its 302."""
    data = b'{"log": {"entries": []}}' * 100
    attachment_route(router, attachment(498483, size=len(data)))
    seen: list[httpx.Request] = []

    def link(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": f"https://{CDN_HOST}/attachments/xyz/capture.har"})

    def cdn(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=data, headers={"Content-Type": "application/json"})

    router.route(method="GET", host=HOST, path="/attachments/token/tok498483Secret/").mock(side_effect=link)
    router.route(method="GET", host=CDN_HOST).mock(side_effect=cdn)
    out = io.BytesIO()
    assert make_source().download(ref(), 1 << 20, out) == len(data)
    assert out.getvalue() == data
    assert [r.url.host for r in seen] == [HOST, CDN_HOST]
    account, cdn_request = seen
    assert account.headers["authorization"].startswith("Basic ")  # the account's own host: signed in
    assert "authorization" not in cdn_request.headers  # the short-lived link elsewhere: never
    assert not any("cookie" in request.headers for request in seen)


@pytest.mark.parametrize(
    ("content_url", "hosts"),
    [
        ("https://files.evil.example/attachments/token/abc/?name=capture.har", ()),
        ("http://acme.zdusercontent.com/x/capture.har", ()),  # https only
        ("https://acme.zdusercontent.com:8443/x", ("acme.zdusercontent.com:443",)),
        ("https://user:pw@acme.zdusercontent.com/x", ()),
    ],
)
def test_a_content_url_on_a_host_not_allowed_is_never_fetched(
    router: respx.MockRouter, content_url: str, hosts: tuple[str, ...]
) -> None:
    attachment_route(router, {**attachment(498483), "content_url": content_url})
    elsewhere = router.route(host__regex=r"^(?!acme\.zendesk\.com$).*").mock(return_value=httpx.Response(200))
    source = make_source(attachment_hosts=list(hosts)) if hosts else make_source()
    with pytest.raises(SourceError, match="not in attachment_hosts") as caught:
        source.download(ref(), 1 << 20, io.BytesIO())
    assert not elsewhere.called
    assert "token" not in str(caught.value)
    assert "/x" not in str(caught.value)


def test_attachment_hosts_can_name_another_cdn(router: respx.MockRouter) -> None:
    attachment_route(router, {**attachment(498483), "content_url": "https://files.corp.example/a/capture.har"})
    router.route(host="files.corp.example").mock(return_value=httpx.Response(200, content=b"data"))
    out = io.BytesIO()
    assert make_source(attachment_hosts=["*.corp.example"]).download(ref(), 1 << 20, out) == 4


@pytest.mark.parametrize(
    ("location", "words"),
    [
        ("https://evil.example/steal", "not in attachment_hosts"),
        (f"{BASE}/access/unauthenticated", "sends back to the account"),
        (f"https://{CDN_HOST}/again", "second redirect"),
    ],
)
def test_only_one_redirect_to_an_allowed_cdn_is_followed(router: respx.MockRouter, location: str, words: str) -> None:
    attachment_route(router, attachment(498483))
    router.route(method="GET", host=HOST, path__startswith="/attachments/token/").mock(
        return_value=httpx.Response(302, headers={"Location": location})
    )
    router.route(method="GET", host=CDN_HOST).mock(
        return_value=httpx.Response(302, headers={"Location": f"https://{CDN_HOST}/third"})
    )
    evil = router.route(host="evil.example").mock(return_value=httpx.Response(200))
    login = router.route(method="GET", host=HOST, path="/access/unauthenticated").mock(return_value=httpx.Response(200))
    with pytest.raises(SourceError, match=words):
        make_source().download(ref(), 1 << 20, io.BytesIO())
    assert not evil.called
    assert not login.called


def test_too_large_by_its_size_is_not_fetched(router: respx.MockRouter) -> None:
    attachment_route(router, attachment(498483, size=5000))
    link = router.route(host=HOST, path__startswith="/attachments/token/").mock(return_value=httpx.Response(200))
    with pytest.raises(AttachmentTooLarge, match="5000 bytes"):
        make_source().download(ref(), 4999, io.BytesIO())
    assert not link.called


@pytest.mark.parametrize("declare_length", [True, False])
def test_too_large_while_streaming_stops_at_the_limit(router: respx.MockRouter, declare_length: bool) -> None:
    attachment_route(router, {**attachment(498483), "size": None})
    body = b"x" * 10_000

    def stream(request: httpx.Request) -> httpx.Response:
        if declare_length:
            return httpx.Response(200, content=body)
        return httpx.Response(200, stream=httpx.ByteStream(body))

    router.route(host=HOST, path__startswith="/attachments/token/").mock(side_effect=stream)
    out = io.BytesIO()
    with pytest.raises(AttachmentTooLarge):
        make_source().download(ref(), 4096, out)
    assert len(out.getvalue()) <= 4096


@pytest.mark.parametrize(
    "state",
    [
        {"status": 404},
        {"deleted": True},
        {"redacted": True},
        {"cdn": 404},
    ],
)
def test_a_gone_attachment_is_attachment_gone(router: respx.MockRouter, state: dict[str, Any]) -> None:
    if state.get("status") == 404:
        api(
            router,
            "GET",
            "/api/v2/attachments/498483",
            answer(404, {"error": "RecordNotFound", "description": "Not found"}),
        )
    elif state.get("redacted"):
        attachment_route(router, attachment(498483, "redacted.txt", size=0))
    else:
        attachment_route(router, attachment(498483, deleted=bool(state.get("deleted"))))
    router.route(host=HOST, path__startswith="/attachments/token/").mock(return_value=httpx.Response(404))
    with pytest.raises(AttachmentGone):
        make_source().download(ref(), 1 << 20, io.BytesIO())


# ---- clean-up -------------------------------------------------------------------------------------------------


@pytest.fixture
def copy_file(tmp_path: Path) -> Path:
    path = tmp_path / "sanitized.har"
    path.write_bytes(b'{"log": {"entries": [{"request": {"headers": [{"name": "Cookie", "value": "[redacted]"}]}}]}}')
    return path


class Desk:
    """The clean-up calls of one ticket, recorded."""

    def __init__(self, router: respx.MockRouter, status: str, *, original: dict[str, Any] | None = None) -> None:
        self.status = status
        self.redacts: list[httpx.Request] = []
        self.comment_redactions: list[dict[str, Any]] = []
        self.uploads: list[httpx.Request] = []
        self.updates: list[dict[str, Any]] = []
        self.first_reads: list[str] = []  # statuses the ticket reads answer before `status`
        api(router, "GET", "/api/v2/tickets/35436", self._read)
        attachment_route(router, original if original is not None else attachment(498483))
        api(router, "PUT", "/api/v2/tickets/35436/comments/7001/attachments/498483/redact", self._redact)
        api(router, "PUT", "/api/v2/comment_redactions/7001", self._comment_redaction)
        api(router, "POST", "/api/v2/uploads", self._upload)
        api(router, "PUT", "/api/v2/tickets/35436", self._update)

    def _read(self, request: httpx.Request) -> httpx.Response:
        status = self.first_reads.pop(0) if self.first_reads else self.status
        return httpx.Response(200, json={"ticket": ticket(35436, status)})

    def _redact(self, request: httpx.Request) -> httpx.Response:
        self.redacts.append(request)
        if self.status == "closed":
            return httpx.Response(422, json={"error": "RecordInvalid", "description": "Record validation errors"})
        return httpx.Response(200, json={"attachment": attachment(498483, "redacted.txt", size=0)})

    def _comment_redaction(self, request: httpx.Request) -> httpx.Response:
        self.comment_redactions.append(json.loads(request.content))
        return httpx.Response(200, json={"comment": comment(7001, attachment(498483, "redacted.txt", size=0))})

    def _upload(self, request: httpx.Request) -> httpx.Response:
        self.uploads.append(request)
        uploaded = attachment(9001, request.url.params["filename"], size=len(request.content))
        return httpx.Response(
            201, json={"upload": {"token": "6bk3gql82em5nmf", "attachment": uploaded, "attachments": [uploaded]}}
        )

    def _update(self, request: httpx.Request) -> httpx.Response:
        update = json.loads(request.content)
        self.updates.append(update)
        if self.status == "closed":
            details = {"status": [{"description": "Status: closed prevents ticket update"}]}
            return httpx.Response(
                422, json={"error": "RecordInvalid", "description": "Record validation errors", "details": details}
            )
        body = update["ticket"]["comment"]["body"]
        files = (
            [attachment(9001, "capture.sanitized.har", size=88)] if update["ticket"]["comment"].get("uploads") else []
        )
        event = {"id": 7002, "type": "Comment", "body": body, "public": False, "attachments": files, "author_id": 1}
        return httpx.Response(
            200, json={"ticket": ticket(35436), "audit": {"id": 88, "ticket_id": 35436, "events": [event]}}
        )


def test_an_open_ticket_redacts_the_original_then_attaches_the_copy_internally(
    router: respx.MockRouter, copy_file: Path
) -> None:
    desk = Desk(router, "open")
    replaced = make_source().replace_with_sanitized(ref(), copy_file, "capture.sanitized.har")
    assert replaced.how == "redacted"
    assert replaced.copy == AttachmentRef("35436", "9001", "capture.sanitized.har", "7002", "application/json", 88)
    assert len(desk.redacts) == 1
    assert not desk.comment_redactions
    upload = desk.uploads[0]
    assert upload.url.params["filename"] == "capture.sanitized.har"
    assert upload.headers["content-type"] == "application/json"
    assert upload.content == copy_file.read_bytes()
    [update] = desk.updates
    assert update["ticket"]["comment"]["public"] is False
    assert update["ticket"]["comment"]["uploads"] == ["6bk3gql82em5nmf"]


def test_a_closed_ticket_uses_comment_redaction_with_the_attachments_link(
    router: respx.MockRouter, copy_file: Path
) -> None:
    desk = Desk(router, "closed")
    replaced = make_source().replace_with_sanitized(ref(), copy_file, "capture.sanitized.har")
    assert replaced.how == "comment redaction"
    assert replaced.copy is None
    assert desk.comment_redactions == [
        {"ticket_id": 35436, "external_attachment_urls": [attachment(498483)["content_url"]]}
    ]
    assert not desk.redacts
    assert not desk.uploads
    assert not desk.updates


def test_a_ticket_closed_meanwhile_falls_back_to_comment_redaction(router: respx.MockRouter, copy_file: Path) -> None:
    desk = Desk(router, "closed")
    desk.first_reads = ["open"]  # open when first read, closed by the time the redaction is refused
    replaced = make_source().replace_with_sanitized(ref(), copy_file, "capture.sanitized.har")
    assert replaced.how == "comment redaction"
    assert len(desk.redacts) == 1
    assert len(desk.comment_redactions) == 1


def test_a_rerun_after_a_crash_redacts_nothing_twice_and_finds_its_copy(
    router: respx.MockRouter, copy_file: Path
) -> None:
    desk = Desk(router, "open", original=attachment(498483, "redacted.txt", size=0))
    mark = "responder replaced capture.har (original attachment id 498483) with this sanitized copy"
    earlier = comment(7002, attachment(9001, "capture.sanitized.har", size=88), public=False, body=mark)
    api(router, "GET", "/api/v2/tickets/35436/comments", answer(200, comments_page(comment(7001), earlier)))
    replaced = make_source().replace_with_sanitized(ref(), copy_file, "capture.sanitized.har")
    assert replaced.how == "redacted"
    assert replaced.copy is not None
    assert replaced.copy.attachment_id == "9001"
    assert not desk.redacts
    assert not desk.uploads
    assert not desk.updates


def test_a_rerun_after_a_crash_before_the_copy_attaches_it(router: respx.MockRouter, copy_file: Path) -> None:
    desk = Desk(router, "open", original=attachment(498483, "redacted.txt", size=0))
    api(router, "GET", "/api/v2/tickets/35436/comments", answer(200, comments_page(comment(7001))))
    replaced = make_source().replace_with_sanitized(ref(), copy_file, "capture.sanitized.har")
    assert replaced.copy is not None
    assert not desk.redacts
    assert len(desk.uploads) == 1


def test_a_ref_without_its_comment_finds_the_comment(router: respx.MockRouter, copy_file: Path) -> None:
    desk = Desk(router, "open")
    api(router, "GET", "/api/v2/tickets/35436/comments", answer(200, comments_page(comment(7001, attachment(498483)))))
    make_source().replace_with_sanitized(ref(comment_id=None), copy_file, "capture.sanitized.har")
    assert len(desk.redacts) == 1


def test_a_dry_run_changes_no_ticket(router: respx.MockRouter, copy_file: Path) -> None:
    desk = Desk(router, "open")
    with pytest.raises(DryRunViolation):
        make_source(dry=True).replace_with_sanitized(ref(), copy_file, "capture.sanitized.har")
    assert not desk.redacts
    assert not desk.uploads
    assert not desk.updates


def test_a_note_is_an_internal_comment(router: respx.MockRouter) -> None:
    desk = Desk(router, "open")
    make_source().annotate(ref(), "responder revoked 2 sessions of alice@acme.com at okta")
    assert desk.updates == [
        {"ticket": {"comment": {"body": "responder revoked 2 sessions of alice@acme.com at okta", "public": False}}}
    ]


def test_a_note_on_a_closed_ticket_says_why_it_failed(router: respx.MockRouter) -> None:
    Desk(router, "closed")
    with pytest.raises(SourceError, match="closed: Zendesk takes no new comment") as caught:
        make_source().annotate(ref(), "note")
    assert not caught.value.transient


# ---- webhooks -------------------------------------------------------------------------------------------------


def signed(body: bytes, secret: str = WEBHOOK_SECRET, stamp: str = "2025-03-04T05:06:00Z") -> dict[str, str]:
    mac = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
    return {
        "X-Zendesk-Webhook-Signature": base64.b64encode(mac).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "Content-Type": "application/json",
    }


EVENT = json.dumps(
    {
        "type": "zen:event-type:ticket.attachment_linked_to_comment",
        "account_id": 1,
        "id": "9a1b2c3d-event",
        "time": "2025-03-04T05:06:00Z",
        "zendesk_event_version": "2022-11-06",
        "subject": "zen:ticket:35436",
        "detail": {"id": "35436", "status": "OPEN"},
        "event": {"comment": {"id": 7001, "attachment": {"id": 498483, "file_name": "capture.har"}}},
    }
).encode()


def test_a_webhook_without_a_configured_secret_is_refused() -> None:
    with pytest.raises(WebhookRefused) as caught:
        make_source(webhook=None).parse_webhook(signed(EVENT), EVENT, NOW)
    assert caught.value.reason == "not_enabled"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_signature"),
        (signed(EVENT, secret="another secret"), "bad_signature"),
        (signed(EVENT, stamp="2025-03-04T04:00:00Z"), "stale_timestamp"),
    ],
)
def test_a_forged_or_stale_webhook_is_refused(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(WebhookRefused) as caught:
        make_source().parse_webhook(headers, EVENT, NOW)
    assert caught.value.reason == reason


def test_an_authentic_webhook_names_the_ticket_and_attachment() -> None:
    notice = make_source().parse_webhook(signed(EVENT), EVENT, NOW)
    assert notice.event == "zen:event-type:ticket.attachment_linked_to_comment"
    assert notice.ticket_id == "35436"
    assert notice.delivery_id == "9a1b2c3d-event"
    assert [(r.ticket_id, r.attachment_id, r.comment_id, r.name) for r in notice.attachments] == [
        ("35436", "498483", "7001", "capture.har")
    ]


def test_a_webhook_naming_something_that_is_no_zendesk_id_names_nothing() -> None:
    body = json.dumps({"ticket_id": "12/../../users", "attachments": [{"id": "a/b", "file_name": "x.har"}]}).encode()
    notice = make_source().parse_webhook(signed(body), body, NOW)
    assert notice.ticket_id is None
    assert notice.attachments == ()


# ---- check ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "user", "ok", "words"),
    [
        (200, {"id": 35436, "role": "admin", "email": EMAIL}, True, "as an admin"),
        (200, {"id": 35436, "role": "agent", "email": EMAIL}, True, "sweeps need an admin"),
        (200, {"id": 35436, "role": "end-user", "email": EMAIL}, False, "needs an agent or admin"),
        (200, {"id": None, "role": "end-user", "name": "Anonymous user"}, False, "anonymous"),
        (401, None, False, "refused responder's credentials"),
        (403, None, False, "not allowed"),
    ],
)
def test_check_names_what_is_wrong(
    router: respx.MockRouter, status: int, user: dict[str, Any] | None, ok: bool, words: str
) -> None:
    api(router, "GET", "/api/v2/users/me", answer(status, {"user": user} if user else {"error": "Forbidden"}))
    result = make_source().check()
    assert result.ok is ok
    assert words in result.detail
    assert TOKEN not in result.detail


def test_check_with_a_wrong_token_is_a_401(router: respx.MockRouter) -> None:
    api(router, "GET", "/api/v2/users/me", answer(200, {"user": {"id": 1, "role": "admin"}}))
    source = ZendeskSource.from_config(
        "zd", {"base_url": BASE, "email": EMAIL, "api_token": "wrong"}, build_client(BASE), None
    )
    result = source.check()
    assert not result.ok
    assert "HTTP 401" in result.detail


# ---- secrets --------------------------------------------------------------------------------------------------


def test_the_api_token_is_never_in_an_error_a_repr_or_a_log(
    router: respx.MockRouter, caplog: pytest.LogCaptureFixture, copy_file: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    encoded = BASIC.removeprefix("Basic ")
    texts: list[str] = []
    source = make_source()
    texts += [repr(source), str(source), repr(source.__dict__)]
    for status in (400, 401, 403, 404, 422, 429, 500, 503):
        router.routes.clear()
        api(router, "GET", "/api/v2/tickets/35436/comments", answer(status, {"error": "X", "description": TOKEN}))
        api(router, "GET", "/api/v2/attachments/498483", answer(status, {"error": "X", "description": TOKEN}))
        api(router, "GET", "/api/v2/tickets/35436", answer(status, {"error": "X", "description": TOKEN}))
        api(router, "GET", "/api/v2/users/me", answer(status, {"error": "X", "description": TOKEN}))
        for action in (
            lambda: source.attachments_of("35436"),
            lambda: source.download(ref(), 100, io.BytesIO()),
            lambda: source.replace_with_sanitized(ref(), copy_file, "x.har"),
        ):
            try:
                action()
            except SourceError as exc:  # a 404 on a ticket's comments is an empty list, not an error
                texts += [str(exc), repr(exc)]
        texts.append(source.check().detail)
    with pytest.raises(ConfigError) as config:
        ZendeskSource.from_config(
            "zd", {"base_url": "http://x", "email": EMAIL, "api_token": TOKEN}, httpx.Client(), None
        )
    texts.append(str(config.value))
    texts += [record.getMessage() for record in caplog.records]
    for text in texts:
        assert TOKEN not in text
        assert encoded not in text
    assert any("HTTP 401" in t for t in texts)  # the loop did run into the failures


def test_requests_carry_the_api_token_only_to_the_account() -> None:
    seen: list[httpx.Request] = []

    def transport(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.startswith("/api/v2/attachments/"):
            return httpx.Response(200, json={"attachment": attachment(498483, size=4)})
        if request.url.host == HOST:
            return httpx.Response(302, headers={"Location": f"https://{CDN_HOST}/file"})
        return httpx.Response(200, content=b"data")

    client = build_client(BASE, transport=httpx.MockTransport(transport))
    source = ZendeskSource.from_config("zd", {"base_url": BASE, "email": EMAIL, "api_token": TOKEN}, client, None)
    source.download(ref(), 100, io.BytesIO())
    assert [(r.url.host, "authorization" in r.headers) for r in seen] == [
        (HOST, True),  # the API
        (HOST, True),  # the content_url on the account's own host (private attachments need it)
        (CDN_HOST, False),  # the short-lived link it redirects to
    ]
