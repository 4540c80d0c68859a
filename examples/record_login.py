"""Record a real OpenID Connect login in Chromium as a HAR file.

Starts the local OpenID Provider test peer (tests/peers/oidc-provider), a tiny
relying-party web app (a browser "SPA" using the public client `demo-spa`),
then drives Chromium through Playwright the way a person would: open the app,
click "Log in", type a login name and password, confirm consent, come back to
/callback, where the page's JavaScript exchanges the code for tokens, calls
userinfo, trades the refresh token for a JWT access token and calls a demo
API with it, then log out again. The browser's traffic is saved to
examples/oidc-login.har.

Everything runs on 127.0.0.1; every credential in the capture comes from a
throwaway local test OP and is worthless elsewhere.

Needs: node + npm, Chromium at /usr/bin/chromium, `pip install playwright`
(the Python package only; no downloaded browser).

    python examples/record_login.py [--op-port 3000] [--rp-port 3001] [--out FILE] [--reuse-op]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
PEER_DIR = ROOT / "tests" / "peers" / "oidc-provider"
DEFAULT_OUT = ROOT / "examples" / "oidc-login.har"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Belt and braces: no host but 127.0.0.1 resolves, so nothing can leave.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]

CLIENT_ID = "demo-spa"
# api:read is the API resource's scope; it ends up only in the JWT access token
SCOPE = "openid profile email offline_access api:read"
API_RESOURCE = "urn:responder:api"  # JWT access tokens (see server.mjs)
LOGIN = "alice@example.com"
PASSWORD = "wonderland-test-password"  # noqa: S105 -- the dev login page accepts anything


def start_op(op_port: int, rp_port: int, timeout: float = 30.0) -> subprocess.Popen[str]:
    """Start the OP peer and wait for its `READY <issuer>` line."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise RuntimeError("node and npm are needed to run the OpenID Provider peer")
    if not (PEER_DIR / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True)  # noqa: S603
    env = {**os.environ, "OP_PORT": str(op_port), "RP_PORT": str(rp_port)}
    proc = subprocess.Popen(  # noqa: S603 -- fixed argv
        [node, "server.mjs"],
        cwd=PEER_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    stderr_lines: list[str] = []

    def pump_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def pump_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            stderr_lines.append(line)

    threading.Thread(target=pump_stdout, daemon=True).start()
    threading.Thread(target=pump_stderr, daemon=True).start()

    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is not None and line.startswith("READY "):
            return proc
        if line is None:  # EOF (the OP died) or timeout
            stop(proc)
            raise RuntimeError("OpenID Provider did not start:\n" + "".join(stderr_lines))


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


INDEX_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Demo SPA</title></head>
<body>
<h1>Demo SPA</h1>
<p><a id="login" href="#">Log in</a></p>
<script>
// Authorization code + PKCE, all in the browser: the verifier and state stay
// in sessionStorage until /callback.
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
const random = () => b64url(crypto.getRandomValues(new Uint8Array(32)));
(async () => {
  const verifier = random(), state = random(), nonce = random();
  sessionStorage.setItem('code_verifier', verifier);
  sessionStorage.setItem('state', state);
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const url = new URL(CONFIG.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: CONFIG.client_id, response_type: 'code', redirect_uri: CONFIG.redirect_uri,
    scope: CONFIG.scope, prompt: 'consent', resource: CONFIG.api_resource,
    state, nonce, code_challenge: challenge, code_challenge_method: 'S256',
  });
  document.getElementById('login').href = url;
  document.body.dataset.ready = '1';
})();
</script>
</body></html>
"""

CALLBACK_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Demo SPA: callback</title></head>
<body>
<h1>Signing in&hellip;</h1>
<pre id="out"></pre>
<p><a id="logout" href="#" hidden>Log out</a></p>
<script>
const out = (line) => { document.getElementById('out').textContent += line + '\\n'; };
const form = (params) => ({ method: 'POST', body: new URLSearchParams(params) });
async function json(response) {
  const body = await response.json();
  if (!response.ok) throw new Error(response.url + ': ' + JSON.stringify(body));
  return body;
}
(async () => {
  const params = new URLSearchParams(location.search);
  if (params.get('error')) throw new Error(params.get('error') + ': ' + params.get('error_description'));
  if (params.get('state') !== sessionStorage.getItem('state')) throw new Error('state mismatch');

  // 1. code -> tokens (public client: no secret, the PKCE verifier instead)
  const tokens = await json(await fetch(CONFIG.token_endpoint, form({
    grant_type: 'authorization_code', code: params.get('code'), redirect_uri: CONFIG.redirect_uri,
    client_id: CONFIG.client_id, code_verifier: sessionStorage.getItem('code_verifier'),
  })));
  out('token response: ' + Object.keys(tokens).join(', '));

  // 2. userinfo with the (opaque) access token
  const claims = await json(await fetch(CONFIG.userinfo_endpoint, {
    headers: { Authorization: 'Bearer ' + tokens.access_token },
  }));
  out('signed in as ' + claims.email);

  // 3. refresh token -> JWT access token for the API resource
  const apiTokens = await json(await fetch(CONFIG.token_endpoint, form({
    grant_type: 'refresh_token', refresh_token: tokens.refresh_token,
    client_id: CONFIG.client_id, resource: CONFIG.api_resource,
  })));
  out('API token response: ' + Object.keys(apiTokens).join(', '));

  // 4. call the (demo) API with it
  const api = await json(await fetch('/api/profile', {
    headers: { Authorization: 'Bearer ' + apiTokens.access_token },
  }));
  out('API says: ' + JSON.stringify(api));

  const logout = new URL(CONFIG.end_session_endpoint);
  logout.search = new URLSearchParams({
    id_token_hint: apiTokens.id_token || tokens.id_token, client_id: CONFIG.client_id,
    post_logout_redirect_uri: CONFIG.post_logout_redirect_uri,
  });
  const link = document.getElementById('logout');
  link.href = logout;
  link.hidden = false;
  document.body.dataset.done = 'ok';
})().catch((err) => { out('ERROR ' + err.message); document.body.dataset.done = 'error'; });
</script>
</body></html>
"""


