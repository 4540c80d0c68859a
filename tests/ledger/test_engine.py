"""The execution engine against a local fake IdP over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from responder.errors import ConfigError
from responder.http import DryRunViolation, outcome_for_status, retry_after_seconds
from responder.ledger.schema import actions, events
from responder.model import OutcomeStatus, Trigger
from responder.ratelimit import RateLimiter
from responder.service import IntakeResult, Responder
from responder.settings import Settings
from responder.testing import FakeIdP, FakeProvider
from tests.ledger import flows
from tests.ledger.conftest import random_token


@pytest.fixture
def idp() -> Iterator[FakeIdP]:
    with FakeIdP() as running:
        yield running


@pytest.fixture
def make_lab(make_settings: Callable[..., Settings], idp: FakeIdP) -> Callable[..., Settings]:
    def build(engine: dict[str, Any] | None = None, **provider: Any) -> Settings:
        tuning = {"threads": 2, "poll_seconds": 0.1, **(engine or {})}
        return make_settings(providers=[flows.lab_provider(idp.url, **provider)], engine=tuning)

    return build


def intake(service: Responder, settings: Settings, path: Path, tokens: list[str], **kw: Any) -> IntakeResult:
    report = flows.scan(settings, flows.capture(path, tokens))
    return service.intake(report, trigger=Trigger.UPLOAD, actor="test", source="cli", reference=path.name, **kw)


def rows(service: Responder) -> dict[str, Any]:
    with service.ledger.engine.connect() as connection:
        return {row.id: row for row in connection.execute(select(actions))}


def types_for(service: Responder, action_id: str) -> list[str]:
    with service.ledger.engine.connect() as connection:
        query = select(events.c.type).where(events.c.action_id == action_id).order_by(events.c.seq)
        return list(connection.execute(query).scalars())


def no_sleep(_seconds: float) -> None:
    return None


def test_planned_then_called_then_recorded_then_verified(
    make_lab: Callable[..., Settings], idp: FakeIdP, tmp_path: Path
) -> None:
    settings = make_lab()
    tokens = [random_token() for _ in range(3)]
    for n, token in enumerate(tokens):
        idp.issue(token, subject=f"user-{n}")
    service = flows.responder(settings)
    result = intake(service, settings, tmp_path / "a.har", tokens)
    stats = service.engine(sleep=no_sleep).run(until_idle=True)
    assert stats.outcomes == {"revoked": 3}
    assert stats.verified == 3
    for action_id, row in rows(service).items():
        assert (row.state, row.outcome, row.verified, row.attempts, row.sealed) == ("done", "revoked", True, 1, None)
        assert row.subject_id.startswith("user-")  # learned from the IdP while acting
        assert types_for(service, action_id) == [
            "action_planned",
            "attempt_made",
            "outcome_recorded",
            "verification_recorded",
        ]
    assert all(idp.state(t).revocations == 1 for t in tokens)
    assert set(result.action_ids) == set(rows(service))
    assert service.ledger.verify_chain().intact
    service.close()


def test_transient_failures_are_retried_in_process(
    make_lab: Callable[..., Settings], idp: FakeIdP, tmp_path: Path
) -> None:
    settings = make_lab(engine={"threads": 1})
    token = random_token()
    idp.issue(token)
    idp.fail_next(2, status=503)
    service = flows.responder(settings)
    intake(service, settings, tmp_path / "a.har", [token])
    sleeps: list[float] = []
    service.engine(sleep=sleeps.append).run(until_idle=True)
    (row,) = rows(service).values()
    assert (row.outcome, row.attempts, row.verified) == ("revoked", 3, True)
    assert types_for(service, row.id).count("attempt_made") == 3
    assert len(sleeps) == 2  # tenacity's backoff between the three calls
    service.close()


def test_a_long_retry_after_reschedules_durably_instead_of_waiting(
    make_lab: Callable[..., Settings], idp: FakeIdP, tmp_path: Path
) -> None:
    settings = make_lab(engine={"threads": 1, "retry_wait_max_seconds": 5})
    token = random_token()
    idp.issue(token)
    idp.fail_next(1, status=429, retry_after=120)
    service = flows.responder(settings)
    intake(service, settings, tmp_path / "a.har", [token])
    before = datetime.now(UTC)
    service.engine(sleep=no_sleep).run(until_idle=True)  # returns: nothing is due now
    (row,) = rows(service).values()
    assert (row.state, row.outcome, row.attempts, row.lease_owner) == ("planned", None, 1, None)
    assert row.next_attempt_at >= before + timedelta(seconds=119)
    assert row.sealed is not None  # still needed for the next attempt
    assert idp.state(token).revocations == 0
    service.close()


def test_a_permanent_failure_is_recorded_and_the_others_go_on(
    make_lab: Callable[..., Settings], idp: FakeIdP, tmp_path: Path
) -> None:
    settings = make_lab(engine={"threads": 1})
    tokens = [random_token() for _ in range(3)]
    for token in tokens:
        idp.issue(token)
    idp.fail_next(1, status=403)
    service = flows.responder(settings)
    intake(service, settings, tmp_path / "a.har", tokens)
    service.engine(sleep=no_sleep).run(until_idle=True)
    outcomes = sorted((r.outcome, r.detail, r.attempts) for r in rows(service).values())
    assert outcomes[0] == ("failed_permanent", "HTTP 403: responder lacks the permission", 1)
    assert [o[0] for o in outcomes[1:]] == ["revoked", "revoked"]
    assert all(r.sealed is None for r in rows(service).values())
    service.close()


def test_attempts_are_bounded(make_lab: Callable[..., Settings], idp: FakeIdP, tmp_path: Path) -> None:
    settings = make_lab(engine={"threads": 1, "max_attempts": 2})
    token = random_token()
    idp.issue(token)
    idp.fail_next(10, status=502)
    service = flows.responder(settings)
    intake(service, settings, tmp_path / "a.har", [token])
    service.engine(sleep=no_sleep).run(until_idle=True)
    (row,) = rows(service).values()
    assert (row.state, row.outcome, row.attempts) == ("done", "failed_permanent", 2)
    assert row.detail.startswith("gave up after 2 attempts; last: HTTP 502")
    service.close()


def test_an_unknown_token_is_already_invalid_and_verified_dead(
    make_lab: Callable[..., Settings], idp: FakeIdP, tmp_path: Path
) -> None:
    settings = make_lab()
    service = flows.responder(settings)
    intake(service, settings, tmp_path / "a.har", [random_token()])  # never issued by the IdP
    service.engine(sleep=no_sleep).run(until_idle=True)
    (row,) = rows(service).values()
    assert (row.outcome, row.verified) == ("already_invalid", True)
    service.close()


def test_an_interrupted_attempt_is_finished_by_the_next_worker(
    make_lab: Callable[..., Settings], idp: FakeIdP, tmp_path: Path
) -> None:
    settings = make_lab(engine={"lease_seconds": 0.3})
    token = random_token()
    idp.issue(token)
    service = flows.responder(settings)
    intake(service, settings, tmp_path / "a.har", [token])
    (claimed,) = service.ledger.claim("crashed-worker", 1, lease_seconds=0.3)
    httpx.post(f"{idp.url}/revoke", data={"token": token})  # the crashed worker's call reached the IdP
    service.engine(sleep=no_sleep).run(until_idle=True)  # waits for the dead lease, then finishes
    (row,) = rows(service).values()
    assert (row.outcome, row.attempts, row.verified) == ("already_invalid", 2, True)
    assert "interrupted" in row.detail
    assert idp.state(token).revocations == 1
    assert claimed.attempt == 1
    service.close()


def test_a_plugin_that_raises_fails_only_its_own_action(
    make_lab: Callable[..., Settings], idp: FakeIdP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_lab(engine={"threads": 1})
    tokens = [random_token(), random_token()]
    for token in tokens:
        idp.issue(token)
    original = FakeProvider.execute
    calls = {"n": 0}

    def flaky(self: FakeProvider, request: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError(f"bug while handling {request.credential.reveal()}")
        return original(self, request)

    monkeypatch.setattr(FakeProvider, "execute", flaky)
    service = flows.responder(settings)
    intake(service, settings, tmp_path / "a.har", tokens)
    service.engine(sleep=no_sleep).run(until_idle=True)
    details = sorted((r.outcome, r.detail) for r in rows(service).values())
    assert details[0] == ("failed_permanent", "provider plugin raised RuntimeError")
    assert details[1][0] == "revoked"
    with service.ledger.engine.connect() as connection:
        bodies = " ".join(connection.execute(select(events.c.body)).scalars())
    assert not any(token in bodies for token in tokens)
    service.close()


def test_dry_run_changes_nothing_names_the_user_and_erases_the_sealed_value(
    make_lab: Callable[..., Settings], idp: FakeIdP, tmp_path: Path
) -> None:
    settings = make_lab()
    token = random_token()
    idp.issue(token, subject="user-7")
    service = Responder.from_settings(settings, dry_run=True)
    intake(service, settings, tmp_path / "a.har", [token], dry_run=True)
    (row,) = rows(service).values()
    assert row.sealed is not None
    assert row.dry_run
    service.engine(sleep=no_sleep).run(until_idle=True)
    (row,) = rows(service).values()
    assert (row.outcome, row.verified, row.detail, row.sealed) == ("dry_run", None, "would revoke_token", None)
    assert row.subject_id == "user-7"  # learned by a read-only introspection
    assert idp.mutating_requests == 0
    assert not idp.state(token).revoked
    service.close()


def test_the_dry_run_guard_refuses_any_mutating_call_before_it_is_sent(
    make_lab: Callable[..., Settings], idp: FakeIdP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plugin that wrongly acts during a rehearsal is stopped by the client, not by its own care."""
    settings = make_lab()
    token = random_token()
    idp.issue(token, subject="user-8")

    def careless_resolve(self: FakeProvider, request: Any) -> Any:
        self._client.post("/revoke", data={"token": request.credential.reveal() if request.credential else ""})
        return None

    monkeypatch.setattr(FakeProvider, "resolve", careless_resolve)
    service = Responder.from_settings(settings, dry_run=True)
    intake(service, settings, tmp_path / "a.har", [token], dry_run=True)
    service.engine(sleep=no_sleep).run(until_idle=True)
    (row,) = rows(service).values()
    assert row.outcome == "dry_run"
    assert "DryRunViolation" in row.detail
    assert idp.requests == 0
    for provider in service.providers.values():
        with pytest.raises(DryRunViolation):
            provider._client.delete("/users/x/sessions")  # type: ignore[attr-defined]
    assert idp.requests == 0
    service.close()


