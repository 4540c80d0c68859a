"""The panic page under TestClient: log in with an API key, roles, CSRF, the typed confirmation, a panic
recorded and shown, errors on the page, security headers, the session cookie."""

from __future__ import annotations

import json
import os
import re
import stat
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer

from responder.api import create_app
from responder.ledger.queries import Filters, report
from responder.settings import Settings
from responder.testing import FakeIdP
from tests.api.conftest import KEYS
from tests.ledger.flows import lab_provider

PANIC_ID = re.compile(r"/panic/([0-9a-f-]{36})$")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found, f"no {name} field on the page"
    return found.group(1)


def log_in(client: TestClient, role: str) -> str:
    """Log in as the key holding `role`; returns the session's CSRF token."""
    form = client.get("/panic/login")
    answer = client.post("/panic/login", data={"key": KEYS[role], "csrf": csrf_of(form.text)}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/panic").text)


def prepare(client: TestClient, csrf: str, **form: str) -> httpx.Response:
    body = {"provider": "lab", "reason": "HAR in ticket 9", "csrf": csrf, **form}
    return client.post("/panic/prepare", data=body)


def confirm(client: TestClient, confirmation: httpx.Response, typed: str) -> httpx.Response:
    data = {"plan": field(confirmation.text, "plan"), "csrf": csrf_of(confirmation.text), "typed": typed}
    return client.post("/panic/confirm", data=data, follow_redirects=False)


def recorded_panics(client: TestClient) -> list[dict[str, Any]]:
    panics: list[dict[str, Any]] = report(client.app.state.responder.responder.ledger, Filters())["panics"]  # type: ignore[attr-defined]
    return panics


def wait_done(client: TestClient, path: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        html = client.get(path).text
        if 'data-state="done"' in html or time.monotonic() > deadline:
            return html
        time.sleep(0.1)


def session_payload(client: TestClient) -> dict[str, Any]:
    """The cookie is signed, not encrypted: anyone holding it can read it, so it must never hold a key."""
    valid, payload = URLSafeTimedSerializer(b"not the key").loads_unsafe(client.cookies["responder_page"])
    assert not valid  # readable without the key, but only the key signs it
    assert isinstance(payload, dict)
    return payload


# ---- log in ---------------------------------------------------------------------------------------------


def test_login_sets_a_signed_httponly_strict_cookie_naming_the_key_never_holding_it(
    client: TestClient, service_settings: Callable[..., Settings]
) -> None:
    first = client.get("/panic", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/panic/login"
    form = client.get("/panic/login")
    answer = client.post(
        "/panic/login", data={"key": KEYS["responder"], "csrf": csrf_of(form.text)}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/panic"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/panic" in cookie
    assert KEYS["responder"] not in cookie
    payload = session_payload(client)
    assert payload["name"] == "responder"
    assert payload["roles"] == ["responder"]
    assert payload["csrf"] != csrf_of(form.text)  # a new token once logged in
    assert KEYS["responder"] not in json.dumps(payload)
    page = client.get("/panic")
    assert page.status_code == 200
    assert "responder (responder)" in page.text
    assert KEYS["responder"] not in page.text
    key_file = service_settings().data_dir / "page-session.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


@pytest.mark.parametrize(
    ("key", "status", "message", "reason"),
    [
        ("not-a-key-at-all", 401, "not a valid API key", "invalid"),
        ("", 401, "not a valid API key", "missing"),
        (KEYS["uploader"], 403, "neither the responder nor the auditor role", "forbidden"),
    ],
)
def test_a_wrong_key_or_role_does_not_log_in(
    client: TestClient, key: str, status: int, message: str, reason: str
) -> None:
    form = client.get("/panic/login")
    answer = client.post("/panic/login", data={"key": key, "csrf": csrf_of(form.text)}, follow_redirects=False)
    assert answer.status_code == status
    assert message in answer.text
    if key:
        assert key not in answer.text
    assert client.get("/panic", follow_redirects=False).status_code == 303
    metrics = client.get("/metrics", headers={"Authorization": f"Bearer {KEYS['auditor']}"}).text
    assert f'responder_api_auth_failures_total{{reason="{reason}"}} 1.0' in metrics


def test_login_needs_the_forms_csrf_token(client: TestClient) -> None:
    client.get("/panic/login")
    refused = client.post("/panic/login", data={"key": KEYS["responder"], "csrf": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    client.cookies.clear()
    cookieless = client.post("/panic/login", data={"key": KEYS["responder"], "csrf": "x"}, follow_redirects=False)
    assert cookieless.status_code == 403
    assert client.get("/panic", follow_redirects=False).status_code == 303


def test_logout_ends_the_session_and_needs_csrf(client: TestClient) -> None:
    csrf = log_in(client, "responder")
    assert client.post("/panic/logout", data={"csrf": "forged"}, follow_redirects=False).status_code == 403
    assert client.get("/panic", follow_redirects=False).status_code == 200
    out = client.post("/panic/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/panic/login"
    assert client.get("/panic", follow_redirects=False).status_code == 303


def test_a_forged_or_rotated_session_is_not_accepted(
    client: TestClient, service_settings: Callable[..., Settings]
) -> None:
    log_in(client, "responder")
    cookie = client.cookies["responder_page"]
    _, payload = URLSafeTimedSerializer(b"x").loads_unsafe(cookie)
    forged = URLSafeTimedSerializer(b"another key", salt="responder.page.session").dumps(payload)
    client.cookies.set("responder_page", forged, path="/panic")
    assert client.get("/panic", follow_redirects=False).status_code == 303
    # The same data directory (same signing key), but the responder key was rotated: its sessions end.
    rotated = service_settings(api_keys=[{"name": "responder", "key_sha256": "ab" * 32, "roles": ["responder"]}])
    with TestClient(create_app(rotated, run_engine=False)) as other:
        other.cookies.set("responder_page", cookie, path="/panic")
        assert other.get("/panic", follow_redirects=False).status_code == 303
    with TestClient(create_app(service_settings(), run_engine=False)) as same:
        same.cookies.set("responder_page", cookie, path="/panic")
        assert same.get("/panic", follow_redirects=False).status_code == 200


# ---- roles and CSRF -------------------------------------------------------------------------------------


def test_an_auditor_follows_panics_but_cannot_start_one(client: TestClient, idp: FakeIdP) -> None:
    idp.add_user("u-7", "eve@example.com")
    responder_csrf = log_in(client, "responder")
    done = confirm(client, prepare(client, responder_csrf, scope="user", target="eve@example.com"), "eve@example.com")
    panic_path = done.headers["location"]
    client.cookies.clear()
    csrf = log_in(client, "auditor")
    page = client.get("/panic")
    assert 'id="panic-user"' not in page.text
    assert "auditor role" in page.text
    assert panic_path in page.text  # listed under recent panics
    refused = prepare(client, csrf, scope="user", target="eve@example.com")
    assert refused.status_code == 403
    assert "responder role" in refused.text
    assert "eve@example.com" in wait_done(client, panic_path)
    assert len(recorded_panics(client)) == 1


@pytest.mark.parametrize("csrf", ["", "forged", "wrong-but-long-enough-0123456789abcdef"])
def test_every_post_needs_the_sessions_csrf_token(client: TestClient, idp: FakeIdP, csrf: str) -> None:
    idp.add_user("u-7", "eve@example.com")
    real = log_in(client, "responder")
    refused = prepare(client, csrf, scope="user", target="eve@example.com")
    assert refused.status_code == 403
    assert "nothing was done" in refused.text
    confirmation = prepare(client, real, scope="user", target="eve@example.com")
    data = {"plan": field(confirmation.text, "plan"), "csrf": csrf, "typed": "eve@example.com"}
    assert client.post("/panic/confirm", data=data, follow_redirects=False).status_code == 403
    assert recorded_panics(client) == []
    assert idp.logouts == {}


def test_posts_without_a_session_go_to_the_login(client: TestClient) -> None:
    for path in ("/panic/prepare", "/panic/confirm"):
        answer = client.post(path, data={"csrf": "x"}, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/panic/login"


# ---- the confirmation and the panic ---------------------------------------------------------------------


def test_a_panic_for_a_user_is_confirmed_recorded_shown_and_logs_the_user_out(client: TestClient, idp: FakeIdP) -> None:
    idp.add_user("u-7", "eve@example.com")
    csrf = log_in(client, "responder")
    confirmation = prepare(client, csrf, scope="user", target="eve@example.com")
    assert confirmation.status_code == 200
    assert "the directory found 1 user: eve@example.com (u-7)" in confirmation.text
    assert recorded_panics(client) == []  # looking up records nothing
    done = confirm(client, confirmation, "eve@example.com")
    assert done.status_code == 303
    panic_id = PANIC_ID.search(done.headers["location"])
    assert panic_id
    first = client.get(done.headers["location"])
    assert "actions finished" in first.text
    html = wait_done(client, done.headers["location"])
    assert 'data-state="done"' in html
    assert idp.logouts == {"u-7": 1}
    row = re.search(
        r"<tr>\s*<td>eve@example.com \(u-7\)</td>\s*<td>end_all_sessions</td>\s*<td[^>]*>(\w+)</td>\s*<td>(\w+)</td>",
        html,
    )
    assert row, html
    assert row.groups() == ("revoked", "yes")
    assert "1 of 1 actions finished" in html
    assert '<meta http-equiv="refresh"' not in html  # done: no more refreshing
    [panic] = recorded_panics(client)
    assert panic["panic_id"] == panic_id.group(1)
    assert panic["actor"] == "page:responder"
    assert panic["reason"] == "HAR in ticket 9"
    assert (panic["scope"], panic["selector"]) == ("user", "eve@example.com")


def test_a_pending_panic_page_refreshes_itself(
    client: TestClient, idp: FakeIdP, service_settings: Callable[..., Settings]
) -> None:
    idp.add_user("u-7", "eve@example.com")
    with TestClient(create_app(service_settings(), run_engine=False)) as idle:  # nobody executes: stays pending
        csrf = log_in(idle, "responder")
        done = confirm(idle, prepare(idle, csrf, scope="user", target="u-7"), "u-7")
        html = idle.get(done.headers["location"]).text
    assert '<meta http-equiv="refresh" content="2">' in html
    assert "0 of 1 actions finished" in html
    assert "pending: 1" in html


@pytest.mark.parametrize("typed", ["eve", "EVE@EXAMPLE.COM", "", "lab", "u-7"])
def test_a_confirmation_mismatch_changes_nothing(client: TestClient, idp: FakeIdP, typed: str) -> None:
    idp.add_user("u-7", "eve@example.com")
    csrf = log_in(client, "responder")
    confirmation = prepare(client, csrf, scope="user", target="eve@example.com")
    answer = confirm(client, confirmation, typed)
    assert answer.status_code == 422
    assert "does not match" in answer.text
    assert "nothing was done" in answer.text
    assert field(answer.text, "plan") == field(confirmation.text, "plan")  # typed again; its 10 minutes stand
    assert recorded_panics(client) == []
    assert idp.logouts == {}


def test_a_group_panic_shows_the_members_found_and_needs_the_group_name(client: TestClient, idp: FakeIdP) -> None:
    idp.add_user("u-1", "ann", groups=("oncall",))
    idp.add_user("u-2", "bob", groups=("oncall",))
    idp.add_user("u-3", "cy")
    csrf = log_in(client, "responder")
    confirmation = prepare(client, csrf, scope="group", target="oncall")
    assert "the directory found 2 users: ann (u-1), bob (u-2)" in confirmation.text
    assert confirm(client, confirmation, "ann").status_code == 422
    done = confirm(client, confirmation, "oncall")
    assert done.status_code == 303
    wait_done(client, done.headers["location"])
    assert idp.logouts == {"u-1": 1, "u-2": 1}


def test_everyone_at_an_instance_needs_the_instance_name(client: TestClient, idp: FakeIdP) -> None:
    for n in range(3):
        idp.add_user(f"u-{n}", f"user{n}")
    csrf = log_in(client, "responder")
    confirmation = prepare(client, csrf, scope="all", target="ignored")
    assert "every active user of lab" in confirmation.text
    assert confirm(client, confirmation, "everyone").status_code == 422
    assert idp.logouts == {}
    done = confirm(client, confirmation, "lab")
    assert done.status_code == 303
    assert "3 of 3 actions finished" in wait_done(client, done.headers["location"])
    assert idp.logouts == {"u-0": 1, "u-1": 1, "u-2": 1}
    [panic] = recorded_panics(client)
    assert (panic["scope"], panic["selector"]) == ("all", "*")


def test_a_double_submit_records_one_panic(client: TestClient, idp: FakeIdP) -> None:
    idp.add_user("u-7", "eve@example.com")
    csrf = log_in(client, "responder")
    confirmation = prepare(client, csrf, scope="user", target="u-7")
    first = confirm(client, confirmation, "u-7")
    second = confirm(client, confirmation, "u-7")
    assert first.headers["location"] == second.headers["location"]
    assert len(recorded_panics(client)) == 1


def test_a_double_submit_to_two_replicas_records_one_panic(
    client: TestClient, idp: FakeIdP, service_settings: Callable[..., Settings]
) -> None:
    """Replicas share the ledger and the page's key (here: the same data directory); a form sent to each
    (a retry through the load balancer) is still one panic: its id is derived from the form."""
    idp.add_user("u-7", "eve@example.com")
    csrf = log_in(client, "responder")
    confirmation = prepare(client, csrf, scope="user", target="u-7")
    first = confirm(client, confirmation, "u-7")
    with TestClient(create_app(service_settings(), run_engine=False)) as replica:
        replica.cookies.set("responder_page", client.cookies["responder_page"], path="/panic")
        second = confirm(replica, confirmation, "u-7")
    assert first.headers["location"] == second.headers["location"]
    assert len(recorded_panics(client)) == 1


def test_a_tampered_confirmation_is_refused(client: TestClient, idp: FakeIdP) -> None:
    idp.add_user("u-7", "eve@example.com")
    csrf = log_in(client, "responder")
    confirmation = prepare(client, csrf, scope="user", target="u-7")
    plan = field(confirmation.text, "plan")
    forged = plan[:-3] + ("AAA" if not plan.endswith("AAA") else "BBB")
    answer = client.post("/panic/confirm", data={"plan": forged, "csrf": csrf, "typed": "u-7"}, follow_redirects=False)
    assert answer.status_code == 400
    assert "expired" in answer.text
    assert recorded_panics(client) == []


# ---- errors are shown on the page -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"scope": "user", "target": "ghost"}, 404, "no user &#39;ghost&#39;"),
        ({"scope": "group", "target": "nobody"}, 404, "no group named &#39;nobody&#39;"),
        ({"scope": "user", "target": "u-7", "provider": "nope"}, 404, "No provider instance named &#39;nope&#39;"),
        ({"scope": "user", "target": "u-7", "reason": " "}, 422, "A reason is required"),
        ({"scope": "user", "target": ""}, 422, "Name the user"),
        ({"scope": "group", "target": "x" * 301}, 422, "at most 300 characters"),
        ({"scope": "everything"}, 422, "Choose one of the three buttons"),
        ({"scope": "user", "target": "<script>alert(1)</script>"}, 404, "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ],
)
def test_mistakes_are_shown_on_the_page_and_change_nothing(
    client: TestClient, idp: FakeIdP, form: dict[str, str], status: int, message: str
) -> None:
    idp.add_user("u-7", "eve@example.com")
    csrf = log_in(client, "responder")
    answer = prepare(client, csrf, **form)
    assert answer.status_code == status
    assert message in answer.text
    assert 'role="alert"' in answer.text
    assert "Traceback" not in answer.text
    assert "<script>" not in answer.text
    assert recorded_panics(client) == []


def test_a_directory_refusal_is_shown(client: TestClient, idp: FakeIdP) -> None:
    idp.add_user("u-1", "ann", groups=("oncall",))
    csrf = log_in(client, "responder")
    idp.fail_next(1, 403, method="GET")
    answer = prepare(client, csrf, scope="group", target="oncall")
    assert answer.status_code == 404
    assert "lab: list group members: HTTP 403" in answer.text
    assert "nothing was recorded" in answer.text


def test_an_unreachable_directory_is_shown(service_settings: Callable[..., Settings]) -> None:
    dead = lab_provider("http://127.0.0.1:9")  # discard port: nothing listens
    with TestClient(create_app(service_settings(providers=[dead]), run_engine=False)) as client:
        csrf = log_in(client, "responder")
        answer = prepare(client, csrf, scope="user", target="eve")
    assert answer.status_code == 502
    assert "the directory could not be reached (ConnectError)" in answer.text


class NoDirectory:
    """A provider plugin that offers no directory: it cannot list a group or everyone."""

    plugin = "bare"

    def close(self) -> None:
        return None


def test_everyone_needs_a_plugin_that_can_list_users(client: TestClient) -> None:
    client.app.state.responder.responder.providers["bare"] = NoDirectory()  # type: ignore[attr-defined]
    csrf = log_in(client, "responder")
    answer = prepare(client, csrf, scope="all", provider="bare")
    assert answer.status_code == 422
    assert "bare: this plugin cannot list users" in answer.text
    assert recorded_panics(client) == []


def test_an_unknown_panic_is_a_page_not_a_traceback(client: TestClient) -> None:
    log_in(client, "auditor")
    for path in ("/panic/00000000-0000-0000-0000-000000000000", "/panic/not-a-uuid"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert "No such panic" in answer.text


# ---- headers --------------------------------------------------------------------------------------------


def test_every_page_response_carries_the_security_headers(client: TestClient, idp: FakeIdP) -> None:
    idp.add_user("u-7", "eve@example.com")
    seen = [client.get("/panic", follow_redirects=False), client.get("/panic/login")]
    csrf = log_in(client, "responder")
    confirmation = prepare(client, csrf, scope="user", target="u-7")
    done = confirm(client, confirmation, "u-7")
    seen += [client.get("/panic"), confirmation, done, client.get(done.headers["location"]), prepare(client, "x")]
    for answer in seen:
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["cache-control"] == "no-store"
        policy = answer.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
    css = client.get("/panic/assets/page.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
