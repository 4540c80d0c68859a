"""The internal note left on a ticket once its capture is handled: what was found, what was revoked for whom,
what failed, and where the ledger has the rest. Built from the ledger only, so it can hold no secret: ids,
logins, outcomes, 8-character fingerprint prefixes, operator-readable details."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from responder.ledger import Ledger
from responder.ledger.queries import show
from responder.ledger.store import NEEDS_A_PERSON

_ENDED = ("revoked", "already_invalid")
_MAX_LINES = 40  # a capture of a whole team's sessions still gives a readable note; the ledger has every row


def compose(ledger: Ledger, intake_id: str, attachment_name: str, how: str) -> str:
    found = show(ledger, intake_id) or {}
    findings: Sequence[Mapping[str, Any]] = found.get("findings", [])
    acted: Sequence[Mapping[str, Any]] = found.get("actions", [])
    lines = [f'responder found {len(findings)} credential(s) in the attachment "{attachment_name}".']
    ended = [a for a in acted if a.get("outcome") in _ENDED]
    failed = [a for a in acted if a.get("outcome") not in _ENDED]
    if ended:
        lines.append("Ended:")
        lines.extend(f"- {_action_line(a)}" for a in ended[:_MAX_LINES])
        lines.extend(_more(len(ended)))
    if failed:
        lines.append("NOT ended (a person must act):")
        lines.extend(f"- {_action_line(a)}" for a in failed[:_MAX_LINES])
        lines.extend(_more(len(failed)))
    expired = [f for f in findings if f.get("disposition") == "expired"]
    if expired:
        lines.append(f"Already expired, not sent to the identity provider: {len(expired)}.")
    person = [f for f in findings if f.get("disposition") in NEEDS_A_PERSON]
    if person:
        lines.append("Found but not revocable by responder (a person must act):")
        lines.extend(
            f"- {f['kind']} {str(f['fingerprint'])[:8]} ({f['disposition'].replace('_', ' ')}"
            f"{', provider ' + f['provider'] if f.get('provider') else ''})"
            for f in person[:_MAX_LINES]
        )
        lines.extend(_more(len(person)))
    lines.append(
        f"The original attachment was {how}; a sanitized copy (every credential replaced by [REDACTED …]) "
        "is attached in its place."
    )
    lines.append(f"Ledger: intake {intake_id} (responder ledger show {intake_id}).")
    return "\n".join(lines)


def _action_line(action: Mapping[str, Any]) -> str:
    who = action.get("subject_login") or action.get("subject_id") or "the credential's user"
    user = f" (user {action['subject_id']})" if action.get("subject_login") and action.get("subject_id") else ""
    outcome = str(action.get("outcome") or action.get("state") or "pending").replace("_", " ")
    verified = ", verified dead" if action.get("verified") else ""
    detail = f" — {str(action['detail'])[:160]}" if action.get("detail") and outcome != "revoked" else ""
    what = str(action["verb"]).replace("_", " ")
    return f"{what} for {who}{user} at {action['provider']}: {outcome}{verified}{detail}"


def _more(count: int) -> list[str]:
    return [f"- … and {count - _MAX_LINES} more (see the ledger)"] if count > _MAX_LINES else []
