"""Sweeps of old tickets against local fake Zendesk and Jira servers (real HTTP, state, cursors, rate limits,
recorded redactions) and a FakeIdP: 500 tickets holding 60 captures; every credential found, the live ones
revoked, the dead and expired ones recorded but not revoked, every capture replaced and noted; a second sweep
does nothing new; a sweep killed mid-way resumes without re-processing or missing a ticket."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from responder.cli import app
from responder.ledger import open_ledger
from responder.ledger.schema import events, findings, intakes, source_items
from responder.settings import load_settings
from responder.testing import FakeIdP
from tests.fakes.jira import FakeJira
from tests.fakes.zendesk import FakeZendesk, source_toml
from tests.ledger import flows
from tests.ledger.conftest import random_token

TICKETS, CAPTURES = 500, 60
LIVE, DEAD, EXPIRED = 50, 6, 4  # per world: 60 captures, one credential each
ZD_TOKEN = "zd-canary-" + secrets.token_hex(12)
JIRA_TOKEN = "jira-canary-" + secrets.token_hex(12)
EMAIL = "responder-bot@acme.example"
runner = CliRunner()


@dataclass
class World:
    live: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    captures: dict[str, str] = field(default_factory=dict)  # attachment id → ticket id
    closed: set[str] = field(default_factory=set)  # tickets whose capture sits on a closed ticket

    @property
    def tokens(self) -> list[str]:
        return [*self.live, *self.dead, *self.expired]


def expired_jwt() -> str:
    now = datetime.now(UTC)
    claims = {"sub": "old-user", "iss": f"https://{flows.HOST}", "iat": now - timedelta(days=3)}
    return jwt.encode({**claims, "exp": now - timedelta(days=2)}, secrets.token_bytes(32), algorithm="HS256")


def credentials(idp: FakeIdP) -> World:
    world = World(
        live=[random_token() for _ in range(LIVE)],
        dead=[random_token() for _ in range(DEAD)],  # never issued: the IdP answers "unknown token"
        expired=[expired_jwt() for _ in range(EXPIRED)],
    )
    for n, token in enumerate(world.live):
        idp.issue(token, subject=f"user-{n}")
    for token in world.expired:  # the IdP would still revoke these if asked: proof that nobody asked
        idp.issue(token, subject="old-user")
    return world


def har_bytes(tmp_path: Path, token: str) -> bytes:
    return flows.capture(tmp_path / f"{secrets.token_hex(4)}.har", [token]).read_bytes()


def seed_zendesk(zd: FakeZendesk, world: World, tmp_path: Path) -> None:
    tokens = iter(world.tokens)
    every = TICKETS // CAPTURES
    for n in range(TICKETS):
        status = "closed" if n % 24 == 0 or n % 7 == 3 else "open"  # a third of the captures sit on closed tickets
        ticket = zd.add_ticket(status="open", subject=f"ticket {n}")
        if n % every == 0 and n // every < CAPTURES:
            zd.add_comment(
                ticket, "here is the HAR", [("network.har", har_bytes(tmp_path, next(tokens)), "application/json")]
            )
            (attachment,) = zd.attachment_ids(ticket)
            world.captures[str(attachment)] = str(ticket)
            if status == "closed":
                world.closed.add(str(ticket))
        elif n % 3 == 0:
            zd.add_comment(ticket, "screenshot", [("screen.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png")])
        else:
            zd.add_comment(ticket, "it does not work")
        if status == "closed":
            zd.set_status(ticket, "closed")
    assert len(world.captures) == CAPTURES


def seed_jira(fake: FakeJira, world: World, tmp_path: Path) -> None:
    tokens = iter(world.tokens)
    every = TICKETS // CAPTURES
    start = datetime.now(UTC) - timedelta(days=30)
    for n in range(TICKETS):
        key = f"SUP-{n + 1}"
        fake.add_issue(key, updated=start + timedelta(minutes=30 * n))
        if n % every == 0 and n // every < CAPTURES:
            attachment = fake.add_attachment(key, "trace.har", har_bytes(tmp_path, next(tokens)), "application/json")
            world.captures[attachment] = key
        elif n % 3 == 0:
            fake.add_attachment(key, "screen.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png")
    assert len(world.captures) == CAPTURES


def config_for(tmp_path: Path, idp: FakeIdP, source: str, ledger_url: str | None = None) -> Path:
    ledger_url = ledger_url or f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    path = tmp_path / "responder.toml"
    path.write_text(
        f"""data_dir = "{tmp_path / "data"}"
