"""The Zendesk connector against FakeZendesk: real HTTP on 127.0.0.1, state that changes, cursors that survive a
restart, a CDN on another port that reports any credential it was sent, and rate limits that answer 429."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from responder.errors import AttachmentGone, SourceError
from responder.http import build_client
from responder.model import AttachmentRef
from responder.sources.zendesk import ZendeskSource
from tests.fakes.zendesk import FakeZendesk, Redaction

TOKEN = "fake-zendesk-token-CANARY-77"
HAR = b'{"log": {"version": "1.2", "entries": []}}'


@pytest.fixture
def zd() -> Iterator[FakeZendesk]:
    with FakeZendesk(api_token=TOKEN, export_requests_per_minute=None) as fake:
        yield fake


def source_for(fake: FakeZendesk, **extra: Any) -> ZendeskSource:
    table = {
        "base_url": fake.url,
        "email": fake.email,
        "api_token": TOKEN,
        "attachment_hosts": [fake.url.removeprefix("http://"), fake.cdn_host],
        **extra,
    }
    return ZendeskSource.from_config("zd", table, build_client(fake.url, 10.0), None)


def seed(fake: FakeZendesk, tickets: int, *, every: int = 3) -> dict[int, str]:
    """`tickets` tickets; every `every`-th has a HAR on its second comment. Returns ticket id → file name."""
    files = {}
    for n in range(tickets):
        ticket = fake.add_ticket("closed" if n % 5 == 4 else "open", subject=f"ticket {n}")
        fake.add_comment(ticket, "It does not work")
        if n % every == 0:
            files[ticket] = f"capture-{n}.har"
            fake.add_comment(ticket, "Here is the capture", [(files[ticket], HAR, "application/json")])
    return files


def names(pages: list[Any]) -> list[str]:
    return sorted(ref.name for page in pages for ref in page.attachments)


def test_a_sweep_finds_every_attachment_once(zd: FakeZendesk) -> None:
    files = seed(zd, 40)
    pages = list(source_for(zd, export_page_size=7).changed_since(None, None))
    assert sum(p.tickets for p in pages) == 40
    assert len(pages) == 6
    assert pages[-1].done
    assert not any(p.done for p in pages[:-1])
    assert names(pages) == sorted(files.values())


def test_a_restarted_sweeper_resumes_from_its_cursor_without_repeats_or_misses(zd: FakeZendesk) -> None:
    files = seed(zd, 30)
    first = source_for(zd, export_page_size=8)
    before = []
    for page in first.changed_since(None, None):
        before.append(page)
        if len(before) == 2:
            break  # the process dies here; the cursor of the last finished page was checkpointed
    first.close()
    after = list(source_for(zd, export_page_size=8).changed_since(before[-1].cursor, None))
    tickets = [r.ticket_id for p in before + after for r in p.attachments]
    assert len(tickets) == len(set(tickets))
    assert names(before + after) == sorted(files.values())
    assert sum(p.tickets for p in before + after) == 30


def test_a_ticket_changed_after_the_cursor_comes_again(zd: FakeZendesk) -> None:
    seed(zd, 6)
    source = source_for(zd)
    [done] = list(source.changed_since(None, None))
    assert done.done
    assert next(iter(source.changed_since(done.cursor, None))).tickets == 0
    quiet = zd.add_ticket()
    zd.touch(quiet)
    new = zd.add_ticket()
    zd.add_comment(new, "another one", [("late.har", HAR, "application/json")])
    [again] = list(source.changed_since(done.cursor, None))
    assert again.tickets == 2
    assert [r.name for r in again.attachments] == ["late.har"]


def test_since_skips_older_changes(zd: FakeZendesk) -> None:
    seed(zd, 3)
    later = datetime.now(UTC) + timedelta(hours=1)
    assert [p.tickets for p in source_for(zd).changed_since(None, later)] == [0]


def test_deleted_tickets_and_inline_images(zd: FakeZendesk) -> None:
    gone = zd.add_ticket()
    zd.add_comment(gone, "x", [("gone.har", HAR, "application/json")])
    zd.set_status(gone, "deleted")
    shown = zd.add_ticket()
    zd.add_comment(shown, "inline", [("screen.png", b"\x89PNG", "image/png")], inline=True)
    [page] = list(source_for(zd).changed_since(None, None))
    assert page.tickets == 1
    assert [r.name for r in page.attachments] == ["screen.png"]
    assert source_for(zd).attachments_of(str(gone)) == []


@pytest.mark.parametrize("private", [True, False])
def test_download_signs_in_to_the_account_only_and_goes_through_the_cdn_without_credentials(
    private: bool,
) -> None:
    with FakeZendesk(api_token=TOKEN, export_requests_per_minute=None, private_attachments=private) as zd:
        ticket = zd.add_ticket()
        zd.add_comment(ticket, "capture", [("capture.har", HAR * 50, "application/json")])
        [ref] = source_for(zd).attachments_of(str(ticket))
        out = io.BytesIO()
        assert source_for(zd).download(ref, 1 << 20, out) == len(HAR) * 50
        assert out.getvalue() == HAR * 50
        assert [(r.authorization, r.cookie) for r in zd.download_requests] == [(True, False)]  # the account's host
        assert [(r.authorization, r.cookie) for r in zd.cdn_requests] == [(False, False)]  # the short-lived link


def test_a_cdn_not_in_attachment_hosts_is_never_asked(zd: FakeZendesk) -> None:
    ticket = zd.add_ticket()
    zd.add_comment(ticket, "capture", [("capture.har", HAR, "application/json")])
    [ref] = source_for(zd).attachments_of(str(ticket))
    with pytest.raises(SourceError, match="not in attachment_hosts"):
        source_for(zd, attachment_hosts=[zd.url.removeprefix("http://")]).download(ref, 1 << 20, io.BytesIO())
    assert len(zd.download_requests) == 1
    assert zd.cdn_requests == []


def test_a_content_url_elsewhere_is_never_fetched(zd: FakeZendesk) -> None:
    ticket = zd.add_ticket()
    zd.add_comment(ticket, "capture", [("capture.har", HAR, "application/json")])
    [attachment_id] = zd.attachment_ids(ticket)
    zd.attachments[attachment_id].content_url_override = f"http://127.0.0.2:9/attachments/token/{'t' * 20}/"
    ref = AttachmentRef(str(ticket), str(attachment_id), "capture.har")
    with pytest.raises(SourceError, match=r"hosted at http://127\.0\.0\.2:9, which is not in attachment_hosts"):
        source_for(zd).download(ref, 1 << 20, io.BytesIO())
    assert zd.download_requests == []
    assert zd.cdn_requests == []


def test_a_redacted_attachment_is_gone(zd: FakeZendesk, tmp_path: Path) -> None:
    ticket = zd.add_ticket()
    zd.add_comment(ticket, "capture", [("capture.har", HAR, "application/json")])
    source = source_for(zd)
    [ref] = source.attachments_of(str(ticket))
    stale_link = zd.content_url(int(ref.attachment_id))
    source.replace_with_sanitized(ref, sanitized(tmp_path), "capture.sanitized.har")
    with pytest.raises(AttachmentGone):
        source.download(ref, 1 << 20, io.BytesIO())
    assert zd.content_url(int(ref.attachment_id)) != stale_link  # the old download link died with the file


def sanitized(tmp_path: Path) -> Path:
    path = tmp_path / "copy.har"
    path.write_bytes(b'{"log": {"version": "1.2", "entries": [], "comment": "sanitized"}}')
    return path


def test_open_and_closed_tickets_are_cleaned_each_their_way(zd: FakeZendesk, tmp_path: Path) -> None:
    open_ticket, closed_ticket = zd.add_ticket("pending"), zd.add_ticket("open")
    for ticket in (open_ticket, closed_ticket):
        zd.add_comment(ticket, "capture", [("capture.har", HAR, "application/json")])
    zd.set_status(closed_ticket, "closed")
    source = source_for(zd)
    [open_ref], [closed_ref] = source.attachments_of(str(open_ticket)), source.attachments_of(str(closed_ticket))

    replaced = source.replace_with_sanitized(open_ref, sanitized(tmp_path), "capture.sanitized.har")
    assert replaced.how == "redacted"
    assert replaced.copy is not None
    assert replaced.copy.name == "capture.sanitized.har"
    assert replaced.copy.ticket_id == str(open_ticket)
    closed = source.replace_with_sanitized(closed_ref, sanitized(tmp_path), "capture.sanitized.har")
    assert closed.how == "comment redaction"
    assert closed.copy is None

    assert zd.redactions == [
        Redaction(open_ticket, int(open_ref.comment_id or 0), int(open_ref.attachment_id), "redact"),
        Redaction(closed_ticket, int(closed_ref.comment_id or 0), int(closed_ref.attachment_id), "comment_redactions"),
    ]
    [upload] = zd.uploads
    assert upload.file_name == "capture.sanitized.har"
    assert upload.size == sanitized(tmp_path).stat().st_size
    [note] = zd.notes
    assert note.ticket_id == open_ticket
    assert not note.public
    assert note.attachment_names == ("capture.sanitized.har",)
    # what is left on the tickets: the copy on the open one, nothing on the closed one
    assert [r.name for r in source.attachments_of(str(open_ticket))] == ["capture.sanitized.har"]
    assert source.attachments_of(str(closed_ticket)) == []


def test_a_second_run_of_the_clean_up_changes_nothing(zd: FakeZendesk, tmp_path: Path) -> None:
    ticket = zd.add_ticket()
    zd.add_comment(ticket, "capture", [("capture.har", HAR, "application/json")])
    source = source_for(zd)
    [ref] = source.attachments_of(str(ticket))
    first = source.replace_with_sanitized(ref, sanitized(tmp_path), "capture.sanitized.har")
    second = source.replace_with_sanitized(ref, sanitized(tmp_path), "capture.sanitized.har")
    assert first == second
    assert len(zd.redactions) == 1
    assert len(zd.uploads) == 1
    assert len(zd.notes) == 1


def test_notes_are_internal_and_a_closed_ticket_refuses_them(zd: FakeZendesk) -> None:
    ticket, closed = zd.add_ticket(), zd.add_ticket("closed")
    source = source_for(zd)
    source.annotate(AttachmentRef(str(ticket), "1", "x"), "responder revoked 1 session of bob")
    with pytest.raises(SourceError, match="closed"):
        source.annotate(AttachmentRef(str(closed), "1", "x"), "responder revoked 1 session of bob")
    [note] = zd.notes
    assert note.ticket_id == ticket
    assert note.body == "responder revoked 1 session of bob"
    assert not note.public


def test_the_account_limit_is_respected_without_a_single_429(tmp_path: Path) -> None:
    with FakeZendesk(api_token=TOKEN, requests_per_window=8, window_seconds=1.0, export_requests_per_minute=None) as zd:
        files = seed(zd, 20, every=2)
        pages = list(source_for(zd, export_page_size=10).changed_since(None, None))
        assert names(pages) == sorted(files.values())
        assert zd.rejected_429 == 0
        assert zd.requests == 2 + 20


def test_the_export_limit_answers_429_with_retry_after() -> None:
    with FakeZendesk(api_token=TOKEN, export_requests_per_minute=2) as zd:
        seed(zd, 5)
        # Paced above the real limit, and unwilling to wait a minute in place: the core gets the 429's wait.
        source = source_for(zd, export_page_size=1, export_requests_per_minute=600, max_rate_limit_wait_seconds=1)
        with pytest.raises(SourceError) as caught:
            list(source.changed_since(None, None))
        assert caught.value.transient
        assert caught.value.retry_after is not None
        assert caught.value.retry_after > 0
        assert zd.export_requests == 2
        assert zd.rejected_429 == 1


def test_a_short_429_on_a_read_is_waited_out_and_sent_again_not_failed() -> None:
    """Other integrations share the account's limit: a 429 in the middle of a page must not fail the page."""
    with FakeZendesk(
        api_token=TOKEN, requests_per_window=12, window_seconds=2.0, export_requests_per_minute=None
    ) as zd:
        files = seed(zd, 6, every=2)
        source = source_for(zd)
        others = httpx.Client(auth=(f"{zd.email}/token", TOKEN))
        for _ in range(12):  # another integration uses up this window first
            others.get(f"{zd.url}/api/v2/users/me")
        pages = list(source.changed_since(None, None))
        assert names(pages) == sorted(files.values())
        assert zd.rejected_429 >= 1  # it met the limit, waited, and went on


def test_a_wrong_token_and_an_agent_are_named(zd: FakeZendesk) -> None:
    wrong = ZendeskSource.from_config(
        "zd", {"base_url": zd.url, "email": zd.email, "api_token": "nope"}, build_client(zd.url), None
    )
    result = wrong.check()
    assert not result.ok
    assert "HTTP 401" in result.detail
    zd.role = "agent"
    assert "sweeps need an admin" in source_for(zd).check().detail
    with pytest.raises(SourceError, match="not allowed") as caught:
        list(source_for(zd).changed_since(None, None))
    assert not caught.value.transient
