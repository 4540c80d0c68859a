"""Webhook deliveries that name only a ticket are listed through the source's API before they become items. A
ticket that is gone ends its delivery with nothing to do; any other failure keeps the delivery waiting, backs
it off, and never holds up the deliveries behind it."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from responder.ledger.store import DeliveryRecord
from responder.plugins import load_sources
from responder.service import Responder
from responder.settings import load_settings
from responder.sources.pipeline import LISTING_RETRY_FIRST, TicketWork
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


def announce(work: TicketWork, ticket: str, attachments: tuple[dict[str, str | None], ...] = ()) -> str:
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
