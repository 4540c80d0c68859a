"""A panic of 18,400 users is one short message: counts, the first `max_listed` users and failures, the number
affected. The outcomes are written straight into the actions table (running 18,400 calls against the fake
IdP would take minutes and prove nothing more about the message)."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import update

from responder.ledger.schema import actions
from responder.model import Subject
from responder.notify import render
from responder.notify.notice import notice_for_panic
from tests.notify.conftest import Lab, email_table, slack_table, webhook_table
from tests.notify.receivers import HttpReceiver, SmtpReceiver

USERS = 18_400
FAILED_EVERY = 500  # 37 failures (users 0, 500, …, 18,000)


def test_a_panic_of_18400_users_is_summarised(
    make_lab: Callable[..., Lab], http: HttpReceiver, smtp: SmtpReceiver
) -> None:
    lab = make_lab([slack_table(http), webhook_table(http), email_table(smtp)])
    worker = lab.worker()
    worker.run_once()
    users = [Subject("lab", f"u{n:05d}", f"user{n:05d}@lab.test") for n in range(USERS)]
    panic_id = lab.panic(users)
    failed = [f"u{n:05d}" for n in range(0, USERS, FAILED_EVERY)]
    with lab.service.ledger.engine.begin() as connection:
        mine = actions.c.panic_id == panic_id
        connection.execute(update(actions).where(mine).values(state="done", outcome="revoked", verified=True))
        connection.execute(
            update(actions)
            .where(mine, actions.c.subject_id.in_(failed))
            .values(outcome="failed_permanent", verified=None, detail="HTTP 403: responder lacks the permission")
        )

    started = time.monotonic()
    assert worker.run_once().sent == 3
    assert time.monotonic() - started < 10  # aggregated in SQL: 0.2 s here, not 18,400 rows read
    started = time.monotonic()
    assert worker.run_once().sent == 0
    assert time.monotonic() - started < 2  # a poll while the panic is in the survey window stays cheap

    body = next(r for r in http.received if r.path.startswith("/hook")).json()
    assert body["affected_count"] == USERS
    assert len(body["affected"]) == 20
    assert body["failure_count"] == len(failed) == 37
    assert [f["user_id"] for f in body["failures"]] == failed[:20]
    assert {(o["outcome"], o["count"]) for o in body["outcomes"]} == {
        ("revoked", USERS - 37),
        ("failed_permanent", 37),
    }
    assert len(http.received[0].body) + len(http.received[1].body) < 40_000

    slack = next(r for r in http.received if r.path.startswith("/services")).json()
    assert len(slack["blocks"]) <= 50
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in slack["blocks"])
    assert "18,363 revoked" in slack["text"]
    assert "37 failed" in slack["text"]

    ((_, mail),) = smtp.mailbox.messages
    text = mail.get_payload(decode=True).decode()
    assert len(text.splitlines()) < 80
    assert "… and 18,380 more" in text  # users beyond the first 20
    assert "… and 17 more" in text  # failures beyond the first 20

    wider = notice_for_panic(lab.service.ledger, panic_id, listed=50)
    assert wider is not None
    assert len(wider.failures) == 37
    assert "18,400 users affected" in render.headline(wider)
