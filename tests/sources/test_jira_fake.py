"""The Jira connector against the stateful fake Jira (tests/fakes/jira.py) over real HTTP: whole sweeps with
paging, resumption after a crash, expired page tokens, changes during a sweep, time zones, the clean-up calls,
permissions and the burst rate limit."""

from __future__ import annotations

import base64
import io
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from responder.errors import AttachmentGone, AttachmentTooLarge, SourceError
from responder.http import build_client
from responder.model import AttachmentRef, SweepPage
from responder.sources._jira_sweep import Position
from responder.sources.jira import JiraSource
from tests.fakes.jira import FakeJira, RecordedComment

EMAIL = "responder-bot@acme.example"
TOKEN = "ATATT3x" + secrets.token_hex(16) + "FakeJiraCanary"


@pytest.fixture
def fake() -> Iterator[FakeJira]:
    with FakeJira(EMAIL, TOKEN, time_zone="America/Los_Angeles") as server:
        yield server


def connect(fake: FakeJira, *, token: str = TOKEN, **settings: Any) -> JiraSource:
    table = {"name": "jira", "base_url": fake.url, "email": EMAIL, "api_token": SecretStr(token), **settings}
    return JiraSource.from_config("jira", table, build_client(fake.url), None)


def seed(fake: FakeJira, start: datetime) -> dict[str, set[tuple[str, str]]]:
    """230 issues in three projects, one every ten minutes from `start`; every fifth carries a capture and
    every tenth a second file. Returns the (issue, attachment id) pairs per project."""
    found: dict[str, set[tuple[str, str]]] = {"SUP": set(), "HELP": set(), "OTHER": set()}
    for n in range(230):
        project = ("SUP", "HELP", "OTHER")[n % 3]
        key = f"{project}-{n + 1}"
        fake.add_issue(key, updated=start + timedelta(minutes=10 * n))
        if n % 5 == 0:
            found[project].add((key, fake.add_attachment(key, f"capture-{n}.har", b'{"log":{}}', "application/json")))
        if n % 10 == 0:
            found[project].add((key, fake.add_attachment(key, f"notes-{n}.txt", b"GET / HTTP/1.1", "text/plain")))
    return found


def pairs(pages: list[SweepPage]) -> set[tuple[str, str]]:
    return {(ref.ticket_id, ref.attachment_id) for page in pages for ref in page.attachments}


def test_a_whole_sweep_pages_through_every_issue_and_the_next_sweep_starts_at_the_newest(fake: FakeJira) -> None:
    start = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
    expected = seed(fake, start)
    source = connect(fake, jql="project in (SUP, HELP)", page_size=25)
    pages = list(source.changed_since(None, start - timedelta(days=1)))
    in_scope = sum(1 for key in fake.issues if not key.startswith("OTHER"))
    assert sum(page.tickets for page in pages) == in_scope == 154
    assert len(pages) == 7
    assert [page.done for page in pages] == [False] * 6 + [True]
    assert pairs(pages) == expected["SUP"] | expected["HELP"]
    newest = max(issue.updated for key, issue in fake.issues.items() if not key.startswith("OTHER"))
    assert Position.decode(pages[-1].cursor) == Position(newest - timedelta(minutes=1))

    # Nothing changed: the next sweep only sees the overlap minute, then a new upload is found.
    (quiet,) = source.changed_since(pages[-1].cursor, None)
    assert quiet.tickets == 1
    fake.add_attachment("HELP-2", "new.har", b"{}", "application/json")
    fake.set_updated("HELP-2", datetime.now(UTC))
    (later,) = source.changed_since(quiet.cursor, None)
    assert ("HELP-2", fake.attachment_ids("HELP-2")[-1]) in pairs([later])
    assert fake.media_hits == 0


def test_a_crash_mid_sweep_resumes_exactly_where_it_stopped(fake: FakeJira) -> None:
    start = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
    expected = seed(fake, start)
    before = list(islice(connect(fake, page_size=20).changed_since(None, start), 3))  # then the process dies
    assert not before[-1].done
    restarted = connect(fake, page_size=20)  # a new process, with only the checkpointed cursor
    after = list(restarted.changed_since(before[-1].cursor, None))
    assert after[-1].done
    assert not pairs(before) & pairs(after)  # nothing handled twice
    assert pairs(before) | pairs(after) == expected["SUP"] | expected["HELP"] | expected["OTHER"]
    assert sum(page.tickets for page in before + after) == 230


