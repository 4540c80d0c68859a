"""Words a caller types (a panic's reason and targets, ledger filters) are read by the detectors too: a
credential pasted there is kept out of the ledger, the logs, the answer and any call to an IdP."""

from __future__ import annotations

import re

from responder.detect.pipeline import detect
from responder.model import Field, Side
from responder.readers.httpparts import Where
from responder.scan import forget_artifact_strings
from responder.secret import Secret

REMOVED = "[credential removed]"


# A `Name:` inside a sentence may begin a pasted header line ("ticket 9: Cookie: sid=…"); the detectors read
# header lines from the start of a line, so each such piece is read as a line of its own too.
_PASTED_HEADER = re.compile(r"\s+(?=[A-Za-z][A-Za-z0-9_-]{0,60}[ \t]*:)")


def credentials_in(text: str) -> tuple[Secret, ...]:
    """What the detectors find in some typed text, read as the lines of a text capture."""
    where = Where(entry=None, side=Side.NONE, host="", path="")
    pieces = dict.fromkeys([text, *text.splitlines(), *_PASTED_HEADER.split(text)])
    try:
        found = [c.value for piece in pieces for c in detect(where.observe(Field.TEXT_LINE, "", piece))]
    finally:
        forget_artifact_strings()  # typed text may hold a live token: no cache keeps it
    return tuple({secret.reveal(): secret for secret in found}.values())


def without_credentials(text: str) -> str:
    """The text with every credential the detectors find in it replaced (longest first: one may hold another)."""
    for secret in sorted(credentials_in(text), key=lambda s: len(s.reveal()), reverse=True):
        text = text.replace(secret.reveal(), REMOVED)
    return text