log_level = "info"
log_json = true

[ledger]
url = "{ledger_url}"

[engine]
threads = 4

[[providers]]
name = "lab"
plugin = "fake"
base_url = "{idp.url}"
hosts = ["{flows.HOST}"]

{source}"""
    )
    return path


def zendesk_source(zd: FakeZendesk) -> str:
    return source_toml(zd, ZD_TOKEN, export_page_size=100)


def jira_source(fake: FakeJira) -> str:
    return f"""[[sources]]
name = "support"
plugin = "jira"
base_url = "{fake.url}"
email = "{EMAIL}"
api_token = "{JIRA_TOKEN}"
page_size = 50
"""


def sweep(config: Path) -> tuple[int, dict[str, Any], str]:
    result = runner.invoke(app, ["sweep", "support", "--format", "json", "--config", str(config)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout), result.stderr


def scalar(config: Path, query: Any) -> int:
    ledger = open_ledger(load_settings(config), migrate=False)
    with ledger.reader() as connection:
        value = connection.execute(query).scalar_one()
    ledger.close()
    return int(value)


def assert_revocations(idp: FakeIdP, world: World) -> None:
    assert all(idp.state(token).revocations == 1 for token in world.live)  # each revoked exactly once
    assert not any(token_seen(idp, token) for token in world.expired)  # expired: never sent to the IdP


def token_seen(idp: FakeIdP, token: str) -> bool:
    return idp.state(token).revoke_calls > 0


def assert_summary(summary: dict[str, Any]) -> None:
    assert summary["tickets_seen"] >= TICKETS
    assert summary["captures_found"] == CAPTURES
    assert summary["credentials"] == CAPTURES
    assert summary["revoked"] == LIVE
    assert summary["already_dead"] == DEAD + EXPIRED
    assert summary["failures"] == 0
    assert summary["captures_cleaned"] == CAPTURES
    assert summary["still_open"] == 0


@pytest.mark.slow
def test_a_zendesk_sweep_of_500_tickets_cleans_every_capture_and_a_second_sweep_does_nothing(tmp_path: Path) -> None:
    with FakeIdP() as idp, FakeZendesk(api_token=ZD_TOKEN, requests_per_window=150, window_seconds=1.0) as zd:
        world = credentials(idp)
        seed_zendesk(zd, world, tmp_path)
        config = config_for(tmp_path, idp, zendesk_source(zd))

        code, summary, log = sweep(config)

        assert code == 0, summary
        assert_summary(summary)
        assert_revocations(idp, world)
        redacted = {str(r.attachment_id): r.how for r in zd.redactions}
        assert set(redacted) == set(world.captures)
        for attachment, ticket in world.captures.items():
            assert redacted[attachment] == ("comment_redactions" if ticket in world.closed else "redact")
        notes = Counter(str(note.ticket_id) for note in zd.notes if "Ledger: intake" in note.body)
        assert notes == Counter(t for t in world.captures.values() if t not in world.closed)  # closed take none
        copies = Counter(str(n.ticket_id) for n in zd.notes if any("sanitized" in a for a in n.attachment_names))
        assert copies == notes
        assert not any(note.public for note in zd.notes)
        assert zd.cdn_requests
        assert not any(d.authorization or d.cookie for d in zd.cdn_requests)
        everything = log + json.dumps(summary) + "".join(n.body for n in zd.notes)
        assert not any(token in everything for token in [*world.tokens, ZD_TOKEN])
        assert len(zd.uploads) == len(notes) > 0  # the copies went up through the uploads API

        before = (len(zd.redactions), len(zd.notes), len(zd.uploads), idp.requests)
        fetched = scalar(config, select(func.count()).where(events.c.type == "attachment_fetched"))
        code, again, _ = sweep(config)

        assert code == 0
        assert again["captures_found"] == 0
        assert again["credentials"] == 0
        assert (len(zd.redactions), len(zd.notes), len(zd.uploads), idp.requests) == before
        assert scalar(config, select(func.count()).where(events.c.type == "attachment_fetched")) == fetched


@pytest.mark.slow
def test_a_jira_sweep_of_500_issues_cleans_every_capture_and_a_second_sweep_does_nothing(tmp_path: Path) -> None:
    with FakeIdP() as idp, FakeJira(EMAIL, JIRA_TOKEN, requests_per_second=100) as fake:
        world = credentials(idp)
        seed_jira(fake, world, tmp_path)
        config = config_for(tmp_path, idp, jira_source(fake))

        code, summary, log = sweep(config)

        assert code == 0, summary
        assert_summary(summary)
        assert_revocations(idp, world)
        assert sorted(fake.deletions) == sorted(world.captures)
        assert sorted(u.key for u in fake.uploads) == sorted(world.captures.values())
        assert all(b"[REDACTED" in u.data for u in fake.uploads)
        assert not any(any(token.encode() in u.data for token in world.tokens) for u in fake.uploads)
        noted = Counter(c.key for c in fake.comments if "Ledger: intake" in c.text)
        assert noted == Counter(world.captures.values())
        assert all(c.internal for c in fake.comments)
        assert fake.media_hits == 0  # content was fetched with redirect=false, never from the media host
        assert not any(token in log for token in [*world.tokens, JIRA_TOKEN])

        before = (len(fake.deletions), len(fake.uploads), len(fake.comments), idp.requests)
        code, again, _ = sweep(config)

        assert code == 0
        assert again["captures_found"] == 0
        assert (len(fake.deletions), len(fake.uploads), len(fake.comments), idp.requests) == before


def _sweep_process(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "responder", "sweep", "support", "--format", "json", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "RESPONDER_DEBUG": "1"},
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_sweep_killed_mid_way_resumes_without_reprocessing_or_missing_a_ticket(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = None if backend == "sqlite" else request.getfixturevalue("pg_url")
    # A slow account (40 requests a second) so the kill lands mid-sweep, with pages of 50 tickets.
    with FakeIdP() as idp, FakeZendesk(api_token=ZD_TOKEN, requests_per_window=40, window_seconds=1.0) as zd:
        world = credentials(idp)
        seed_zendesk(zd, world, tmp_path)
        config = config_for(
            tmp_path, idp, zendesk_source(zd).replace("export_page_size = 100", "export_page_size = 50"), url
        )
        kills = 0
        for _ in range(2):  # two kills at different points: listing, and ticket work
            process = _sweep_process(config)
            deadline = time.monotonic() + 60
            target = 15 if kills == 0 else 40
            while time.monotonic() < deadline and process.poll() is None:
                if _items(config, url is not None) >= target:
                    break
                time.sleep(0.2)
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()
                kills += 1
        assert kills >= 1, "the sweep finished before any kill: make the account slower"

        process = _sweep_process(config)
        out, err = process.communicate(timeout=600)
        assert out, err.decode()[-3000:]
        summary = json.loads(out)

        assert process.returncode == 0, err.decode()[-2000:]
        assert summary["still_open"] == 0
        assert_revocations(idp, world)
        fetched = scalar(config, select(func.count()).where(events.c.type == "attachment_fetched"))
        assert fetched == CAPTURES  # each capture fetched and scanned exactly once across all runs
        assert scalar(config, select(func.count()).select_from(intakes)) == CAPTURES
        per_item = scalar(
            config,
            select(func.count(func.distinct(source_items.c.attachment_id))).where(source_items.c.origin == "sweep"),
        )
        assert per_item == CAPTURES
        # Each run resumed at its checkpoint: a kill can repeat the page being listed, nothing before it. (A
        # ticket responder itself updated, with the copy and the note, comes back in the export once or twice:
        # that is the vendor's export, not a restart. A restart from the beginning would list all 500 again.)
        pages = -(-TICKETS // 50)
        assert zd.export_requests <= pages + 2 + kills, (zd.export_requests, kills)
        assert len(zd.comment_listings) == TICKETS  # every ticket listed, none missed
        listings = sum(zd.comment_listings.values())
        assert listings <= TICKETS + 2 * CAPTURES + 50 * kills, (listings, kills)
        assert {str(r.attachment_id) for r in zd.redactions} == set(world.captures)  # none missed
        # A kill between the vendor's answer and the ledger write can repeat that one call, once per kill.
        assert len(zd.redactions) <= CAPTURES + kills
        notes = Counter(str(n.ticket_id) for n in zd.notes if "Ledger: intake" in n.body)
        assert set(notes) == {t for t in world.captures.values() if t not in world.closed}
        assert sum(notes.values()) <= len(notes) + kills
        assert (
            scalar(config, select(func.count()).select_from(findings).where(findings.c.disposition == "expired"))
            == EXPIRED
        )


def _items(config: Path, postgres: bool) -> int:
    try:
        return scalar(config, select(func.count()).select_from(source_items).where(source_items.c.state == "done"))
    except Exception:  # the ledger is not created yet, or is being written
        return 0