def test_an_expired_page_token_restarts_the_search_and_misses_nothing(fake: FakeJira) -> None:
    start = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
    expected = seed(fake, start)
    before = list(islice(connect(fake, page_size=50).changed_since(None, start), 2))
    fake.expire_page_tokens()
    searches = fake.calls["search"]
    after = list(connect(fake, page_size=50).changed_since(before[-1].cursor, None))
    assert fake.calls["search"] - searches == 1 + 5  # the refused token, then the whole search again
    assert pairs(after) == expected["SUP"] | expected["HELP"] | expected["OTHER"]


def test_issues_changed_during_the_sweep_are_not_skipped(fake: FakeJira, tmp_path: Path) -> None:
    """Cleaning a ticket bumps its `updated` while the sweep is still paging: it comes again at the end (the
    core skips the copy it uploaded), and no other issue slips between pages."""
    start = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
    expected = seed(fake, start)
    clean = tmp_path / "clean.har"
    clean.write_bytes(b'{"log":{"entries":[]}}')
    source = connect(fake, page_size=30)
    seen: list[SweepPage] = []
    ours: set[str] = set()  # the copies responder uploaded (the core records them and skips them)
    for page in source.changed_since(None, start):
        seen.append(page)
        for ref in page.attachments:
            if ref.name.startswith("capture-") and ref.ticket_id.startswith("SUP") and ref.attachment_id not in ours:
                replaced = source.replace_with_sanitized(ref, clean, ref.name)
                assert replaced.copy is not None
                ours.add(replaced.copy.attachment_id)
    originals = expected["SUP"] | expected["HELP"] | expected["OTHER"]
    assert originals <= pairs(seen)
    assert {(u.key, u.attachment_id) for u in fake.uploads} <= pairs(seen)  # each copy came round again
    assert len(fake.deletions) == len(fake.uploads) == 16  # SUP issues n % 15 == 0 carry a capture
    assert set(fake.deletions) <= {att for _, att in expected["SUP"]}


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"])
def test_the_bound_is_read_in_the_accounts_time_zone(zone: str) -> None:
    since = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    with FakeJira(EMAIL, TOKEN, time_zone=zone) as server:
        server.add_issue("SUP-1", updated=since - timedelta(minutes=2))
        server.add_issue("SUP-2", updated=since + timedelta(seconds=30))
        server.add_issue("SUP-3", updated=since + timedelta(hours=20))
        (page,) = connect(server).changed_since(None, since)
        assert page.tickets == 2  # SUP-2 and SUP-3: a wrong zone would miss them or drag in SUP-1


def test_download_replace_and_note_end_to_end(fake: FakeJira, tmp_path: Path) -> None:
    fake.add_issue("SUP-7", updated=datetime.now(UTC) - timedelta(hours=1))
    original = b'{"log":{"entries":[{"request":{"headers":[{"name":"Cookie","value":"sid=live"}]}}]}}'
    att = fake.add_attachment("SUP-7", "login.har", original, "application/json")
    source = connect(fake)
    (page,) = source.changed_since(None, datetime.now(UTC) - timedelta(days=1))
    (ref,) = page.attachments
    assert ref == AttachmentRef("SUP-7", att, "login.har", content_type="application/json", size=len(original))
    out = io.BytesIO()
    assert source.download(ref, 1 << 20, out) == len(original)
    assert out.getvalue() == original
    assert fake.media_hits == 0  # redirect=false: the bytes came from Jira itself

    clean = tmp_path / "login.sanitized.har"
    clean.write_bytes(b'{"log":{"entries":[]}}')
    replaced = source.replace_with_sanitized(ref, clean, "login.sanitized.har")
    assert fake.deletions == [att]
    (upload,) = fake.uploads
    assert (upload.key, upload.filename, upload.data, upload.mime) == (
        "SUP-7",
        "login.sanitized.har",
        clean.read_bytes(),
        "application/json",
    )
    assert replaced.copy is not None
    assert replaced.copy.attachment_id == upload.attachment_id
    assert [r.attachment_id for r in source.attachments_of("SUP-7")] == [upload.attachment_id]

    source.annotate(ref, "responder revoked 1 session (okta)")
    assert fake.comments == [RecordedComment("SUP-7", "responder revoked 1 session (okta)", True, "servicedesk")]
    with pytest.raises(AttachmentGone):
        source.download(ref, 1 << 20, io.BytesIO())


