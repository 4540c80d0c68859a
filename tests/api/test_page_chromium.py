"""The panic page in real headless Chromium against the real service (uvicorn on 127.0.0.1, a FakeIdP behind
it): log in, press panic for a user, type the confirmation, watch the outcome rows appear; and a screenshot."""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from responder.api import create_app
from responder.settings import Settings
from responder.testing import FakeIdP
from tests.api.conftest import KEYS
from tests.conftest import require_peer

CHROMIUM = Path("/usr/bin/chromium")
WAIT_MS = 30_000  # generous: a loaded 2-core CI machine
PANIC_RED = (0xB3, 0x26, 0x1E)  # button.panic in page.css: seen only if the stylesheet passed the CSP


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_peer(CHROMIUM.is_file(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


class Served:
    """The app under uvicorn in a thread, on a port the OS chose."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def __enter__(self) -> Served:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert self._thread.is_alive(), "uvicorn stopped while starting"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(60)
        self._socket.close()


@pytest.fixture
def served(service_settings: Callable[..., Settings]) -> Iterator[Served]:
    """The engine starts only when a test says so: the page must show pending work first, then refresh."""
    with Served(create_app(service_settings(), run_engine=False)) as running:
        yield running


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(viewport={"width": 1000, "height": 760})
    yield opened
    opened.close()


def open_page(context: BrowserContext) -> tuple[Page, list[str]]:
    """A tab, and the console errors it reports (a CSP violation is one)."""
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return page, errors


def log_in(page: Page, base: str, role: str = "responder") -> None:
    page.goto(f"{base}/panic")
    expect(page).to_have_url(f"{base}/panic/login")
    page.get_by_label("API key").fill(KEYS[role])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/panic")


def test_an_operator_ends_a_users_sessions_and_watches_the_outcome(
    served: Served, idp: FakeIdP, context: BrowserContext
) -> None:
    idp.add_user("u-7", "eve@example.com")
    page, errors = open_page(context)
    log_in(page, served.url)
    [cookie] = context.cookies()
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/panic")
    assert KEYS["responder"] not in cookie["value"]

    form = page.locator("#panic-user")
    form.get_by_label("User (id, login or email)").fill("eve@example.com")
    form.get_by_label("Reason").fill("HAR attached to ticket 9")
    form.get_by_role("button", name="End this user's sessions…").click()
    expect(page.locator("#found")).to_contain_text("the directory found 1 user: eve@example.com (u-7)")

    page.locator("#typed").fill("eve")
    page.get_by_role("button", name=re.compile("End the sessions of 1 user now")).click()
    expect(page.locator("#error")).to_contain_text("does not match")
    assert idp.logouts == {}

    page.locator("#typed").fill("eve@example.com")
    page.get_by_role("button", name=re.compile("End the sessions of 1 user now")).click()
    expect(page).to_have_url(re.compile(r"/panic/[0-9a-f-]{36}$"))
    progress = page.locator("#progress")
    expect(progress).to_have_attribute("data-state", "acting")  # recorded; nothing executes it yet
    expect(page.locator("#outcomes tbody tr td").nth(2)).to_have_text("pending")

    served.app.state.responder.start_engine()  # the page, refreshing itself, must show the outcome
    expect(progress).to_have_attribute("data-state", "done", timeout=WAIT_MS)
    cells = page.locator("#outcomes tbody tr").first.locator("td")
    expect(cells).to_have_text(["eve@example.com (u-7)", "end_all_sessions", "revoked", "yes", "1", re.compile(".*")])
    expect(progress).to_contain_text("1 of 1 actions finished")
    assert idp.logouts == {"u-7": 1}
    assert not [e for e in errors if "Content Security Policy" in e], errors

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{served.url}/panic/login")
    page.goto(f"{served.url}/panic")
    expect(page).to_have_url(f"{served.url}/panic/login")


def test_an_auditor_sees_no_panic_buttons(served: Served, context: BrowserContext) -> None:
    page, _ = open_page(context)
    log_in(page, served.url, role="auditor")
    expect(page.get_by_text("you can follow panics below, not start one")).to_be_visible()
    expect(page.locator("button.panic")).to_have_count(0)


def test_the_page_renders_styled(served: Served, context: BrowserContext, tmp_path: Path) -> None:
    page, errors = open_page(context)
    log_in(page, served.url)
    expect(page.locator("button.panic")).to_have_count(3)
    shot = tmp_path / "panic-page.png"
    page.screenshot(path=str(shot))
    width, height, colours = png_colours(shot.read_bytes())
    assert (width, height) == (1000, 760)
    assert shot.stat().st_size > 10_000
    assert len(colours) > 50  # text, cards, buttons: not a blank or one-colour page
    assert PANIC_RED in colours
    assert not [e for e in errors if "Content Security Policy" in e], errors


def png_colours(data: bytes) -> tuple[int, int, set[tuple[int, ...]]]:
    """Width, height and the set of RGB colours of an 8-bit, non-interlaced RGB(A) PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    header, compressed, at = b"", bytearray(), 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        body = data[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            compressed += body
        at += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0), (depth, interlace)
    assert colour_type in (2, 6), colour_type
    step = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(bytes(compressed)), width * step
    previous, colours = bytearray(stride), set()
    for row in range(height):
        start = row * (stride + 1)
        line = _unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, step)
        colours.update(tuple(line[i : i + 3]) for i in range(0, stride, step))
        previous = line
    return width, height, colours


def _unfilter(kind: int, line: bytearray, above: bytearray, step: int) -> bytearray:
    """PNG filter types 0-4 (None, Sub, Up, Average, Paeth), undone in place."""
    for i in range(len(line)):
        left = line[i - step] if i >= step else 0
        up = above[i]
        corner = above[i - step] if i >= step else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            guess = left + up - corner
            nearest = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner))
            line[i] = (line[i] + nearest[2]) & 0xFF
    return line
