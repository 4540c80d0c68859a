"""A Notice as words: one headline, a plain-text body (email, Slack's fallback) and Slack blocks.

Everything shown comes from the Notice, which holds no credential; lists stop at what the Notice carries
(its first `listed`) and say how many more there are."""

from __future__ import annotations

from typing import Any

from responder.ledger.store import iso
from responder.model import OutcomeStatus
from responder.notify.notice import NOT_ENDED, Affected, Failure, Notice, Unhandled

_SLACK_SECTION_CHARS = 2900  # Slack refuses a section text over 3000 characters
_SLACK_MAX_BLOCKS = 50
_SLACK_HEADER_CHARS = 150


def headline(notice: Notice) -> str:
    what = "Intake" if notice.kind == "intake" else f"Panic at {notice.provider}"
    parts = [f"{notice.count(OutcomeStatus.REVOKED.value):,} revoked"]
    if already := notice.count(OutcomeStatus.ALREADY_INVALID.value):
        parts.append(f"{already:,} already invalid")
    failed = sum(notice.count(outcome) for outcome in NOT_ENDED)
    if failed:
        parts.append(f"{failed:,} failed")
    users = f"{notice.affected_count:,} user{'' if notice.affected_count == 1 else 's'} affected"
    return f"{what} {notice.id[:8]}: {', '.join(parts)}; {users}"


def facts(notice: Notice) -> list[tuple[str, str]]:
    rows = [("When", iso(notice.recorded_at)), ("Trigger", notice.trigger), ("Actor", notice.actor)]
    if notice.kind == "intake":
        rows += [("Source", notice.source), ("Reference", notice.reference)]
        if notice.artifact and notice.artifact != notice.reference:
            rows.append(("File", notice.artifact))
    else:
        rows += [("Provider", notice.provider or ""), ("Scope", notice.reference)]
    rows.append((f"{notice.kind.capitalize()} id", notice.id))
    return rows


def sections(notice: Notice) -> list[tuple[str, list[str]]]:
    """Titled lists of lines: who, what was done, what failed, what needs a person."""
    out = [
        (f"Affected ({notice.affected_count:,})", _more([_user(a) for a in notice.affected], notice.affected_count)),
        ("Outcomes", _outcomes(notice)),
    ]
    if notice.failure_count:
        out.append(
            (f"Failed ({notice.failure_count:,})", _more([_failure(f) for f in notice.failures], notice.failure_count))
        )
    if notice.unhandled_count:
        title = f"Needs a person ({notice.unhandled_count:,}): credentials nothing configured could end"
        out.append((title, _more([_unhandled(u) for u in notice.unhandled], notice.unhandled_count)))
    if notice.seen_again:
        noun = "credential" if notice.seen_again == 1 else "credentials"
        out.append(("Seen again", [f"{notice.seen_again:,} {noun} already handled after an earlier artifact"]))
    return out


def text(notice: Notice) -> str:
    lines = [f"responder: {headline(notice)}", ""]
    lines += [f"{name}: {value}" for name, value in facts(notice)]
    for title, items in sections(notice):
        lines += ["", f"{title}:", *(f"  - {item}" for item in items)]
    lines += ["", f"Look it up: {notice.lookup}", ""]
    return "\n".join(lines)


def slack_payload(notice: Notice) -> dict[str, Any]:
    """Slack incoming-webhook JSON: `text` is the notification and fallback, `blocks` the laid-out message."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(headline(notice), _SLACK_HEADER_CHARS)}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{_escape(value)}"} for name, value in facts(notice)],
        },
    ]
    for title, items in sections(notice):
        for chunk in _chunks([f"*{title}*", *(f"• {_escape(item)}" for item in items)]):
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
    lookup = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Look it up: `{notice.lookup}`"}]}
    blocks = [*blocks[: _SLACK_MAX_BLOCKS - 1], lookup]
    return {"text": _escape(f"responder: {headline(notice)}"), "blocks": blocks}


def _user(affected: Affected) -> str:
    return affected.label


def _failure(failure: Failure) -> str:
    who = failure.login or failure.user_id or "unknown user"
    if failure.login and failure.user_id and failure.login != failure.user_id:
        who = f"{failure.login} ({failure.user_id})"
    credential = f", credential {failure.credential}" if failure.credential else ""
    outcome = "still works after being ended" if failure.still_works else failure.outcome
    detail = f": {failure.detail}" if failure.detail else ""
    return f"{failure.provider} {failure.verb} for {who}{credential}: {outcome}{detail}"


def _unhandled(unhandled: Unhandled) -> str:
    where = f" at {unhandled.provider}" if unhandled.provider else ""
    return f"credential {unhandled.credential} ({unhandled.kind}){where}: {unhandled.disposition}"


def _outcomes(notice: Notice) -> list[str]:
    grouped: dict[tuple[str, str], list[str]] = {}
    for tally in notice.tallies:
        grouped.setdefault((tally.provider, tally.verb), []).append(f"{tally.outcome} {tally.count:,}")
    return [f"{provider} {verb}: {', '.join(counts)}" for (provider, verb), counts in grouped.items()] or ["none"]


def _more(items: list[str], total: int) -> list[str]:
    return [*items, f"… and {total - len(items):,} more"] if total > len(items) else items


def _chunks(lines: list[str]) -> list[str]:
    """Lines joined into texts Slack accepts; a single overlong line is clipped."""
    chunks: list[str] = []
    current = ""
    for line in (_clip(line, _SLACK_SECTION_CHARS) for line in lines):
        if current and len(current) + 1 + len(line) > _SLACK_SECTION_CHARS:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def _escape(value: str) -> str:
    """Slack's three control characters; a login like <!channel> must not ping anyone."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"