def test_platform_notes_for_projects_that_are_not_service_projects(fake: FakeJira) -> None:
    fake.add_issue("DEV-3", service_desk=False)
    ref = AttachmentRef("DEV-3", "1", "x.har")
    with pytest.raises(SourceError, match="service_desk = false"):
        connect(fake).annotate(ref, "note")
    connect(fake, service_desk=False).annotate(ref, "line one\n\nline three")
    assert fake.comments == [RecordedComment("DEV-3", "line one\n\nline three", True, "platform")]


def test_size_limits_and_gone_files(fake: FakeJira) -> None:
    fake.add_issue("SUP-1")
    att = fake.add_attachment("SUP-1", "big.har", b"x" * 5000)
    source = connect(fake)
    (ref,) = source.attachments_of("SUP-1")
    with pytest.raises(AttachmentTooLarge):
        source.download(ref, 4999, io.BytesIO())
    unknown_size = AttachmentRef("SUP-1", att, "big.har")  # e.g. announced by a webhook
    out = io.BytesIO()
    with pytest.raises(AttachmentTooLarge):
        source.download(unknown_size, 1000, out)
    assert len(out.getvalue()) <= 1000
    assert source.download(unknown_size, 5000, io.BytesIO()) == 5000
    with pytest.raises(AttachmentGone):
        source.download(AttachmentRef("SUP-1", "99999", "none.har"), 5000, io.BytesIO())


def test_wrong_credentials_are_a_permanent_error_and_a_failed_check(fake: FakeJira) -> None:
    source = connect(fake, token="not-the-token")
    assert not source.check().ok
    with pytest.raises(SourceError, match="credentials") as raised:
        list(source.changed_since(None, None))
    assert not raised.value.transient
    assert connect(fake).check().ok


def test_missing_delete_permission_stops_before_the_upload(fake: FakeJira, tmp_path: Path) -> None:
    fake.add_issue("SUP-1")
    att = fake.add_attachment("SUP-1", "a.har", b"{}")
    fake.forbid("delete_attachment")
    clean = tmp_path / "c.har"
    clean.write_bytes(b"{}")
    with pytest.raises(SourceError, match="Delete all attachments") as raised:
        connect(fake).replace_with_sanitized(AttachmentRef("SUP-1", att, "a.har"), clean, "a.har")
    assert not raised.value.transient
    assert fake.uploads == []
    assert fake.deletions == []


def test_the_burst_limit_is_a_transient_error_with_its_wait_and_reason() -> None:
    with FakeJira(EMAIL, TOKEN, requests_per_second=3) as server:
        server.add_issue("SUP-1")
        source = connect(server)

        def burst() -> None:
            for _ in range(50):
                source.attachments_of("SUP-1")

        with pytest.raises(SourceError) as raised:
            burst()
        assert raised.value.transient
        assert raised.value.retry_after == 1
        assert "jira-burst-based" in str(raised.value)
        assert server.rejected_429 >= 1


def test_an_unavailable_jira_is_transient(fake: FakeJira) -> None:
    fake.add_issue("SUP-1")
    fake.fail_next(1, 503, retry_after=5)
    with pytest.raises(SourceError) as raised:
        connect(fake).attachments_of("SUP-1")
    assert raised.value.transient
    assert raised.value.retry_after == 5
    assert connect(fake).attachments_of("SUP-1") == []


# ---- the fake itself behaves like Jira where the connector relies on it ---------------------------------


def test_the_fake_enforces_what_jira_enforces(fake: FakeJira) -> None:
    fake.add_issue("SUP-1")
    att = fake.add_attachment("SUP-1", "a.har", b"bytes")
    auth = {"Authorization": "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()}
    with httpx.Client(base_url=fake.url, headers=auth) as client:
        assert client.get("/rest/api/3/myself", headers={"Authorization": "Basic eDp5"}).status_code == 401
        upload = client.post("/rest/api/3/issue/SUP-1/attachments", files={"file": ("a.txt", b"x")})
        assert upload.status_code == 403  # no X-Atlassian-Token: no-check
        redirect = client.get(f"/rest/api/3/attachment/content/{att}")
        assert redirect.status_code == 303
        assert redirect.headers["location"].startswith(fake.media_url)
        assert httpx.get(redirect.headers["location"]).content == b"bytes"
        assert fake.media_hits == 1
        assert client.post("/rest/api/3/search/jql", json={"jql": "ORDER BY updated ASC, key ASC"}).status_code == 400
        bogus = {"jql": "project = SUP ORDER BY updated ASC, key ASC", "nextPageToken": "e30.abc"}
        assert client.post("/rest/api/3/search/jql", json=bogus).status_code == 400
