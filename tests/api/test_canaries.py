"""Canary tokens: distinct random credentials, planted in a HAR and sent through every route that takes input
(raw and multipart upload, an unreadable upload, a panic's reason, targets and confirmation through the API
and the panic page, ledger filters, path parameters, an API key header), with every log captured at debug
level. None may appear in any answer (error answers included), any log line, /metrics, any file the service
keeps (the SQLite ledger read as bytes, the spool, the sanitized copies) or a downloaded sanitized copy."""

from __future__ import annotations

import base64
import gzip
import io
import json
import logging
import secrets
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import structlog
from fastapi.testclient import TestClient
from httpx import Response

from responder.api import create_app
from responder.api.typed import REMOVED
from responder.log import configure_logging
from responder.settings import Settings
from responder.testing import FakeIdP
from tests import harbuild
from tests.api.conftest import bearer
from tests.api.test_api import wait_done
from tests.api.test_page import confirm, csrf_of, log_in, prepare
from tests.api.test_page import wait_done as wait_page_done
from tests.ledger.flows import HOST

_ALPHABET = string.ascii_letters + string.digits


def canary(kind: str) -> str:
    """A value no code path could produce by chance: one random 40-character token per kind and run."""
    return f"cnry{kind[:3]}" + "".join(secrets.choice(_ALPHABET) for _ in range(36))


@dataclass
class Canaries:
    bearer: str = field(default_factory=lambda: canary("bearer"))
    cookie: str = field(default_factory=lambda: canary("cookie"))
    refresh: str = field(default_factory=lambda: canary("refresh"))
    password: str = field(default_factory=lambda: canary("basic"))
    api_key: str = field(default_factory=lambda: canary("apikey"))

    @property
    def basic_blob(self) -> str:
        return base64.b64encode(f"svc-export:{self.password}".encode()).decode()

    def values(self) -> tuple[str, ...]:
        """Every form a canary can take: each value, and the Basic blob that carries the password."""
        return (self.bearer, self.cookie, self.refresh, self.password, self.api_key, self.basic_blob)

    def lines(self) -> tuple[str, ...]:
        """Each canary as a person would paste it from the capture."""
        return (
            f"Authorization: Bearer {self.bearer}",
            f"Cookie: sessionid={self.cookie}",
            f'{{"refresh_token": "{self.refresh}", "token_type": "Bearer"}}',
            f"Authorization: Basic {self.basic_blob}",
            f"https://{HOST}/v1/geo?address=x&api_key={self.api_key}",
        )

    def found_in(self, data: bytes | str) -> list[str]:
        """Which canaries (by position in `values`, never the value) appear in some bytes or text."""
        raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
        return [f"canary #{n}" for n, value in enumerate(self.values()) if value.encode() in raw]


def capture_with(c: Canaries) -> bytes:
    entries = [
        harbuild.entry(f"https://{HOST}/v1/me", request_headers=[("Authorization", f"Bearer {c.bearer}")]),
        harbuild.entry(
            f"https://{HOST}/v1/items",
            request_headers=[("Cookie", f"sessionid={c.cookie}")],
            request_cookies=[("sessionid", c.cookie)],
        ),
        harbuild.entry(
            f"https://{HOST}/oauth/token",
            method="POST",
            body=json.dumps({"access_token_type": "Bearer", "refresh_token": c.refresh, "expires_in": 300}),
        ),
        harbuild.entry(f"https://{HOST}/reports", request_headers=[("Authorization", f"Basic {c.basic_blob}")]),
        harbuild.entry(f"https://{HOST}/v1/geo?address=x&api_key={c.api_key}"),
    ]
    entries[-1]["request"]["queryString"] = [{"name": "address", "value": "x"}, {"name": "api_key", "value": c.api_key}]
    return json.dumps(harbuild.har(*entries), indent=2).encode()