def test_the_rate_limiter_spaces_calls_and_honours_a_pause() -> None:
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(round(seconds, 3))

    limiter = RateLimiter({"lab": 10.0, "free": None}, clock=lambda: now[0], sleep=sleep)
    assert [limiter.acquire("lab") for _ in range(3)] == pytest.approx([0.0, 0.1, 0.2])
    assert limiter.acquire("free") == 0.0
    limiter.pause("lab", 5.0)
    assert limiter.acquire("lab") == pytest.approx(5.0)
    assert limiter.acquire("free") == 0.0  # a pause is per instance


def test_an_idp_rate_limit_is_respected_and_nothing_is_lost(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    with FakeIdP(requests_per_second=20) as limited:
        settings = make_settings(
            providers=[flows.lab_provider(limited.url, requests_per_second=15)],
            engine={"threads": 4, "poll_seconds": 0.1},
        )
        tokens = [random_token() for _ in range(20)]
        for token in tokens:
            limited.issue(token)
        service = flows.responder(settings)
        intake(service, settings, tmp_path / "a.har", tokens)
        service.engine().run(until_idle=True)
        assert {r.outcome for r in rows(service).values()} == {"revoked"}
        assert all(limited.state(t).revocations == 1 for t in tokens)
        assert limited.rejected_429 <= 2  # paced below the limit; a window edge may still cost one
        service.close()


def test_lease_guard_refuses_a_record_from_a_worker_that_lost_the_lease(
    make_lab: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_lab()
    service = flows.responder(settings)
    intake(service, settings, tmp_path / "a.har", [random_token()])
    (claimed,) = service.ledger.claim("owner-a", 1, lease_seconds=60)
    from responder.model import Outcome

    assert claimed.lease.startswith("owner-a/")
    assert not service.ledger.record_attempt(claimed.id, "owner-a", 1, Outcome(OutcomeStatus.REVOKED), final=True)
    assert service.ledger.record_attempt(claimed.id, claimed.lease, 1, Outcome(OutcomeStatus.REVOKED), final=True)
    service.close()


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (200, {}, OutcomeStatus.REVOKED),
        (204, {}, OutcomeStatus.REVOKED),
        (404, {}, OutcomeStatus.ALREADY_INVALID),
        (429, {"Retry-After": "7"}, OutcomeStatus.FAILED_TRANSIENT),
        (503, {}, OutcomeStatus.FAILED_TRANSIENT),
        (401, {}, OutcomeStatus.FAILED_PERMANENT),
        (400, {}, OutcomeStatus.FAILED_PERMANENT),
    ],
)
def test_one_status_mapping(status: int, headers: dict[str, str], expected: OutcomeStatus) -> None:
    assert outcome_for_status(httpx.Response(status, headers=headers)).status is expected


