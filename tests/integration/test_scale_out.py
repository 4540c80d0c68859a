"""The scale-out shape on one machine: two `responder serve` replicas and one `responder work` process on one
PostgreSQL ledger, behind no load balancer (the test spreads requests itself). Webhooks (the same delivery
sent to both replicas at the same moment), a panic of 60 users, a scheduled sweep and the notifications of
all of them each happen exactly once."""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from responder.ledger import open_ledger
from responder.ledger.schema import events, source_items, webhook_deliveries
from responder.settings import load_settings
from responder.testing import FakeIdP
from tests.fakes.zendesk import FakeZendesk, attachment_linked_event, signed_delivery, source_toml
from tests.integration.oidc_peer import free_port
from tests.ledger import flows
from tests.ledger.conftest import random_token
from tests.notify.receivers import HttpReceiver

ZD_TOKEN = "zd-canary-" + secrets.token_hex(12)
WEBHOOK_SECRET = "whsec-" + secrets.token_hex(16)
API_KEY = secrets.token_urlsafe(32)
SIGNING_SECRET = "siem-" + secrets.token_hex(16)
HOOK_PATH = "/hook"


def write_config(
    tmp_path: Path, name: str, pg_url: str, idp: FakeIdP, zd: FakeZendesk, keys: Path, hook: HttpReceiver
) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f"""data_dir = "{tmp_path / name}"
log_level = "info"
log_json = true
fingerprint_key_file = "{keys / "fingerprint"}"

[ledger]
url = "{pg_url}"
seal_key_file = "{keys / "seal"}"

[engine]
threads = 4
poll_seconds = 0.3

[serve]
page_session_key_file = "{keys / "page"}"

[[api_keys]]
name = "oncall"
key_sha256 = "{hashlib.sha256(API_KEY.encode()).hexdigest()}"
roles = ["uploader", "responder", "auditor"]

[[providers]]
name = "lab"
plugin = "fake"
base_url = "{idp.url}"
hosts = ["{flows.HOST}"]

{source_toml(zd, ZD_TOKEN, webhook_secret=WEBHOOK_SECRET, schedule="every 1h")}

[[notifiers]]
name = "siem"
kind = "webhook"
url = "{hook.url(HOOK_PATH)}"
secret = "{SIGNING_SECRET}"
"""
    )
    return path


def until(condition: Callable[[], bool], seconds: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def count(config: Path, query: object) -> int:
    ledger = open_ledger(load_settings(config), migrate=False)
    with ledger.reader() as connection:
        value = connection.execute(query).scalar_one()  # type: ignore[call-overload]
    ledger.close()
    return int(value)


class Fleet:
    def __init__(self) -> None:
        self.processes: list[tuple[str, subprocess.Popen[str]]] = []

    def start(self, name: str, *args: str) -> None:
        log = open(Path(args[-1]).with_suffix(f".{name}.log"), "w")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [sys.executable, "-m", "responder", *args], stdout=log, stderr=log, text=True, env=dict(os.environ)
        )
        self.processes.append((name, process))

    def stop(self) -> None:
        for _, process in self.processes:
            process.terminate()
        for name, process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                pytest.fail(f"{name} did not stop on SIGTERM")


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    running = Fleet()
    yield running
    running.stop()


