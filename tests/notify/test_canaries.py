"""Canary credentials planted in an uploaded capture (revoked, refused, unknown at the IdP, and one no provider
can end), plus the notifiers' own secrets (the Slack URL, the webhook URL's token and signing key, the SMTP
password), go through intake, the engine and the notify worker with a failed delivery on the way. None may
appear in any message (Slack, webhook, email), any log line, or any outbox row."""

from __future__ import annotations

import base64
import io
import logging
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from sqlalchemy import select

from responder.ledger.schema import ledger_meta, notifications
from responder.log import configure_logging
from responder.model import Trigger
from responder.notify.worker import retry_delay
from tests import harbuild
from tests.ledger import flows
from tests.notify.conftest import Lab
from tests.notify.receivers import Certificate, HttpReceiver, SmtpReceiver, self_signed


def canary(label: str) -> str:
    return f"Cn{label}{secrets.token_hex(14)}Zq7"


def encodings(value: str) -> list[bytes]:
    """The value, hex, and base64 at every alignment inside a longer blob."""
    raw = value.encode()
    forms = [raw, raw.hex().encode(), raw.hex().upper().encode()]
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * shift + raw)
            forms.append(encoded[(shift * 4 + 2) // 3 + 1 : -4])
    return forms


def leaks(blob: bytes, canaries: dict[str, str]) -> list[str]:
    return [name for name, value in canaries.items() if any(form in blob for form in encodings(value))]


@pytest.fixture
def rendered_logs(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """responder's structlog events at debug level, rendered as the service renders them (JSON)."""
    saved = structlog.get_config()
    buffer = io.StringIO()
    configure_logging(json=True, level="debug")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=buffer))
    caplog.set_level(logging.DEBUG)
    yield buffer
    structlog.configure(**saved)


@pytest.fixture
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("tls"))


def test_no_canary_reaches_a_message_a_log_or_the_outbox(
    make_lab: Callable[..., Lab],
    http: HttpReceiver,
    certificate: Certificate,
    rendered_logs: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    planted = {name: canary(name) for name in ("revoked", "refused", "unknown", "nowhere")}
    own = {name: canary(name) for name in ("slackpath", "hooktoken", "signing", "smtp")}
    slack_path = f"/services/T1/B1/{own['slackpath']}"
    hook_path = f"/hook?token={own['hooktoken']}"
    with SmtpReceiver("starttls", certificate, login=("responder", own["smtp"])) as relay:
        lab = make_lab(
            [
                {"name": "slack", "kind": "slack", "url": http.url(slack_path)},
                {"name": "siem", "kind": "webhook", "url": http.url(hook_path), "secret": own["signing"]},
                {
                    "name": "mail",
                    "kind": "email",
                    "smtp_host": "127.0.0.1",
                    "smtp_port": relay.port,
                    "ca_file": str(certificate.cert),
                    "username": "responder",
                    "password": own["smtp"],
                    "mail_from": "responder@lab.test",
                    "mail_to": ["soc@lab.test"],
                },
            ]
        )
        worker = lab.worker()
        worker.run_once()
        lab.idp.issue(planted["revoked"], subject="user-revoked")
        lab.idp.issue(planted["refused"], subject="user-refused")
        entries = [
            harbuild.entry(f"https://{flows.HOST}/v1/{name}", request_headers=[("Authorization", f"Bearer {value}")])
            for name, value in planted.items()
            if name != "nowhere"
        ]
        entries.append(
            harbuild.entry(
                "https://acme.okta.com/api/v1/users/me",
                request_headers=[("Authorization", f"Bearer {planted['nowhere']}")],
            )
        )
        path = harbuild.write(lab.tmp_path / "canary.har", harbuild.har(*entries), indent=None)
        report = flows.scan(lab.settings, path)
        lab.service.intake(report, trigger=Trigger.UPLOAD, actor="alice", source="zendesk", reference="ticket 9")
        lab.idp.fail_next(1, status=403, method="POST")
        lab.work()
        http.answer(500, 500)  # the first deliveries fail: errors go to logs and rows
        first = worker.run_once()
        assert (first.sent, first.retried) == (1, 2)  # the email went; Slack and the webhook wait
        later = worker.run_once(datetime.now(UTC) + retry_delay(1) + timedelta(seconds=1))
        assert later.sent == 2
        worker.close()

    deliveries = http.received
    assert len(deliveries) == 4
    assert len(relay.mailbox.raw) == 1
    webhook_body = next(r for r in deliveries if r.path.startswith("/hook") and r.body).json()
    assert webhook_body["failure_count"] == 1
    assert webhook_body["failures"][0]["detail"] == "HTTP 403: responder lacks the permission"
    outcomes = {o["outcome"]: o["count"] for o in webhook_body["outcomes"]}
    assert outcomes["failed_permanent"] == 1  # whichever revocation met the injected 403 (two threads)
    assert sum(outcomes.values()) == 3
    assert webhook_body["unhandled_count"] == 1  # an Okta token, and no Okta instance is configured
    assert relay.mailbox.logins == ["responder"]

    with lab.service.ledger.engine.connect() as connection:
        outbox = [repr(tuple(row)) for row in connection.execute(select(notifications))]
        meta = [repr(tuple(row)) for row in connection.execute(select(ledger_meta))]
    assert any("answered HTTP 500" in row for row in outbox)

    places: dict[str, bytes] = {
        **{f"http {n} body": r.body for n, r in enumerate(deliveries)},
        **{f"http {n} headers": repr(sorted(r.headers.items())).encode() for n, r in enumerate(deliveries)},
        "email": b"\n".join(relay.mailbox.raw),
        "structlog": rendered_logs.getvalue().encode(),
        # Every stdlib logger at DEBUG (httpx, SQLAlchemy, alembic), but not the test relay's own (mail.log).
        "stdlib logs": "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log").encode(),
        "outbox rows": "\n".join(outbox).encode(),
        "ledger_meta": "\n".join(meta).encode(),
    }
    assert "notification_retry" in rendered_logs.getvalue()
    assert "notification_sent" in rendered_logs.getvalue()
    for place, blob in places.items():
        assert leaks(blob, planted) == [], f"a planted credential reached {place}"
    for place, blob in places.items():  # the URLs' paths are where the receiver listens, not what it was sent
        assert leaks(blob, own) == [], f"a notifier's own secret reached {place}"
