"""1,000 malformed requests across every route: bad JSON, wrong content types, truncated multipart and
archives, huge and odd headers, wrong methods, absurd query values, invalid UTF-8, path traversal in names
and ids. Each must be refused with a 4xx (never a 5xx), and no answer may carry a traceback.

The cases are built deterministically (a seeded generator fills up to exactly 1,000); the label of a case
says what it is, so a failure names the request."""

from __future__ import annotations

import gzip
import io
import json
import random
import re
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Match

from responder.api import create_app
from responder.settings import Settings
from responder.testing import FakeIdP
from tests.api.conftest import KEYS

TOTAL = 1000
UPLOAD_LIMIT = 256 * 1024
NO_ID = str(uuid.UUID(int=0x5EED))  # a well-formed id that names nothing
Header = tuple[str, str | bytes]


@dataclass(frozen=True)
class Bad:
    what: str
    method: str
    path: str
    headers: tuple[Header, ...] = ()
    body: bytes | None = None


def key(role: str) -> tuple[Header, ...]:
    return (("Authorization", f"Bearer {KEYS[role]}"),)


def json_headers(role: str = "responder", content_type: str = "application/json") -> tuple[Header, ...]:
    return (*key(role), ("Content-Type", content_type))


KEYED = [
    ("POST", "/v1/artifacts", "uploader"),
    ("GET", f"/v1/intakes/{NO_ID}", "uploader"),
    ("GET", f"/v1/intakes/{NO_ID}/sanitized", "uploader"),
    ("POST", "/v1/panic", "responder"),
    ("GET", f"/v1/panics/{NO_ID}", "responder"),
    ("GET", "/v1/ledger", "auditor"),
    ("GET", "/v1/ledger/verify", "auditor"),
    ("GET", "/v1/report", "auditor"),
    ("GET", "/metrics", "auditor"),
]
PANIC = {"provider": "lab", "scope": "user", "targets": ["ghost@example.com"], "reason": "HAR in ticket 4711"}
INVALID_UTF8 = (b"\xff\xfe", b"\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80")


# ---- the cases ---------------------------------------------------------------------------------------------


def every_route(app: FastAPI) -> list[BaseRoute]:
    """The app's own routes and those of each router app.py includes (it includes them without a prefix)."""
    from responder.api import artifacts, health, ledger_routes, page, panic_routes, webhooks

    routers = (health, artifacts, panic_routes, ledger_routes, webhooks, page)
    return [*app.routes, *(r for module in routers for r in module.router.routes)]


def wrong_methods(app: FastAPI) -> Iterator[Bad]:
    """Every path the app serves (whoever wrote its route), with each method no route there takes."""
    routes = every_route(app)
    paths = {str(getattr(r, "path", "")) for r in routes if getattr(r, "methods", None)}
    for template in sorted(paths):
        path = template.replace("{intake_id}", NO_ID).replace("{panic_id}", NO_ID).replace("{source}", "nowhere")
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND", "BREW"):
            scope = {"type": "http", "path": path, "method": method, "root_path": ""}
            if not any(route.matches(scope)[0] is Match.FULL for route in routes):
                yield Bad(f"{method} {template}", method, path, key("auditor"))


