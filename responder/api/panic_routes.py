"""`POST /v1/panic`: end every session of some users, of a group's members, or of everyone at one instance.
Users are looked up in the IdP's directory first (read-only); every action is recorded before any runs."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, HTTPException, Path, Request

from responder.api.app import state_of
from responder.api.auth import Caller, require
from responder.api.schemas import (
    ID_PATTERN,
    PanicAccepted,
    PanicRequest,
    PanicStatus,
    progress_of,
    refusals,
)
from responder.api.typed import credentials_in, without_credentials
from responder.errors import ConfigError, DirectoryError
from responder.ledger.queries import Filters, list_actions
from responder.service import PanicScope

router = APIRouter(tags=["panic"])
log = structlog.get_logger("responder.api.panic")


@router.post(
    "/v1/panic",
    status_code=202,
    response_model=PanicAccepted,
    responses=refusals(400, 401, 403, 404, 413, 422, described={404: "unknown provider, user or group"}),
    summary="End every session of users, of a group's members, or of everyone at one provider instance",
)
def panic(
    body: PanicRequest, request: Request, caller: Annotated[Caller, Depends(require("responder"))]
) -> PanicAccepted:
    state = state_of(request)
    if body.scope == "all":
        if body.targets:
            raise HTTPException(422, "scope all takes no targets")
        if body.confirm != body.provider:
            raise HTTPException(422, "scope all ends everyone's sessions: set confirm to the provider instance name")
    elif not body.targets:
        raise HTTPException(422, f"scope {body.scope} needs targets")
    _refuse_credentials(body)
    scope = PanicScope(body.scope, tuple(body.targets))
    try:
        subjects = state.responder.panic_subjects(body.provider, scope)
    except (ConfigError, DirectoryError) as exc:
        raise HTTPException(404, str(exc)) from None
    if not subjects:
        raise HTTPException(404, f"{body.provider}: the {body.scope} scope covers no user; nothing was recorded")
    panic_id, recorded = state.responder.panic(
        body.provider,
        subjects,
        actor=caller.actor,
        reason=without_credentials(body.reason),  # the reason is recorded for good: no credential in it
        scope=scope,
        dry_run=body.dry_run,
    )
    state.engine.wake()
    log.info("panic_recorded", panic_id=panic_id, provider=body.provider, users=len(subjects), actor=caller.actor)
    return PanicAccepted(
        panic_id=panic_id,
        provider=body.provider,
        users=len(subjects),
        actions_planned=len(recorded.planned),
        status_url=f"/v1/panics/{panic_id}",
    )


@router.get(
    "/v1/panics/{panic_id}",
    response_model=PanicStatus,
    responses=refusals(401, 403, 404, 422),
    summary="Progress and outcomes of a panic",
)
def panic_status(
    panic_id: Annotated[str, Path(pattern=ID_PATTERN)],
    request: Request,
    caller: Annotated[Caller, Depends(require("responder", "auditor"))],
) -> PanicStatus:
    rows = list_actions(state_of(request).responder.ledger, Filters(panic=panic_id))
    if not rows:
        raise HTTPException(404, "no such panic")
    return PanicStatus(panic_id=panic_id, actions=rows, progress=progress_of(rows))


def _refuse_credentials(body: PanicRequest) -> None:
    """A credential pasted as a provider, target or confirmation is refused before any lookup at the IdP (which
    would send it there) and never repeated: the answer names the field only."""
    fields = [("provider", body.provider), ("confirm", body.confirm or "")]
    fields += [(f"targets[{n}]", target) for n, target in enumerate(body.targets)]
    for name, value in fields:
        if credentials_in(value):
            raise HTTPException(422, f"{name} holds what looks like a credential, not a name; nothing was done")
