"""Read the ledger: actions, the chain's integrity, the report. Auditor role."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel

from responder.api.app import state_of
from responder.api.auth import Caller, require
from responder.api.schemas import ID_PATTERN, refusals
from responder.api.typed import credentials_in
from responder.ledger.queries import Filters, list_actions, report

router = APIRouter(tags=["ledger"])
Auditor = Annotated[Caller, Depends(require("auditor"))]
Outcome = Literal["revoked", "already_invalid", "dry_run", "unsupported", "failed_permanent", "pending"]


class LedgerPage(BaseModel):
    actions: list[dict[str, Any]]
    returned: int
    truncated: bool


class ChainStatus(BaseModel):
    intact: bool
    checked: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None
    problem: str


def _filters(
    since: Annotated[datetime | None, Query(description="from this time (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="before this time (ISO 8601)")] = None,
    user: Annotated[str | None, Query(max_length=300)] = None,
    provider: Annotated[str | None, Query(max_length=100)] = None,
    trigger: Annotated[Literal["upload", "panic", "sweep"] | None, Query()] = None,
    outcome: Annotated[Outcome | None, Query()] = None,
    intake: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    panic: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> Filters:
    for name, value in (("user", user), ("provider", provider)):
        if value and credentials_in(value):  # kept out of the query (and its debug log); not repeated
            raise HTTPException(422, f"the filter {name} holds what looks like a credential, not a name")
    return Filters(
        since=since, until=until, user=user, provider=provider, trigger=trigger, outcome=outcome, intake=intake,
        panic=panic,
    )  # fmt: skip


@router.get(
    "/v1/ledger",
    response_model=LedgerPage,
    responses=refusals(401, 403, 422),
    summary="Forced-logout actions, newest last",
)
def ledger_list(
    request: Request,
    caller: Auditor,
    filters: Annotated[Filters, Depends(_filters)],
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> LedgerPage:
    rows = list_actions(state_of(request).responder.ledger, filters)
    return LedgerPage(actions=rows[-limit:], returned=min(limit, len(rows)), truncated=len(rows) > limit)


@router.get(
    "/v1/ledger/verify",
    response_model=ChainStatus,
    responses=refusals(401, 403),
    summary="Recompute the hash chain of every event",
)
def ledger_verify(request: Request, caller: Auditor) -> ChainStatus:
    chain = state_of(request).responder.ledger.verify_chain()
    return ChainStatus(
        intact=chain.intact,
        checked=chain.checked,
        head_seq=chain.head_seq,
        head_hash=chain.head_hash,
        first_bad_seq=chain.first_bad_seq,
        problem=chain.problem,
    )


@router.get(
    "/v1/report",
    responses=refusals(401, 403, 422),
    summary="Who was affected by what; failures; pending; what needs a person",
)
def ledger_report(request: Request, caller: Auditor, filters: Annotated[Filters, Depends(_filters)]) -> dict[str, Any]:
    return report(state_of(request).responder.ledger, filters)