@dataclass
class Logs:
    structlog: io.StringIO
    stdlib: pytest.LogCaptureFixture
    changed: list[tuple[logging.Logger, bool, int]] = field(default_factory=list)

    def every_logger_on(self) -> None:
        """As an operator debugging with every `logging` logger at DEBUG would have it. Called once the service
        has started: the migrations' logging configuration disables the loggers that exist by then."""
        for logger in logging.root.manager.loggerDict.values():
            if isinstance(logger, logging.Logger):
                self.changed.append((logger, logger.disabled, logger.level))
                logger.disabled, logger.level = False, logging.NOTSET


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[Logs]:
    """responder's own structlog events at debug level, rendered as the service renders them (its processors,
    JSON), into a buffer; and every stdlib logger (httpx, SQLAlchemy, alembic, python-multipart) at DEBUG."""
    saved = structlog.get_config()
    rendered = io.StringIO()
    configure_logging(json=True, level="debug")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=rendered))
    caplog.set_level(logging.DEBUG)
    logs = Logs(rendered, caplog)
    yield logs
    structlog.configure(**saved)
    for logger, disabled, level in logs.changed:
        logger.disabled, logger.level = disabled, level


@dataclass
class Exchange:
    """What the test said to the service and what it answered, kept for the final search."""

    answers: list[tuple[str, Response]] = field(default_factory=list)

    def send(self, label: str, response: Response) -> Response:
        self.answers.append((label, response))
        return response


