"""The service end to end for the webhook trigger: a signed Zendesk webhook announces a HAR on a ticket; the
service records it, its ticket work fetches the attachment through the Zendesk API (never from the payload's
URL), the engine revokes the live token at a FakeIdP, the capture is redacted and replaced, an internal note
is left, and the notification goes out. A forged delivery changes nothing."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from responder.api import create_app
from responder.settings import load_settings
from responder.testing import FakeIdP
from tests.fakes.zendesk import FakeZendesk, attachment_linked_event, signed_delivery, source_toml
from tests.ledger import flows
from tests.ledger.conftest import random_token
from tests.notify.receivers import HttpReceiver, verify_signature

ZD_TOKEN = "zd-canary-" + secrets.token_hex(12)
WEBHOOK_SECRET = "whsec-" + secrets.token_hex(16)
NOTIFY_SECRET = "notify-" + secrets.token_hex(16)


def settings_file(tmp_path: Path, idp: FakeIdP, zd: FakeZendesk, receiver: HttpReceiver) -> Path:
    path = tmp_path / "responder.toml"
    path.write_text(
        f"""data_dir = "{tmp_path / "data"}"
log_level = "info"

[ledger]
url = "sqlite:///{tmp_path / "ledger.sqlite3"}"

[engine]
poll_seconds = 0.2

[[providers]]
name = "lab"
plugin = "fake"
base_url = "{idp.url}"
hosts = ["{flows.HOST}"]

{source_toml(zd, ZD_TOKEN, webhook_secret=WEBHOOK_SECRET)}
[[notifiers]]
name = "siem"
kind = "webhook"
url = "{receiver.url("/hook")}"
secret = "{NOTIFY_SECRET}"
"""
    )
    return path


def until(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_signed_webhook_leads_to_revocation_redaction_note_and_notification(tmp_path: Path) -> None:
    live = random_token()
    with FakeIdP() as idp, FakeZendesk(api_token=ZD_TOKEN) as zd, HttpReceiver() as receiver:
        idp.issue(live, subject="alice")
        ticket = zd.add_ticket(status="open")
        comment = zd.add_comment(
            ticket,
            "my HAR",
            [("network.har", flows.capture(tmp_path / "x.har", [live]).read_bytes(), "application/json")],
        )
        (attachment,) = zd.attachment_ids(ticket)
        settings = load_settings(settings_file(tmp_path, idp, zd, receiver))
        # The payload's URL points at a host nobody may call: the connector must look the file up by id.
        decoy = "http://169.254.169.254/latest/meta-data/"
        with TestClient(create_app(settings)) as client:
            forged = attachment_linked_event(ticket, comment, attachment, decoy)
            refused = client.post(
                "/v1/webhooks/support", content=forged, headers=signed_delivery(forged, "wrong-" + WEBHOOK_SECRET)
            )
            assert refused.status_code == 401

            body = attachment_linked_event(ticket, comment, attachment, decoy)
            accepted = client.post("/v1/webhooks/support", content=body, headers=signed_delivery(body, WEBHOOK_SECRET))
            assert accepted.status_code == 202
            assert accepted.json()["attachments"] == 1

            until(lambda: idp.state(live).revoked)
            until(lambda: any("Ledger: intake" in note.body for note in zd.notes))
            until(lambda: bool(receiver.at("/hook")))
            ready = client.get("/readyz").json()

        assert [r.attachment_id for r in zd.redactions] == [attachment]
        assert not any(note.public for note in zd.notes)
        (message,) = receiver.at("/hook")
        assert verify_signature(NOTIFY_SECRET, message)
        assert "alice" in message.body.decode()
        assert ready["sources"] == {"support": "ok"}
        assert zd.cdn_requests
        assert not any(d.authorization for d in zd.cdn_requests)
        everything = message.body.decode() + "".join(n.body for n in zd.notes) + json.dumps(ready)
        assert live not in everything
        assert ZD_TOKEN not in everything
