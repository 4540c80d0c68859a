"""Microsoft Graph for the Entra plugin: the one chokepoint every Graph call goes through (responder's app
token, dropped and fetched again once on a 401), what each status means, and `@odata.nextLink` paging that
never leaves the configured Graph host (learn.microsoft.com/graph/paging, /graph/errors, /graph/throttling)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from providers._entra_auth import AppToken, TokenUnavailable
from responder.http import READ_ONLY, outcome_for_status
from responder.model import Outcome, OutcomeStatus
from responder.secret import Secret

API = "/v1.0"
PAGE_SIZE = 999  # Graph's largest page for users, groups and members
MAX_PAGES = 1000  # ~1,000,000 objects: beyond that something loops
# Advanced query parameters: required for an OData cast on a relationship and for $filter on otherMails;
# always sent together with $count=true (learn.microsoft.com/graph/aad-advanced-queries).
EVENTUAL = {"ConsistencyLevel": "eventual"}
NOT_FOUND = "Request_ResourceNotFound"  # Graph's error code for an unknown user or group id
_SAFE_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,63}")


class Stop(Exception):
    """Ends an operation early with this outcome (a refusal, an unexpected answer, no app token)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


class Graph:
    def __init__(self, http: httpx.Client, graph_url: str, token: AppToken) -> None:
        self._http = http
        self.root = graph_url
        self._origin = _origin(graph_url)
        self._token = token

    def url(self, path: str) -> str:
        return self.root + API + path

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        url: str | None = None,
    ) -> httpx.Response:
        """`{graph_url}/v1.0{path}` (or `url`, an already checked next-page link) with responder's app token.
        A 401 means the cached token went stale (expired early, revoked consent): one fresh token, one retry."""
        target = url or self.url(path)
        token = self._app_token()
        response = self._request(method, target, token.reveal(), params, headers)
        if response.status_code == 401:
            self._token.invalidate(token)
            response = self._request(method, target, self._app_token().reveal(), params, headers)
        return response

    def _app_token(self) -> Secret:
        try:
            return self._token.get()
        except TokenUnavailable as exc:
            raise Stop(exc.outcome) from None

    def _request(
        self,
        method: str,
        url: str,
        token: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        sent = {"Authorization": f"Bearer {token}", "Accept": "application/json", **(headers or {})}
        # Reads are marked for the dry-run guard by their method; the one POST (the revocation) is not.
        extensions = READ_ONLY if method == "GET" else None
        return self._http.request(method, url, params=params, headers=sent, extensions=extensions)

    def pages(
        self,
        path: str,
        params: Mapping[str, str],
        step: str,
        permission: str,
        headers: Mapping[str, str] | None = None,
        *,
        missing: str = "",
    ) -> Iterator[dict[str, Any]]:
        """Every item of a collection. `@odata.nextLink` is followed as given (it carries the query), only
        when its scheme, host and port are the configured graph_url's. `missing`: what Graph's 404
        Request_ResourceNotFound means here (the group of a member list does not exist)."""
        url: str | None = None
        for _ in range(MAX_PAGES):
            response = self.send("GET", path, params=None if url else params, headers=headers, url=url)
            if response.status_code == 404 and missing and error_code(response) == NOT_FOUND:
                raise Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, missing, request_id(response)))
            if response.status_code != 200:
                raise Stop(failure(response, step, permission))
            body = answer(response, step)
            items = body.get("value")
            if not isinstance(items, list):
                raise Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, f"{step}: the answer has no value list"))
            yield from (item for item in items if isinstance(item, dict))
            link = body.get("@odata.nextLink")
            if link is None:
                return
            if not isinstance(link, str) or _origin(link) != self._origin:
                host = urlsplit(link).netloc if isinstance(link, str) else "?"
                detail = f"{step}: the next-page link points to {host!r}, not {self.root}; not followed"
                raise Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, detail))
            url = link
        raise Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, f"{step}: more than {MAX_PAGES} pages"))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def answer(response: httpx.Response, step: str) -> dict[str, Any]:
    """The JSON object Graph answered, or a Stop naming a wrong graph_url (a login page, a proxy)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        detail = f"{step}: the answer is not Graph's JSON (wrong graph_url?)"
        raise Stop(Outcome(OutcomeStatus.FAILED_PERMANENT, detail, request_id(response)))
    return body


def failure(response: httpx.Response, step: str, permission: str, *, gone: bool = False) -> Outcome:
    """One meaning per status: 404 on the object itself already invalid (only with `gone`); 429 and 5xx
    transient with Retry-After; 401 (after one fresh token) the app token refused; 403 the named application
    permission missing. Graph's error code is repeated (a fixed identifier), its message never."""
    outcome = outcome_for_status(response, target_gone=frozenset({404}) if gone else frozenset())
    code = response.status_code
    graph_code = error_code(response)
    why = f" ({graph_code})" if graph_code else ""
    if outcome.status is not OutcomeStatus.FAILED_PERMANENT:
        detail = f"{step}: {outcome.detail}{why}"
    elif code == 401:
        detail = f"{step}: HTTP 401: Graph refused responder's app token{why}"
    elif code == 403:
        detail = f"{step}: HTTP 403: responder's app lacks the application permission {permission}{why}"
    elif code in (404, 405):
        detail = f"{step}: HTTP {code}: no such endpoint (is graph_url Graph's root URL?){why}"
    else:
        detail = f"{step}: HTTP {code}: refused{why}"
    return Outcome(outcome.status, detail, request_id(response), outcome.retry_after)


def error_code(response: httpx.Response) -> str:
    """Graph's `error.code` (e.g. Authorization_RequestDenied), when it looks like an identifier."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and _SAFE_CODE.fullmatch(code) else ""


def request_id(response: httpx.Response) -> str:
    return str(response.headers.get("request-id") or response.headers.get("client-request-id") or "")


def odata_string(value: str) -> str:
    """An OData string literal: single quotes doubled (URL encoding is httpx's job)."""
    return "'" + value.replace("'", "''") + "'"