@pytest.mark.slow
def test_two_replicas_and_a_worker_on_one_postgresql_do_each_thing_once(
    pg_url: str, tmp_path: Path, fleet: Fleet
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("fingerprint", "seal", "page"):
        (keys / name).write_text(secrets.token_hex(32))
    with (
        FakeIdP() as idp,
        FakeZendesk(api_token=ZD_TOKEN, requests_per_window=200, window_seconds=1.0) as zd,
        HttpReceiver() as hook,
    ):
        # Old tickets for the scheduled sweep: 20 captures among 100 tickets.
        swept_tokens = [random_token() for _ in range(20)]
        for n in range(100):
            ticket = zd.add_ticket()
            if n % 5 == 0:
                token = swept_tokens[n // 5]
                idp.issue(token, subject=f"swept-{n}")
                zd.add_comment(
                    ticket,
                    "old HAR",
                    [("old.har", flows.capture(tmp_path / "o.har", [token]).read_bytes(), "application/json")],
                )
        # Users for the panic.
        for n in range(60):
            idp.add_user(f"u-{n}", f"user{n}@example.com", groups=("support",))

        ports = [free_port(), free_port()]
        configs = [write_config(tmp_path, f"replica{i}", pg_url, idp, zd, keys, hook) for i in range(2)]
        worker_config = write_config(tmp_path, "worker", pg_url, idp, zd, keys, hook)
        for i, port in enumerate(ports):
            fleet.start(f"serve{i}", "serve", "--port", str(port), "--config", str(configs[i]))
        fleet.start("work", "work", "--config", str(worker_config))
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base in bases:
            until(lambda base=base: _up(base), 60, f"{base} to answer")

        # Webhooks: 10 new HARs, each delivery sent to both replicas (a vendor retry through another replica).
        live = [random_token() for _ in range(10)]
        attachments = []
        for token in live:
            idp.issue(token, subject="webhook-user")
            ticket = zd.add_ticket()
            comment = zd.add_comment(
                ticket,
                "HAR",
                [("network.har", flows.capture(tmp_path / "w.har", [token]).read_bytes(), "application/json")],
            )
            (attachment,) = zd.attachment_ids(ticket)
            attachments.append(attachment)
            body = attachment_linked_event(ticket, comment, attachment)
            together = threading.Barrier(2)

            def deliver(base: str, body: bytes = body, together: threading.Barrier = together) -> httpx.Response:
                headers = signed_delivery(body, WEBHOOK_SECRET)
                together.wait()  # both replicas receive it at the same moment
                return httpx.post(f"{base}/v1/webhooks/support", content=body, headers=headers)

            with ThreadPoolExecutor(2) as pool:
                answers = list(pool.map(deliver, bases))
            assert sorted(a.status_code for a in answers) == [202, 202]
            assert sorted(a.json()["duplicate"] for a in answers) == [False, True]

        # Panic: everyone in the group, asked of one replica; three processes execute.
        panic = httpx.post(
            f"{bases[1]}/v1/panic",
            json={"provider": "lab", "scope": "group", "targets": ["support"], "reason": "HAR with admin session"},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        assert panic.status_code == 202, panic.text

        until(lambda: all(idp.state(t).revoked for t in live), what="webhook revocations")
        until(lambda: len(idp.logouts) == 60, what="the panic")
        until(lambda: all(idp.state(t).revoked for t in swept_tokens), what="the scheduled sweep")
        until(
            lambda: (
                count(configs[0], select(func.count()).select_from(source_items).where(source_items.c.state != "done"))
                == 0
            ),
            what="ticket work",
        )

        assert all(idp.state(t).revocations == 1 for t in [*live, *swept_tokens])
        assert Counter(idp.logouts.values()) == Counter({1: 60})  # each user logged out exactly once
        redacted = Counter(r.attachment_id for r in zd.redactions)
        assert set(attachments) <= set(redacted)
        assert max(redacted.values()) == 1  # each capture redacted once, whichever process took it
        notes = Counter(n.ticket_id for n in zd.notes if "Ledger: intake" in n.body)
        assert max(notes.values()) == 1
        assert len(notes) == 30  # 10 from webhooks, 20 from the sweep
        assert count(configs[0], select(func.count()).select_from(webhook_deliveries)) == 10
        sweeps = count(configs[0], select(func.count()).where(events.c.type == "sweep_started"))
        assert sweeps == 1  # three processes with the same schedule: one swept, the others found it done

        # Notifications: one message per intake with a live credential and one for the panic, whichever of the
        # three processes sent it.
        until(lambda: len(hook.at(HOOK_PATH)) >= 31, what="the notifications")
        time.sleep(3)  # a duplicate would have arrived by now
        sent = Counter((m.json()["kind"], m.json()["id"]) for m in hook.at(HOOK_PATH))
        assert Counter(kind for kind, _ in sent) == Counter({"intake": 30, "panic": 1})
        assert max(sent.values()) == 1


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
