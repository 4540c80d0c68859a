"""The panic page: server-rendered (Jinja2), one button per scope, a typed confirmation, live progress.

An operator logs in once with an API key from `[[api_keys]]`; the browser then holds a signed session cookie
(HttpOnly, SameSite=Strict, path /panic) that names the key and its roles, never the key. Every POST carries
the session's CSRF token. The page runs no JavaScript (progress refreshes with a meta refresh), so its
Content-Security-Policy allows no script at all."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from importlib.resources import files
from typing import Annotated, Any, Literal, TypeVar

import httpx
import structlog
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, PackageLoader, StrictUndefined
from pydantic import BaseModel, ConfigDict, ValidationError

from responder.api.app import AppState, state_of
from responder.api.auth import Caller
from responder.api.schemas import progress_of
from responder.api.typed import credentials_in, without_credentials
from responder.errors import ResponderError
from responder.interfaces import Directory
from responder.keys import page_session_key
from responder.ledger.queries import Filters, list_actions, panic_request, recent_panics
from responder.model import Subject
from responder.service import PanicScope
from responder.settings import ApiKeyConfig, Role, Settings

router = APIRouter(tags=["panic page"], include_in_schema=False)
log = structlog.get_logger("responder.api.page")

COOKIE = "responder_page"
COOKIE_PATH = "/panic"  # the API routes never receive it
SESSION_SECONDS = 8 * 3600
PLAN_SECONDS = 600  # a confirmation left open longer is refused: the directory may have changed
REFRESH_SECONDS = 2
ROWS_SHOWN = 500  # the page refreshes every 2 s; the ledger API lists every row
TARGET_MAX = 300
REASON_MAX = 500
SAMPLE = 20  # users named on the confirmation

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages name users
}

Scope = Literal["user", "group", "all"]
SCOPES: dict[str, Scope] = {"user": "user", "group": "group", "all": "all"}
_R = TypeVar("_R", bound=Response)


class Session(BaseModel):
    """What the cookie holds: a CSRF token, and once logged in the key's name, its roles, and a tag tying the
    session to the key's configured hash (so a rotated or removed key ends its sessions)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    csrf: str
    name: str | None = None
    roles: tuple[Role, ...] = ()
    tag: str = ""


