"""The execution engine: claim due actions from the ledger, call the provider, record, verify.

Order for every action: planned (already committed) → claim with a lease (attempt counted) → one call to
the IdP → (if the IdP says it is dead) the verification call → outcome and verification recorded together
(or the outcome alone, verified by a later claim, when the IdP's back-off is long). A crash anywhere leaves a
row that the next claimer finishes; a repeated call meets an IdP that already forgot the credential and
reads `already_invalid`.

Retries live here and nowhere else: quick in-process tries (tenacity) for transient failures, then a
durable reschedule in the ledger. Permanent failures are recorded and never hold up other actions."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Protocol

import httpx
import structlog
from sqlalchemy.exc import SQLAlchemyError
from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt, wait_exponential

from responder.errors import ResponderError
from responder.http import dry_run
from responder.interfaces import Provider
from responder.leases import host, owner_alive, process_tag
from responder.ledger.store import Claimed, Ledger, utc_now
from responder.model import ActionRequest, Kind, Outcome, OutcomeStatus
from responder.ratelimit import RateLimiter
from responder.seal import SealBroken, Sealer, binding
from responder.settings import EngineSettings

log = structlog.get_logger("responder.execute")

CLAIM_GATHER_SECONDS = 0.02  # how long a worker lets finished actions gather before claiming more

# Told of every finished action: (provider instance, outcome, seconds from planned to finished). For metrics.
FinishObserver = Callable[[str, OutcomeStatus, float | None], None]


class CallObserver(Protocol):
    """Told of every call made to a plugin: (provider instance, outcome, whether it came from the IdP or the
    network rather than the plugin failing on its own). For metrics."""

    def __call__(self, provider: str, outcome: OutcomeStatus, *, reached: bool) -> None: ...


@dataclass
class RunStats:
    executed: int = 0
    verified: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    lost_leases: int = 0

    def count(self, status: OutcomeStatus) -> None:
        self.outcomes[status.value] = self.outcomes.get(status.value, 0) + 1


def worker_id() -> str:
    """host:pid.namespace:random — responder.leases can tell when such a worker on this host is gone."""
    return f"{host()}:{process_tag()}:{uuid.uuid4().hex[:8]}"


class Engine:
    def __init__(
        self,
        ledger: Ledger,
        providers: Mapping[str, Provider],
        sealer: Sealer,
        settings: EngineSettings,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_finish: FinishObserver | None = None,
        on_call: CallObserver | None = None,
    ) -> None:
        self._ledger = ledger
        self._providers = providers
        self._sealer = sealer
        self._settings = settings
        self._limiter = limiter or RateLimiter({})
        self._sleep = sleep
        self.owner = worker_id()
        self._stats = RunStats()
        self._stats_lock = threading.Lock()
        self._on_finish = on_finish
        self._on_call = on_call
        self._wake = threading.Event()

    def wake(self) -> None:
        """New work was recorded (an upload, a panic): claim now instead of at the next poll."""
        self._wake.set()

    def _nap(self, seconds: float, stop: threading.Event) -> None:
        """Idle until new work is announced, the poll interval passes, or a stop (which also wakes)."""
        if not stop.is_set() and self._wake.wait(seconds):
            self._wake.clear()

    # ---- the loop ----------------------------------------------------------------------------------

    def _take_back_from_dead(self) -> None:
        """A worker killed on this host left actions leased: they are claimable now, not in lease_seconds."""
        try:
            freed = self._ledger.free_leases_of_dead(owner_alive)
        except (ResponderError, SQLAlchemyError) as exc:  # the loop below waits the ledger out
            log.warning("lease_recovery_skipped", error=type(exc).__name__)
            return
        if freed:
            log.info("leases_taken_back", actions=freed)

    def run(
        self,
        *,
        until_idle: bool,
        only: Collection[str] | None = None,
        stop: threading.Event | None = None,
        on_progress: Callable[[RunStats], None] | None = None,
        panic_id: str | None = None,
    ) -> RunStats:
        """Work until stopped, or (until_idle) until nothing is due now and no lease is held anywhere; `only`
        or `panic_id` limit the work to those actions. A database hiccup (failover, lock timeout) is logged
        and waited out, not fatal."""
        stop = stop or threading.Event()
        threads = self._settings.threads
        in_flight: dict[Future[None], str] = {}
        failures = 0
        self._take_back_from_dead()
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="responder-work") as pool:
            while not stop.is_set():
                in_flight = {f: action_id for f, action_id in in_flight.items() if not f.done()}
                free = threads - len(in_flight)
                try:
                    claimed = self._claim(free, only, in_flight.values(), panic_id) if free > 0 else []
                    idle = not claimed and not in_flight and self._ledger.due_or_leased(only, panic_id) == 0
                    failures = 0
                except (ResponderError, SQLAlchemyError) as exc:
                    failures += 1
                    log.error(
                        "ledger_unavailable", error=str(exc) if isinstance(exc, ResponderError) else type(exc).__name__
                    )
                    if until_idle and failures >= 10:
                        raise
                    stop.wait(min(30.0, 0.5 * 2**failures))
                    continue
                for action in claimed:
                    in_flight[pool.submit(self._process_safely, action)] = action.id
                if on_progress is not None:
                    on_progress(self._stats)
                if claimed:
                    continue
                if until_idle and idle:
                    break
                if in_flight:
                    self._await_slots(list(in_flight), threads, self._idle_wait(until_idle))
                else:
                    self._nap(self._idle_wait(until_idle), stop)
            for future in in_flight:
                future.result()
        return self._stats

    @staticmethod
    def _await_slots(in_flight: list[Future[None]], threads: int, timeout: float) -> None:
        """Wait for a finished action, then briefly for a few more: claiming a batch in one transaction costs
        far less than one claim per finished action (a panic of thousands is bound by the ledger's writes)."""
        done, _ = wait_for(in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
        batch = max(1, threads // 4)
        if done and len(done) < batch and len(in_flight) > len(done):
            wait_for([f for f in in_flight if f not in done], timeout=CLAIM_GATHER_SECONDS, return_when=FIRST_COMPLETED)

    def _claim(
        self, free: int, only: Collection[str] | None, in_hand: Collection[str], panic_id: str | None
    ) -> list[Claimed]:
        # Only instances configured here: another host's provider (or its keys) is that host's business.
        return self._ledger.claim(
            self.owner,
            free,
            self._settings.lease_seconds,
            only,
            providers=list(self._providers),
            exclude=list(in_hand),
            panic_id=panic_id,
        )

    def _idle_wait(self, until_idle: bool) -> float:
        # Waiting for someone else's lease to run out, or for new work: short when draining, else poll.
        return min(self._settings.poll_seconds, 0.5) if until_idle else self._settings.poll_seconds

    def _process_safely(self, action: Claimed) -> None:
        try:
            self._process(action)
        except Exception as exc:  # one broken action must never stop the others; the lease lets it be retried
            log.error("action_crashed", action_id=action.id, error=type(exc).__name__)

    # ---- one action --------------------------------------------------------------------------------

    def _process(self, action: Claimed) -> None:
        provider = self._providers[action.provider]  # claims are limited to configured instances
        made = action.attempt if action.verifying else action.attempt - 1  # calls that reached the IdP before
        try:
            credential = (
                self._sealer.unseal(action.sealed, binding(action.id, action.provider, action.verb))
                if action.sealed
                else None
            )
            kind = Kind(action.kind) if action.kind else None
        except (SealBroken, ValueError) as exc:
            self._final(action, made, Outcome(OutcomeStatus.FAILED_PERMANENT, f"unusable action: {exc}"), called=False)
            return
        request = ActionRequest(
            action_id=action.id,
            provider=action.provider,
            verb=action.verb,
            fingerprint=action.fingerprint,
            kind=kind,
            subject=action.subject,
            credential=credential,
            attempt=action.attempt,
        )
        wait = self._limiter.wait_for(provider.name)
        if wait > self._settings.retry_wait_max_seconds:
            # The IdP asked us to back off for longer than a thread should wait: hand the action back.
            self._defer(action, wait)
            return
        if action.verifying:
            self._verify(action, provider, request)
            return
        if action.dry_run:
            self._final(action, made, self._rehearse(provider, request), called=False)
            return
        # A claim that found its predecessor interrupted mid-call may make one call beyond the budget: the
        # interrupted call may never have reached the IdP, and giving up unasked would leave a token live.
        allowed = self._settings.max_attempts + (1 if action.interrupted else 0)
        if action.attempt > allowed:
            gave_up = Outcome(OutcomeStatus.FAILED_PERMANENT, f"gave up after {made} attempts")
            self._final(action, made, gave_up, called=False)
            return
        outcome, attempt = self._call_with_retries(action, provider, request)
        if outcome is None:
            return  # lease lost, or handed back to wait for the IdP's rate limit
        if outcome.status.final:
            note = ""
            if action.interrupted and outcome.status is OutcomeStatus.ALREADY_INVALID:
                note = "an earlier attempt was interrupted and most likely revoked it"
            # The verification call is made before recording, so outcome and verification are written in one
            # transaction (half the ledger writes of a panic). A crash in between repeats the call, which then
            # reads already_invalid. If the IdP's back-off is long, the outcome is recorded alone and verified
            # by a later claim.
            checked = self._check_dead(action, provider, request) if outcome.status.credential_dead else None
            self._final(action, attempt, outcome, note, verification=checked)
            return
        if attempt >= allowed:
            gave_up = Outcome(
                OutcomeStatus.FAILED_PERMANENT,
                f"gave up after {attempt} attempts; last: {outcome.detail}",
                outcome.provider_request_id,
            )
            self._final(action, attempt, gave_up)
            return
        delay = max(outcome.retry_after or 0.0, self._backoff(attempt))
        retry_at = utc_now() + timedelta(seconds=delay)
        if self._ledger.record_attempt(action.id, action.lease, attempt, outcome, final=False, retry_at=retry_at):
            log.info("action_rescheduled", action_id=action.id, attempt=attempt, in_seconds=round(delay, 1))
            with self._stats_lock:
                self._stats.count(outcome.status)
        else:
            self._lost(action)

    def _call_with_retries(
        self, action: Claimed, provider: Provider, request: ActionRequest
    ) -> tuple[Outcome | None, int]:
        """Quick tries for transient failures. Each call is counted in the ledger before it is made and
        recorded after it; a Retry-After longer than `retry_wait_max_seconds` ends the quick tries at once.
        Returns the last outcome (None if the lease was lost or the action was handed back to wait for the
        IdP's rate limit) and the number of the last call made."""
        settings = self._settings
        state = {"attempt": action.attempt, "tries": 0, "again": False}

        def attempt_once() -> Outcome | None:
            state["tries"] += 1
            number = state["attempt"]
            wait = self._limiter.acquire(provider.name, settings.retry_wait_max_seconds)
            if wait is None:  # another thread learned of a long back-off meanwhile: no call, hand it back
                state["again"] = False
                self._defer(action, self._limiter.wait_for(provider.name), uncount=True)
                return None
            outcome = self._call(provider, replace(request, attempt=number))
            if outcome.retry_after:
                self._limiter.pause(provider.name, outcome.retry_after)
            state["again"] = (
                not outcome.status.final
                and number < settings.max_attempts
                and state["tries"] < settings.quick_retries
                and (outcome.retry_after or 0.0) <= settings.retry_wait_max_seconds
            )
            if state["again"]:
                lease = action.lease
                recorded = self._ledger.record_attempt(action.id, lease, number, outcome, final=False)
                renewed = self._ledger.next_attempt(action.id, lease, settings.lease_seconds) if recorded else None
                if renewed is None:
                    state["again"] = False
                    self._lost(action)
                    return None
                state["attempt"] = renewed
            return outcome

        def wait(retry_state: RetryCallState) -> float:
            outcome = retry_state.outcome.result() if retry_state.outcome else None
            exponential = wait_exponential(multiplier=0.5, max=settings.retry_wait_max_seconds)(retry_state)
            return max(exponential, (outcome.retry_after or 0.0) if outcome else 0.0)

        retrying = Retrying(
            stop=stop_after_attempt(settings.quick_retries),
            wait=wait,
            retry=retry_if_result(lambda _outcome: bool(state["again"])),
            sleep=self._sleep,
            retry_error_callback=lambda retry_state: retry_state.outcome.result() if retry_state.outcome else None,
        )
        return retrying(attempt_once), int(state["attempt"])

    def _rehearse(self, provider: Provider, request: ActionRequest) -> Outcome:
        """A dry run names the user when a read-only call can; the guard refuses anything else."""
        subject, detail = request.subject, f"would {request.verb}"
        if subject is None:
            try:
                with dry_run():
                    subject = provider.resolve(request)
            except Exception as exc:  # a rehearsal never fails an incident over a lookup
                detail += f" (user not resolved: {type(exc).__name__})"
        return Outcome(OutcomeStatus.DRY_RUN, detail, subject=subject)

    def _call(self, provider: Provider, request: ActionRequest) -> Outcome:
        reached = True
        try:
            outcome = provider.execute(request)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            outcome = Outcome(OutcomeStatus.FAILED_TRANSIENT, f"network: {type(exc).__name__}")
        except Exception as exc:  # a plugin bug is permanent for this action, reported by type only (no text)
            log.error("provider_raised", provider=provider.name, action_id=request.action_id, error=type(exc).__name__)
            outcome = Outcome(OutcomeStatus.FAILED_PERMANENT, f"provider plugin raised {type(exc).__name__}")
            reached = False
        if self._on_call is not None:
            self._on_call(provider.name, outcome.status, reached=reached)
        return outcome

    def _final(
        self,
        action: Claimed,
        attempt: int,
        outcome: Outcome,
        note: str = "",
        *,
        called: bool = True,
        verification: tuple[bool | None, str] | None = None,
    ) -> bool:
        recorded = self._ledger.record_attempt(
            action.id,
            action.lease,
            attempt,
            outcome,
            final=True,
            note=note,
            called=called,
            renew_for=self._settings.lease_seconds,
            verification=verification,
        )
        if not recorded:
            self._lost(action)
            return False
        log.info(
            "action_finished",
            action_id=action.id,
            provider=action.provider,
            verb=action.verb,
            outcome=outcome.status.value,
            attempts=attempt,
        )
        with self._stats_lock:
            self._stats.executed += 1
            self._stats.count(outcome.status)
            if verification is not None:
                self._stats.verified += 1
        if self._on_finish is not None:
            took = (utc_now() - action.planned_at).total_seconds() if action.planned_at else None
            self._on_finish(action.provider, outcome.status, took)
        return True

    def _verify(self, action: Claimed, provider: Provider, request: ActionRequest) -> None:
        """An action whose outcome is recorded and whose verification is not (a long back-off, a crash)."""
        checked = self._check_dead(action, provider, request)
        if checked is None:
            self._defer(action, self._limiter.wait_for(provider.name))
            return
        if self._ledger.record_verification(action.id, action.lease, *checked):
            with self._stats_lock:
                self._stats.verified += 1
        else:
            self._lost(action)

    def _check_dead(
        self, action: Claimed, provider: Provider, request: ActionRequest
    ) -> tuple[bool | None, str] | None:
        """Ask the provider whether the credential is dead: (dead, detail); None when the IdP's back-off is
        longer than a thread should wait."""
        if self._limiter.acquire(provider.name, self._settings.retry_wait_max_seconds) is None:
            return None
        detail = ""
        try:
            dead = provider.verify(request)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            dead, detail = None, f"could not verify: network: {type(exc).__name__}"
        except Exception as exc:
            dead, detail = None, f"could not verify: provider plugin raised {type(exc).__name__}"
        if dead is None and not detail:
            detail = "the provider cannot tell whether it is dead"
        elif dead is False:
            detail = "STILL LIVE after the provider reported it revoked"
            log.warning("credential_still_live", action_id=action.id, provider=action.provider)
        return dead, detail

    def _defer(self, action: Claimed, seconds: float, *, uncount: bool | None = None) -> None:
        """Hand the action back untouched until the IdP's back-off has passed (at least one second)."""
        until = utc_now() + timedelta(seconds=max(1.0, seconds))
        give_back = (not action.verifying) if uncount is None else uncount
        if not self._ledger.defer(action.id, action.lease, until, uncount=give_back):
            self._lost(action)

    def _backoff(self, attempt: int) -> float:
        base = min(self._settings.reschedule_max_seconds, 5.0 * 2 ** max(0, attempt - 1))
        return float(base * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not secrecy

    def _lost(self, action: Claimed) -> None:
        log.warning("lease_lost", action_id=action.id)
        with self._stats_lock:
            self._stats.lost_leases += 1
