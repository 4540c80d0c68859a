"""Use cases: intake (an artifact arrived), panic (end a user's sessions). The CLI and, later, the API call only
these; they record everything in the ledger first, and the engine does the side effects."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from responder.errors import ConfigError, DirectoryError
from responder.execute import CallObserver, Engine, FinishObserver
from responder.interfaces import Directory, Provider
from responder.keys import fingerprinter, open_sealer
from responder.ledger import Ledger, open_ledger
from responder.ledger.store import NEEDS_A_PERSON, FindingRecord, IntakeRecord, PanicRecord, Recorded
from responder.model import Finding, Subject, Trigger, Verb
from responder.plan import Planner, panic_actions
from responder.plugins import load_providers
from responder.ratelimit import RateLimiter
from responder.scan import ScanReport
from responder.seal import Sealer
from responder.settings import Settings


@dataclass(frozen=True, slots=True)
class PanicScope:
    """Whom a panic covers: some users (id, login or email), the members of some groups, or every user."""

    kind: Literal["user", "group", "all"]
    selectors: tuple[str, ...] = ()

    @property
    def selector(self) -> str:
        """As recorded in the ledger (bounded: a long user list is summarised, the actions name each user)."""
        if self.kind == "all":
            return "*"
        text = ",".join(self.selectors)
        return text if len(text) <= 300 else f"{text[:280]}… ({len(self.selectors)} in all)"


@dataclass(frozen=True, slots=True)
class IntakeResult:
    intake_id: str
    records: tuple[FindingRecord, ...]
    recorded: Recorded

    @property
    def action_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.id for r in self.records for a in r.actions))

    @property
    def unhandled(self) -> int:
        """Revocable findings no configured provider can act on, whose provider offers no way, or whose user
        is unknown: each needs a person."""
        return sum(1 for r in self.records if r.disposition in NEEDS_A_PERSON)


class Responder:
    """Holds the long-lived parts (ledger, providers, sealer) one process needs."""

    def __init__(self, settings: Settings, ledger: Ledger, providers: Mapping[str, Provider], sealer: Sealer) -> None:
        self.settings = settings
        self.ledger = ledger
        self.providers = providers
        self.sealer = sealer
        self._planner = Planner(providers, sealer)
        self._limiter = RateLimiter({p.name: p.requests_per_second for p in settings.providers})
        # Told of every intake this process records, whatever its trigger (for metrics).
        self.on_intake: Callable[[str, Sequence[Finding]], None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, dry_run: bool = False) -> Responder:
        sealer = open_sealer(settings)
        fingerprint_key_id = fingerprinter(settings).key_id
        providers = load_providers(settings, dry_run=dry_run)
        ledger = open_ledger(settings)
        ledger.pin_key("seal", sealer.key_id, "give every host the same RESPONDER_LEDGER__SEAL_KEY")
        ledger.pin_key("fingerprint", fingerprint_key_id, "give every host the same RESPONDER_FINGERPRINT_KEY")
        return cls(settings, ledger, providers, sealer)

    def close(self) -> None:
        for provider in self.providers.values():
            provider.close()
        self.ledger.close()

    def engine(
        self,
        sleep: Callable[[float], None] = time.sleep,
        on_finish: FinishObserver | None = None,
        on_call: CallObserver | None = None,
    ) -> Engine:
        settings = self.settings.engine
        return Engine(self.ledger, self.providers, self.sealer, settings, self._limiter, sleep, on_finish, on_call)

    def intake(
        self,
        report: ScanReport,
        *,
        trigger: Trigger,
        actor: str,
        source: str,
        reference: str,
        dry_run: bool = False,
        also: Callable[[Any], None] | None = None,
        intake_id: str | None = None,
    ) -> IntakeResult:
        """Record the artifact, its findings and the planned actions (credentials sealed) in one transaction."""
        record = IntakeRecord(
            id=intake_id or str(uuid.uuid4()),
            trigger=trigger.value,
            actor=actor,
            source=source,
            reference=reference,
            artifact_name=report.path.name,
            artifact_sha256=report.sha256,
            artifact_size=report.size,
            reader=report.reader,
            dry_run=dry_run,
            warnings=report.warnings,
        )
        records = tuple(self._planner.for_intake(record, report.findings))
        recorded = self.ledger.record_intake(record, records, also)
        if self.on_intake is not None:
            self.on_intake(record.trigger, report.findings)
        return IntakeResult(record.id, records, recorded)

    def panic_subjects(
        self, provider: str, scope: PanicScope, on_found: Callable[[int], None] | None = None
    ) -> list[Subject]:
        """Who a panic covers, read from the IdP's directory (read-only). Raises DirectoryError when a user or
        group is unknown or the plugin cannot list them: nothing is recorded then."""
        instance = self._instance(provider)
        directory = instance if isinstance(instance, Directory) else None
        if scope.kind == "user":
            if directory is None:  # the plugin has no directory: the ids are taken as given
                return [Subject(provider, user) for user in scope.selectors]
            found = []
            for query in scope.selectors:
                subject = directory.find_user(query)
                if subject is None:
                    raise DirectoryError(f"{provider}: no user {query!r} (by id, login or email)")
                found.append(subject)
            return found
        if directory is None:
            raise DirectoryError(f"{provider}: the {instance.plugin} plugin cannot list users; use --user")
        listing = (
            (m for group in scope.selectors for m in directory.group_members(group))
            if scope.kind == "group"
            else directory.all_users()
        )
        subjects: dict[str, Subject] = {}
        for subject in listing:
            subjects.setdefault(subject.user_id, subject)
            if on_found is not None and len(subjects) % 100 == 0:
                on_found(len(subjects))
        return list(subjects.values())

    def panic(
        self,
        provider: str,
        users: Sequence[Subject],
        *,
        actor: str,
        reason: str,
        scope: PanicScope | None = None,
        dry_run: bool = False,
        panic_id: str | None = None,
    ) -> tuple[str, Recorded]:
        """End every session (and what else the plugin's panic does) of the given users at one provider
        instance. Each call is a new panic request, unless `panic_id` names one already recorded (then nothing
        new is); all its actions are recorded before any runs."""
        instance = self._instance(provider)
        scope = scope or PanicScope("user", tuple(u.user_id for u in users))
        panic_id = panic_id or str(uuid.uuid4())
        verbs = tuple(getattr(instance, "panic_verbs", (Verb.END_ALL_SESSIONS.value,)))
        planned = panic_actions(provider, users, panic_id, actor, verbs=verbs, dry_run=dry_run)
        record = PanicRecord(panic_id, actor, reason, provider, scope.kind, scope.selector)
        return panic_id, self.ledger.record_panic(record, planned)

    def _instance(self, provider: str) -> Provider:
        instance = self.providers.get(provider)
        if instance is None:
            configured = ", ".join(sorted(self.providers)) or "none"
            raise ConfigError(f"no provider instance named {provider!r} is configured (configured: {configured})")
        return instance
