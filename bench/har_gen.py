"""Streaming generator of realistic synthetic HAR files for the scan benchmark.

Output mimics a Chrome DevTools "Save all as HAR" export: HTTP/2 pseudo-headers,
analytics and CSRF cookies, JSON/HTML/JS/CSS bodies, base64 images and fonts,
timings and the `_initiator`/`_priority`/`_resourceType` vendor fields. Every
`plant_every`-th entry carries a fake credential, recorded in `GeneratedHar.planted`
as ground truth. Everything else is noise chosen to look like things a good
scanner must NOT report (UUIDs, request ids, asset hashes, OAuth state/nonce).

Entries are serialised and written one at a time, so memory stays flat for any
target size. All randomness comes from `random.Random(seed)`: same seed, same bytes.

Every planted entry holds one credential site; the OAuth token-endpoint response is
the exception, holding access, refresh and id token (three `PlantedSecret`s).

CLI: python bench/har_gen.py OUT.har --size 100MB [--seed N] [--plant-every N]
     [--indent 2] [--manifest planted.json]   (prints a one-line JSON summary)
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import string
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

Json = dict[str, Any]

KINDS = (
    "session_cookie",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "basic_credentials",
    "password",
)

_ALNUM = string.ascii_letters + string.digits
_START_EPOCH = 1_715_677_200.0  # 2024-05-14T09:00:00Z; fixed so output is reproducible
_ENTRY_OVERHEAD = 3_000  # approx. serialised size of an entry without its body
_MIN_ENTRY = 4_000  # stop once less than this is left of the byte budget
_WRITE_BUFFER = 1 << 20
_POOL_SIZE = 256  # random text fragments per kind and file

_APP = "app.example.com"
_API = "api.example.com"
_LEGACY = "legacy-api.example.com"  # HTTP/1.1 host, so some headers are Title-Case
_CDN = "cdn.example.net"
_IDP = "idp.example.com"
_SSO = "sso.example.com"
_MAPS = "maps.example.net"
_GA = "www.google-analytics.com"
_FONTS = "fonts.gstatic.com"
_HTTP1_HOSTS = frozenset({_LEGACY, _MAPS})

# fmt: off
_WORDS = (
    "account", "active", "alpha", "amber", "archive", "audit", "badge", "banner", "billing",
    "board", "border", "bucket", "button", "cache", "canvas", "card", "catalog", "channel", "chart",
    "cluster", "column", "comment", "config", "content", "cursor", "dashboard", "delta", "detail",
    "device", "digest", "draft", "editor", "event", "export", "feature", "filter", "folder",
    "footer", "gallery", "gateway", "graph", "group", "header", "history", "import", "index",
    "invoice", "label", "layout", "ledger", "list", "market", "media", "member", "metric", "module",
    "notice", "order", "panel", "partner", "pending", "policy", "portal", "preview", "profile",
    "project", "query", "queue", "record", "region", "report", "review", "route", "sample",
    "schedule", "search", "section", "segment", "series", "setting", "signal", "status", "stream",
    "summary", "table", "target", "team", "theme", "ticket", "timeline", "toggle", "upload",
    "vendor", "version", "widget", "window", "workflow", "zone",
)
# fmt: on
_USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan")
_STATUSES = ("active", "pending", "archived", "draft", "failed", "complete")
_POPS = ("FRA56-P3", "AMS1-C1", "LHR61-P2", "CDG52-P1", "IAD89-C3")
_BINARY_MAGIC = {
    "image/png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01",
    "image/webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    "image/gif": b"GIF89a",
    "font/woff2": b"wOF2\x00\x01\x00\x00",
}
_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
_SEC_CH_UA = '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"'


@dataclass(frozen=True)
class PlantedSecret:
    kind: str  # one of KINDS
    name: str  # cookie/header/param/JSON-key name, spelled as in the file
    location: str  # e.g. "request.cookie", "response.base64_body"
    value: str  # literal credential (for Basic: the base64 user:pass blob)
    entry_index: int  # index into log.entries


@dataclass(frozen=True)
class GeneratedHar:
    path: Path
    bytes_written: int
    entries: int
    planted: tuple[PlantedSecret, ...]


class _Body(NamedTuple):
    mime: str
    text: str | None
    size: int  # decoded size, as Chrome reports in content.size
    encoding: str | None = None


class _Secret(NamedTuple):
    kind: str
    name: str
    location: str
    value: str


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _iso(epoch: float) -> str:
    stamp = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _title_case(header: str) -> str:
    return "-".join(part.capitalize() for part in header.split("-"))


def _nv(pairs: Sequence[tuple[str, str]]) -> list[Json]:
    return [{"name": n, "value": v} for n, v in pairs]


class _HarFaker:
    """Builds entry dicts; holds the per-file "browser" state (cookies, clock)."""

    def __init__(self, rng: random.Random, n_pages: int) -> None:
        self.rng = rng
        self._pools: dict[str, tuple[list[str], int]] = {}
        self.clock = _START_EPOCH
        self.pages = [f"/{w}" for w in rng.sample(_WORDS, n_pages)]
        self.ips = {h: self._ip() for h in (_APP, _API, _LEGACY, _CDN, _IDP, _SSO, _MAPS, _GA, _FONTS)}
        self.client_id = self.alnum(40)
        self.ga_cid = f"{self.num(10**9, 2 * 10**9)}.{int(_START_EPOCH) - self.num(0, 10**7)}"
        self.jars = self._cookie_jars()
        self.kid = self.hex(32)

    # --- random primitives ---------------------------------------------------

    def hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def alnum(self, n: int) -> str:
        return "".join(self.rng.choices(_ALNUM, k=n))

    def uuid4(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def num(self, lo: int, hi: int) -> int:
        # Inclusive like randint(), but a single C call: randint dominated profiles.
        return lo + int(self.rng.random() * (hi - lo + 1))

    def words(self, n: int, sep: str = " ") -> str:
        return sep.join(self.rng.choices(_WORDS, k=n))

    def _ip(self) -> str:
        return ".".join(str(self.num(1, 254)) for _ in range(4))

    def jwt(self, header: Json, claims: Json, sig_bytes: int) -> str:
        # Fake: the signature is random bytes, never a real MAC/RSA signature.
        sig = _b64url(self.rng.randbytes(sig_bytes))
        return f"{_b64url(_compact(header).encode())}.{_b64url(_compact(claims).encode())}.{sig}"

    # --- per-file state -------------------------------------------------------

    def _cookie_jars(self) -> dict[str, list[Json]]:
        expires = _iso(_START_EPOCH + 400 * 86_400)
        analytics = [
            ("_ga", f"GA1.1.{self.ga_cid}"),
            ("_gid", f"GA1.2.{self.num(10**8, 10**9)}.{int(_START_EPOCH)}"),
            (
                "_ga_" + self.alnum(10).upper(),
                f"GS1.1.{int(_START_EPOCH)}.3.1.{int(_START_EPOCH) + 60}.0.0.0",
            ),
        ]
        app = [*analytics, ("csrftoken", self.alnum(32))]
        idp = [*analytics, ("authentik_csrf", self.alnum(32))]

        def jar(pairs: list[tuple[str, str]]) -> list[Json]:
            return [
                {
                    "name": n,
                    "value": v,
                    "path": "/",
                    "domain": ".example.com",
                    "expires": expires,
                    "httpOnly": n.endswith("csrf"),
                    "secure": True,
                }
                for n, v in pairs
            ]

        return {_APP: jar(app), _API: jar(app), _LEGACY: jar(app), _IDP: jar(idp), _SSO: jar(analytics)}

    def tick(self) -> float:
        self.clock += self.rng.uniform(0.002, 0.6)
        return self.clock

    def page(self, index: int) -> tuple[str, str]:
        slot = (index // 100) % len(self.pages)  # ~100 entries per page
        return f"page_{slot + 1}", f"https://{_APP}{self.pages[slot]}"

    def preamble_pages(self) -> list[Json]:
        return [
            {
                "startedDateTime": _iso(_START_EPOCH + i * 60),
                "id": f"page_{i + 1}",
                "title": f"https://{_APP}{path}",
                "pageTimings": {
                    "onContentLoad": round(self.rng.uniform(300, 1500), 3),
                    "onLoad": round(self.rng.uniform(1500, 4000), 3),
                },
            }
            for i, path in enumerate(self.pages)
        ]

    # --- request / response / entry -------------------------------------------

    def request(
        self,
        method: str,
        host: str,
        path: str,
        params: Sequence[tuple[str, str]] = (),
        *,
        dest: str,
        referer: str,
        extra_headers: Sequence[tuple[str, str]] = (),
        extra_cookies: Sequence[Json] = (),
        post: Json | None = None,
    ) -> Json:
        h2 = host not in _HTTP1_HOSTS
        query = [(n, quote(v, safe="")) for n, v in params]
        full_path = path + ("?" + "&".join(f"{n}={v}" for n, v in query) if query else "")
        cookies = [*self.jars.get(host, ()), *extra_cookies]
        headers = [(":authority", host), (":method", method), (":path", full_path), (":scheme", "https")] if h2 else []
        headers += self._browser_headers(dest, referer, host)
        if cookies:
            headers.append(("cookie", "; ".join(f"{c['name']}={c['value']}" for c in cookies)))
        if post is not None:
            headers += [("content-type", post["mimeType"]), ("content-length", str(len(post["text"])))]
        headers += extra_headers
        if not h2:
            headers = [(_title_case(n), v) for n, v in headers]
        request: Json = {
            "method": method,
            "url": f"https://{host}{full_path}",
            "httpVersion": "http/2.0" if h2 else "HTTP/1.1",
            "headers": _nv(headers),
            "queryString": _nv(query),
            "cookies": cookies,
            "headersSize": -1,
            "bodySize": len(post["text"]) if post else 0,
        }
        if post is not None:
            request["postData"] = post
        return request

    def _browser_headers(self, dest: str, referer: str, host: str) -> list[tuple[str, str]]:
        accept = {
            "document": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "image": "image/avif,image/webp,image/apng,image/*,*/*;q=0.8",
            "script": "*/*",
            "style": "text/css,*/*;q=0.1",
            "font": "*/*",
        }
        headers = [
            ("accept", accept.get(dest, "application/json, text/plain, */*")),
            ("accept-encoding", "gzip, deflate, br, zstd"),
            ("accept-language", "en-US,en;q=0.9,de;q=0.8"),
            ("referer", referer),
            ("sec-ch-ua", _SEC_CH_UA),
            ("sec-ch-ua-mobile", "?0"),
            ("sec-ch-ua-platform", '"Windows"'),
            ("sec-fetch-dest", dest),
            ("sec-fetch-mode", {"document": "navigate", "empty": "cors"}.get(dest, "no-cors")),
            ("sec-fetch-site", "same-origin" if host == _APP else "same-site"),
            ("user-agent", _USER_AGENT),
        ]
        if dest == "empty":  # XHR/fetch: app adds tracing ids
            headers += [
                ("origin", f"https://{_APP}"),
                ("x-request-id", self.uuid4()),
                ("traceparent", f"00-{self.hex(32)}-{self.hex(16)}-01"),
            ]
        return headers

    def response(
        self,
        status: int,
        body: _Body,
        *,
        host: str,
        extra_headers: Sequence[tuple[str, str]] = (),
        cookies: Sequence[Json] = (),
    ) -> Json:
        h2 = host not in _HTTP1_HOSTS
        headers = [
            ("content-type", body.mime),
            ("content-length", str(body.size)),
            ("date", datetime.fromtimestamp(self.clock, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")),
            ("server", "cloudflare" if host == _FONTS else "nginx"),
            ("strict-transport-security", "max-age=31536000; includeSubDomains"),
            ("x-content-type-options", "nosniff"),
            ("vary", "Accept-Encoding, Origin"),
        ]
        headers += self._cache_headers(host)
        headers += extra_headers
        if not h2:
            headers = [(_title_case(n), v) for n, v in headers]
        content: Json = {"size": body.size, "mimeType": body.mime, "compression": 0}
        if body.text is not None:
            content["text"] = body.text
        if body.encoding:
            content["encoding"] = body.encoding
        return {
            "status": status,
            "statusText": _STATUS_TEXT.get(status, ""),
            "httpVersion": "http/2.0" if h2 else "HTTP/1.1",
            "headers": _nv(headers),
            "cookies": list(cookies),
            "content": content,
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
            "_transferSize": body.size + self.num(200, 900),
            "_error": None,
        }

    def _cache_headers(self, host: str) -> list[tuple[str, str]]:
        if host in (_CDN, _FONTS):  # CloudFront-style ids are high-entropy noise
            cf_id = base64.b64encode(self.rng.randbytes(42)).decode()
            return [
                ("cache-control", "public, max-age=31536000, immutable"),
                ("etag", f'"{self.hex(32)}"'),
                ("x-cache", "Hit from cloudfront"),
                ("x-amz-cf-pop", self.rng.choice(_POPS)),
                ("x-amz-cf-id", cf_id),
                ("via", f"1.1 {self.hex(32)}.cloudfront.net (CloudFront)"),
                ("age", str(self.num(1, 90_000))),
            ]
        return [
            ("cache-control", "no-store, private"),
            ("x-request-id", self.uuid4()),
            ("x-amz-request-id", self.alnum(16).upper()),
            ("access-control-allow-origin", f"https://{_APP}"),
        ]

    def entry(self, index: int, request: Json, response: Json, *, resource_type: str, initiator: Json) -> Json:
        pageref, _ = self.page(index)
        timings = self._timings()
        return {
            "_initiator": initiator,
            "_priority": _PRIORITY.get(resource_type, "High"),
            "_resourceType": resource_type,
            "cache": {},
            "connection": str(self.num(1000, 999_999)),
            "pageref": pageref,
            "request": request,
            "response": response,
            "serverIPAddress": self.ips.get(request["url"].split("/")[2], "127.0.0.1"),
            "startedDateTime": _iso(self.tick()),
            "time": round(sum(v for k, v in timings.items() if v > 0 and not k.startswith("_")), 3),
            "timings": timings,
        }

    def _timings(self) -> Json:
        r = self.rng
        fresh = r.random() < 0.1  # most requests reuse an open connection
        connect = round(r.uniform(10, 80), 3) if fresh else -1
        return {
            "blocked": round(r.uniform(0.5, 20), 3),
            "dns": round(r.uniform(1, 30), 3) if fresh else -1,
            "ssl": round(connect * 0.6, 3) if fresh else -1,
            "connect": connect,
            "send": round(r.uniform(0.05, 1), 3),
            "wait": round(r.uniform(15, 400), 3),
            "receive": round(r.uniform(0.2, 60), 3),
            "_blocked_queueing": round(r.uniform(0.2, 10), 3),
        }

    def initiator(self, index: int, resource_type: str) -> Json:
        _, page_url = self.page(index)
        if resource_type == "document":
            return {"type": "other"}
        if resource_type in ("fetch", "xhr", "ping"):
            frame = {
                "functionName": self.rng.choice(("fetchJson", "request", "t", "load")),
                "scriptId": str(self.num(10, 400)),
                "lineNumber": 0,
                "columnNumber": self.num(100, 90_000),
                "url": self.asset_url("js"),
            }
            return {"type": "script", "stack": {"callFrames": [frame]}}
        return {"type": "parser", "url": page_url, "lineNumber": self.num(1, 400)}

    def asset_url(self, ext: str) -> str:
        # Content-hashed asset names: hex noise that is not a secret.
        if self.rng.random() < 0.5:
            return f"https://{_CDN}/static/{ext}/{self.rng.choice(_WORDS)}.{self.hex(8)}.{ext}"
        return f"https://{_CDN}/assets/{self.rng.choice(_WORDS)}-{_b64url(self.rng.randbytes(6))}.{ext}"

    # --- bodies ---------------------------------------------------------------
    # Text bodies are stitched from per-file pools of random fragments: drawing
    # fresh randomness for every word made text generation the bottleneck.

    def _fragments(self, kind: str) -> tuple[list[str], int]:
        """Return (pool, average fragment length), building the pool on first use."""
        if kind not in self._pools:
            make = {
                "item": self._api_item,
                "html": self._html_block,
                "js": self._js_block,
                "css": self._css_block,
            }
            pool = [make[kind]() for _ in range(_POOL_SIZE)]
            self._pools[kind] = (pool, sum(map(len, pool)) // len(pool))
        return self._pools[kind]

    def _filler(self, kind: str, target: int) -> str:
        pool, avg = self._fragments(kind)
        return "".join(self.rng.choices(pool, k=max(1, target // avg)))

    def json_body(self, limit: int) -> _Body:
        pool, avg = self._fragments("item")
        items = self.rng.sample(pool, min(len(pool), max(0, min(self.num(800, 8_000), limit) // avg)))
        text = (
            f'{{"count":{len(items) + self.num(0, 500)},"next":"https://{_API}/v1/items?cursor='
            f'{self.hex(24)}","previous":null,"results":[{",".join(items)}]}}'
        )
        return _Body("application/json", text, len(text))

    def _api_item(self) -> str:
        user, created = self.rng.choice(_USERS), self.clock - self.rng.uniform(0, 3e7)
        item = {
            "id": self.uuid4(),
            "pk": self.num(1, 10**6),
            "name": self.words(self.num(2, 4)).title(),
            "slug": self.words(2, "-"),
            "status": self.rng.choice(_STATUSES),
            "created": _iso(created),
            "updated": _iso(created + self.rng.uniform(0, 1e6)),
            "owner": {
                "pk": self.num(1, 5000),
                "username": user,
                "email": f"{user}@example.com",
                "avatar": f"https://{_CDN}/avatars/{self.hex(40)}.png",
            },
            "tags": self.rng.sample(_WORDS, self.num(0, 4)),
            "metrics": {
                "views": self.num(0, 10**5),
                "score": round(self.rng.random(), 4),
                "trend": [self.num(0, 99) for _ in range(6)],
            },
            "links": {"self": f"https://{_API}/v1/items/{self.num(1, 10**6)}/"},
        }
        return _compact(item)

    def html_body(self, limit: int) -> _Body:
        head = (
            f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{self.words(3)}</title>'
            f'<link rel="stylesheet" href="{self.asset_url("css")}">'
            f'<script defer src="{self.asset_url("js")}"></script></head><body><div id="root">'
        )
        text = head + self._filler("html", min(self.num(4_000, 60_000), limit)) + "</div></body></html>"
        return _Body("text/html", text, len(text))

    def _html_block(self) -> str:
        w = self.rng.choice(_WORDS)
        return (
            f'<section class="card card--{w}" data-id="{self.uuid4()}"><h2>{self.words(3)}</h2>'
            f"<p>{self.words(self.num(10, 40))}</p>"
            f'<a href="/{w}/{self.num(1, 9999)}">{w}</a></section>\n'
        )

    def script_body(self, limit: int) -> _Body:
        head = f'"use strict";(self.webpackChunkapp=self.webpackChunkapp||[]).push([[{self.num(1, 999)}],{{'
        tail = f"}}]);\n//# sourceMappingURL={self.rng.choice(_WORDS)}.{self.hex(8)}.js.map\n"
        text = head + self._filler("js", min(self.num(4_000, 80_000), limit)) + tail
        return _Body("application/javascript", text, len(text))

    def _js_block(self) -> str:
        a, b = self.rng.choice(_WORDS), self.rng.choice(_WORDS)
        return (
            f'{self.num(1, 99999)}:function(e,t,n){{var r=n({self.num(1, 9999)}),o="{a}-{b}";'
            f"function {a}_{b}(e){{return e&&e.{a}?r.{b}(e.{a},o):null}}"
            f't.{a}={a}_{b};if(e.{b}>{self.num(1, 512)})throw Error("{self.words(4)}")}},\n'
        )

    def css_body(self, limit: int) -> _Body:
        text = self._filler("css", min(self.num(2_000, 30_000), limit))
        return _Body("text/css", text, len(text))

    def _css_block(self) -> str:
        return (
            f".{self.words(2, '-')}{{display:flex;margin:{self.num(0, 32)}px;"
            f"color:#{self.hex(6)};font-size:{self.num(10, 40)}px}}\n"
        )

    def binary_body(self, mime: str, low: int, high: int, limit: int) -> _Body:
        raw_size = max(0, min(self.num(low, high), limit * 3 // 4))  # base64 grows by 4/3
        magic = _BINARY_MAGIC[mime]
        raw = magic + self.rng.randbytes(max(0, raw_size - len(magic)))
        return _Body(mime, base64.b64encode(raw).decode("ascii"), len(raw), "base64")


_STATUS_TEXT = {200: "", 204: "", 302: "", 304: ""}  # Chrome leaves statusText empty on h2
_PRIORITY = {
    "document": "VeryHigh",
    "stylesheet": "VeryHigh",
    "script": "High",
    "font": "High",
    "fetch": "High",
    "xhr": "High",
    "image": "Low",
    "ping": "Low",
    "authorize": "VeryHigh",
}
_NOISE_WEIGHTS = {
    "fetch": 45,
    "image": 20,
    "script": 10,
    "ping": 10,
    "stylesheet": 5,
    "document": 5,
    "font": 5,
    "authorize": 2,
}


# --- ordinary (noise) entries -----------------------------------------------


def _noise_entry(f: _HarFaker, index: int, limit: int) -> Json:
    kind = f.rng.choices(list(_NOISE_WEIGHTS), weights=list(_NOISE_WEIGHTS.values()))[0]
    _, page_url = f.page(index)
    if kind == "authorize":
        return _authorize_entry(f, index, page_url)
    if kind == "fetch":
        return _api_entry(f, index, limit, page_url)
    if kind == "ping":
        return _analytics_entry(f, index, page_url)
    if kind == "document":
        req = f.request(
            "GET",
            _APP,
            page_url.removeprefix(f"https://{_APP}"),
            [("tab", f.rng.choice(_WORDS))],
            dest="document",
            referer=page_url,
        )
        return f.entry(
            index,
            req,
            f.response(200, f.html_body(limit), host=_APP),
            resource_type=kind,
            initiator=f.initiator(index, kind),
        )
    return _static_entry(f, index, limit, kind, page_url)


def _json_entry(f: _HarFaker, index: int, req: Json, limit: int, resource_type: str = "fetch") -> Json:
    host = req["url"].split("/")[2]
    resp = f.response(200, f.json_body(limit), host=host)
    return f.entry(index, req, resp, resource_type=resource_type, initiator=f.initiator(index, resource_type))


def _authorize_entry(f: _HarFaker, index: int, page_url: str) -> Json:
    # OAuth redirect: state/nonce/code_challenge are random but are not credentials.
    params = [
        ("client_id", f.client_id),
        ("redirect_uri", f"https://{_APP}/oauth/callback"),
        ("response_type", "code"),
        ("scope", "openid profile email offline_access"),
        ("state", _b64url(f.rng.randbytes(32))),
        ("nonce", f.alnum(32)),
        ("code_challenge", _b64url(f.rng.randbytes(32))),
        ("code_challenge_method", "S256"),
    ]
    req = f.request("GET", _IDP, "/application/o/authorize/", params, dest="document", referer=page_url)
    location = f"https://{_IDP}/if/flow/default-authentication-flow/?next=%2Fapplication%2Fo%2Fauthorize%2F"
    resp = f.response(302, _Body("text/html", "", 0), host=_IDP, extra_headers=[("location", location)])
    resp["redirectURL"] = location
    return f.entry(index, req, resp, resource_type="document", initiator=f.initiator(index, "document"))


def _api_entry(f: _HarFaker, index: int, limit: int, page_url: str) -> Json:
    params = [("page", str(f.num(1, 40))), ("page_size", "25"), ("ordering", "-created")]
    if f.rng.random() < 0.3:
        params.append(("search", f.rng.choice(_WORDS)))
    path = f"/v1/{f.rng.choice(_WORDS)}s/"
    req = f.request("GET", _API, path, params, dest="empty", referer=page_url)
    return _json_entry(f, index, req, limit)


def _analytics_entry(f: _HarFaker, index: int, page_url: str) -> Json:
    params = [
        ("v", "2"),
        ("tid", "G-" + f.alnum(10).upper()),
        ("gtm", "45je45e0v9"),
        ("_p", str(f.rng.getrandbits(40))),
        ("cid", f.ga_cid),
        ("sid", str(int(_START_EPOCH))),
        ("en", "page_view"),
        ("dl", page_url),
    ]
    req = f.request("POST", _GA, "/g/collect", params, dest="empty", referer=page_url)
    resp = f.response(204, _Body("text/plain", None, 0), host=_GA)
    return f.entry(index, req, resp, resource_type="ping", initiator=f.initiator(index, "ping"))


def _static_entry(f: _HarFaker, index: int, limit: int, kind: str, page_url: str) -> Json:
    if kind == "image":
        pixel = f.rng.random() < 0.1  # 1x1 tracking GIFs are common in real captures
        mime = "image/gif" if pixel else f.rng.choice(("image/png", "image/jpeg", "image/webp"))
        low, high = (43, 43) if pixel else (10_000, 100_000)
        url, body = f.asset_url(mime.split("/")[1]), f.binary_body(mime, low, high, limit)
    elif kind == "font":
        url, body = (
            f"https://{_FONTS}/s/inter/v13/{f.hex(16)}.woff2",
            f.binary_body("font/woff2", 15_000, 60_000, limit),
        )
    elif kind == "script":
        url, body = f.asset_url("js"), f.script_body(limit)
    else:
        url, body = f.asset_url("css"), f.css_body(limit)
    host, _, path = url.removeprefix("https://").partition("/")
    dest = {"image": "image", "font": "font", "script": "script", "stylesheet": "style"}[kind]
    req = f.request("GET", host, "/" + path, dest=dest, referer=page_url)
    return f.entry(index, req, f.response(200, body, host=host), resource_type=kind, initiator=f.initiator(index, kind))


# --- planted (credential-bearing) entries --------------------------------------


def _access_token(f: _HarFaker) -> str:
    now = int(f.clock)
    claims = {
        "iss": f"https://{_IDP}/application/o/app/",
        "sub": f.hex(64),
        "aud": f.client_id,
        "exp": now + 300,
        "iat": now,
        "auth_time": now - f.num(0, 3600),
        "acr": "goauthentik.io/providers/oauth2/default",
        "sid": f.hex(64),
        "azp": f.client_id,
        "uid": f.alnum(40),
        "email": f"{f.rng.choice(_USERS)}@example.com",
        "email_verified": True,
        "scope": "openid profile email offline_access",
    }
    return f.jwt({"alg": "RS256", "kid": f.kid, "typ": "JWT"}, claims, 256)


def _id_token(f: _HarFaker) -> str:
    now, user = int(f.clock), f.rng.choice(_USERS)
    claims = {
        "iss": f"https://{_IDP}/application/o/app/",
        "sub": f.hex(64),
        "aud": f.client_id,
        "exp": now + 300,
        "iat": now,
        "auth_time": now,
        "nonce": f.alnum(32),
        "at_hash": _b64url(f.rng.randbytes(16)),
        "name": user.title(),
        "preferred_username": user,
        "email": f"{user}@example.com",
        "groups": ["staff"],
    }
    return f.jwt({"alg": "RS256", "kid": f.kid, "typ": "JWT"}, claims, 256)


def _plant_authentik_cookie(f: _HarFaker, index: int, limit: int) -> tuple[Json, list[_Secret]]:
    claims = {
        "sid": f.alnum(32).lower(),
        "iss": "authentik",
        "sub": f.hex(64),
        "authenticated": True,
        "acr": "goauthentik.io/core/default",
    }
    value = f.jwt({"alg": "HS256", "typ": "JWT"}, claims, 32)
    cookie = {
        "name": "authentik_session",
        "value": value,
        "path": "/",
        "domain": _IDP,
        "expires": None,  # session cookie
        "httpOnly": True,
        "secure": True,
        "sameSite": "Lax",
    }
    _, page_url = f.page(index)
    req = f.request("GET", _IDP, "/api/v3/core/users/me/", dest="empty", referer=page_url, extra_cookies=[cookie])
    entry = _json_entry(f, index, req, limit)
    return entry, [_Secret("session_cookie", "authentik_session", "request.cookie", value)]


def _plant_bearer(f: _HarFaker, index: int, limit: int) -> tuple[Json, list[_Secret]]:
    token = _access_token(f)
    _, page_url = f.page(index)
    req = f.request(
        "GET",
        _API,
        f"/v1/{f.rng.choice(_WORDS)}s/",
        [("page", "1")],
        dest="empty",
        referer=page_url,
        extra_headers=[("authorization", f"Bearer {token}")],
    )
    entry = _json_entry(f, index, req, limit)
    return entry, [_Secret("access_token", "authorization", "request.header", token)]


def _plant_token_response(f: _HarFaker, index: int, limit: int) -> tuple[Json, list[_Secret]]:
    access, refresh, id_token = _access_token(f), f.alnum(128), _id_token(f)
    body = _compact(
        {
            "access_token": access,
            "token_type": "Bearer",
            "scope": "openid profile email offline_access",
            "expires_in": 300,
            "id_token": id_token,
            "refresh_token": refresh,
        }
    )
    # The one-time authorization code is part of any real token request; it is not counted as a plant.
    form = [
        ("grant_type", "authorization_code"),
        ("code", f.hex(32)),
        ("redirect_uri", f"https://{_APP}/oauth/callback"),
        ("client_id", f.client_id),
    ]
    post = {
        "mimeType": "application/x-www-form-urlencoded",
        "text": "&".join(f"{n}={quote(v, safe='')}" for n, v in form),
        "params": _nv(form),
    }
    _, page_url = f.page(index)
    req = f.request("POST", _IDP, "/application/o/token/", dest="empty", referer=page_url, post=post)
    resp = f.response(200, _Body("application/json", body, len(body)), host=_IDP)
    entry = f.entry(index, req, resp, resource_type="fetch", initiator=f.initiator(index, "fetch"))
    return entry, [
        _Secret("access_token", "access_token", "response.json_body", access),
        _Secret("refresh_token", "refresh_token", "response.json_body", refresh),
        _Secret("id_token", "id_token", "response.json_body", id_token),
    ]


def _plant_keycloak_cookie(f: _HarFaker, index: int, limit: int) -> tuple[Json, list[_Secret]]:
    now, realm = int(f.clock), "acme"
    claims = {
        "exp": now + 36_000,
        "iat": now,
        "jti": f.uuid4(),
        "iss": f"https://{_SSO}/realms/{realm}",
        "sub": f.uuid4(),
        "typ": "Serialized-ID",
        "sid": f.uuid4(),
        "state_checker": _b64url(f.rng.randbytes(32)),
    }
    value = f.jwt({"alg": "HS512", "typ": "JWT", "kid": f.uuid4()}, claims, 64)
    path = f"/realms/{realm}/"
    cookie = {
        "name": "KEYCLOAK_IDENTITY",
        "value": value,
        "path": path,
        "domain": "",
        "expires": None,
        "httpOnly": True,
        "secure": True,
        "sameSite": "None",
    }
    set_cookie = f"KEYCLOAK_IDENTITY={value}; Version=1; Path={path}; SameSite=None; Secure; HttpOnly"
    location = f"https://{_SSO}/realms/{realm}/account/"
    _, page_url = f.page(index)
    req = f.request(
        "GET",
        _SSO,
        f"/realms/{realm}/login-actions/required-action",
        [
            ("execution", "UPDATE_PROFILE"),
            ("client_id", "account-console"),
            ("tab_id", _b64url(f.rng.randbytes(8))),
        ],
        dest="document",
        referer=page_url,
    )
    resp = f.response(
        302,
        _Body("text/html", "", 0),
        host=_SSO,
        cookies=[cookie],
        extra_headers=[("location", location), ("set-cookie", set_cookie)],
    )
    resp["redirectURL"] = location
    entry = f.entry(index, req, resp, resource_type="document", initiator=f.initiator(index, "document"))
    return entry, [_Secret("session_cookie", "KEYCLOAK_IDENTITY", "response.set_cookie", value)]


def _plant_password_form(f: _HarFaker, index: int, limit: int) -> tuple[Json, list[_Secret]]:
    # Only URL-unreserved characters, so the literal value survives form encoding.
    password = f"{f.rng.choice(_WORDS).title()}-{f.rng.choice(_WORDS)}.{f.num(10, 9999)}_{f.alnum(6)}"
    form = [
        ("csrfmiddlewaretoken", f.alnum(64)),
        ("username", f.rng.choice(_USERS)),
        ("password", password),
        ("next", "/dashboard/"),
    ]
    post = {
        "mimeType": "application/x-www-form-urlencoded",
        "text": "&".join(f"{n}={quote(v, safe='')}" for n, v in form),
        "params": _nv(form),
    }
    _, page_url = f.page(index)
    req = f.request("POST", _APP, "/accounts/login/", dest="document", referer=page_url, post=post)
    resp = f.response(302, _Body("text/html", "", 0), host=_APP, extra_headers=[("location", "/dashboard/")])
    resp["redirectURL"] = f"https://{_APP}/dashboard/"
    entry = f.entry(index, req, resp, resource_type="document", initiator=f.initiator(index, "document"))
    return entry, [_Secret("password", "password", "request.form", password)]


def _plant_basic(f: _HarFaker, index: int, limit: int) -> tuple[Json, list[_Secret]]:
    user = f"svc-{f.rng.choice(_WORDS)}"
    blob = base64.b64encode(f"{user}:{f.alnum(24)}".encode()).decode("ascii")
    _, page_url = f.page(index)
    req = f.request(
        "GET",
        _LEGACY,
        "/reports/export",
        [("format", "json"), ("since", _iso(f.clock - 86_400))],
        dest="empty",
        referer=page_url,
        extra_headers=[("authorization", f"Basic {blob}")],
    )
    entry = _json_entry(f, index, req, limit, "xhr")
    return entry, [_Secret("basic_credentials", "Authorization", "request.header", blob)]


def _plant_api_key_header(f: _HarFaker, index: int, limit: int) -> tuple[Json, list[_Secret]]:
    key = "key_" + f.alnum(40)
    _, page_url = f.page(index)
    req = f.request(
        "GET",
        _LEGACY,
        f"/v2/{f.rng.choice(_WORDS)}s",
        [("limit", "50")],
        dest="empty",
        referer=page_url,
        extra_headers=[("x-api-key", key)],
    )
    entry = _json_entry(f, index, req, limit, "xhr")
    return entry, [_Secret("api_key", "X-Api-Key", "request.header", key)]


def _plant_api_key_query(f: _HarFaker, index: int, limit: int) -> tuple[Json, list[_Secret]]:
    key = "AIza" + f.alnum(35)
    _, page_url = f.page(index)
    params = [("address", f.words(3)), ("language", "en"), ("api_key", key)]
    req = f.request("GET", _MAPS, "/v1/geocode/json", params, dest="empty", referer=page_url)
    entry = _json_entry(f, index, req, limit)
    return entry, [_Secret("api_key", "api_key", "request.query", key)]


def _plant_base64_json(f: _HarFaker, index: int, limit: int) -> tuple[Json, list[_Secret]]:
    token = _access_token(f)
    raw = _compact({"access_token": token, "token_type": "Bearer", "expires_in": 300}).encode()
    body = _Body("application/json", base64.b64encode(raw).decode("ascii"), len(raw), "base64")
    _, page_url = f.page(index)
    req = f.request("GET", _API, "/v1/session/token", dest="empty", referer=page_url)
    resp = f.response(200, body, host=_API)
    entry = f.entry(index, req, resp, resource_type="fetch", initiator=f.initiator(index, "fetch"))
    return entry, [_Secret("access_token", "access_token", "response.base64_body", token)]


_PLANT_SITES = (
    _plant_authentik_cookie,
    _plant_bearer,
    _plant_token_response,
    _plant_keycloak_cookie,
    _plant_password_form,
    _plant_basic,
    _plant_api_key_header,
    _plant_api_key_query,
    _plant_base64_json,
)


# --- writer ---------------------------------------------------------------------


def _envelope(f: _HarFaker, indent: int | None) -> tuple[str, str]:
    """Return the text before the first entry and after the last one."""
    sentinel = "@@ENTRIES@@"
    log = {
        "version": "1.2",
        "creator": {"name": "WebInspector", "version": "537.36"},
        "pages": f.preamble_pages(),
        "entries": sentinel,
    }
    head, _, tail = json.dumps({"log": log}, indent=indent).partition(f'"{sentinel}"')
    close_pad = "\n" + " " * (2 * indent) if indent else "\n"
    return head + "[", close_pad + "]" + tail + "\n"


def _next_entry(f: _HarFaker, index: int, plant_every: int, limit: int) -> tuple[Json, list[_Secret]]:
    number = index + 1  # "every 50th entry" counts from 1
    if plant_every > 0 and number % plant_every == 0:
        site = _PLANT_SITES[(number // plant_every - 1) % len(_PLANT_SITES)]
        return site(f, index, limit)
    return _noise_entry(f, index, limit), []


def write_har(
    path: Path,
    target_bytes: int,
    *,
    seed: int = 0,
    plant_every: int = 50,
    indent: int | None = None,
) -> GeneratedHar:
    """Stream a synthetic HAR of about `target_bytes` to `path`.

    Entry number k (1-based) carries a credential when k % plant_every == 0 (0 disables
    planting); plant sites rotate through `_PLANT_SITES`. The default writes one entry
    per line; `indent=2` mimics Chrome's pretty-printed export but is slower.
    """
    path = Path(path)
    faker = _HarFaker(random.Random(seed), n_pages=max(1, min(len(_WORDS), target_bytes // 2_000_000)))
    head, tail = _envelope(faker, indent)
    entry_pad = "\n" + " " * (3 * indent) if indent else "\n"
    planted: list[PlantedSecret] = []
    index = 0
    with path.open("w", encoding="ascii", newline="\n", buffering=_WRITE_BUFFER) as out:
        out.write(head)
        written = len(head)  # ensure_ascii JSON: characters == bytes
        while True:
            remaining = target_bytes - written - len(tail)
            if index and remaining < _MIN_ENTRY:
                break
            entry, secrets = _next_entry(faker, index, plant_every, remaining - _ENTRY_OVERHEAD)
            planted += (PlantedSecret(*s, entry_index=index) for s in secrets)
            text = json.dumps(entry, indent=indent)
            chunk = ("," if index else "") + entry_pad + (text.replace("\n", entry_pad) if indent else text)
            out.write(chunk)
            written += len(chunk)
            index += 1
        out.write(tail)
        written += len(tail)
    return GeneratedHar(path=path, bytes_written=written, entries=index, planted=tuple(planted))


# --- CLI ------------------------------------------------------------------------

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_size(text: str) -> int:
    """'100MB' -> 100_000_000 (decimal units); KiB/MiB/GiB are binary."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", text.lower())
    if not match or match.group(2) not in _UNITS:
        raise argparse.ArgumentTypeError(f"bad size {text!r}; use e.g. 10MB, 1GB, 512KiB")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate a synthetic HAR file with planted fake credentials.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=parse_size, required=True, help="target size, e.g. 10MB, 1GB, 512KiB")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plant-every", type=int, default=50)
    parser.add_argument("--indent", type=int, default=None, help="pretty-print like Chrome (e.g. 2); slower")
    parser.add_argument("--manifest", type=Path, help="also write planted secrets as JSON here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    har = write_har(args.out, args.size, seed=args.seed, plant_every=args.plant_every, indent=args.indent)
    seconds = time.perf_counter() - started
    if args.manifest:
        args.manifest.write_text(json.dumps([asdict(p) for p in har.planted], indent=1) + "\n")
    summary = {
        "path": str(har.path),
        "bytes_written": har.bytes_written,
        "entries": har.entries,
        "planted": len(har.planted),
        "planted_by_kind": dict(Counter(p.kind for p in har.planted)),
        "seed": args.seed,
        "seconds": round(seconds, 3),
        "mb_per_s": round(har.bytes_written / 1e6 / seconds, 1),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
