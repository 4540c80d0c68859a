"""The hash chain. Canonical form of an event (documented in docs/ledger.md; changing it is a migration):

    sha256( JSON of {"seq", "ts", "type", "intake_id", "action_id", "body", "prev_hash"}
            with keys sorted, separators "," and ":", ASCII only (\\uXXXX escapes), UTF-8 bytes )

`body` is the event's JSON object itself (not its text); `prev_hash` of the first event is 64 zeros."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

GENESIS = "0" * 64


class EventType(StrEnum):
    """One type per thing that happened; every act records exactly one of these, always the same one."""

    ARTIFACT_RECEIVED = "artifact_received"
    FINDING_RECORDED = "finding_recorded"
    ACTION_PLANNED = "action_planned"
    ATTEMPT_MADE = "attempt_made"
    OUTCOME_RECORDED = "outcome_recorded"
    VERIFICATION_RECORDED = "verification_recorded"
    PANIC_REQUESTED = "panic_requested"
    SWEEP_STARTED = "sweep_started"
    SWEEP_FINISHED = "sweep_finished"
    WEBHOOK_RECEIVED = "webhook_received"
    ATTACHMENT_FETCHED = "attachment_fetched"
    ATTACHMENT_SKIPPED = "attachment_skipped"
    ATTACHMENT_REPLACED = "attachment_replaced"
    NOTE_ADDED = "note_added"


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    ts: str
    type: EventType
    intake_id: str | None
    action_id: str | None
    body: Mapping[str, Any]
    prev_hash: str
    hash: str


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def event_hash(
    seq: int,
    ts: str,
    type_: str,
    intake_id: str | None,
    action_id: str | None,
    body: Mapping[str, Any],
    prev_hash: str,
) -> str:
    record = {
        "seq": seq,
        "ts": ts,
        "type": type_,
        "intake_id": intake_id,
        "action_id": action_id,
        "body": body,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(record).encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainReport:
    checked: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.first_bad_seq is None and not self.problem
