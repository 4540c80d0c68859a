"""The service end to end under TestClient: upload → intake recorded → engine revokes → status; panic; ledger;
access control; size limits; the sanitized copy once; metrics."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from responder.api import create_app
from responder.settings import Settings
from responder.testing import FakeIdP
from tests.api.conftest import KEYS, bearer
from tests.ledger.conftest import random_token
from tests.ledger.flows import capture


def wait_done(client: TestClient, url: str, role: str = "uploader", timeout: float = 20) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(url, headers=bearer(role)).json()
        if body["progress"]["state"] == "done" or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def test_an_upload_is_recorded_revoked_and_reported_without_any_value(
    client: TestClient, idp: FakeIdP, tmp_path: Path
) -> None:
    tokens = [random_token() for _ in range(2)]
    for n, token in enumerate(tokens):
        idp.issue(token, subject=f"user-{n}")
    har = capture(tmp_path / "ticket.har", tokens).read_bytes()
    answer = client.post("/v1/artifacts?filename=ticket.har", content=har, headers=bearer("uploader"))
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert accepted["actions_planned"] == 2
    assert {f["kind"] for f in accepted["findings"]} == {"access_token"}
    assert all(token not in answer.text for token in tokens)

    status = wait_done(client, accepted["status_url"])
    assert status["progress"] == {"actions": 2, "finished": 2, "pending": 0, "state": "done"}
    assert all(idp.state(token).revoked for token in tokens)
    assert {a["subject_id"] for a in status["actions"]} == {"user-0", "user-1"}  # type: ignore[index]
    assert all(a["actor"] == "api:uploader" for a in status["actions"])  # type: ignore[index]

    copy = client.get(accepted["sanitized_url"], headers=bearer("uploader"))
    assert copy.status_code == 200
    assert all(token.encode() not in copy.content for token in tokens)
    assert json.loads(copy.content)["log"]["entries"]  # still a HAR
    assert client.get(accepted["sanitized_url"], headers=bearer("uploader")).status_code == 404  # once only
    spool = Path(client.app.state.responder.spool_dir)  # type: ignore[attr-defined]
    assert list(spool.iterdir()) == []  # the original is gone once recorded


def test_a_multipart_upload_is_the_same(client: TestClient, idp: FakeIdP, tmp_path: Path) -> None:
    token = random_token()
    idp.issue(token, subject="ana")
    har = capture(tmp_path / "x.har", [token]).read_bytes()
    answer = client.post(
        "/v1/artifacts", files={"file": ("from-ticket.har", har, "application/json")}, headers=bearer("uploader")
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["artifact"]["name"] == "from-ticket.har"
    wait_done(client, answer.json()["status_url"])
    assert idp.state(token).revoked


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"", 400, "empty"),
        (b"\x00\x01\x02\x03binary junk" * 10, 422, "could not read"),
    ],
)
def test_bad_uploads_are_refused_clearly(client: TestClient, body: bytes, status: int, detail: str) -> None:
    answer = client.post("/v1/artifacts", content=body, headers=bearer("uploader"))
    assert answer.status_code == status
    assert detail in answer.json()["detail"]


def test_an_upload_over_the_limit_is_refused_with_413(service_settings: Callable[..., Settings]) -> None:
    settings = service_settings(serve={"max_upload_bytes": 1000})
    with TestClient(create_app(settings)) as client:
        declared = client.post("/v1/artifacts", content=b"x" * 2000, headers=bearer("uploader"))
        assert declared.status_code == 413

        def chunks() -> object:
            for _ in range(10):
                yield b"y" * 500

        streamed = client.post("/v1/artifacts", content=chunks(), headers=bearer("uploader"))  # no Content-Length
        assert streamed.status_code == 413
        assert [p for p in Path(settings.data_dir, "spool").rglob("*") if p.is_file()] == []


SAMPLE_ID = "0b7f5a3e-2f4d-4c61-9a1e-5d3c8b2e7f90"
KEYED_ROUTES = [  # every route that takes an API key, with the roles it admits
    ("POST", "/v1/artifacts", ("uploader",)),
    ("GET", "/v1/intakes/{intake_id}", ("uploader", "auditor")),
    ("GET", "/v1/intakes/{intake_id}/sanitized", ("uploader",)),
    ("POST", "/v1/panic", ("responder",)),
    ("GET", "/v1/panics/{panic_id}", ("responder", "auditor")),
    ("GET", "/v1/ledger", ("auditor",)),
    ("GET", "/v1/ledger/verify", ("auditor",)),
    ("GET", "/v1/report", ("auditor",)),
    ("GET", "/metrics", ("auditor",)),
]
OPEN_ROUTES = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


@pytest.mark.parametrize(("method", "template", "roles"), KEYED_ROUTES)
def test_every_route_needs_a_key_with_its_role(
    client: TestClient, method: str, template: str, roles: tuple[str, ...]
) -> None:
    path = template.replace("{intake_id}", SAMPLE_ID).replace("{panic_id}", SAMPLE_ID)
    assert client.request(method, path).status_code == 401
    assert client.request(method, path, headers={"Authorization": "Bearer not-a-key"}).status_code == 401
    for other in (r for r in KEYS if r not in roles):
        refused = client.request(method, path, headers=bearer(other))
        assert refused.status_code == 403, (other, refused.status_code)
        assert roles[0] in refused.json()["detail"]
    for role in roles:
        assert client.request(method, path, headers={"X-API-Key": KEYS[role]}).status_code not in (401, 403)


def test_the_key_table_covers_every_route(client: TestClient) -> None:
    """A route added without a row above fails here: none can slip in without its key check being tested. The
    panic page (its own login, not in the API description) and the webhooks (the vendor's signature) are
    tested in their own files."""
    published = client.get("/openapi.json").json()["paths"]
    served = {
        (method.upper(), path)
        for path, operations in published.items()
        if path not in OPEN_ROUTES and not path.startswith("/v1/webhooks/")
        for method in operations
    }
    assert served == {(method, template) for method, template, _ in KEYED_ROUTES}


def test_refusals_are_counted(client: TestClient) -> None:
    client.get("/v1/ledger")
    client.get("/v1/ledger", headers=bearer("uploader"))
    metrics = client.get("/metrics", headers=bearer("auditor")).text
    assert 'responder_api_auth_failures_total{reason="missing"} 1.0' in metrics
    assert 'responder_api_auth_failures_total{reason="forbidden"} 1.0' in metrics


def test_panic_by_login_runs_and_reports(client: TestClient, idp: FakeIdP) -> None:
    idp.add_user("u-7", "eve@example.com")
    answer = client.post(
        "/v1/panic",
        json={"provider": "lab", "scope": "user", "targets": ["eve@example.com"], "reason": "HAR in ticket 9"},
        headers=bearer("responder"),
    )
    assert answer.status_code == 202, answer.text
    status = wait_done(client, answer.json()["status_url"], role="auditor")
    assert status["progress"]["state"] == "done"  # type: ignore[index]
    assert idp.logouts == {"u-7": 1}
    assert status["actions"][0]["subject_login"] == "eve@example.com"  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"provider": "lab", "scope": "all", "reason": "r"}, 422, "confirm"),
        ({"provider": "lab", "scope": "all", "reason": "r", "confirm": "lab", "targets": ["x"]}, 422, "no targets"),
        ({"provider": "lab", "scope": "user", "reason": "r"}, 422, "needs targets"),
        ({"provider": "nope", "scope": "user", "targets": ["x"], "reason": "r"}, 404, "no provider instance"),
        ({"provider": "lab", "scope": "user", "targets": ["ghost"], "reason": "r"}, 404, "no user 'ghost'"),
        ({"provider": "lab", "scope": "group", "targets": ["none"], "reason": "r"}, 404, "no group"),
    ],
)
def test_panic_mistakes_change_nothing(
    client: TestClient, idp: FakeIdP, body: dict[str, object], status: int, detail: str
) -> None:
    answer = client.post("/v1/panic", json=body, headers=bearer("responder"))
    assert answer.status_code == status
    assert detail in answer.json()["detail"]
    assert idp.logouts == {}


def test_ledger_routes_for_auditors(client: TestClient, idp: FakeIdP, tmp_path: Path) -> None:
    token = random_token()
    idp.issue(token, subject="zoe")
    accepted = client.post(
        "/v1/artifacts", content=capture(tmp_path / "a.har", [token]).read_bytes(), headers=bearer("uploader")
    ).json()
    wait_done(client, accepted["status_url"])
    listed = client.get("/v1/ledger", params={"user": "zoe"}, headers=bearer("auditor")).json()
    assert listed["returned"] == 1
    assert listed["actions"][0]["outcome"] == "revoked"
    chain = client.get("/v1/ledger/verify", headers=bearer("auditor")).json()
    assert chain["intact"] is True
    assert chain["checked"] > 0
    report = client.get("/v1/report", headers=bearer("auditor")).json()
    assert "zoe" in {u["subject_id"] for u in report["users"]}
    assert client.get("/v1/ledger", params={"outcome": "bogus"}, headers=bearer("auditor")).status_code == 422


def test_health_and_readiness_need_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ledger"] == "ok"
    assert ready.json()["engine"] == "running"
    deadline = time.monotonic() + 10
    while ready.json()["providers"]["lab"]["ok"] is None and time.monotonic() < deadline:  # checked at start
        time.sleep(0.05)
        ready = client.get("/readyz")
    assert ready.json()["providers"]["lab"]["ok"] is True


def test_a_slow_idp_never_holds_up_the_readiness_probe(service_settings: Callable[..., Settings]) -> None:
    release = threading.Event()
    with TestClient(create_app(service_settings(), run_engine=False)) as client:
        lab = client.app.state.responder.responder.providers["lab"]  # type: ignore[attr-defined]
        checked = lab.check

        def slow_check() -> Any:
            release.wait(30)
            return checked()

        state = client.app.state.responder  # type: ignore[attr-defined]
        while state.ready_checking:  # the round started with the app is over
            time.sleep(0.01)
        lab.check = slow_check
        state.ready_cache.clear()
        started = time.monotonic()
        first = client.get("/readyz")
        assert time.monotonic() - started < 2
        assert first.status_code == 200
        assert first.json()["providers"]["lab"] == {"ok": None, "detail": "checking"}
        assert first.json()["status"] == "ready"  # not known to be down: not degraded
        release.set()
        deadline = time.monotonic() + 10
        while client.get("/readyz").json()["providers"]["lab"]["ok"] is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.get("/readyz").json()["providers"]["lab"]["ok"] is True


def metrics_after_an_upload(client: TestClient, idp: FakeIdP, tmp_path: Path, token: str) -> str:
    """Upload a capture holding one live token, wait until its actions are done, and scrape /metrics."""
    idp.issue(token, subject="max")
    accepted = client.post(
        "/v1/artifacts", content=capture(tmp_path / "m.har", [token]).read_bytes(), headers=bearer("uploader")
    ).json()
    wait_done(client, accepted["status_url"])
    return client.get("/metrics", headers=bearer("auditor")).text


def test_metrics_count_findings_and_outcomes(client: TestClient, idp: FakeIdP, tmp_path: Path) -> None:
    token = random_token()
    text = metrics_after_an_upload(client, idp, tmp_path, token)
    assert 'responder_findings_total{kind="access_token"} 1.0' in text
    assert 'responder_actions_finished_total{outcome="revoked",provider="lab"} 1.0' in text
    assert "responder_revocation_latency_seconds_count 1.0" in text
    assert "responder_queue_depth 0.0" in text
    assert "responder_idp_errors_total{" not in text  # nothing failed
    assert token not in text


def test_every_failed_idp_call_is_counted_even_when_a_retry_succeeds(
    client: TestClient, idp: FakeIdP, tmp_path: Path
) -> None:
    idp.fail_next(2, status=503, method="POST")  # two answers of 503, then the revocation goes through
    text = metrics_after_an_upload(client, idp, tmp_path, random_token())
    assert 'responder_idp_errors_total{provider="lab"} 2.0' in text
    assert 'responder_actions_finished_total{outcome="revoked",provider="lab"} 1.0' in text
    assert 'responder_intakes_total{trigger="upload"} 1.0' in text


def test_a_dead_processs_upload_spool_is_removed_at_start(service_settings: Callable[..., Settings]) -> None:
    import socket

    from responder.leases import process_tag

    settings = service_settings()
    uploads = settings.data_dir / "spool" / "uploads"
    namespace = process_tag().split(".")[1]
    dead = uploads / f"{socket.gethostname()[:60]}~999999.{namespace}~abcdef"  # killed mid-upload: no such pid
    elsewhere = uploads / f"another-host~123.{namespace}~abcdef"  # another host's process may be alive
    for spool in (dead, elsewhere):
        spool.mkdir(parents=True)
        (spool / "0123-capture.har").write_text("raw capture with live tokens")

    app = create_app(settings, run_engine=False)

    assert not dead.exists()
    assert (elsewhere / "0123-capture.har").exists()
    own = Path(app.state.responder.spool_dir)
    assert own.parent == uploads
    assert own.stat().st_mode & 0o777 == 0o700


def test_a_sanitized_copy_nobody_downloads_is_deleted_in_time(service_settings: Callable[..., Settings]) -> None:
    import os

    from responder.api.artifacts import expire_sanitized

    settings = service_settings()
    with TestClient(create_app(settings, run_engine=False)) as client:
        folder = client.app.state.responder.sanitized_dir  # type: ignore[attr-defined]
        old, fresh, half_sent = folder / SAMPLE_ID, folder / "fresh-intake", folder / f"{SAMPLE_ID}.sending-ab"
        for copy in (old, fresh, half_sent):
            copy.mkdir()
            (copy / "ticket.har").write_text("{}")
        day_ago = time.time() - 25 * 3600
        for copy in (old, half_sent):
            os.utime(copy, (day_ago, day_ago))
        assert expire_sanitized(folder, settings.serve.sanitized_keep_hours) == 2
        assert [p.name for p in folder.iterdir()] == ["fresh-intake"]
