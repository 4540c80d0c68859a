"""Error tree. Each error says what the caller does with it; messages never contain secret values."""

from __future__ import annotations


class ResponderError(Exception):
    """Base class. `str(error)` is operator-readable text."""

    exit_code = 2


class ConfigError(ResponderError):
    """Bad settings or usage: the operator must fix something before anything runs (exit 2)."""

    exit_code = 2


class PluginError(ResponderError):
    """A plugin failed to load or register."""

    exit_code = 2


class UnreadableArtifact(ResponderError):
    """An artifact could not be read at all (empty, binary junk, refused archive). Noted; others go on."""

    exit_code = 3


class DirectoryError(ResponderError):
    """A directory look-up for panic failed or is not offered (unknown group, no groups at this IdP, refused).
    Nothing was recorded or done (exit 2)."""

    exit_code = 2


class SourceError(ResponderError):
    """A ticketing source refused or failed a call. `transient` (429, 5xx, a timeout): the same call may work
    later, after `retry_after` seconds when the source said so; otherwise an operator must act (bad token,
    missing permission). Retried only by responder/sources/retry.py, never inside a plugin."""

    exit_code = 1

    def __init__(self, message: str, *, transient: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class AttachmentGone(SourceError):
    """The attachment or its ticket no longer exists (deleted, already redacted): nothing left to clean."""


class AttachmentTooLarge(SourceError):
    """The attachment is larger than `max_attachment_bytes`: not fetched; a person must look at it."""


class TicketClosed(SourceError):
    """The ticket is closed and takes no new comment (Zendesk): the note cannot go there; the ledger has it."""


class WebhookRefused(ResponderError):
    """A webhook delivery failed its signature or freshness check. `reason` is a metric label, never shown."""

    exit_code = 2

    def __init__(self, reason: str) -> None:
        super().__init__("invalid webhook signature")
        self.reason = reason
