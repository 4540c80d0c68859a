"""`POST /v1/webhooks/{source}` for Zendesk, Jira and GitHub, on SQLite and PostgreSQL: signature first,
refusals only counted, each delivery recorded once (also by two replicas at once) with its chained event,
references stored without query strings or capability tokens, no network, and the webhook secrets nowhere."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import select

from responder.api import create_app
from responder.errors import ConfigError
from responder.ledger import Ledger
from responder.ledger.schema import events, metadata, webhook_deliveries
from responder.secret import Secret
from responder.settings import Settings
from responder.sources.webhooks import SCHEMES, refusal
from tests.api.conftest import bearer
from tests.ledger import conftest as ledger_fixtures
from tests.test_cli import run

ledger_url = ledger_fixtures.ledger_url  # the fixture: every test here runs on SQLite and on PostgreSQL


def _canary(label: str) -> str:
    return f"Cn{label}{secrets.token_hex(12)}Zq9"


ZENDESK_SECRET, JIRA_SECRET, GITHUB_SECRET = _canary("zendesk"), _canary("jira"), _canary("github")
ZENDESK_TOKEN = _canary("zdtoken")  # the download token in a Zendesk attachment URL's path
QUERY_TOKEN = _canary("query")  # a token in an attachment URL's query string

# ---- payloads, shaped like the vendors' documented ones ------------------------------------------------------

ZENDESK_EVENT = {
    "account_id": 8405679,
    "detail": {"id": "19395", "status": "NEW", "via": {"channel": "mail"}},
    "event": {
        "comment": {
            "id": "8658726228478",
            "attachment": {
                "id": "8658726230270",
                "filename": "login.har",
                "content_type": "application/json",
                "content_url": f"https://acme.zendesk.com/attachments/token/{ZENDESK_TOKEN}/?name=login.har",
                "is_public": False,
            },
        }
    },
    "id": "030a3f7a-9bb9-47a4-9a36-6aa8f1d66783",
    "subject": "zen:ticket:19395",
    "time": "2025-01-14T19:31:42.692223355Z",
    "type": "zen:event-type:ticket.attachment_linked_to_comment",
    "zendesk_event_version": "2022-11-06",
}
JIRA_ISSUE_UPDATED = {
    "timestamp": 1764410000000,
    "webhookEvent": "jira:issue_updated",
    "issue": {
        "id": "10002",
        "key": "SUP-42",
        "fields": {
            "attachment": [
                {"id": "10001", "filename": "old.png", "content": "https://acme.atlassian.net/rest/api/3/attachment/content/10001"},
                {
                    "id": "10042",
                    "filename": "capture.har",
                    "content": f"https://user:pw@acme.atlassian.net/rest/api/3/attachment/content/10042?token={QUERY_TOKEN}#x",
                },
            ]
        },
    },
    "changelog": {"items": [{"field": "Attachment", "to": "10042", "toString": "capture.har"}]},
}  # fmt: skip
GITHUB_COMMENT = {
    "action": "created",
    "issue": {"number": 7, "body": "see https://github.com/user-attachments/files/1/old.har"},
    "comment": {
        "id": 2001,
        "body": (
            "Here is my capture: [session.har](https://github.com/user-attachments/files/17342/session.har)\n"
            f"and a mirror https://github.com/acme/app/files/99/mirror%20copy.har?jwt={QUERY_TOKEN}\n"
            "not an attachment: https://evil.example/acme/app/files/5/trap.har"
        ),
    },
    "repository": {"full_name": "acme/app"},
}

EXPECTED: dict[str, tuple[str, str, list[dict[str, Any]]]] = {  # plugin → (event, ticket, attachments as stored)
    "zendesk": (
        "zen:event-type:ticket.attachment_linked_to_comment",
        "19395",
        [{"comment_id": "8658726228478", "id": "8658726230270", "name": "login.har", "url": "https://acme.zendesk.com/attachments/token/[redacted]/"}],
    ),
    "jira": (
        "jira:issue_updated",
        "SUP-42",
        [{"comment_id": None, "id": "10042", "name": "capture.har", "url": "https://acme.atlassian.net/rest/api/3/attachment/content/10042"}],
    ),
    "github": (
        "issue_comment.created",
        "acme/app#7",
        [
            {"comment_id": "2001", "id": "17342", "name": "session.har", "url": "https://github.com/user-attachments/files/17342/session.har"},
            {"comment_id": "2001", "id": "99", "name": "mirror copy.har", "url": "https://github.com/acme/app/files/99/mirror%20copy.har"},
        ],
    ),
}  # fmt: skip
PAYLOADS: dict[str, dict[str, Any]] = {"zendesk": ZENDESK_EVENT, "jira": JIRA_ISSUE_UPDATED, "github": GITHUB_COMMENT}
SOURCE_OF = {"zendesk": "support", "jira": "servicedesk", "github": "issues"}

# ---- signing as each vendor does ---------------------------------------------------------------------------


def _mac(secret: str, data: bytes) -> bytes:
    return hmac.new(secret.encode(), data, hashlib.sha256).digest()


def zendesk_headers(body: bytes, *, secret: str = ZENDESK_SECRET, skew: timedelta = timedelta()) -> dict[str, str]:
    stamp = (datetime.now(UTC) + skew).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(_mac(secret, stamp.encode() + body)).decode()
    return {"X-Zendesk-Webhook-Signature": signature, "X-Zendesk-Webhook-Signature-Timestamp": stamp}


def jira_headers(body: bytes, *, secret: str = JIRA_SECRET, identifier: str = "1") -> dict[str, str]:
    return {"X-Hub-Signature": "sha256=" + _mac(secret, body).hex(), "X-Atlassian-Webhook-Identifier": identifier}


def github_headers(body: bytes, *, secret: str = GITHUB_SECRET, delivery: str | None = None) -> dict[str, str]:
    return {
        "X-Hub-Signature-256": "sha256=" + _mac(secret, body).hex(),
        "X-GitHub-Delivery": delivery or secrets.token_hex(16),
        "X-GitHub-Event": "issue_comment",
    }


SIGN: dict[str, Callable[..., dict[str, str]]] = {
    "zendesk": zendesk_headers,
    "jira": jira_headers,
    "github": github_headers,
}


def deliver(client: TestClient, plugin: str, payload: Any = None, **signing: Any) -> Any:
    body = json.dumps(PAYLOADS[plugin] if payload is None else payload).encode()
    headers = {"Content-Type": "application/json", **SIGN[plugin](body, **signing)}
    return client.post(f"/v1/webhooks/{SOURCE_OF[plugin]}", content=body, headers=headers)


# ---- the service ---------------------------------------------------------------------------------------------


@pytest.fixture
def webhook_settings(
    service_settings: Callable[..., Settings], ledger_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Settings]:
    secret_file = tmp_path / "jira-webhook-secret"
    secret_file.write_text(JIRA_SECRET + "\n")
    monkeypatch.setenv("TEST_GITHUB_WEBHOOK_SECRET", GITHUB_SECRET)
    sources = [
        {"name": "support", "plugin": "zendesk", "webhook_secret": ZENDESK_SECRET},
        {"name": "servicedesk", "plugin": "jira", "webhook_secret_file": str(secret_file)},
        {"name": "issues", "plugin": "github", "webhook_secret_env": "TEST_GITHUB_WEBHOOK_SECRET"},
        {"name": "sweep-only", "plugin": "zendesk"},
        {"name": "broken", "plugin": "jira", "webhook_secret_file": str(tmp_path / "missing")},
        {"name": "weak", "plugin": "github", "webhook_secret": "short"},
    ]

    def build(**overrides: Any) -> Settings:
        overrides.setdefault("ledger", {"url": ledger_url})
        overrides.setdefault("sources", sources)
        return service_settings(**overrides)

    return build


@pytest.fixture
def client(webhook_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(webhook_settings()), raise_server_exceptions=False) as running:
        yield running


def ledger_of(client: TestClient) -> Ledger:
    ledger: Ledger = client.app.state.responder.responder.ledger  # type: ignore[attr-defined]
    return ledger


def deliveries(client: TestClient) -> list[Any]:
    with ledger_of(client).reader() as connection:
        return list(connection.execute(select(webhook_deliveries).order_by(webhook_deliveries.c.received_at)))


def chained(client: TestClient) -> list[dict[str, Any]]:
    with ledger_of(client).reader() as connection:
        rows = connection.execute(select(events.c.type, events.c.body).order_by(events.c.seq))
        return [{"type": row.type, **json.loads(row.body)} for row in rows]


def refusals(client: TestClient, source: str, reason: str) -> float:
    registry = client.app.state.responder.metrics.registry  # type: ignore[attr-defined]
    value = registry.get_sample_value("responder_webhook_refusals_total", {"source": source, "reason": reason})
    return float(value or 0)


# ---- accepted ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("plugin", ["zendesk", "jira", "github"])
def test_a_correctly_signed_delivery_is_recorded_with_its_chained_event(client: TestClient, plugin: str) -> None:
    answer = deliver(client, plugin)
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    event, ticket, attachments = EXPECTED[plugin]
    assert accepted == {"delivery_id": accepted["delivery_id"], "duplicate": False, "attachments": len(attachments)}

    (row,) = deliveries(client)
    assert (row.id, row.source, row.plugin, row.event, row.ticket_id) == (
        accepted["delivery_id"], SOURCE_OF[plugin], plugin, event, ticket
    )  # fmt: skip
    assert json.loads(row.attachments) == attachments
    (recorded,) = chained(client)
    assert recorded["type"] == "webhook_received"
    assert recorded["delivery"] == row.id
    assert recorded["attachments"] == attachments
    assert (recorded["ticket_id"], recorded["signed_sha256"]) == (ticket, row.signed_sha256)
    assert ledger_of(client).verify_chain().intact


def test_no_api_key_is_needed_and_none_replaces_the_signature(client: TestClient) -> None:
    body = json.dumps(ZENDESK_EVENT).encode()
    keyed_only = client.post("/v1/webhooks/support", content=body, headers=bearer("uploader"))
    assert keyed_only.status_code == 401
    assert deliver(client, "zendesk").status_code == 202  # no Authorization header at all


def test_github_form_encoded_deliveries_are_read_too(client: TestClient) -> None:
    body = ("payload=" + quote(json.dumps(GITHUB_COMMENT))).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **github_headers(body)}
    answer = client.post("/v1/webhooks/issues", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["attachments"] == 2


def test_an_authentic_body_of_unknown_shape_is_still_recorded(client: TestClient) -> None:
    body = b"<ticket><id>5</id></ticket>"  # Zendesk webhooks may be XML or form-encoded
    answer = client.post("/v1/webhooks/support", content=body, headers=zendesk_headers(body))
    assert answer.status_code == 202
    (row,) = deliveries(client)
    assert (row.ticket_id, row.event, row.attachments) == (None, None, "[]")


# ---- refused -------------------------------------------------------------------------------------------------


def _wrong_secret(plugin: str, body: bytes) -> dict[str, str]:
    return SIGN[plugin](body, secret=_canary("other"))


def _tampered(plugin: str, body: bytes) -> dict[str, str]:
    return SIGN[plugin](body + b" ")


def _missing(plugin: str, body: bytes) -> dict[str, str]:
    headers = SIGN[plugin](body)
    return {k: v for k, v in headers.items() if "Signature" not in k or k.endswith("Timestamp")}


def _other_scheme(plugin: str, body: bytes) -> dict[str, str]:
    other = {"zendesk": "github", "jira": "zendesk", "github": "jira"}[plugin]
    return SIGN[other](body, secret={"zendesk": ZENDESK_SECRET, "jira": JIRA_SECRET, "github": GITHUB_SECRET}[plugin])


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        (_wrong_secret, "bad_signature"),
        (_tampered, "bad_signature"),
        (_missing, "missing_signature"),
        (_other_scheme, "missing_signature"),
    ],
)
@pytest.mark.parametrize("plugin", ["zendesk", "jira", "github"])
def test_a_bad_signature_is_refused_and_only_counted(
    client: TestClient, capfd: pytest.CaptureFixture[str], plugin: str, forge: Callable[..., Any], reason: str
) -> None:
    body = json.dumps(PAYLOADS[plugin]).encode()
    client.post("/v1/webhooks/nowhere")  # the first request reads the secrets (and logs the broken ones)
    capfd.readouterr()
    answer = client.post(f"/v1/webhooks/{SOURCE_OF[plugin]}", content=body, headers=forge(plugin, body))
    assert (answer.status_code, answer.json()) == (401, {"detail": "invalid webhook signature"})
    assert deliveries(client) == []
    assert chained(client) == []
    assert refusals(client, SOURCE_OF[plugin], reason) == 1
    logged = capfd.readouterr()
    assert "webhook" not in logged.out + logged.err


@pytest.mark.parametrize(
    ("skew", "status"),
    [
        (timedelta(minutes=-10), 401),
        (timedelta(minutes=10), 401),
        (timedelta(days=-400), 401),
        (timedelta(minutes=-4), 202),
        (timedelta(minutes=4), 202),
    ],
)
def test_a_zendesk_timestamp_more_than_5_minutes_off_is_refused(
    client: TestClient, skew: timedelta, status: int
) -> None:
    answer = deliver(client, "zendesk", skew=skew)
    assert answer.status_code == status
    assert len(deliveries(client)) == (1 if status == 202 else 0)
    assert refusals(client, "support", "stale_timestamp") == (1 if status == 401 else 0)


def test_a_zendesk_unix_or_unparsable_timestamp(client: TestClient) -> None:
    body = json.dumps(ZENDESK_EVENT).encode()
    for stamp, status in ((str(int(time.time())), 202), ("yesterday", 401)):
        signature = base64.b64encode(_mac(ZENDESK_SECRET, stamp.encode() + body)).decode()
        headers = {"X-Zendesk-Webhook-Signature": signature, "X-Zendesk-Webhook-Signature-Timestamp": stamp}
        assert client.post("/v1/webhooks/support", content=body, headers=headers).status_code == status


@pytest.mark.parametrize(
    ("path", "status", "source_label", "reason"),
    [
        ("/v1/webhooks/nowhere", 404, "(unknown)", "unknown_source"),
        ("/v1/webhooks/%3Cscript%3E", 404, "(unknown)", "unknown_source"),
        ("/v1/webhooks/sweep-only", 404, "sweep-only", "not_enabled"),
        ("/v1/webhooks/broken", 503, "broken", "misconfigured"),
        ("/v1/webhooks/weak", 503, "weak", "misconfigured"),
    ],
)
def test_sources_that_take_no_webhook(
    client: TestClient, path: str, status: int, source_label: str, reason: str
) -> None:
    body = json.dumps(GITHUB_COMMENT).encode()
    answer = client.post(path, content=body, headers=github_headers(body))
    assert answer.status_code == status
    assert "nowhere" not in answer.text  # the requested name is not echoed
    assert "script" not in answer.text
    assert refusals(client, source_label, reason) == 1
    assert deliveries(client) == []


def test_a_misconfigured_secret_is_named_in_the_log_without_a_value(
    client: TestClient, capfd: pytest.CaptureFixture[str]
) -> None:
    deliver(client, "github")  # the first delivery reads the secrets
    logged = capfd.readouterr()
    assert "sources.broken.webhook_secret_file" in logged.out + logged.err
    assert "sources.weak.webhook_secret: shorter than 16" in logged.out + logged.err
    assert "short" not in (logged.out + logged.err).replace("shorter", "")


def test_a_body_over_1_mib_is_refused_before_it_is_read(client: TestClient) -> None:
    body = b"{" + b" " * (1024 * 1024) + b"}"
    answer = client.post("/v1/webhooks/issues", content=body, headers=github_headers(body))
    assert answer.status_code == 413
    assert deliveries(client) == []


def test_a_ledger_that_cannot_record_answers_503_so_the_vendor_retries(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: Any, **kwargs: Any) -> bool:
        raise ConfigError("ledger at postgresql://responder@db/responder failed: connection refused")

    monkeypatch.setattr(ledger_of(client), "record_delivery", down)
    answer = deliver(client, "jira")
    assert answer.status_code == 503
    assert "postgresql" not in answer.text


# ---- once only -----------------------------------------------------------------------------------------------


def test_a_github_redelivery_is_recorded_once(client: TestClient) -> None:
    first = deliver(client, "github", delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    again = deliver(client, "github", delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json()["duplicate"] is False
    assert again.json() == {"delivery_id": None, "duplicate": True, "attachments": 0}
    assert len(deliveries(client)) == 1
    assert [e["type"] for e in chained(client)] == ["webhook_received"]


@pytest.mark.parametrize(
    ("plugin", "first", "second", "duplicate"),
    [
        # GitHub: the same delivery id, even with another (signed) body, is the same delivery
        ("github", {"delivery": "d-1"}, {"delivery": "d-1", "payload": {**GITHUB_COMMENT, "action": "edited"}}, True),
        # a captured delivery replayed under a new (unsigned) delivery id: the signed content gives it away
        ("github", {"delivery": "d-1"}, {"delivery": "d-2"}, True),
        ("github", {"delivery": "d-1"}, {"delivery": "d-2", "payload": {**GITHUB_COMMENT, "action": "edited"}}, False),
        # Jira: X-Atlassian-Webhook-Identifier is kept across retries
        ("jira", {"identifier": "77"}, {"identifier": "77", "payload": {**JIRA_ISSUE_UPDATED, "timestamp": 2}}, True),
        ("jira", {"identifier": "77"}, {"identifier": "78", "payload": {**JIRA_ISSUE_UPDATED, "timestamp": 2}}, False),
        # Zendesk event webhooks: a retry is signed again with a new timestamp; the envelope id is the same
        ("zendesk", {}, {"skew": timedelta(seconds=-30)}, True),
        ("zendesk", {}, {"payload": {**ZENDESK_EVENT, "id": "another-event-id"}}, False),
    ],
)
def test_redeliveries_and_replays_are_recorded_once(
    client: TestClient, plugin: str, first: dict[str, Any], second: dict[str, Any], duplicate: bool
) -> None:
    assert deliver(client, plugin, **first).json()["duplicate"] is False
    answer = deliver(client, plugin, **second)
    assert answer.status_code == 202
    assert answer.json()["duplicate"] is duplicate
    assert len(deliveries(client)) == (1 if duplicate else 2)
    assert len(chained(client)) == (1 if duplicate else 2)


def test_a_zendesk_trigger_webhook_is_deduplicated_by_its_invocation_id(client: TestClient) -> None:
    body = json.dumps({"ticket_id": "4711"}).encode()
    for skew in (timedelta(seconds=-5), timedelta()):  # a retry, signed again
        headers = {**zendesk_headers(body, skew=skew), "X-Zendesk-Webhook-Invocation-Id": "9001"}
        assert client.post("/v1/webhooks/support", content=body, headers=headers).status_code == 202
    (row,) = deliveries(client)
    assert (row.delivery_id, row.ticket_id, row.event) == ("9001", "4711", None)


def test_two_replicas_receiving_the_same_delivery_record_it_once(
    webhook_settings: Callable[..., Settings],
) -> None:
    body = json.dumps(GITHUB_COMMENT).encode()
    headers = {"Content-Type": "application/json", **github_headers(body, delivery="same-delivery")}
    settings = webhook_settings(serve={"engine": False})
    answers: list[dict[str, Any]] = []
    start = threading.Barrier(8)

    def post(replica: TestClient) -> None:
        start.wait()
        answers.append(replica.post("/v1/webhooks/issues", content=body, headers=headers).json())

    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        threads = [threading.Thread(target=post, args=(replica,)) for replica in (one, two) * 4]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(a["duplicate"] for a in answers) == [False] + [True] * 7
        assert len(deliveries(one)) == 1
        assert [e["type"] for e in chained(two)] == ["webhook_received"]
        assert ledger_of(two).verify_chain().intact


# ---- the whole ledger, no network, no secret -----------------------------------------------------------------


def test_ledger_verify_is_intact_after_deliveries_and_refusals(
    client: TestClient, ledger_url: str, tmp_path: Path
) -> None:
    for plugin in ("zendesk", "jira", "github"):
        assert deliver(client, plugin).status_code == 202
        assert deliver(client, plugin, secret=_canary("forged")).status_code == 401
    verified = run("ledger", "verify", data_dir=tmp_path / "data", env={"RESPONDER_LEDGER_URL": ledger_url})
    assert verified.returncode == 0, verified.stderr
    assert "ledger intact: 3 event(s)" in verified.stdout


def test_the_answer_needs_no_network(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fetching the attachment is the connector's job, later: this request only records (and is quick)."""
    deliver(client, "github")  # the first request reads the secrets; measure the steady state
    outbound: list[object] = []
    connect = socket.socket.connect

    def guarded(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            outbound.append(address)
        connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    slowest = 0.0
    with respx.mock(assert_all_mocked=True, assert_all_called=False):
        for n in range(10):
            for plugin in ("zendesk", "jira", "github"):
                payload = {**PAYLOADS[plugin], "id": f"event-{n}", "timestamp": n}
                started = time.perf_counter()
                answer = deliver(client, plugin, payload)
                slowest = max(slowest, time.perf_counter() - started)
                assert answer.status_code == 202, answer.text
    assert outbound == []
    assert slowest < 2.0  # milliseconds in practice; generous for a loaded CI machine


def test_no_webhook_secret_or_attachment_token_is_kept_anywhere(
    client: TestClient, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shown: list[str] = []
    for plugin in ("zendesk", "jira", "github"):
        for signing in ({}, {"secret": _canary("forged")}):
            answer = deliver(client, plugin, **signing)
            shown += [answer.text, json.dumps(dict(answer.headers))]
    shown.append(client.get("/metrics", headers=bearer("auditor")).text)
    shown.append(client.get("/openapi.json").text)
    shown.append(client.get("/v1/ledger/verify", headers=bearer("auditor")).text)
    logged = capfd.readouterr()
    shown += [logged.out, logged.err]
    with ledger_of(client).reader() as connection:
        shown += [repr(connection.execute(select(table)).all()) for table in metadata.sorted_tables]
    written = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    for value in (ZENDESK_SECRET, JIRA_SECRET, GITHUB_SECRET, ZENDESK_TOKEN, QUERY_TOKEN):
        for form in (value, base64.b64encode(value.encode()).decode(), value.encode().hex()):
            assert all(form not in text for text in shown), value
            assert form.encode() not in written, value
    assert len(deliveries(client)) == 3


# ---- the signing rules themselves ----------------------------------------------------------------------------


def test_github_documented_test_vector() -> None:
    """docs.github.com, "Validating webhook deliveries": secret "It's a Secret to Everybody", payload
    "Hello, World!" → sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17."""
    headers = {"x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}
    secret = Secret("It's a Secret to Everybody")
    assert refusal(SCHEMES["github"], secret, headers, b"Hello, World!", datetime.now(UTC)) is None
    assert refusal(SCHEMES["github"], secret, headers, b"Hello, World?", datetime.now(UTC)) == "bad_signature"


@pytest.mark.parametrize(
    ("signed_input", "accepted"),
    [("timestamp + body", True), ("body + timestamp", False), ("body only", False)],
)
def test_zendesk_signs_the_timestamp_then_the_body(signed_input: str, accepted: bool) -> None:
    body, stamp = b'{"say": "hello"}', datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = {"timestamp + body": stamp.encode() + body, "body + timestamp": body + stamp.encode(), "body only": body}
    headers = {
        "x-zendesk-webhook-signature": base64.b64encode(_mac(ZENDESK_SECRET, data[signed_input])).decode(),
        "x-zendesk-webhook-signature-timestamp": stamp,
    }
    reason = refusal(SCHEMES["zendesk"], Secret(ZENDESK_SECRET), headers, body, datetime.now(UTC))
    assert (reason is None) is accepted
