"""The upload trigger: `POST /v1/artifacts` streams the capture to a private spool, scans it, records the
intake (findings and actions, credentials sealed) before anything else, hands the actions to the engine,
and answers 202. The original is deleted once recorded; the sanitized copy can be downloaded once."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import fastapi
import structlog
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from responder.api.app import AppState, state_of
from responder.api.auth import Caller, require
from responder.api.multipart import spool_multipart
from responder.api.schemas import (
    ID_PATTERN,
    ArtifactOut,
    FindingOut,
    IntakeAccepted,
    IntakeStatus,
    progress_of,
    refusals,
)
from responder.errors import UnreadableArtifact
from responder.ledger.queries import show
from responder.ledger.store import NEEDS_A_PERSON
from responder.model import Trigger

router = APIRouter(tags=["artifacts"])
log = structlog.get_logger("responder.api.artifacts")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
# The route reads the body itself (streamed to the spool), so FastAPI cannot infer it: it is published here.
_UPLOAD_BODY = {
    "required": True,
    "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary", "minLength": 1}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary", "minLength": 1}},
            }
        },
    },
}


@router.post(
    "/v1/artifacts",
    status_code=202,
    response_model=IntakeAccepted,
    responses=refusals(400, 401, 403, 413, 422),
    openapi_extra={"requestBody": _UPLOAD_BODY},
    summary="Upload a capture (HAR, .har.gz, .zip, .saz, text): raw body, or multipart with one `file` field",
)
async def upload(
    request: Request,
    caller: Annotated[Caller, Depends(require("uploader"))],
    filename: Annotated[str | None, Query(max_length=255, description="name of a raw-body upload")] = None,
    dry_run: Annotated[bool, Query(description="record what would be done; revoke nothing")] = False,
) -> IntakeAccepted:
    state = state_of(request)
    spool = state.spool_dir / uuid.uuid4().hex
    try:
        name = await _receive(request, spool, filename)
        return await run_in_threadpool(_intake, state, spool, name, caller, dry_run)
    finally:
        spool.unlink(missing_ok=True)  # the original holds live credentials: it never outlives the request


async def _receive(request: Request, spool: Path, filename: str | None) -> str:
    """Write the body to the spool as it arrives (the size limit is enforced by BodyLimit meanwhile)."""
    try:
        size, filename = await _spool(request, spool, filename)
    except ClientDisconnect:  # the client went away mid-upload: nothing to answer, nothing recorded
        raise HTTPException(400, "the upload was cut off before its end; nothing was recorded") from None
    if size == 0:
        raise HTTPException(400, "the upload is empty")
    return _safe_name(filename or "upload")


async def _spool(request: Request, spool: Path, filename: str | None) -> tuple[int, str | None]:
    size = 0
    content_type = request.headers.get("content-type", "")
    with _private_file(spool) as out:
        if content_type.startswith("multipart/form-data"):
            size, sent_as = await spool_multipart(content_type, request.stream(), out)
            filename = filename or sent_as
        else:
            async for chunk in request.stream():
                out.write(chunk)
                size += len(chunk)
    return size, filename


# Scans and sanitized copies are CPU work under one GIL, shared with the engine thread that revokes. Unbounded,
# 32 concurrent 5 MB uploads starved the engine: the first revoke reached the IdP after the upload's own 202
# (bench/upload.py). Two scans at a time, and one copy (twice a scan's work, and nothing waits on it to
# revoke) keep the first revoke ahead of the 202 at the same throughput; current figures are in the README.
_SCANNING = threading.BoundedSemaphore(2)
_COPYING = threading.BoundedSemaphore(1)


def _intake(state: AppState, spool: Path, name: str, caller: Caller, dry_run: bool) -> IntakeAccepted:
    named = spool.with_name(f"{spool.name}-{name}")  # readers sniff by name too (.har, .zip, .saz)
    spool.rename(named)
    try:
        with _SCANNING:
            report = state.scanner.scan(named)
        if not report.readable:
            raise HTTPException(422, f"could not read the upload: {report.error}")
        result = state.responder.intake(
            report, trigger=Trigger.UPLOAD, actor=caller.actor, source="api", reference=name, dry_run=dry_run
        )
        state.engine.wake()
        with _COPYING:
            sanitized_url = _sanitize(state, named, name, result.intake_id, report)
    finally:
        named.unlink(missing_ok=True)
    log.info("artifact_received", intake_id=result.intake_id, findings=len(report.findings), actor=caller.actor)
    return IntakeAccepted(
        intake_id=result.intake_id,
        artifact=ArtifactOut(
            name=name, sha256=report.sha256, size=report.size, reader=report.reader, warnings=list(report.warnings)
        ),
        findings=[
            FindingOut(
                fingerprint=r.fingerprint,
                kind=r.kind,
                detector=r.detector,
                revocable=r.revocable,
                family=r.family,
                provider=r.provider,
                subject_id=r.subject_id,
                disposition=r.disposition,
                locations=r.locations,
                actions=[a.id for a in r.actions],
            )
            for r in result.records
        ],
        actions_planned=len(result.action_ids),
        needs_a_person=sum(1 for r in result.records if r.disposition in NEEDS_A_PERSON),
        status_url=f"/v1/intakes/{result.intake_id}",
        sanitized_url=sanitized_url,
    )


def expire_sanitized(folder: Path, keep_hours: float) -> int:
    """Remove the sanitized copies nobody downloaded in time (and downloads a crash left half-sent). They hold no
    credential, but they hold the rest of a customer's capture, which is not kept for ever. Returns how many."""
    cutoff = time.time() - keep_hours * 3600
    removed = 0
    for entry in folder.iterdir():
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry)
                removed += 1
        except OSError:  # taken by a download meanwhile, or already gone
            continue
    return removed