def test_retry_after_forms() -> None:
    now = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "30"}), now) == 30
    http_date = {"Retry-After": "Sun, 29 Nov 2026 12:01:00 GMT"}
    assert retry_after_seconds(httpx.Response(429, headers=http_date), now) == 60
    reset = {"X-Rate-Limit-Reset": str(int(now.timestamp()) + 12)}
    assert retry_after_seconds(httpx.Response(429, headers=reset), now) == 12
    assert retry_after_seconds(httpx.Response(429), now) is None


def test_a_call_slower_than_the_lease_is_not_made_twice_by_the_same_worker(
    make_lab: Callable[..., Settings], idp: FakeIdP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_lab(engine={"threads": 2, "lease_seconds": 0.3})
    token = random_token()
    idp.issue(token)
    original = FakeProvider.execute

    def slow(self: FakeProvider, request: Any) -> Any:
        time.sleep(1.0)  # longer than the lease: the row becomes claimable while this call is in flight
        return original(self, request)

    monkeypatch.setattr(FakeProvider, "execute", slow)
    service = flows.responder(settings)
    intake(service, settings, tmp_path / "a.har", [token])
    service.engine(sleep=no_sleep).run(until_idle=True)
    (row,) = rows(service).values()
    assert idp.state(token).revoke_calls == 1
    assert (row.outcome, row.attempts) == ("revoked", 1)
    assert types_for(service, row.id).count("outcome_recorded") == 1
    service.close()


def test_an_interrupted_last_attempt_still_gets_its_call(
    make_lab: Callable[..., Settings], idp: FakeIdP, tmp_path: Path
) -> None:
    """Killed right after claiming the last allowed attempt, before the call: the next claim must call."""
    settings = make_lab(engine={"max_attempts": 1, "lease_seconds": 0.3})
    token = random_token()
    idp.issue(token)
    service = flows.responder(settings)
    intake(service, settings, tmp_path / "a.har", [token])
    service.ledger.claim("killed-worker", 1, lease_seconds=0.3)  # attempt 1 counted, never made
    service.engine(sleep=no_sleep).run(until_idle=True)
    (row,) = rows(service).values()
    assert (row.outcome, row.verified) == ("revoked", True)
    assert idp.state(token).revocations == 1
    assert types_for(service, row.id).count("attempt_made") == 1
    service.close()


def test_a_process_with_another_seal_key_is_refused_before_it_writes(
    make_settings: Callable[..., Settings], idp: FakeIdP, tmp_path: Path
) -> None:
    first = make_settings(providers=[flows.lab_provider(idp.url)], ledger_extra={"seal_key": "11" * 32})
    flows.responder(first).close()
    second = make_settings(providers=[flows.lab_provider(idp.url)], ledger_extra={"seal_key": "22" * 32})
    with pytest.raises(ConfigError, match="another seal key"):
        flows.responder(second)
