"""Notification fixtures: a fake IdP, real local receivers, and a lab whose ledger runs on SQLite and on
PostgreSQL (a fresh database per test; skipped on a laptop without one, a failure in CI)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from responder.model import Subject, Trigger
from responder.notify.worker import NotifyWorker
from responder.service import IntakeResult, Responder
from responder.settings import Settings, load_settings
from responder.testing import FakeIdP
from tests.ledger import flows
from tests.notify.receivers import HttpReceiver, SmtpReceiver

SIGNING_SECRET = "notify-tests-signing-secret-0123456789"


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def idp() -> Iterator[FakeIdP]:
    with FakeIdP() as running:
        yield running


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    with HttpReceiver() as running:
        yield running


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as running:
        yield running


def slack_table(http: HttpReceiver, **extra: Any) -> dict[str, Any]:
    return {"name": "slack", "kind": "slack", "url": http.url("/services/T000/B000/slackhooksecret"), **extra}


def webhook_table(http: HttpReceiver, **extra: Any) -> dict[str, Any]:
    return {
        "name": "siem",
        "kind": "webhook",
        "url": http.url("/hook?token=hookquerysecret"),
        "secret": SIGNING_SECRET,
        **extra,
    }


def email_table(smtp: SmtpReceiver, **extra: Any) -> dict[str, Any]:
    return {
        "name": "mail",
        "kind": "email",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "security": "plain",
        "mail_from": "responder@lab.test",
        "mail_to": ["soc@lab.test"],
        **extra,
    }


@dataclass
class Lab:
    settings: Settings
    service: Responder
    idp: FakeIdP
    tmp_path: Path

    def worker(self, **kw: Any) -> NotifyWorker:
        return NotifyWorker(self.settings, self.service.ledger, **kw)

    def intake(self, tokens: list[str], name: str = "a.har", **kw: Any) -> IntakeResult:
        report = flows.scan(self.settings, flows.capture(self.tmp_path / name, tokens))
        return self.service.intake(
            report, trigger=Trigger.UPLOAD, actor="alice", source="zendesk", reference=f"ticket 4711 / {name}", **kw
        )

    def panic(self, users: list[Subject], **kw: Any) -> str:
        panic_id, _ = self.service.panic("lab", users, actor="oncall", reason="HAR posted to ticket 4711", **kw)
        return panic_id

    def work(self) -> None:
        self.service.engine(sleep=lambda _s: None).run(until_idle=True)


@pytest.fixture
def make_lab(ledger_url: str, tmp_path: Path, idp: FakeIdP) -> Iterator[Callable[..., Lab]]:
    opened: list[Responder] = []

    def build(notifiers: list[dict[str, Any]], **overrides: Any) -> Lab:
        settings = load_settings(
            None,
            data_dir=tmp_path / "data",
            ledger={"url": ledger_url},
            providers=[flows.lab_provider(idp.url)],
            engine={"threads": 2, "poll_seconds": 0.1},
            notifiers=notifiers,
            **overrides,
        )
        service = Responder.from_settings(settings)
        opened.append(service)
        return Lab(settings, service, idp, tmp_path)

    yield build
    for service in opened:
        service.close()