def _sanitize(state: AppState, original: Path, name: str, intake_id: str, report: Any) -> str | None:
    """After the intake is recorded: a failure here loses no revocation, only the copy (noted in the log)."""
    expire_sanitized(state.sanitized_dir, state.settings.serve.sanitized_keep_hours)
    target_dir = state.sanitized_dir / intake_id
    target_dir.mkdir(mode=0o700)
    try:
        state.sanitizer.write(original, report.findings, target_dir / name)
    except (UnreadableArtifact, OSError) as exc:
        log.warning("sanitize_failed", intake_id=intake_id, error=type(exc).__name__)
        shutil.rmtree(target_dir, ignore_errors=True)
        return None
    return f"/v1/intakes/{intake_id}/sanitized"


@router.get(
    "/v1/intakes/{intake_id}",
    response_model=IntakeStatus,
    responses=refusals(401, 403, 404, 422),
    summary="Progress and outcomes of an upload",
)
def intake_status(
    intake_id: Annotated[str, fastapi.Path(pattern=ID_PATTERN)],
    request: Request,
    caller: Annotated[Caller, Depends(require("uploader", "auditor"))],
) -> IntakeStatus:
    found = show(state_of(request).responder.ledger, intake_id)
    if found is None or "intake" not in found:
        raise HTTPException(404, "no such intake")
    return IntakeStatus(
        intake=found["intake"],
        findings=found["findings"],
        actions=found["actions"],
        progress=progress_of(found["actions"]),
    )


@router.get(
    "/v1/intakes/{intake_id}/sanitized",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
        **refusals(401, 403, 404, 422, described={404: "no copy, or already downloaded"}),
    },
    summary="The sanitized copy, once: it is deleted after this download",
)
def sanitized(
    intake_id: Annotated[str, fastapi.Path(pattern=ID_PATTERN)],
    request: Request,
    caller: Annotated[Caller, Depends(require("uploader"))],
) -> FileResponse:
    state = state_of(request)
    if not re.fullmatch(r"[0-9a-f-]{36}", intake_id):  # already checked; kept beside the path it guards
        raise HTTPException(404, "no sanitized copy for this intake (or it was downloaded already)")
    folder = state.sanitized_dir / intake_id
    claimed = folder.with_name(f"{intake_id}.sending-{uuid.uuid4().hex}")
    try:
        os.rename(folder, claimed)  # atomic: two downloads at once cannot both get it
    except OSError:
        raise HTTPException(404, "no sanitized copy for this intake (or it was downloaded already)") from None
    files = list(claimed.iterdir())
    if not files:
        shutil.rmtree(claimed, ignore_errors=True)
        raise HTTPException(404, "no sanitized copy for this intake")
    return FileResponse(
        files[0],
        filename=f"sanitized-{files[0].name}",
        media_type="application/octet-stream",
        background=BackgroundTask(shutil.rmtree, claimed, ignore_errors=True),
    )


def _safe_name(name: str) -> str:
    base = Path(name.replace("\\", "/")).name
    cleaned = _UNSAFE_NAME.sub("_", base).strip("._") or "upload"
    return cleaned[:120]


class _private_file:
    """A file only this user can read, opened for writing (the spool holds live credentials)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def __enter__(self) -> Any:
        descriptor = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(descriptor, "wb")
        return self._file

    def __exit__(self, *exc: object) -> None:
        self._file.close()