def test_canaries_appear_nowhere(
    service_settings: Callable[..., Settings],
    idp: FakeIdP,
    tmp_path: Path,
    debug_logs: Logs,
) -> None:
    c = Canaries()
    idp.add_user("u-ana", "ana@example.com")
    for token in (c.bearer, c.cookie, c.refresh, c.api_key):
        idp.issue(token, subject="u-ana")  # the FakeIdP files them by digest only
    settings = service_settings()
    har = capture_with(c)
    sent = Exchange()
    downloads: list[bytes] = []
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        debug_logs.every_logger_on()
        accepted = []
        uploads: list[tuple[str, dict[str, Any]]] = [
            ("raw upload", {"content": har, "params": {"filename": "ticket-4711.har"}}),
            ("multipart upload", {"files": {"file": ("ticket-4712.har", har, "application/json")}}),
            ("dry-run upload", {"content": har, "params": {"dry_run": "true"}}),
            ("text upload", {"content": "\n".join(c.lines()).encode(), "params": {"filename": "paste.txt"}}),
        ]
        for label, kwargs in uploads:
            answer = sent.send(label, client.post("/v1/artifacts", headers=bearer("uploader"), **kwargs))
            assert answer.status_code == 202, (label, answer.status_code)
            accepted.append(answer.json())
        assert len(accepted[0]["findings"]) >= 5  # every planted kind was found: the sanitized copy must lack it

        refused_uploads = [
            ("binary upload", b"\x00\xff" * 64 + har + b"\x00" * 512, {}),
            ("truncated gzip", gzip.compress(har)[:200], {"filename": "ticket.har.gz"}),
            ("broken zip", b"PK\x03\x04" + har[:300], {"filename": "ticket.zip"}),
        ]
        for label, body, params in refused_uploads:
            answer = sent.send(
                label, client.post("/v1/artifacts", content=body, params=params, headers=bearer("uploader"))
            )
            assert answer.status_code == 422, (label, answer.status_code)
        form = f'--b0\r\nContent-Disposition: form-data; name="file"\r\n\r\n{c.lines()[0]}\r\n--b0--\r\n'
        multipart = {**bearer("uploader"), "Content-Type": "multipart/form-data; boundary=b0"}
        answer = sent.send("file as a field", client.post("/v1/artifacts", content=form.encode(), headers=multipart))
        assert answer.status_code == 422

        for line in c.lines():
            panic = {
                "provider": "lab",
                "scope": "user",
                "targets": ["ana@example.com"],
                "reason": f"ticket 4711: {line}",
            }
            answer = sent.send("panic reason", client.post("/v1/panic", json=panic, headers=bearer("responder")))
            assert answer.status_code == 202, answer.text
            wait_done(client, answer.json()["status_url"], role="auditor")
            for where in ("targets", "confirm", "provider"):
                bad = {**panic, "reason": "r", "targets": [line]} if where == "targets" else {**panic, where: line}
                if where == "confirm":
                    bad |= {"scope": "all", "targets": [], "confirm": line}
                answer = sent.send(f"panic {where}", client.post("/v1/panic", json=bad, headers=bearer("responder")))
                assert 400 <= answer.status_code < 500, (where, answer.status_code)
            for name in ("user", "provider", "intake", "panic"):
                for route in ("/v1/ledger", "/v1/report"):
                    answer = sent.send(
                        f"{route} {name}", client.get(route, params={name: line}, headers=bearer("auditor"))
                    )
                    assert 400 <= answer.status_code < 500, (route, name, answer.status_code)
            for path in (f"/v1/intakes/{quote(line, safe='')}", f"/v1/panics/{quote(line, safe='')}"):
                answer = sent.send("path parameter", client.get(path, headers=bearer("auditor")))
                assert answer.status_code in (404, 422), answer.status_code  # no such route, or not an id
        csrf = log_in(client, "responder")  # the panic page: the same words typed into its form
        for line in c.lines():
            confirmation = sent.send(
                "page prepare", prepare(client, csrf, scope="user", target="ana@example.com", reason=f"t 9: {line}")
            )
            assert confirmation.status_code == 200, confirmation.text
            done = sent.send("page confirm", confirm(client, confirmation, "ana@example.com"))
            assert done.status_code == 303
            sent.send("page progress", client.get(done.headers["location"]))
            wait_page_done(client, done.headers["location"])
            for where in ("target", "provider"):
                refused = sent.send(f"page {where}", prepare(client, csrf, scope="user", **{where: line}))
                assert refused.status_code == 422, (where, refused.status_code)
                assert "looks like a credential" in refused.text
        sent.send("page index", client.get("/panic"))
        assert csrf_of(client.get("/panic").text)
        sent.send("api key", client.get("/v1/ledger", headers={"X-API-Key": c.bearer}))
        sent.send("bearer key", client.get("/v1/ledger", headers={"Authorization": f"Bearer {c.api_key}"}))

        for intake in accepted:
            wait_done(client, intake["status_url"])
        for intake in accepted[:2]:  # the others' copies stay on disk, and are searched there below
            answer = sent.send("sanitized copy", client.get(intake["sanitized_url"], headers=bearer("uploader")))
            assert answer.status_code == 200
            downloads.append(answer.content)
        sent.send("metrics", client.get("/metrics", headers=bearer("auditor")))
        sent.send("ledger", client.get("/v1/ledger", headers=bearer("auditor")))
        report = sent.send("report", client.get("/v1/report", headers=bearer("auditor")))
        assert report.text.count(REMOVED) >= 2 * len(c.lines())  # the panics went ahead; their reasons lost the values
        for intake in accepted:
            sent.send("intake status", client.get(intake["status_url"], headers=bearer("uploader")))

    assert idp.state(c.bearer).revoked  # the canaries were live credentials, and were ended
    leaks: list[str] = []
    for label, answer in sent.answers:
        body = answer.content + "".join(f"{k}: {v}\n" for k, v in answer.headers.items()).encode()
        leaks += [f"answer to {label}: {found}" for found in c.found_in(body)]
    for n, content in enumerate(downloads):
        assert content.count(b'"entries"') == 1  # still a HAR
        leaks += [f"downloaded sanitized copy {n}: {found}" for found in c.found_in(content)]
    # Test-side log records (the test client's own request lines carry the URLs it was asked to send) aside.
    service_records = [r for r in debug_logs.stdlib.records if "http://testserver" not in r.getMessage()]
    assert any(r.name.startswith("httpx") for r in service_records)  # the engine's calls were logged
    leaks += [f"log record {r.name}: {found}" for r in service_records for found in c.found_in(r.getMessage())]
    events = debug_logs.structlog.getvalue()
    assert '"event": "artifact_received"' in events
    leaks += [f"structlog event: {found}" for found in c.found_in(events)]
    kept = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    assert any(p.name.startswith("ledger.sqlite3") for p in kept)
    assert any("sanitized" in p.parts for p in kept)  # the copies not downloaded are still there
    leaks += [f"file {p.relative_to(settings.data_dir)}: {found}" for p in kept for found in c.found_in(p.read_bytes())]
    assert not [p for p in (settings.data_dir / "spool").rglob("*") if p.is_file()]
    assert not leaks, "\n".join(leaks)