def make_rp(rp_port: int, discovery: dict[str, Any]) -> ThreadingHTTPServer:
    origin = f"http://127.0.0.1:{rp_port}"
    config = {
        "client_id": CLIENT_ID,
        "scope": SCOPE,
        "api_resource": API_RESOURCE,
        "redirect_uri": f"{origin}/callback",
        "post_logout_redirect_uri": f"{origin}/",
        **{
            k: discovery[k]
            for k in (
                "authorization_endpoint",
                "token_endpoint",
                "userinfo_endpoint",
                "end_session_endpoint",
            )
        },
    }
    script = f"<script>const CONFIG = {json.dumps(config)};</script>\n"
    pages = {
        "/": INDEX_HTML.replace("<script>", script + "<script>", 1),
        "/callback": CALLBACK_HTML.replace("<script>", script + "<script>", 1),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in pages:
                self.reply(200, "text/html; charset=utf-8", pages[path].encode())
            elif path == "/api/profile":
                # A stand-in API: it does not validate the token, it only
                # makes the browser send one.
                has_bearer = self.headers.get("Authorization", "").startswith("Bearer ")
                body = json.dumps({"ok": has_bearer, "api": "demo"}).encode()
                self.reply(200 if has_bearer else 401, "application/json", body)
            else:
                self.reply(404, "text/plain", b"not found\n")

        def reply(self, status: int, ctype: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return ThreadingHTTPServer(("127.0.0.1", rp_port), Handler)


def record(op_port: int, rp_port: int, out: Path, reuse_op: bool = False) -> None:
    issuer = f"http://127.0.0.1:{op_port}"
    rp = f"http://127.0.0.1:{rp_port}"
    op = None if reuse_op else start_op(op_port, rp_port)
    server = None
    try:
        discovery_url = f"{issuer}/.well-known/openid-configuration"
        with urllib.request.urlopen(discovery_url) as r:  # noqa: S310 -- a fixed http:// URL
            discovery = json.load(r)
        server = make_rp(rp_port, discovery)
        threading.Thread(target=server.serve_forever, daemon=True).start()

        out.parent.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(record_har_path=str(out), record_har_content="embed")
                page = context.new_page()
                page.set_default_timeout(20_000)

                page.goto(f"{rp}/")
                page.wait_for_selector("body[data-ready]", state="attached")
                page.click("text=Log in")

                # the OP's dev login page: any login name, any password
                page.wait_for_selector('input[name="login"]')
                page.fill('input[name="login"]', LOGIN)
                page.fill('input[name="password"]', PASSWORD)
                page.click("button[type=submit]")

                # consent page
                page.wait_for_selector('input[name="prompt"][value="consent"]', state="attached")
                page.click("button[type=submit]")

                page.wait_for_url(f"{rp}/callback?**")
                page.wait_for_selector("body[data-done]", state="attached")
                result = page.get_attribute("body", "data-done")
                print(page.inner_text("#out").strip())
                if result != "ok":
                    raise RuntimeError("login flow failed in the browser")

                # RP-initiated logout, confirmed on the OP's page
                page.click("#logout")
                page.click('button[name="logout"][value="yes"]')
                page.wait_for_url(f"{rp}/")
                page.wait_for_selector("body[data-ready]", state="attached")

                context.close()  # writes the HAR
            finally:
                browser.close()
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        if op is not None:
            stop(op)

    entries = json.loads(out.read_text())["log"]["entries"]
    foreign = {e["request"]["url"] for e in entries if not e["request"]["url"].startswith("http://127.0.0.1:")}
    if foreign:
        raise RuntimeError(f"capture has non-local requests: {sorted(foreign)}")
    print(f"wrote {out} ({len(entries)} requests)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--op-port", type=int, default=int(os.environ.get("OP_PORT", 3000)))
    parser.add_argument("--rp-port", type=int, default=int(os.environ.get("RP_PORT", 3001)))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--reuse-op",
        action="store_true",
        help="an OP peer already listens on --op-port (started with the same --rp-port); leave it running, "
        "so the recorded tokens stay live",
    )
    args = parser.parse_args()
    record(args.op_port, args.rp_port, args.out, args.reuse_op)
    return 0


if __name__ == "__main__":
    sys.exit(main())
