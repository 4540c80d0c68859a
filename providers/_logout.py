"""OpenID Connect RP-Initiated Logout 1.0, performed with a leaked browser session: responder presents the
session cookie to the OP's own end_session_endpoint, as the user's browser would, and confirms the logout
the OP asks about. Used only when an instance opts in (`end_session_with_cookie`).

The cookie is sent only to the configured issuer's origin: an end_session_endpoint elsewhere (metadata is
fetched from the configured issuer, but could still name another host) is refused. Redirects are never
followed; the logout page's form is submitted only when its action is on that same origin."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

from responder.http import MUTATING, outcome_for_status
from responder.model import Outcome, OutcomeStatus
from responder.secret import Secret

# Pages bigger than this are not a logout confirmation: they are not parsed.
MAX_PAGE_CHARS = 200_000


@dataclass
class _Form:
    ident: str
    method: str
    action: str
    fields: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    """The page's forms with their hidden inputs (inside a form, or tied to one by a `form` attribute). The
    confirming button is not read from the page: which field says "yes" is configured per instance."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []
        self._open: _Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._open = _Form(a.get("id", ""), a.get("method", "get").lower(), a.get("action", ""))
            self.forms.append(self._open)
        elif tag == "input" and a.get("type", "").lower() == "hidden" and a.get("name"):
            owner = self._owner(a.get("form", ""))
            if owner is not None:
                owner.fields.setdefault(a["name"], a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None

    def _owner(self, form_id: str) -> _Form | None:
        if form_id:
            return next((f for f in self.forms if f.ident == form_id), None)
        return self._open


def same_origin(url: str, reference: str) -> bool:
    a, b = urlsplit(url), urlsplit(reference)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def end_session(
    client: httpx.Client, endpoint: str, issuer: str, cookie_header: Secret, confirm: dict[str, str]
) -> Outcome:
    """GET the end_session_endpoint with the session cookie; if the OP answers with a confirmation page,
    submit its form with `confirm` added (e.g. logout=yes). One call chain, no retries (the engine retries)."""
    if not same_origin(endpoint, issuer):
        return Outcome(
            OutcomeStatus.UNSUPPORTED,
            "the end_session_endpoint is not on the issuer's origin: responder sends a session cookie only to the OP",
        )
    headers = {"Cookie": cookie_header.reveal(), "Accept": "text/html"}
    page = client.get(endpoint, headers=headers, extensions=MUTATING)  # many OPs log out on this GET already
    if page.is_redirect:
        return Outcome(OutcomeStatus.REVOKED, "RP-initiated logout: the OP ended the session at once")
    if page.status_code != 200:
        return _failed(page, "RP-initiated logout")
    form = _logout_form(page, endpoint)
    if form is None:
        return Outcome(
            OutcomeStatus.FAILED_PERMANENT,
            "RP-initiated logout: the OP's answer holds no logout form on its own origin to confirm",
        )
    answer = client.post(form.action, data={**form.fields, **confirm}, headers=headers)
    if answer.is_success or answer.is_redirect:
        return Outcome(
            OutcomeStatus.REVOKED,
            "RP-initiated logout with the leaked session cookie: the OP accepted it (an OP answers the same for a "
            "session that had already ended)",
        )
    return _failed(answer, "RP-initiated logout confirmation")


def _logout_form(page: httpx.Response, endpoint: str) -> _Form | None:
    text = page.text
    if len(text) > MAX_PAGE_CHARS or "<form" not in text.lower():
        return None
    parser = _FormParser()
    parser.feed(text)
    for form in parser.forms:
        form.action = urljoin(str(page.url) or endpoint, form.action or endpoint)
        if form.method == "post" and same_origin(form.action, endpoint):
            return form
    return None


def _failed(response: httpx.Response, step: str) -> Outcome:
    outcome = outcome_for_status(response, target_gone=frozenset())
    return Outcome(outcome.status, f"{step}: {outcome.detail}", outcome.provider_request_id, outcome.retry_after)
