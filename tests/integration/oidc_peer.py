"""The npm oidc-provider test peer, started once per module, and a real login through its dev interaction
pages with httpx (authorization code + PKCE for the public client `demo-spa`, with a refresh token)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from tests.conftest import ROOT, require_peer

REDIRECT_PATH = "/callback"
_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*method="post"', re.IGNORECASE)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', re.IGNORECASE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def recorder() -> ModuleType:
    """examples/record_login.py, which owns starting and stopping the OP peer."""
    spec = importlib.util.spec_from_file_location("record_login", ROOT / "examples" / "record_login.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class RunningOP:
    issuer: str
    op_port: int
    rp_port: int


@pytest.fixture(scope="module")
def oidc_provider() -> Iterator[RunningOP]:
    require_peer(shutil.which("node") is not None and shutil.which("npm") is not None, "node/npm not installed")
    require_peer(importlib.util.find_spec("playwright") is not None, "playwright (pip) is not installed")
    record_login = recorder()
    op_port, rp_port = free_port(), free_port()
    process = record_login.start_op(op_port, rp_port)
    try:
        yield RunningOP(f"http://127.0.0.1:{op_port}", op_port, rp_port)
    finally:
        record_login.stop(process)


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    id_token: str
    op_cookies: dict[str, str]  # the OP's session cookies in the browser after the login (name → value)


def login(op: RunningOP, user: str, password: str = "any-password") -> Tokens:  # noqa: S107 - dev pages
    """Log in as `user` through the OP's own login and consent pages, as a browser would, then redeem the
    code at the token endpoint with the PKCE verifier."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect_uri = f"http://127.0.0.1:{op.rp_port}{REDIRECT_PATH}"
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        response = browser.get(
            f"{op.issuer}/auth",
            params={
                "client_id": "demo-spa",
                "response_type": "code",
                "redirect_uri": redirect_uri,
                "scope": "openid email profile offline_access",
                "prompt": "consent",
                "state": secrets.token_urlsafe(16),
                "nonce": secrets.token_urlsafe(16),
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        answers = {"login": {"login": user, "password": password}, "consent": {}}
        for _ in range(10):
            location = response.headers.get("location", "")
            if location.startswith(redirect_uri):
                break
            assert response.status_code in (302, 303), response.text[:500]
            page = browser.get(urljoin(str(response.url), location))
            if page.status_code in (302, 303):
                response = page
                continue
            action = _FORM.search(page.text)
            assert action, page.text[:500]
            fields = dict(_HIDDEN.findall(page.text))
            response = browser.post(action.group(1), data={**fields, **answers[fields.get("prompt", "consent")]})
        code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
        tokens = browser.post(
            f"{op.issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": "demo-spa",
                "code_verifier": verifier,
            },
        ).json()
        op_cookies = {
            cookie.name: cookie.value or "" for cookie in browser.cookies.jar if cookie.name.startswith("_session")
        }
    return Tokens(tokens["access_token"], tokens["refresh_token"], tokens["id_token"], op_cookies)


def session_alive(op: RunningOP, cookies: dict[str, str]) -> bool:
    """Does the OP still know this browser session? A silent authorization request (prompt=none) answers
    `login_required` when there is no session, anything else (a code, consent_required) when there is."""
    challenge = base64.urlsafe_b64encode(hashlib.sha256(b"x" * 43).digest()).rstrip(b"=").decode()
    redirect_uri = f"http://127.0.0.1:{op.rp_port}{REDIRECT_PATH}"
    with httpx.Client(follow_redirects=False, timeout=10, cookies=cookies) as browser:
        response = browser.get(
            f"{op.issuer}/auth",
            params={
                "client_id": "demo-spa", "response_type": "code", "redirect_uri": redirect_uri, "scope": "openid",
                "prompt": "none", "code_challenge": challenge, "code_challenge_method": "S256",
            },
        )  # fmt: skip
    location = response.headers.get("location", "")
    assert location.startswith(redirect_uri), (response.status_code, location)
    return "error=login_required" not in location


def introspect(op: RunningOP, token: str) -> dict[str, object]:
    response = httpx.post(
        f"{op.issuer}/token/introspection", data={"token": token}, auth=("responder", "responder-secret"), timeout=10
    )
    response.raise_for_status()
    body: dict[str, object] = response.json()
    return body
