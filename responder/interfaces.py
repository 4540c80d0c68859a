"""Plugin protocols. Built-in readers implement them exactly as a third-party plugin would."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, ClassVar, Protocol, runtime_checkable

from responder.model import (
    ActionRequest,
    AttachmentRef,
    Finding,
    Observation,
    Outcome,
    Replaced,
    Subject,
    SweepPage,
    Target,
    WebhookNotice,
)
from responder.settings import ScanSettings


class Redactor(Protocol):
    """Replaces every known credential value (in all its encodings) by its marker."""

    def redact_text(self, text: str) -> str: ...

    def redact_bytes(self, data: bytes) -> bytes: ...

    def redact_prefix(self, data: bytes, cut: int, start: int = 0) -> tuple[bytes, int]: ...

    @property
    def longest(self) -> int: ...


@dataclass
class ReadContext:
    """What a reader may use besides the file: limits, a warnings list, and the way to read an inner file
    (archives hand their members back to the registry, so a HAR inside a zip is read by the HAR reader)."""

    limits: ScanSettings
    member: str = ""
    warnings: list[str] = field(default_factory=list)
    read_inner: Callable[[Path, str], Iterator[Observation]] | None = None
    rewrite_inner: Callable[[Path, BinaryIO, str], None] | None = None
    formats_used: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # parts that could not be read at all

    def skip(self, part: str, reason: str) -> None:
        """Something inside the artifact could not be read: the report must not say 'nothing found'."""
        self.skipped.append(part)
        self.warn(f"{part}: not scanned ({reason})")

    def warn(self, message: str) -> None:
        where = f"{self.member}: " if self.member else ""
        self.warnings.append(where + message)


class Reader(Protocol):
    name: ClassVar[str]

    def sniff(self, head: bytes, filename: str) -> int:
        """How sure this reader is that it understands the file (0 = not mine). Cheap; no full read."""
        ...

    def read(self, path: Path, ctx: ReadContext) -> Iterator[Observation]:
        """Yield observations; raise UnreadableArtifact when nothing at all can be read."""
        ...

    def rewrite(self, path: Path, out: BinaryIO, redactor: Redactor, ctx: ReadContext) -> None:
        """Write the same format to `out` with every known value redacted."""
        ...


class Provider(Protocol):
    """One configured identity-provider instance (a `[[providers]]` table), built by its plugin.

    `claims` and `plan` do no I/O; `execute` and `verify` call the IdP once each and never retry or
    sleep: retries, waits and rate limits belong to the engine (responder/execute.py)."""

    plugin: ClassVar[str]
    name: str

    def claims(self, finding: Finding) -> bool:
        """Is this finding this instance's business?"""
        ...

    def plan(self, finding: Finding, related: Sequence[Finding] = ()) -> tuple[Target, ...]:
        """What can be done about a finding this instance claims (may be empty). `related` are the other
        findings of the same artifact claimed by this instance: evidence of whose a cookie is (an id_token
        naming the user), never a reason to act on them. A target without subject and without credential
        means "a user-wide action would end this, but no one can say which user": recorded as needs_subject."""
        ...

    def resolve(self, request: ActionRequest) -> Subject | None:
        """Who the credential or session belongs to, by a read-only call (introspection, a lookup). Runs
        in dry runs too, under the dry-run guard. None when the IdP cannot say."""
        ...

    def execute(self, request: ActionRequest) -> Outcome:
        """Act once. Map the IdP's answer to an Outcome; raise nothing for an HTTP status."""
        ...

    def verify(self, request: ActionRequest) -> bool | None:
        """Is the credential or session really dead now? None when the IdP cannot tell."""
        ...

    def check(self) -> CheckResult:
        """Prove base URL and responder's own credentials with one harmless read."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Directory(Protocol):
    """What a provider offers for panic beyond single users: read-only look-ups in the IdP's directory.
    Every method may raise ResponderError with an operator-readable message (unknown group, refused)."""

    panic_verbs: ClassVar[tuple[str, ...]]  # what a panic does to each user, in order (e.g. end sessions)

    def find_user(self, query: str) -> Subject | None:
        """The user with this id, login or email; None when there is none. Never a guess between two."""
        ...

    def group_members(self, group: str) -> Iterator[Subject]:
        """Every member of the group named (or with the id) `group`."""
        ...

    def all_users(self) -> Iterator[Subject]:
        """Every user of this instance that can hold a session (deactivated users are skipped)."""
        ...


class Source(Protocol):
    """A ticketing system (DESIGN §2): a `[[sources]]` table names one instance. Built by
    `from_config(name, table, client, webhook_secret)` with the plugin's own keys (secret-looking ones as
    SecretStr), an httpx client from responder.http that follows no redirect and keeps no cookies, and the
    webhook signing secret (a Secret, or None when webhooks are off). Every method raises SourceError
    (transient or not) with an operator-readable message that never holds a secret or a capability URL; waits
    and retries are the core's. No method ever calls a host named in a payload or an artifact."""

    name: str
    plugin: ClassVar[str]

    def parse_webhook(self, headers: Mapping[str, str], body: bytes, now: datetime) -> WebhookNotice:
        """Check the signature (and freshness) over the raw body before reading anything; raise WebhookRefused
        when it fails, then say what the delivery announced."""
        ...

    def changed_since(self, cursor: str | None, since: datetime | None) -> Iterator[SweepPage]:
        """Pages of tickets changed after `cursor` (a previous page's), or after `since` when there is no
        cursor (the beginning when both are None). Each page lists every attachment on its tickets."""
        ...

    def attachments_of(self, ticket_id: str) -> Sequence[AttachmentRef]:
        """Every attachment on one ticket (for a webhook that names the ticket but not the files)."""
        ...

    def download(self, ref: AttachmentRef, max_bytes: int, out: BinaryIO) -> int:
        """Write the attachment's bytes to `out`, streaming; return the count. AttachmentTooLarge past
        `max_bytes`, AttachmentGone when it no longer exists. Credentials go to the source's own host only."""
        ...

    def replace_with_sanitized(self, ref: AttachmentRef, sanitized: Path, name: str) -> Replaced:
        """Put the sanitized copy (file `sanitized`, shown as `name`) on the ticket and remove the original."""
        ...

    def annotate(self, ref: AttachmentRef, note: str) -> None:
        """Add an internal (never customer-visible) note to the ticket. `note` holds no secret. TicketClosed
        when the ticket takes no new comment."""
        ...

    def check(self) -> CheckResult:
        """Prove base URL and responder's own credentials with one harmless read."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    detail: str  # what was proved, or exactly what is wrong (bad token, wrong URL, missing permission)
