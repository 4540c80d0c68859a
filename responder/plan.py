"""Findings → actions, by policy. No I/O: each provider says what it can do (`plan`), this module turns that
into actions with deterministic idempotency keys and seals the credentials the actions will need."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from responder.interfaces import Provider
from responder.ledger.store import FindingRecord, IntakeRecord, PlannedAction
from responder.model import Finding, Kind, Subject, Target, Verb
from responder.seal import Sealer, binding

_BEARER = frozenset({Kind.SESSION_COOKIE, Kind.ACCESS_TOKEN, Kind.REFRESH_TOKEN, Kind.API_KEY, Kind.JWT})

# A token whose own signed `exp` passed longer ago than this is dead at any IdP (clock skew and leeway allowed):
# it is recorded, and its artifact still cleaned, but nothing is sent to the IdP. A cookie's Expires attribute
# never counts: it tells the browser when to drop the cookie, not the server when to refuse it.
EXPIRY_LEEWAY = timedelta(minutes=5)


def _expired(finding: Finding, now: datetime) -> bool:
    try:
        exp = float(finding.claims.get("exp", ""))
    except ValueError:
        return False
    return 0 < exp < 1e11 and datetime.fromtimestamp(exp, UTC) < now - EXPIRY_LEEWAY


# Fixed forever: changing it changes every idempotency key, so replays would plan fresh actions.
ACTION_NAMESPACE = uuid.UUID("6f1c3a52-8c1e-4a8e-9a57-3c2a6b7d9e10")


def action_key(basis: str, provider: str, verb: str, *, dry_run: bool = False, panic_id: str | None = None) -> str:
    """uuid5 of (fingerprint or subject, provider instance, verb), plus the panic request id for panic actions
    (pressing panic twice really runs twice) and a dry-run marker (a rehearsal never blocks the real run)."""
    parts = [basis, provider, verb]
    if panic_id:
        parts.append(f"panic:{panic_id}")
    if dry_run:
        parts.append("dry-run")
    return str(uuid.uuid5(ACTION_NAMESPACE, "\x1f".join(parts)))


class Planner:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        sealer: Sealer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._providers = providers
        self._sealer = sealer
        self._clock = clock

    def for_intake(self, intake: IntakeRecord, found: Iterable[Finding]) -> list[FindingRecord]:
        findings = list(found)
        by_instance: dict[str, list[Finding]] = {}
        for finding in findings:
            if finding.provider.instance:
                by_instance.setdefault(finding.provider.instance, []).append(finding)
        # One user-wide action per (instance, verb, user) in an artifact, however many of its cookies lead
        # there: the first finding names it, the others are sightings of the same action.
        user_wide: dict[tuple[str, str, str], PlannedAction] = {}
        records = []
        for f in findings:
            related = [o for o in by_instance.get(f.provider.instance or "", []) if o is not f]
            records.append(self._record(intake, f, related, user_wide))
        return records

    def _record(
        self,
        intake: IntakeRecord,
        finding: Finding,
        related: Sequence[Finding],
        user_wide: dict[tuple[str, str, str], PlannedAction],
    ) -> FindingRecord:
        instance = finding.provider.instance
        provider = self._providers.get(instance) if instance else None
        targets: tuple[Target, ...] = ()
        if provider is None:
            disposition = "no_provider" if finding.revocable else "not_revocable"
        elif not finding.revocable or not provider.claims(finding):
            disposition = "not_revocable"
        elif _expired(finding, self._clock()):
            disposition = "expired"
        else:
            targets = provider.plan(finding, related)
            if any(t.uses_credential or t.subject is not None for t in targets):
                disposition = "planned"
            elif targets:
                disposition = "needs_subject"  # a user-wide action would end it, but nothing says which user
            elif finding.kind in _BEARER:
                disposition = "unhandled"  # a live-able credential the IdP offers no way to end: a person must act
            else:
                disposition = "no_action"  # e.g. an ID token or a redeemed authorization code
        planned = tuple(
            self._shared(intake, finding, target, provider.name, user_wide)
            for target in targets
            if provider is not None and (target.uses_credential or target.subject is not None)
        )
        subject = next((t.subject for t in targets if t.subject is not None), None)
        return FindingRecord(
            fingerprint=finding.fingerprint,
            kind=finding.kind.value,
            detector=finding.detector,
            revocable=finding.revocable,
            family=finding.provider.family.value if finding.provider.family else None,
            provider=instance,
            subject_id=subject.user_id if subject else None,
            disposition=disposition,
            locations=len(finding.locations),
            actions=planned,
        )

    def _shared(
        self,
        intake: IntakeRecord,
        finding: Finding,
        target: Target,
        provider: str,
        user_wide: dict[tuple[str, str, str], PlannedAction],
    ) -> PlannedAction:
        if target.uses_credential or target.subject is None:
            return self._action(intake, finding, target, provider)
        key = (provider, target.verb, target.subject.user_id)
        if key not in user_wide:
            user_wide[key] = self._action(intake, finding, target, provider)
        return user_wide[key]

    def _action(self, intake: IntakeRecord, finding: Finding, target: Target, provider: str) -> PlannedAction:
        subject_id = target.subject.user_id if target.subject else ""
        # A user-wide action still names the leak that caused it: a later, different leak acts again.
        basis = f"fp:{finding.fingerprint}"
        if not target.uses_credential:
            basis = f"subject:{subject_id}\x1f{basis}"
        key = action_key(basis, provider, target.verb, dry_run=intake.dry_run)
        # Rehearsals seal too: the read-only lookup that names the user needs the value; it is erased after.
        value = target.credential or finding.value
        sealed = self._sealer.seal(value, binding(key, provider, target.verb)) if target.uses_credential else None
        return PlannedAction(
            id=key,
            verb=target.verb,
            provider=provider,
            fingerprint=finding.fingerprint if target.uses_credential else None,
            kind=finding.kind.value if target.uses_credential else None,
            subject=target.subject,
            trigger=intake.trigger,
            actor=intake.actor,
            dry_run=intake.dry_run,
            sealed=sealed,
            intake_id=intake.id,
        )


def panic_actions(
    provider: str,
    subjects: Iterable[Subject],
    panic_id: str,
    actor: str,
    *,
    verbs: Sequence[str] = (Verb.END_ALL_SESSIONS.value,),
    dry_run: bool = False,
) -> list[PlannedAction]:
    """Each of the provider's panic verbs for each subject. The panic id is part of each key: a second panic
    runs again; the same user listed twice in one panic (a member of two groups) is acted on once."""
    return [
        PlannedAction(
            id=action_key(f"subject:{subject.user_id}", provider, verb, dry_run=dry_run, panic_id=panic_id),
            verb=verb,
            provider=provider,
            fingerprint=None,
            kind=None,
            subject=subject,
            trigger="panic",
            actor=actor,
            dry_run=dry_run,
            panic_id=panic_id,
        )
        for subject in {s.user_id: s for s in subjects}.values()
        for verb in verbs
    ]
