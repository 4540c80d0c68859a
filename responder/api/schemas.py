"""What the API answers, as pydantic models (the edge). Fingerprints and ids only: never a credential value."""

from __future__ import annotations

from typing import Any, Literal

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

# Intakes and panics are named by uuid4: anything else is refused before it reaches a query (or its log).
ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

_REFUSALS = {
    400: "the body could not be parsed, or the upload is empty",
    401: "no valid API key",
    403: "the key lacks the role",
    404: "no such thing",
    413: "the request body is larger than this route accepts",
    422: "a parameter or the body is invalid, or the capture is unreadable",
}


class Problem(BaseModel):
    """Every refusal: one sentence, or the list of what failed validation. Never a value from the request."""

    detail: str | list[dict[str, Any]]


def validation_refusal(exc: RequestValidationError) -> JSONResponse:
    """A 422 that never echoes the request. FastAPI's own carries each invalid `input` back (a value the caller
    pasted: perhaps a credential), and a NaN or an infinity there cannot be written as JSON at all (a 500).
    Here each error keeps only its type, location and message. Registered app-wide in app.py."""
    errors = [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


def refusals(*codes: int, described: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """The documented refusals of a route (`responses=`), each with the Problem body it really answers."""
    texts = {**_REFUSALS, **(described or {})}
    return {code: {"model": Problem, "description": texts[code]} for code in codes}


class ProviderCheck(BaseModel):
    ok: bool | None = Field(description="the last check's verdict; null until a first check has answered")
    detail: str


class Readiness(BaseModel):
    status: Literal["ready", "degraded", "not ready"]
    ledger: str = Field(description="ok, or unavailable (and the exception's type)")
    engine: Literal["off", "running", "stopped"]
    providers: dict[str, ProviderCheck] = Field(description="each provider instance's last check")
    sources: dict[str, str] = Field(
        default_factory=dict,
        description="each ticketing source with a connector: ok (its ticket work runs here), or misconfigured "
        "and why (the problem names the setting, never a value)",
    )


class FindingOut(BaseModel):
    fingerprint: str = Field(description="HMAC-SHA256 of the value under the deployment's key; never the value")
    kind: str
    detector: str
    revocable: bool
    family: str | None
    provider: str | None = Field(description="the configured provider instance that claims it")
    subject_id: str | None
    disposition: str = Field(
        description="planned | needs_subject | no_provider | unhandled | not_revocable | no_action | expired"
    )
    locations: int
    actions: list[str] = Field(description="ids of the actions planned for it")


class ArtifactOut(BaseModel):
    name: str
    sha256: str
    size: int
    reader: str
    warnings: list[str]


class IntakeAccepted(BaseModel):
    intake_id: str
    artifact: ArtifactOut
    findings: list[FindingOut]
    actions_planned: int
    needs_a_person: int = Field(description="findings no configured provider can end: see the report")
    status_url: str
    sanitized_url: str | None = Field(description="the sanitized copy; it can be downloaded once")


class Progress(BaseModel):
    actions: int
    finished: int
    pending: int
    state: Literal["acting", "done"]


class IntakeStatus(BaseModel):
    intake: dict[str, Any]
    findings: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    progress: Progress


class PanicRequest(BaseModel):
    provider: str = Field(min_length=1, max_length=100, description="configured provider instance")
    scope: Literal["user", "group", "all"]
    targets: list[str] = Field(
        default_factory=list, max_length=1000, description="user ids, logins or emails; or group names"
    )
    reason: str = Field(min_length=1, max_length=500)
    confirm: str | None = Field(default=None, description="for scope=all: the provider instance name, typed")
    dry_run: bool = False


class PanicAccepted(BaseModel):
    panic_id: str
    provider: str
    users: int
    actions_planned: int
    status_url: str


class PanicStatus(BaseModel):
    panic_id: str
    actions: list[dict[str, Any]]
    progress: Progress


def progress_of(actions: list[dict[str, Any]]) -> Progress:
    finished = sum(1 for a in actions if a["state"] == "done")
    pending = len(actions) - finished
    return Progress(actions=len(actions), finished=finished, pending=pending, state="acting" if pending else "done")