class Plan(BaseModel):
    """A prepared panic, signed into the confirmation form: what was looked up is what gets confirmed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nonce: str
    by: str
    provider: str
    scope: Scope
    target: str
    reason: str
    found: int | None  # None for scope all: the directory is listed once, on confirmation
    sample: tuple[str, ...]

    @property
    def expected(self) -> str:
        """What the operator must type: the user, the group, or the instance name."""
        return self.provider if self.scope == "all" else self.target


class Page:
    """Per app: the signing key's serializers, the templates, and which confirmations were already used."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._sessions = URLSafeTimedSerializer(key, salt="responder.page.session")
        self._plans = URLSafeTimedSerializer(key, salt="responder.page.plan")
        self.templates = Environment(
            loader=PackageLoader("responder.api", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.stylesheet = files("responder.api").joinpath("templates/page.css").read_bytes()
        self._used: dict[str, tuple[float, str | None]] = {}  # plan nonce → (when, panic id or None in flight)
        self._lock = threading.Lock()

    def tag(self, config: ApiKeyConfig) -> str:
        message = f"{config.name}\0{config.key_sha256.lower()}".encode()
        return hmac.new(self._key, message, "sha256").hexdigest()[:32]

    def session(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            return Session.model_validate(self._sessions.loads(raw, max_age=SESSION_SECONDS))
        except (BadSignature, ValidationError):  # forged, expired (SignatureExpired), or an old shape
            return None

    def seal_session(self, session: Session) -> str:
        return self._sessions.dumps(session.model_dump(mode="json"))

    def seal_plan(self, plan: Plan) -> str:
        return self._plans.dumps(plan.model_dump(mode="json"))

    def plan(self, token: str, caller: Caller) -> Plan | None:
        try:
            plan = Plan.model_validate(self._plans.loads(token, max_age=PLAN_SECONDS))
        except (BadSignature, ValidationError):
            return None
        return plan if plan.by == caller.name else None

    def claim(self, nonce: str) -> tuple[bool, str | None]:
        """Take a confirmation for recording. A second submit of the same form (a double click) records no
        second panic: it gets (False, the first panic's id), or (False, None) while the first is in flight."""
        with self._lock:
            now = time.monotonic()
            for old in [n for n, (at, _) in self._used.items() if now - at > PLAN_SECONDS]:
                del self._used[old]
            if nonce in self._used:
                return False, self._used[nonce][1]
            self._used[nonce] = (now, None)
            return True, None

    def settle(self, nonce: str, panic_id: str | None) -> None:
        """Record the claim's panic, or release it (nothing was recorded) so the form can be sent again."""
        with self._lock:
            if panic_id is None:
                self._used.pop(nonce, None)
            else:
                self._used[nonce] = (time.monotonic(), panic_id)


def install(app: FastAPI, settings: Settings) -> None:
    """Called by create_app: the session-signing key from serve.page_session_key_file, or generated once into
    the data directory (0600)."""
    key = page_session_key(settings)
    app.state.page = Page(key)


class _Shown(Exception):
    """A problem the operator reads on the page (never a traceback); nothing was recorded."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class _Visit:
    request: Request
    state: AppState
    page: Page
    session: Session | None
    caller: Caller | None

    @property
    def root(self) -> str:
        return str(self.request.scope.get("root_path", "")).rstrip("/")

    @property
    def can_panic(self) -> bool:
        return self.caller is not None and "responder" in self.caller.roles

    def csrf_ok(self, presented: str) -> bool:
        if self.session is None or not presented:
            return False
        return hmac.compare_digest(presented.encode(), self.session.csrf.encode())

    def render(
        self, template: str, title: str, *, status: int = 200, session: Session | None = None, **context: Any
    ) -> HTMLResponse:
        """A page; `session` (when given) is set as the new cookie."""
        shown = session or self.session
        values = {
            "root": self.root,
            "title": title,
            "caller": self.caller,
            "csrf": shown.csrf if shown else "",
            "error": "",
            "refresh": 0,
            **context,
        }
        response = HTMLResponse(self.page.templates.get_template(template).render(values), status_code=status)
        if session is not None:
            self.set_cookie(response, session)
        return _secured(response)

    def redirect(self, path: str, *, session: Session | None = None) -> Response:
        response = RedirectResponse(self.root + path, status_code=303)
        if session is not None:
            self.set_cookie(response, session)
        return _secured(response)

    def set_cookie(self, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            self.page.seal_session(session),
            max_age=SESSION_SECONDS,
            path=self.root + COOKIE_PATH,
            secure=self.request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )

    def refuse(self, status: int, message: str) -> HTMLResponse:
        return self.render("error.html", message, status=status)


def _secured(response: _R) -> _R:
    response.headers.update(HEADERS)
    return response


def _visit(request: Request) -> _Visit:
    state = state_of(request)
    page: Page = request.app.state.page
    session = page.session(request)
    return _Visit(request, state, page, session, _caller(state, page, session))


def _caller(state: AppState, page: Page, session: Session | None) -> Caller | None:
    """The logged-in key, as configured now: a key removed, rotated or stripped of a role since login
    loses it here, whatever the cookie says."""
    if session is None or session.name is None:
        return None
    config = next((k for k in state.settings.api_keys if k.name == session.name), None)
    if config is None or not hmac.compare_digest(page.tag(config).encode(), session.tag.encode()):
        return None
    roles = tuple(r for r in config.roles if r in session.roles and r in ("responder", "auditor"))
    return Caller(config.name, roles) if roles else None


def _new_csrf() -> str:
    return secrets.token_urlsafe(32)


# ---- log in and out ---------------------------------------------------------------------------------


@router.get("/panic/login")
def login_form(request: Request) -> Response:
    visit = _visit(request)
    if visit.caller is not None:
        return visit.redirect("/panic")
    return _login_page(visit, fresh=visit.session is None)


def _login_page(visit: _Visit, *, fresh: bool, status: int = 200, error: str = "") -> HTMLResponse:
    session = Session(csrf=_new_csrf()) if fresh else None
    return visit.render(
        "login.html", "Log in", status=status, session=session, error=error, session_hours=SESSION_SECONDS // 3600
    )


@router.post("/panic/login")
def login(request: Request, key: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "") -> Response:
    visit = _visit(request)
    state = visit.state
    if not visit.csrf_ok(csrf):
        state.metrics.auth_failures.labels("csrf").inc()
        return _login_page(visit, fresh=True, status=403, error="This form expired or was not sent from this page.")
    config = state.keys.identify(key.strip()) if key.strip() else None
    if config is None:
        state.metrics.auth_failures.labels("missing" if not key.strip() else "invalid").inc()
        return _login_page(visit, fresh=False, status=401, error="That is not a valid API key.")
    if not {"responder", "auditor"} & set(config.roles):
        state.metrics.auth_failures.labels("forbidden").inc()
        return _login_page(
            visit, fresh=False, status=403, error="This key has neither the responder nor the auditor role."
        )
    # A new CSRF token at login: a token seen before login is worth nothing after it.
    session = Session(csrf=_new_csrf(), name=config.name, roles=config.roles, tag=visit.page.tag(config))
    log.info("page_login", key_name=config.name)
    return visit.redirect("/panic", session=session)


@router.post("/panic/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    visit = _visit(request)
    if not visit.csrf_ok(csrf):
        return visit.refuse(403, "This form expired or was not sent from this page; you are still logged in.")
    response = visit.redirect("/panic/login")
    response.delete_cookie(
        COOKIE, path=visit.root + COOKIE_PATH, secure=request.url.scheme == "https", httponly=True, samesite="strict"
    )
    return response


# ---- the panic page, the confirmation, recording ----------------------------------------------------------


@router.get("/panic")
def index(request: Request) -> Response:
    visit = _visit(request)
    if visit.caller is None:
        return visit.redirect("/panic/login")
    return _index(visit)


def _index(visit: _Visit, *, status: int = 200, error: str = "", form: dict[str, str] | None = None) -> HTMLResponse:
    return visit.render(
        "index.html",
        "Panic",
        status=status,
        error=error,
        form=form or {"scope": "", "provider": "", "target": "", "reason": ""},
        can_panic=visit.can_panic,
        providers=sorted(visit.state.responder.providers),
        recent=_recent_panics(visit.state),
        target_max=TARGET_MAX,
        reason_max=REASON_MAX,
    )


def _gate(visit: _Visit, csrf: str) -> Response | None:
    """For a POST that changes something: logged in, the session's own form, the responder role."""
    if visit.caller is None:
        return visit.redirect("/panic/login")
    if not visit.csrf_ok(csrf):
        visit.state.metrics.auth_failures.labels("csrf").inc()
        return visit.refuse(403, "This form expired or was not sent from this page; nothing was done.")
    if not visit.can_panic:
        visit.state.metrics.auth_failures.labels("forbidden").inc()
        return visit.refuse(403, "Only a key with the responder role can start a panic; nothing was done.")
    return None


@router.post("/panic/prepare")
def prepare(
    request: Request,
    scope: Annotated[str, Form()] = "",
    provider: Annotated[str, Form()] = "",
    target: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Step one: look the users up (read-only) and ask for the typed confirmation. Nothing is recorded."""
    visit = _visit(request)
    refused = _gate(visit, csrf)
    if refused is not None:
        return refused
    assert visit.caller is not None  # _gate admitted a caller
    # The reason is recorded for good and every field is shown back: no credential typed into one goes further
    # (a target holding one would also be sent to the IdP's directory).
    form = {
        "scope": scope,
        "provider": provider,
        "target": target.strip(),
        "reason": without_credentials(reason.strip()),
    }
    pasted = [name for name in ("provider", "target") if credentials_in(form[name])]
    if pasted:
        for name in pasted:
            form[name] = ""
        error = f"The {' and '.join(pasted)} held what looks like a credential, not a name; nothing was done."
        return _index(visit, status=422, error=error, form=form)
    try:
        plan = _plan(visit.state, visit.caller, form)
    except _Shown as problem:
        return _index(visit, status=problem.status, error=problem.message, form=form)
    return _confirmation(visit, plan)


def _plan(state: AppState, caller: Caller, form: dict[str, str]) -> Plan:
    provider, target, reason = form["provider"], form["target"], form["reason"]
    scope = SCOPES.get(form["scope"])
    if scope is None:
        raise _Shown(422, "Choose one of the three buttons: a user, a group, or everyone.")
    if provider not in state.responder.providers:
        raise _Shown(404, f"No provider instance named {provider!r} is configured.")
    if not reason or len(reason) > REASON_MAX:
        raise _Shown(422, f"A reason is required (at most {REASON_MAX} characters); it is recorded in the ledger.")
    if scope == "all":
        if not isinstance(state.responder.providers[provider], Directory):
            raise _Shown(422, f"{provider}: this plugin cannot list users; end sessions per user instead.")
        target = ""  # the whole directory is listed once, on confirmation
        found: list[Subject] | None = None
    elif not target or len(target) > TARGET_MAX:
        raise _Shown(422, f"Name the {scope} (at most {TARGET_MAX} characters).")
    else:
        found = _subjects(state, provider, PanicScope(scope, (target,)))
    return Plan(
        nonce=secrets.token_urlsafe(16),
        by=caller.name,
        provider=provider,
        scope=scope,
        target=target,
        reason=reason,
        found=None if found is None else len(found),
        sample=tuple(_user_label(s) for s in (found or [])[:SAMPLE]),
    )


def _subjects(state: AppState, provider: str, scope: PanicScope) -> list[Subject]:
    """Who the scope covers, from the IdP's directory; every failure becomes one line on the page."""
    try:
        subjects = state.responder.panic_subjects(provider, scope)
    except ResponderError as exc:  # unknown provider, user or group; a directory that refused or has no groups
        raise _Shown(404, f"{exc} — nothing was recorded.") from None
    except httpx.HTTPError as exc:
        raise _Shown(
            502, f"{provider}: the directory could not be reached ({type(exc).__name__}); nothing was recorded."
        ) from None
    except Exception as exc:  # a plugin's own failure: its type only, the page shows no traceback
        log.error("page_directory_failed", provider=provider, error=type(exc).__name__)
        raise _Shown(
            502, f"{provider}: the directory lookup failed ({type(exc).__name__}); nothing was recorded."
        ) from None
    if not subjects:
        raise _Shown(404, f"{provider}: the {scope.kind} scope covers no user; nothing was recorded.")
    return subjects


def _user_label(subject: Subject) -> str:
    if subject.login and subject.login != subject.user_id:
        return f"{subject.login} ({subject.user_id})"
    return subject.user_id


def _confirmation(
    visit: _Visit, plan: Plan, *, token: str | None = None, status: int = 200, error: str = ""
) -> HTMLResponse:
    """`token`: the plan as first signed, so a mistyped confirmation does not extend its ten minutes."""
    headlines = {
        "user": f"end every session of {plan.target} at {plan.provider}",
        "group": f"end every session of each member of {plan.target} at {plan.provider}",
        "all": f"end every session of every user at {plan.provider}",
    }
    users = "every user" if plan.found is None else f"{plan.found} user{'' if plan.found == 1 else 's'}"
    return visit.render(
        "confirm.html",
        "Confirm the panic",
        status=status,
        error=error,
        plan=plan,
        plan_token=token or visit.page.seal_plan(plan),
        headline=headlines[plan.scope],
        button=f"End the sessions of {users} now",
        plan_minutes=PLAN_SECONDS // 60,
    )


@router.post("/panic/confirm")
def confirm(
    request: Request,
    plan: Annotated[str, Form()] = "",
    typed: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Step two: the typed confirmation matches, so record the panic (every action before any runs) and wake
    the engine. A mismatch changes nothing."""
    visit = _visit(request)
    refused = _gate(visit, csrf)
    if refused is not None:
        return refused
    assert visit.caller is not None
    prepared = visit.page.plan(plan, visit.caller)
    if prepared is None:
        error = f"This confirmation expired (after {PLAN_SECONDS // 60} minutes) or is not yours; nothing was done."
        return _index(visit, status=400, error=error)
    if typed.strip() != prepared.expected:
        error = f"What you typed does not match {prepared.expected!r}; nothing was done."
        return _confirmation(visit, prepared, token=plan, status=422, error=error)
    fresh, earlier = visit.page.claim(prepared.nonce)
    if not fresh:
        if earlier is not None:
            return visit.redirect(f"/panic/{earlier}")
        return visit.refuse(409, "This confirmation is already being recorded; see the recent panics.")
    panic_id = None
    try:
        panic_id = _record(visit.state, visit.caller, prepared)
    except _Shown as problem:
        return _index(visit, status=problem.status, error=problem.message)
    finally:
        visit.page.settle(prepared.nonce, panic_id)
    return visit.redirect(f"/panic/{panic_id}")


_PANIC_FROM_FORM = uuid.UUID("0b7f5a3e-2f4d-4c61-9a1e-5d3c8b2e7f90")  # fixed: a form's panic id never changes


def _record(state: AppState, caller: Caller, plan: Plan) -> str:
    """Exactly what POST /v1/panic does: look up, record, wake the engine."""
    scope = PanicScope(plan.scope, (plan.target,) if plan.target else ())
    subjects = _subjects(state, plan.provider, scope)
    actor = f"page:{caller.name}"
    # One confirmation form, one panic, on whichever replica the form reaches (twice, after a double click).
    once = str(uuid.uuid5(_PANIC_FROM_FORM, plan.nonce))
    panic_id, _ = state.responder.panic(
        plan.provider, subjects, actor=actor, reason=plan.reason, scope=scope, panic_id=once
    )
    state.engine.wake()
    log.info("panic_recorded", panic_id=panic_id, provider=plan.provider, users=len(subjects), actor=actor)
    return panic_id


# ---- progress ---------------------------------------------------------------------------------------------


@router.get("/panic/assets/page.css")
def stylesheet(request: Request) -> Response:
    response = _secured(Response(request.app.state.page.stylesheet, media_type="text/css"))
    response.headers["Cache-Control"] = "max-age=300"  # no user in it
    return response


@router.get("/panic/{panic_id}")
def progress(request: Request, panic_id: str) -> Response:
    """The outcome of each action of one panic, read from the ledger; refreshes itself while any is pending."""
    visit = _visit(request)
    if visit.caller is None:
        return visit.redirect("/panic/login")
    try:
        uuid.UUID(panic_id)
    except ValueError:
        return visit.refuse(404, "No such panic.")
    ledger = visit.state.responder.ledger
    record = _panic_record(visit.state, panic_id)
    if record is None:
        return visit.refuse(404, "No such panic.")
    rows = list_actions(ledger, Filters(panic=panic_id))
    status = progress_of(rows)
    shown = sorted((_row(row) for row in rows), key=_problems_first)
    return visit.render(
        "panic.html",
        f"Panic {panic_id[:8]}",
        record=record,
        progress=status,
        counts=sorted(Counter(row["outcome"] for row in shown).items()),
        rows=shown[:ROWS_SHOWN],
        hidden_rows=max(0, len(rows) - ROWS_SHOWN),
        refresh=REFRESH_SECONDS if status.state != "done" else 0,
    )


def _row(row: dict[str, Any]) -> dict[str, Any]:
    login, user_id = row["subject_login"], row["subject_id"]
    return {
        "user": f"{login} ({user_id})" if login and login != user_id else user_id or "—",
        "verb": row["verb"],
        "outcome": str(row["outcome"]) if row["state"] == "done" and row["outcome"] else "pending",
        "verified": {True: "yes", False: "no"}.get(row["verified"], "—"),
        "attempts": row["attempts"],
        "detail": row["detail"] or "",
    }


_RANK = {"failed_permanent": 0, "failed_transient": 0, "unsupported": 0, "pending": 1}  # the rest: 2


def _problems_first(row: dict[str, Any]) -> tuple[int, str]:
    """What needs a person on top (failed, unsupported), then what is still running, then the rest."""
    return _RANK.get(row["outcome"], 2), row["user"]


def _panic_record(state: AppState, panic_id: str) -> dict[str, Any] | None:
    found = panic_request(state.responder.ledger, panic_id)
    return None if found is None else _shown(found)


def _recent_panics(state: AppState, limit: int = 20) -> list[dict[str, Any]]:
    return [_shown(p) for p in recent_panics(state.responder.ledger, limit)]


def _shown(panic: dict[str, Any]) -> dict[str, Any]:
    """A panic request as the page shows it: the time to the second, in UTC."""
    return {**panic, "requested_at": panic["requested_at"][:19].replace("T", " ") + " UTC"}
