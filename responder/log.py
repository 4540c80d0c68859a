"""structlog setup: JSON or console events on stderr, with a redaction processor as a last safety net."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from responder.detect.jwt import JWT_PATTERN
from responder.secret import Secret

_AUTH = re.compile(r"(?i)\b(bearer|basic|ssws)\s+[A-Za-z0-9._~+/=-]{6,}")


def redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Secrets should never reach a log call; if one does, mask it instead of writing it."""
    for key, value in list(event.items()):
        if isinstance(value, Secret):
            event[key] = repr(value)
        elif isinstance(value, str):
            masked = JWT_PATTERN.sub("[jwt]", value)
            event[key] = _AUTH.sub(r"\1 [masked]", masked)
    return event


class _CurrentStderr:
    """Writes to whatever sys.stderr is at the time of the event, not the one at configuration (a test runner
    or an embedding program may swap it, and a closed one must not break the engine's error path)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(*, json: bool = False, level: str = "warning") -> None:
    # httpx logs each request line at INFO, and a path can carry a session id: never below WARNING.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
