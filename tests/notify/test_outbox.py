"""The outbox end to end: intakes and panics go through the real engine against a fake IdP, and the notify
worker delivers to real local receivers (HTTP for Slack and the webhook, SMTP for email), on SQLite and
PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select

from responder.ledger import open_ledger
from responder.ledger.schema import intakes, ledger_meta, notifications
from responder.ledger.store import Ledger
from responder.model import Subject, Trigger
from responder.notify.notifiers import build_notifier
from responder.notify.worker import SETTLE_MARGIN, NotifyStats, NotifyWorker, retry_delay
from tests import harbuild
from tests.ledger import flows
from tests.ledger.conftest import random_token
from tests.notify.conftest import SIGNING_SECRET, Lab, email_table, slack_table, webhook_table
from tests.notify.receivers import HttpReceiver, SmtpReceiver, verify_signature

SLACK = "/services/T000/B000/slackhooksecret"
HOOK = "/hook?token=hookquerysecret"


def rows(ledger: Ledger) -> list[Any]:
    with ledger.engine.connect() as connection:
        return list(connection.execute(select(notifications).order_by(notifications.c.id)))


def issued(lab: Lab, count: int, prefix: str = "user") -> list[str]:
    tokens = [random_token() for _ in range(count)]
    for n, token in enumerate(tokens):
        lab.idp.issue(token, subject=f"{prefix}-{n}")
    return tokens


def test_one_message_per_notifier_for_an_intake_with_live_credentials(
    make_lab: Callable[..., Lab], http: HttpReceiver, smtp: SmtpReceiver
) -> None:
    lab = make_lab([slack_table(http), webhook_table(http), email_table(smtp)])
    worker = lab.worker()
    assert worker.run_once() == NotifyStats()  # first run: notifications start now
    tokens = issued(lab, 2)
    lab.idp.fail_next(1, status=403)  # one revocation (whichever comes first) is refused: a failure to report
    intake = lab.intake([*tokens, random_token()])  # the third was never issued: already invalid
    assert worker.run_once().queued == 0  # actions not done yet: nothing is owed
    lab.work()
    stats = worker.run_once()
    assert (stats.queued, stats.sent, stats.retried, stats.failed) == (3, 3, 0, 0)
    assert worker.run_once() == NotifyStats()  # sent once, never again

    (slack,) = http.at(SLACK)
    (hook,) = http.at(HOOK)
    ((envelope, mail),) = smtp.mailbox.messages
    assert verify_signature(SIGNING_SECRET, hook)
    body = hook.json()
    assert body["schema_version"] == 1
    assert (body["kind"], body["id"], body["actor"], body["source"]) == ("intake", intake.intake_id, "alice", "zendesk")
    assert body["reference"] == "ticket 4711 / a.har"
    outcomes = {o["outcome"]: o["count"] for o in body["outcomes"]}
    revoked = outcomes.get("revoked", 0)
    assert outcomes.get("failed_permanent") == 1
    assert revoked + outcomes.get("already_invalid", 0) == 2
    assert revoked >= 1
    assert body["failure_count"] == 1
    (failure,) = body["failures"]
    assert failure["detail"] == "HTTP 403: responder lacks the permission"
    assert len(failure["credential"]) == 8
    assert body["affected_count"] == 3  # those the IdP named while revoking, and credentials of unknown users
    named = {a["user_id"] for a in body["affected"] if a["user_id"] is not None}
    assert len(named) == revoked
    assert named <= {"user-0", "user-1"}
    assert all(len(a["credential"]) == 8 for a in body["affected"] if a["user_id"] is None)
    assert body["lookup"] == f"responder ledger show {intake.intake_id}"

    payload = slack.json()
    assert payload["text"].startswith("responder: Intake ")
    assert f"{revoked} revoked" in payload["text"]
    assert "1 failed" in payload["text"]
    blocks = payload["blocks"]
    assert blocks[0]["type"] == "header"
    assert 1 < len(blocks) <= 50
    assert any("HTTP 403: responder lacks the permission" in b.get("text", {}).get("text", "") for b in blocks)

    assert envelope.rcpt_tos == ["soc@lab.test"]
    assert mail["From"] == "responder@lab.test"
    assert mail["Subject"].startswith("[responder] Intake ")
    text = mail.get_payload(decode=True).decode()
    assert "HTTP 403: responder lacks the permission" in text
    assert f"responder ledger show {intake.intake_id}" in text

    assert {(r.subject_kind, r.notifier, r.state, r.attempts) for r in rows(lab.service.ledger)} == {
        ("intake", "slack", "sent", 1),
        ("intake", "siem", "sent", 1),
        ("intake", "mail", "sent", 1),
    }


def test_no_message_for_dry_runs_or_intakes_with_nothing_live(make_lab: Callable[..., Lab], http: HttpReceiver) -> None:
    lab = make_lab([slack_table(http)])
    worker = lab.worker()
    worker.run_once()
    lab.intake(issued(lab, 2, "rehearsal"), name="rehearsal.har", dry_run=True)
    lab.intake([random_token(), random_token()], name="dead.har")  # unknown at the IdP: already invalid
    lab.panic([Subject("lab", "u-1", "ana@lab.test")], dry_run=True)
    lab.work()
    assert worker.run_once() == NotifyStats()
    assert http.received == []
    assert rows(lab.service.ledger) == []


def test_a_panic_gets_its_message_once_all_its_actions_are_done(
    make_lab: Callable[..., Lab], http: HttpReceiver
) -> None:
    lab = make_lab([webhook_table(http), slack_table(http, on=["intake"])])
    worker = lab.worker()
    worker.run_once()
    panic_id = lab.panic([Subject("lab", "u-1", "ana@lab.test"), Subject("lab", "u-2", "bo@lab.test")])
    assert worker.run_once() == NotifyStats()  # still planned
    lab.work()
    assert worker.run_once().sent == 1  # the Slack notifier is only for intakes
    (hook,) = http.at(HOOK)
    body = hook.json()
    assert (body["kind"], body["id"], body["trigger"], body["provider"]) == ("panic", panic_id, "panic", "lab")
    assert body["reference"] == "user: u-1,u-2"
    assert body["outcomes"] == [{"provider": "lab", "verb": "end_all_sessions", "outcome": "revoked", "count": 2}]
    assert [a["login"] for a in body["affected"]] == ["ana@lab.test", "bo@lab.test"]
    assert body["lookup"] == f"responder ledger list --panic {panic_id}"
    assert http.at(SLACK) == []


def test_a_panic_where_every_session_had_already_ended_is_still_reported(
    make_lab: Callable[..., Lab], http: HttpReceiver
) -> None:
    lab = make_lab([webhook_table(http)])
    worker = lab.worker()
    worker.run_once()
    lab.idp.fail_next(2, status=404, method="DELETE")  # the IdP knows no session of either user
    panic_id = lab.panic([Subject("lab", "u-1", "ana@lab.test"), Subject("lab", "u-2", "bo@lab.test")])
    lab.work()
    assert worker.run_once().sent == 1
    (hook,) = http.at(HOOK)
    body = hook.json()
    assert (body["kind"], body["id"]) == ("panic", panic_id)
    assert body["outcomes"] == [
        {"provider": "lab", "verb": "end_all_sessions", "outcome": "already_invalid", "count": 2}
    ]


def test_an_intake_whose_credentials_need_a_person_is_reported(
    make_lab: Callable[..., Lab], http: HttpReceiver
) -> None:
    lab = make_lab([webhook_table(http)])
    worker = lab.worker()
    worker.run_once()
    okta = harbuild.entry(  # no Okta instance is configured: nothing can end this token but a person
        "https://acme.okta.com/api/v1/users/me",
        request_headers=[("Authorization", f"Bearer 00{random_token()[:40]}")],
    )
    path = harbuild.write(lab.tmp_path / "okta.har", harbuild.har(okta), indent=None)
    result = lab.service.intake(
        flows.scan(lab.settings, path), trigger=Trigger.UPLOAD, actor="alice", source="zendesk", reference="ticket 9"
    )
    assert result.action_ids == ()
    assert result.unhandled == 1
    lab.work()
    assert worker.run_once().sent == 1
    (hook,) = http.at(HOOK)
    body = hook.json()
    assert (body["kind"], body["id"]) == ("intake", result.intake_id)
    assert body["unhandled_count"] == 1
    assert body["unhandled"][0]["disposition"] == "no_provider"


def test_history_before_the_first_run_is_not_mailed(make_lab: Callable[..., Lab], http: HttpReceiver) -> None:
    lab = make_lab([slack_table(http)])
    lab.intake(issued(lab, 1))
    lab.work()
    worker = lab.worker()
    assert worker.run_once() == NotifyStats()
    with lab.service.ledger.engine.connect() as connection:
        since = connection.execute(select(ledger_meta.c.value).where(ledger_meta.c.name == "notify_since")).scalar()
    assert since is not None
    lab.intake(issued(lab, 1, "later"), name="b.har")
    lab.work()
    assert worker.run_once().sent == 1  # only the intake after notifications were turned on
    assert len(http.at(SLACK)) == 1


def test_a_receiver_error_is_retried_later_and_then_sent(make_lab: Callable[..., Lab], http: HttpReceiver) -> None:
    lab = make_lab([webhook_table(http)])
    worker = lab.worker()
    start = datetime.now(UTC)
    worker.run_once(start)
    lab.intake(issued(lab, 1))
    lab.work()
    http.answer(500)
    now = datetime.now(UTC)
    assert worker.run_once(now).retried == 1
    (row,) = rows(lab.service.ledger)
    assert (row.state, row.attempts, row.lease_owner) == ("pending", 1, None)
    assert row.last_error == "127.0.0.1 answered HTTP 500"
    assert row.next_attempt_at >= now + retry_delay(1) - timedelta(seconds=1)
    assert worker.run_once(now + timedelta(seconds=5)) == NotifyStats()  # not due yet
    assert worker.run_once(now + retry_delay(1) + timedelta(seconds=1)).sent == 1
    first, second = http.at(HOOK)
    assert first.headers["X-Responder-Delivery"] == second.headers["X-Responder-Delivery"]
    assert verify_signature(SIGNING_SECRET, second)
    (row,) = rows(lab.service.ledger)
    assert (row.state, row.attempts) == ("sent", 2)


def test_given_up_after_max_attempts_and_logged(make_lab: Callable[..., Lab], http: HttpReceiver) -> None:
    lab = make_lab([webhook_table(http, max_attempts=3)])
    worker = lab.worker()
    worker.run_once()
    lab.intake(issued(lab, 1))
    lab.work()
    http.answer(500, 502, 503, 200)
    now = datetime.now(UTC)
    with structlog.testing.capture_logs() as logs:
        results = [worker.run_once(now)]
        now += retry_delay(1) + timedelta(seconds=1)
        results.append(worker.run_once(now))
        now += retry_delay(2) + timedelta(seconds=1)
        results.append(worker.run_once(now))
        results.append(worker.run_once(now + timedelta(days=1)))
    assert [(r.retried, r.failed) for r in results] == [(1, 0), (1, 0), (0, 1), (0, 0)]
    assert len(http.at(HOOK)) == 3
    (row,) = rows(lab.service.ledger)
    assert (row.state, row.attempts, row.last_error) == ("failed", 3, "127.0.0.1 answered HTTP 503")
    given_up = [entry for entry in logs if entry["event"] == "notification_failed"]
    assert len(given_up) == 1
    assert given_up[0]["log_level"] == "error"
    assert given_up[0]["notifier"] == "siem"


def test_retry_delay_doubles_up_to_an_hour() -> None:
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert retry_delay(12).total_seconds() == 3600


def test_two_workers_on_one_ledger_never_send_twice(
    make_lab: Callable[..., Lab], http: HttpReceiver, smtp: SmtpReceiver
) -> None:
    lab = make_lab([slack_table(http), email_table(smtp)])
    other_ledger = open_ledger(lab.settings)  # a second process's own connections
    workers = [lab.worker(owner="replica-a"), NotifyWorker(lab.settings, other_ledger, owner="replica-b")]
    try:
        workers[0].run_once()
        intake_ids = [lab.intake(issued(lab, 1, f"u{n}"), name=f"{n}.har").intake_id for n in range(4)]
        panic_id = lab.panic([Subject("lab", "u-9", "zoe@lab.test")])
        lab.work()
        totals: list[NotifyStats] = []
        lock = threading.Lock()
        go = threading.Barrier(2)

        def run(worker: NotifyWorker) -> None:
            go.wait()
            for _ in range(8):
                stats = worker.run_once()
                with lock:
                    totals.append(stats)

        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert sum(s.queued for s in totals) == 10
        assert sum(s.sent for s in totals) == 10
        slack_ids = sorted(r.json()["blocks"][1]["fields"][-1]["text"].split("\n")[1] for r in http.at(SLACK))
        assert slack_ids == sorted([*intake_ids, panic_id])
        mail_subjects = [m["Subject"] for _, m in smtp.mailbox.messages]
        assert len(mail_subjects) == 5
        assert len({m["Message-ID"] for _, m in smtp.mailbox.messages}) == 5
        assert all(r.state == "sent" and r.attempts == 1 for r in rows(lab.service.ledger))
    finally:
        for worker in workers:
            worker.close()
        other_ledger.close()


def test_run_loop_delivers_and_stops(make_lab: Callable[..., Lab], http: HttpReceiver) -> None:
    lab = make_lab([slack_table(http)])
    worker = lab.worker()
    worker.run_once()
    lab.intake(issued(lab, 1))
    lab.work()
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop, 0.05))
    thread.start()
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while not http.at(SLACK) and datetime.now(UTC) < deadline:
        stop.wait(0.05)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(http.at(SLACK)) == 1


def test_without_notifiers_the_worker_touches_nothing(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab([])
    assert lab.worker().run_once() == NotifyStats()
    with lab.service.ledger.engine.connect() as connection:
        assert connection.execute(select(ledger_meta).where(ledger_meta.c.name == "notify_since")).first() is None


def test_a_credential_seen_again_is_counted_not_told_twice(make_lab: Callable[..., Lab], http: HttpReceiver) -> None:
    lab = make_lab([webhook_table(http)])
    worker = lab.worker()
    worker.run_once()
    old, new = issued(lab, 2)
    lab.intake([old], name="first.har")
    lab.work()
    assert worker.run_once().sent == 1
    lab.intake([old], name="again.har")  # nothing new to do: the credential was handled after first.har
    lab.work()
    assert worker.run_once() == NotifyStats()
    third = lab.intake([old, new], name="third.har")
    lab.work()
    assert worker.run_once().sent == 1
    body = http.at(HOOK)[-1].json()
    assert body["id"] == third.intake_id
    assert body["seen_again"] == 1
    assert body["outcomes"] == [{"provider": "lab", "verb": "revoke_token", "outcome": "revoked", "count": 1}]


def test_an_unfinished_intake_holds_the_survey_window_open(make_lab: Callable[..., Lab], http: HttpReceiver) -> None:
    lab = make_lab([slack_table(http)])
    worker = lab.worker()
    worker.run_once()
    slow = lab.intake(issued(lab, 1), name="slow.har")  # its action not run yet: still open hours later
    later = datetime.now(UTC) + timedelta(hours=3)
    assert worker.run_once(later) == NotifyStats()

    def since() -> datetime:
        with lab.service.ledger.engine.connect() as connection:
            value = connection.execute(select(ledger_meta.c.value).where(ledger_meta.c.name == "notify_since"))
            return datetime.strptime(value.scalar_one(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)

    with lab.service.ledger.engine.connect() as connection:
        received = connection.execute(select(intakes.c.received_at).where(intakes.c.id == slow.intake_id)).scalar()
    assert since() <= received  # not moved past the intake still being worked on
    lab.work()
    assert worker.run_once(later).sent == 1
    assert since() == later - SETTLE_MARGIN  # settled: the window moves on


class _Broken:
    """A notifier with a bug: its exception must not leave the row leased or stop the others."""

    name = "broken"

    def __init__(self) -> None:
        self.calls = 0

    def send(self, notice: Any, delivery_id: str) -> None:
        self.calls += 1
        raise RuntimeError("boom with details nobody should see")

    def close(self) -> None:
        return None


def test_a_notifier_that_raises_is_retried_like_a_failed_delivery(
    make_lab: Callable[..., Lab], http: HttpReceiver
) -> None:
    lab = make_lab([slack_table(http), slack_table(http, name="broken")])
    broken = _Broken()
    worker = lab.worker(notifiers={"slack": build_notifier(lab.settings.notifiers[0]), "broken": broken})
    worker.run_once()
    lab.intake(issued(lab, 1))
    lab.work()
    stats = worker.run_once()
    assert (stats.sent, stats.retried) == (1, 1)
    row = next(r for r in rows(lab.service.ledger) if r.notifier == "broken")
    assert (row.state, row.lease_owner, row.last_error) == ("pending", None, "the notifier raised RuntimeError")
    assert broken.calls == 1
    worker.close()