def bad_keys() -> Iterator[Bad]:
    junk_headers = tuple((f"X-Junk-{n}", "j" * 30) for n in range(2000))
    presented: list[tuple[str, tuple[Header, ...]]] = [
        ("no key", ()),
        ("empty bearer", (("Authorization", "Bearer "),)),
        ("scheme only", (("Authorization", "Bearer"),)),
        ("basic instead", (("Authorization", "Basic dXNlcjpwYXNzd29yZA=="),)),
        ("64 KiB bearer", (("Authorization", "Bearer " + "k" * 65536),)),
        ("latin-1 bearer", (("Authorization", b"Bearer \xe9\xff\xfe"),)),
        ("invalid UTF-8 key", (("X-API-Key", b"\xc3\x28\xa0\xa1"),)),
        ("100 KiB X-API-Key", (("X-API-Key", "k" * 102_400),)),
        ("key with a suffix", (("Authorization", f"Bearer {KEYS['auditor']}x"),)),
        ("key in the wrong scheme", (("Authorization", f"Token {KEYS['auditor']}"),)),
        ("2000 junk headers", junk_headers),
        ("64 KiB cookie", (("Cookie", "session=" + "c" * 65536),)),
    ]
    for method, path, role in KEYED:
        other = next(r for r in KEYS if r != role and not (path.startswith("/v1/intakes/") and r == "auditor"))
        if not (path.startswith("/v1/panics/") and other == "auditor"):
            yield Bad(f"{path}: the {other} role", method, path, key(other))
        for label, headers in presented:
            yield Bad(f"{path}: {label}", method, path, headers)


def _zip(member: bytes, name: str = "a.har") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, member)
    return out.getvalue()


def _multipart(parts: list[tuple[str, str, bytes]], boundary: str = "b0undary") -> bytes:
    chunks = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{extra}\r\n\r\n'.encode() + content + b"\r\n"
        for name, extra, content in parts
    ]
    return b"".join(chunks) + f"--{boundary}--\r\n".encode()


