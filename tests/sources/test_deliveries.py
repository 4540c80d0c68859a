"""Webhook deliveries that name only a ticket are listed through the source's API before they become items. A
ticket that is gone ends its delivery with nothing to do; any other failure keeps the delivery waiting, backs
it off, and never holds up the deliveries behind it."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from responder.ledger.store import DeliveryRecord
from responder.model import AttachmentRef
from responder.plugins import load_sources
from responder.service import Responder
from responder.settings import load_settings
from responder.sources.pipeline import LISTING_RETRY_FIRST, TicketWork
from responder.sources.runner import SourceRunner
from responder.sources.sweep import Sweeper
from tests.fakes.jira import FakeJira

EMAIL = "responder-bot@acme.example"
TOKEN = "ATATT3x" + secrets.token_hex(16)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeJira]:
    with FakeJira(EMAIL, TOKEN) as server:
        yield server


def work_for(fake: FakeJira, tmp_path: Path, token: str, clock: Clock) -> TicketWork:
    config = tmp_path / "responder.toml"
    config.write_text(
        f"""data_dir = "{tmp_path / "data"}"
[[sources]]
name = "desk"
plugin = "jira"
base_url = "{fake.url}"
email = "{EMAIL}"
api_token = "{token}"
"""
    )
    settings = load_settings(config)
    responder = Responder.from_settings(settings)
    return TicketWork.assemble(responder, load_sources(settings), "test/1", sleep=lambda _s: None, clock=clock)


def announce(work: TicketWork, ticket: str | None, attachments: tuple[dict[str, str | None], ...] = ()) -> str:
    delivery = DeliveryRecord(
        str(uuid.uuid4()),
        "desk",
        "jira",
        uuid.uuid4().hex,
        secrets.token_hex(32),
        "jira:issue_updated",
        ticket,
        attachments,
    )
    work.responder.ledger.record_delivery(delivery)
    return delivery.id


def waiting(work: TicketWork) -> list[str]:
    return [d.ticket_id or "" for d in work.book.waiting_deliveries(["desk"])]


def test_a_delivery_for_a_ticket_that_is_gone_ends_with_nothing_to_do(fake: FakeJira, tmp_path: Path) -> None:
    work = work_for(fake, tmp_path, TOKEN, Clock())
    announce(work, "SUP-999")
    assert work.pump_deliveries() == 0
    assert waiting(work) == []
    assert fake.calls["issue"] == 1
    work.pump_deliveries()
    assert fake.calls["issue"] == 1  # done: never asked again


def test_a_failing_listing_backs_off_and_holds_up_nobody(fake: FakeJira, tmp_path: Path) -> None:
    fake.add_issue("SUP-1")
    attachment = fake.add_attachment("SUP-1", "login.har", b'{"log": {"entries": []}}', "application/json")
    clock = Clock()
    work = work_for(fake, tmp_path, "not-the-token", clock)  # Jira answers 401: an operator must act
    announce(work, "SUP-1")
    for _ in range(3):
        work.pump_deliveries()
    assert fake.requests == 1  # tried once, then left alone while it rests
    assert waiting(work) == ["SUP-1"]  # never dropped

    # A delivery behind it that needs no listing goes through meanwhile.
    announce(work, "SUP-2", ({"id": attachment, "name": "login.har", "url": None, "comment_id": None},))
    assert work.pump_deliveries() == 1
    assert waiting(work) == ["SUP-1"]

    clock.now += timedelta(seconds=LISTING_RETRY_FIRST + 0.1)
    work.pump_deliveries()
    assert fake.requests == 2  # tried again once its wait was over
    work.pump_deliveries()
    assert fake.requests == 2  # and now waits twice as long
    clock.now += timedelta(seconds=LISTING_RETRY_FIRST + 0.1)
    work.pump_deliveries()
    assert fake.requests == 2
    clock.now += timedelta(seconds=LISTING_RETRY_FIRST)
    work.pump_deliveries()
    assert fake.requests == 3


def test_a_delivery_naming_a_file_but_no_ticket_asks_for_a_sweep(fake: FakeJira, tmp_path: Path) -> None:
    work = work_for(fake, tmp_path, TOKEN, Clock())
    attachment = {"id": "10009", "name": "login.har", "url": None, "comment_id": None}
    announce(work, None, (attachment,))  # a Jira attachment_created names no issue
    announce(work, None, (attachment,))
    assert work.pump_deliveries() == 0
    assert waiting(work) == []
    assert work.take_sweep_requests() == {"desk"}  # one sweep for both
    assert work.take_sweep_requests() == set()


def test_the_requested_sweep_runs_from_the_checkpoint_and_finds_the_file(fake: FakeJira, tmp_path: Path) -> None:
    fake.add_issue("SUP-1", updated=datetime.now(UTC) - timedelta(days=1))
    work = work_for(fake, tmp_path, TOKEN, Clock())
    sources = load_sources(work.responder.settings)
    runner = SourceRunner(work, sources, "test/1", poll_seconds=0.05)
    runner._sweep_soon("desk")  # never swept: not started on a webhook's word (a whole account is a big job)
    assert work.book.last_checkpoint("desk") is None

    Sweeper(work, sources["desk"], "test/1").list_changes()  # the operator's first sweep
    fake.add_attachment("SUP-1", "later.har", b'{"log": {"entries": []}}', "application/json")
    fake.set_updated("SUP-1", datetime.now(UTC))
    announce(work, None, ({"id": "1", "name": "later.har", "url": None, "comment_id": None},))
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while not any(i.name == "later.har" for i in _items(work)):
            assert time.monotonic() < deadline, "the requested sweep did not find the new file"
            time.sleep(0.05)
    finally:
        runner.stop()


def _items(work: TicketWork) -> list[AttachmentRef]:
    from sqlalchemy import select

    from responder.ledger.schema import source_items

    with work.responder.ledger.reader() as connection:
        rows = connection.execute(select(source_items.c.name)).all()
    return [AttachmentRef("", "", row.name) for row in rows]
