"""Each transport against a real local receiver: SMTP over STARTTLS with a login, implicit TLS, an untrusted
relay refused; the webhook's signature checked the way a receiver would; failures that name no secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from responder.errors import ConfigError
from responder.notify.delivery import DeliveryFailed
from responder.notify.notice import Affected, Failure, Notice, Tally
from responder.notify.notifiers import build_notifier
from responder.notify.settings import NotifierConfig
from tests.notify.receivers import (
    Certificate,
    HttpReceiver,
    Received,
    SmtpReceiver,
    free_port,
    self_signed,
    verify_signature,
)

SMTP_PASSWORD = "smtp-pass-Zq8wLr2vNc5t"


def notice() -> Notice:
    return Notice(
        kind="intake",
        id="0b7e2a4c-1111-4222-8333-944455556666",
        recorded_at=datetime(2026, 11, 30, 9, 15, tzinfo=UTC),
        trigger="upload",
        actor="alice",
        source="zendesk",
        reference="ticket 4711",
        artifact="login.har",
        provider=None,
        tallies=(Tally("corp", "revoke_token", "revoked", 2), Tally("corp", "revoke_token", "failed_permanent", 1)),
        affected_count=2,
        affected=(Affected("corp", "00u1", "ana@example.com"), Affected("corp", None, "", "1a2b3c4d")),
        failure_count=1,
        failures=(
            Failure("act-1", "corp", "revoke_token", None, "", "1a2b3c4d", "failed_permanent", "HTTP 403: refused"),
        ),
    )


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    with HttpReceiver() as running:
        yield running


def email(port: int, **extra: object) -> NotifierConfig:
    return NotifierConfig.model_validate(
        {
            "name": "mail",
            "kind": "email",
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "mail_from": "responder@example.com",
            "mail_to": ["soc@example.com", "oncall@example.com"],
            **extra,
        }
    )


def test_email_over_starttls_with_a_login(certificate: Certificate) -> None:
    with SmtpReceiver("starttls", certificate, login=("responder", SMTP_PASSWORD)) as relay:
        notifier = build_notifier(
            email(relay.port, ca_file=certificate.cert, username="responder", password=SMTP_PASSWORD)
        )
        notifier.send(notice(), "delivery-1")
    ((envelope, message),) = relay.mailbox.messages
    assert relay.mailbox.tls == [True]
    assert relay.mailbox.logins == ["responder"]
    assert envelope.mail_from == "responder@example.com"
    assert envelope.rcpt_tos == ["soc@example.com", "oncall@example.com"]
    assert message["Subject"] == "[responder] Intake 0b7e2a4c: 2 revoked, 1 failed; 2 users affected"
    assert message["Message-ID"] == "<delivery-1@responder.notify>"
    assert message.get_content_type() == "text/plain"
    body = message.get_payload(decode=True).decode()
    assert "corp: ana@example.com (00u1)" in body
    assert "corp: unknown user (credential 1a2b3c4d)" in body
    assert "corp revoke_token for unknown user, credential 1a2b3c4d: failed_permanent: HTTP 403: refused" in body
    assert "Look it up: responder ledger show 0b7e2a4c-1111-4222-8333-944455556666" in body
    assert SMTP_PASSWORD.encode() not in relay.mailbox.raw[0]


def test_email_over_implicit_tls(certificate: Certificate) -> None:
    with SmtpReceiver("tls", certificate) as relay:
        build_notifier(email(relay.port, security="tls", ca_file=certificate.cert)).send(notice(), "d-2")
    assert relay.mailbox.tls == [True]
    assert len(relay.mailbox.messages) == 1


def test_a_relay_with_an_untrusted_certificate_gets_nothing(certificate: Certificate) -> None:
    with SmtpReceiver("starttls", certificate) as relay:
        notifier = build_notifier(email(relay.port))  # no ca_file: the system's CAs do not know this one
        with pytest.raises(DeliveryFailed, match="certificate is not trusted"):
            notifier.send(notice(), "d-3")
    assert relay.mailbox.messages == []


def test_a_wrong_password_is_a_failure_that_does_not_show_it(certificate: Certificate) -> None:
    with SmtpReceiver("starttls", certificate, login=("responder", SMTP_PASSWORD)) as relay:
        wrong = "not-the-password-Kx93"
        notifier = build_notifier(email(relay.port, ca_file=certificate.cert, username="responder", password=wrong))
        with pytest.raises(DeliveryFailed) as failure:
            notifier.send(notice(), "d-4")
    assert str(failure.value) == f"127.0.0.1:{relay.port}: login refused (SMTP 535)"
    assert relay.mailbox.messages == []


def test_plain_smtp_to_localhost(tmp_path: Path) -> None:
    with SmtpReceiver() as relay:
        build_notifier(email(relay.port, security="plain")).send(notice(), "d-5")
    assert relay.mailbox.tls == [False]


def test_a_relay_that_is_down_is_a_delivery_failure() -> None:
    port = free_port()
    with pytest.raises(DeliveryFailed, match=f"127.0.0.1:{port}: ConnectionRefusedError"):
        build_notifier(email(port, security="plain")).send(notice(), "d-6")


def test_the_webhook_signature_verifies_and_a_changed_body_does_not(http: HttpReceiver) -> None:
    secret = "webhook-signing-secret-4f9a7c"
    config = NotifierConfig(name="siem", kind="webhook", url=http.url("/in"), secret=secret)  # type: ignore[arg-type]
    build_notifier(config).send(notice(), "d-7")
    (received,) = http.at("/in")
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["X-Responder-Delivery"] == "d-7"
    assert verify_signature(secret, received)
    assert not verify_signature("another-secret-entirely", received)
    tampered = Received(received.path, received.headers, received.body.replace(b'"revoked"', b'"unknown"'))
    assert tampered.body != received.body
    assert not verify_signature(secret, tampered)
    stale = int(received.headers["X-Responder-Timestamp"]) + 3600
    assert not verify_signature(secret, received, now=stale)  # an old delivery replayed an hour later
    body = json.loads(received.body)
    assert body["schema_version"] == 1
    assert [(o["outcome"], o["count"]) for o in body["outcomes"]] == [("revoked", 2), ("failed_permanent", 1)]


def test_http_failures_name_the_host_not_the_url(http: HttpReceiver) -> None:
    config = NotifierConfig(name="s", kind="slack", url=http.url("/services/T1/B1/xoxsecretpath"))  # type: ignore[arg-type]
    notifier = build_notifier(config)
    http.answer(404)
    with pytest.raises(DeliveryFailed) as failure:
        notifier.send(notice(), "d-8")
    assert str(failure.value) == "127.0.0.1 answered HTTP 404"
    assert "xoxsecretpath" not in repr(notifier)


def test_slack_escapes_what_could_ping_a_channel(http: HttpReceiver) -> None:
    config = NotifierConfig(name="s", kind="slack", url=http.url("/s"))  # type: ignore[arg-type]
    build_notifier(config).send(replace(notice(), actor="<!channel>"), "d-9")
    raw = http.at("/s")[0].body.decode()
    assert "<!channel>" not in raw
    assert "&lt;!channel&gt;" in raw


def test_urls_must_be_https_except_to_this_machine() -> None:
    config = NotifierConfig(name="s", kind="slack", url="http://hooks.example.com/x")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="use https"):
        build_notifier(config)
    short = NotifierConfig(name="w", kind="webhook", url="https://x.example.com/", secret="short")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at least 16 characters"):
        build_notifier(short)