def bad_uploads(rng: random.Random) -> Iterator[Bad]:
    up = key("uploader")

    def post(what: str, body: bytes, *, query: str = "", headers: tuple[Header, ...] = ()) -> Bad:
        return Bad(f"upload: {what}", "POST", f"/v1/artifacts{query}", (*up, *headers), body)

    har = json.dumps({"log": {"version": "1.2", "entries": [{"request": {"url": "https://a.test/"}}] * 40}}).encode()
    yield post("empty body", b"")
    for n in range(40):
        yield post(f"random binary #{n}", b"\x00" + rng.randbytes(rng.randint(1, 200_000)))
    for seq in INVALID_UTF8:
        yield post(f"invalid UTF-8 {seq!r}", seq * 400)
        yield post(f"invalid UTF-8 {seq!r} in a HAR", har[:50] + seq * 400 + har[50:], query="?filename=a.har")
    packed = gzip.compress(har)
    for cut in range(2, len(packed) - 8, max(1, (len(packed) - 10) // 20)):
        yield post(f"gzip cut at {cut}", packed[:cut], query="?filename=ticket.har.gz")
    zipped = _zip(har)
    for cut in range(4, len(zipped) - 22, max(1, (len(zipped) - 26) // 20)):
        yield post(f"zip cut at {cut}", zipped[:cut], query="?filename=ticket.zip")
    yield post("zip bomb", _zip(b"\x00" * 30_000_000), query="?filename=bomb.zip")
    yield post("gzip bomb", gzip.compress(b"\x00" * 30_000_000), query="?filename=bomb.har.gz")
    yield post("over the limit", b"x" * (UPLOAD_LIMIT + 1))
    yield post("declared over the limit", b"\x00x", headers=(("Content-Length", str(UPLOAD_LIMIT + 1)),))
    yield post("absurd Content-Length", b"\x00x", headers=(("Content-Length", "9" * 40),))
    multipart = "multipart/form-data; boundary=b0undary"
    cases: list[tuple[str, bytes, str]] = [
        ("multipart without a boundary", _multipart([("file", "", b"\x00")]), "multipart/form-data"),
        ("multipart, garbage", b"\x00" * 300, multipart),
        ("multipart, truncated", _multipart([("file", '; filename="a.har"', har)])[:120], multipart),
        ("multipart, cut in its headers", _multipart([("file", '; filename="a.har"', har)])[:40], multipart),
        ("multipart, two files", _multipart([("file", '; filename="a"', b"\x00a")] * 2), multipart),
        ("multipart, five fields", _multipart([(f"f{n}", "", b"x") for n in range(5)]), multipart),
        ("multipart, file as a field", _multipart([("file", "", har)]), multipart),
        ("multipart, no file field", _multipart([("other", '; filename="a.har"', har)]), multipart),
        ("multipart, empty file", _multipart([("file", '; filename="a.har"', b"")]), multipart),
        ("multipart, wrong boundary", _multipart([("file", '; filename="a.har"', har)], "other"), multipart),
        ("multipart, 1000-char boundary", _multipart([("file", "", b"\x00")], "b" * 1000), multipart),
        ("multipart, 100 KiB part header", _multipart([("file", "; x=" + "h" * 102_400, b"\x00a")]), multipart),
        (
            "multipart, invalid UTF-8 name",
            b'--b0undary\r\nContent-Disposition: form-data; name="\xff"\r\n\r\nx\r\n--b0undary--\r\n',
            multipart,
        ),
    ]
    for label, body, content_type in cases:
        yield post(label, body, headers=(("Content-Type", content_type),))
    for name in ("../../../etc/passwd", "..\\..\\windows\\win.ini", "/etc/shadow", "a/../../b.har", "%2e%2e%2fx"):
        body = _multipart([("file", f'; filename="{name}"', b"\x00\xff" * 50)])
        yield post(f"traversal {name} (multipart)", body, headers=(("Content-Type", multipart),))
        yield post(f"traversal {name} (query)", b"\x00\xff" * 50, query=f"?filename={name}")
    yield post("filename of 256 characters", b"\x00", query="?filename=" + "n" * 256)
    for value in ("maybe", "2", "yesno", "", "%FF"):
        yield post(f"dry_run={value}", b"\x00", query=f"?dry_run={value}")
    for content_type in ("application/xml", "text/html; charset=utf-16", "image/png", "application/json"):
        yield post(f"binary as {content_type}", b"\x00\xff" * 100, headers=(("Content-Type", content_type),))


def bad_panics() -> Iterator[Bad]:
    def post(what: str, body: bytes, headers: tuple[Header, ...] | None = None) -> Bad:
        return Bad(f"panic: {what}", "POST", "/v1/panic", headers or json_headers(), body)

    valid = json.dumps(PANIC).encode()
    for cut in range(len(valid) - 1):
        yield post(f"JSON cut at {cut}", valid[:cut])
    for seq in INVALID_UTF8:
        yield post(f"invalid UTF-8 {seq!r}", valid.replace(b"HAR", seq))
    for name in ("provider", "reason", "targets", "dry_run"):
        for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e999"):
            yield post(
                f"{name} = {literal.decode()}", json.dumps({**PANIC, name: 0}).encode().replace(b"0", literal, 1)
            )
    yield post("nested 30000 deep", b"[" * 30_000 + b"]" * 30_000)
    yield post("objects nested 10000 deep", b'{"a":' * 10_000 + b"1" + b"}" * 10_000)
    wrong: list[tuple[str, object]] = [
        ("provider 1", {**PANIC, "provider": 1}),
        ("scope a list", {**PANIC, "scope": []}),
        ("targets a string", {**PANIC, "targets": "ghost"}),
        ("targets of numbers", {**PANIC, "targets": [1, 2]}),
        ("reason null", {**PANIC, "reason": None}),
        ("dry_run maybe", {**PANIC, "dry_run": "maybe"}),
        ("confirm 5", {**PANIC, "confirm": 5}),
        ("empty reason", {**PANIC, "reason": ""}),
        ("reason of 501", {**PANIC, "reason": "r" * 501}),
        ("empty provider", {**PANIC, "provider": ""}),
        ("provider of 101", {**PANIC, "provider": "p" * 101}),
        ("1001 targets", {**PANIC, "targets": [f"u{n}" for n in range(1001)]}),
        ("scope everyone", {**PANIC, "scope": "everyone"}),
        ("all without confirm", {**PANIC, "scope": "all", "targets": []}),
        ("all with targets", {**PANIC, "scope": "all", "confirm": "lab"}),
        ("all, wrong confirm", {**PANIC, "scope": "all", "targets": [], "confirm": "LAB"}),
        ("user without targets", {**PANIC, "targets": []}),
        ("unknown provider", {**PANIC, "provider": "nope"}),
        ("unknown user", PANIC),
        ("unknown group", {**PANIC, "scope": "group", "targets": ["nobody"]}),
        ("a credential as target", {**PANIC, "targets": ["Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x0"]}),
        ("missing reason", {k: v for k, v in PANIC.items() if k != "reason"}),
        ("missing everything", {}),
        ("a list", [PANIC]),
        ("a string", "panic"),
        ("a number", 1),
        ("null", None),
        ("true", True),
    ]
    for label, body in wrong:
        yield post(label, json.dumps(body).encode())
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data"):
        yield post(f"as {content_type}", valid, json_headers(content_type=content_type))
    yield post("no content type", valid, key("responder"))
    yield post("over 64 KiB", b" " * 70_000 + valid)
    yield post("trailing garbage", valid + b"}}")
    yield post("trailing comma", valid[:-1] + b",}")
    yield post("single quotes", valid.replace(b'"', b"'"))
    yield post("UTF-16", json.dumps(PANIC).encode("utf-16"))
    yield post("BOM and NUL", b"\xef\xbb\xbf\x00" + valid)


ABSURD: dict[str, tuple[str, ...]] = {
    "limit": ("-1", "0", "10001", "1" + "0" * 30, "abc", "1e3", "1.5", "", "0x10", "NaN", "∞", "%FF"),
    "since": ("not-a-date", "2024-13-45", "2024-02-30T00:00:00", "9" * 25, "%00", "", "T", "2024-01-01T25:00", "now"),
    "until": ("yesterday", "2024-00-01", "1e999", "%FF%FE", "-" * 20),
    "trigger": ("bogus", "UPLOAD", "", "upload%20", "%00"),
    "outcome": ("bogus", "REVOKED", "", "revoked,failed"),
    "user": ("u" * 301, "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x0"),
    "provider": ("p" * 101, "Cookie: sessionid=Zx8mK2pQ9vL4nR7tW1yB3cF6hJ0dS5gA"),
    "intake": ("x", "a" * 37, "..%2F..%2Fetc", NO_ID.upper(), NO_ID + "0", "%FF"),
    "panic": ("y", "../../etc/passwd", NO_ID[:-1], " " + NO_ID[1:]),
}


def bad_queries() -> Iterator[Bad]:
    for route in ("/v1/ledger", "/v1/report"):
        for name, values in ABSURD.items():
            if name == "limit" and route == "/v1/report":
                continue
            for value in values:
                yield Bad(f"{route}?{name}={value[:40]}", "GET", f"{route}?{name}={value}", key("auditor"))


def bad_ids() -> Iterator[Bad]:
    ids = (
        "%FF",
        "a" * 10_000,
        "..%2F..%2Fetc%2Fpasswd",
        "%00",
        "not-an-id",
        NO_ID.upper(),
        NO_ID + "0",
        "%2e%2e",
        "%20",
    )
    for template, role in (
        ("/v1/intakes/{}", "uploader"),
        ("/v1/intakes/{}/sanitized", "uploader"),
        ("/v1/panics/{}", "responder"),
    ):
        for value in (*ids, NO_ID):
            yield Bad(f"{template.format(value[:40])}", "GET", template.format(value), key(role))


def fill(rng: random.Random, count: int) -> Iterator[Bad]:
    """Seeded mutations of a valid panic body, kept only when they no longer parse as JSON."""
    valid = json.dumps(PANIC).encode()
    made = 0
    while made < count:
        body = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            spot = rng.randrange(len(body))
            action = rng.choice(("flip", "insert", "delete"))
            if action == "flip":
                body[spot] = rng.randrange(256)
            elif action == "insert":
                body.insert(spot, rng.choice(b'{}[]",:\\\x00\xff'))
            else:
                del body[spot]
        try:
            json.loads(bytes(body))
        except ValueError:
            made += 1
            yield Bad(f"panic: mutation #{made}", "POST", "/v1/panic", json_headers(), bytes(body))


def malformed(app: FastAPI) -> list[Bad]:
    rng = random.Random(6)
    cases = [
        *wrong_methods(app),
        *bad_keys(),
        *bad_uploads(rng),
        *bad_panics(),
        *bad_queries(),
        *bad_ids(),
    ]
    assert len(cases) < TOTAL, len(cases)
    return cases + list(fill(rng, TOTAL - len(cases)))


# ---- the test ----------------------------------------------------------------------------------------------


@pytest.fixture
def client(service_settings: Callable[..., Settings], idp: FakeIdP) -> Iterator[TestClient]:
    idp.add_user("u-1", "someone@example.com", groups=("staff",))
    settings = service_settings(serve={"max_upload_bytes": UPLOAD_LIMIT})
    with TestClient(create_app(settings), raise_server_exceptions=False) as running:
        yield running


def test_a_thousand_malformed_requests_are_each_refused_with_a_4xx(client: TestClient, tmp_path: Path) -> None:
    app: FastAPI = client.app  # type: ignore[assignment]
    cases = malformed(app)
    assert len(cases) == TOTAL
    wrong: list[str] = []
    statuses: dict[int, int] = {}
    for case in cases:
        answer = client.request(case.method, case.path, headers=list(case.headers), content=case.body)
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
        body = answer.content
        if not 400 <= answer.status_code < 500:
            wrong.append(f"{case.what}: HTTP {answer.status_code} {body[:200]!r}")
        elif b"Traceback" in body or b'File "' in body:
            wrong.append(f"{case.what}: a traceback in the answer")
    print(f"{TOTAL} malformed requests, answers by status: {dict(sorted(statuses.items()))}")
    assert not wrong, "\n".join(wrong)

    data_dir = Path(app.state.responder.settings.data_dir)
    assert not [p for p in (data_dir / "spool").rglob("*") if p.is_file()]  # nothing refused was kept
    assert not list((data_dir / "sanitized").iterdir())
    outside = [p for p in tmp_path.rglob("*") if data_dir not in p.parents and p != data_dir]
    assert not outside, outside  # no name in a request wrote anywhere else


@pytest.mark.parametrize(
    "name", ["../../../etc/passwd", "..\\..\\windows\\win.ini", "/etc/shadow", "a/../../b.har", "..", "%2e%2e%2fx"]
)
def test_a_readable_capture_under_a_traversing_name_keeps_only_a_safe_basename(
    client: TestClient, tmp_path: Path, name: str
) -> None:
    """Not refused (the content is a capture, and names like C:\\Users\\me\\x.har are ordinary), but reduced
    to a plain basename: nothing is written outside the service's own directories."""
    capture = b"GET /x HTTP/1.1\nHost: a.test\n"
    for kwargs in ({"params": {"filename": name}, "content": capture}, {"files": {"file": (name, capture)}}):
        answer = client.post("/v1/artifacts", headers=dict(key("uploader")), **kwargs)
        assert answer.status_code == 202, answer.text
        kept = answer.json()["artifact"]["name"]
        assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", kept), kept
        copy = client.get(answer.json()["sanitized_url"], headers=dict(key("uploader")))
        assert copy.status_code == 200
        assert copy.headers["content-disposition"].endswith(f'"sanitized-{kept}"')
    data_dir = Path(client.app.state.responder.settings.data_dir)  # type: ignore[attr-defined]
    assert not [p for p in tmp_path.rglob("*") if data_dir not in p.parents and p != data_dir]
