"""authentik end to end inside responder: a capture with a logged-in `authentik_session` goes through the real
plugin registry, the planner, the ledger (SQLite) and the engine, against the schema-checked fake authentik."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from sqlalchemy import select

from responder.ledger.schema import actions
from responder.model import Trigger
from responder.plugins import load_readers
from responder.scan import Scanner
from responder.secret import Fingerprinter
from responder.service import Responder
from responder.settings import load_settings
from tests import harbuild
from tests.conftest import TEST_KEY
from tests.providers.conftest import BASE, RESPONDER_TOKEN, FakeAuthentik


def session_cookie(uid: str, session_key: str) -> str:
    claims = {
        "sid": session_key,
        "iss": "authentik",
        "sub": uid,
        "authenticated": True,
        "acr": "goauthentik.io/core/default",
    }
    return jwt.encode(claims, "authentik-signing-key-not-known-to-responder", algorithm="HS256")


def test_a_leaked_authentik_session_ends_every_session_and_refresh_token_of_its_user(
    authentik: FakeAuthentik, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESPONDER_TEST_AK_TOKEN", RESPONDER_TOKEN)
    victim = authentik.add_user(7, "ana", sessions=2, refresh_tokens=2)
    bystander = authentik.add_user(8, "bob", sessions=1, refresh_tokens=1)
    cookie = session_cookie(victim.uid, "k" * 32)
    capture = harbuild.write(
        tmp_path / "ticket-4711.har",
        harbuild.har(
            harbuild.entry(
                f"{BASE}/if/user/", response_headers=[("Set-Cookie", f"authentik_session={cookie}; Path=/")]
            ),
            harbuild.entry(f"{BASE}/api/v3/core/users/me/", request_cookies=[("authentik_session", cookie)]),
        ),
    )
    settings = load_settings(
        None,
        data_dir=tmp_path / "data",
        providers=[{"name": "ak", "plugin": "authentik", "base_url": BASE, "token_env": "RESPONDER_TEST_AK_TOKEN"}],
        engine={"threads": 1, "poll_seconds": 0.1},
    )
    report = Scanner(load_readers(), Fingerprinter(TEST_KEY), settings.scan, settings.providers).scan(capture)
    service = Responder.from_settings(settings)  # the plugin comes from the `responder.providers` entry point
    try:
        first = service.intake(report, trigger=Trigger.UPLOAD, actor="t", source="zendesk", reference="ticket 4711")
        assert first.unhandled == 0
        service.engine(sleep=lambda _s: None).run(until_idle=True)
        with service.ledger.reader() as connection:
            rows = {row.verb: row for row in connection.execute(select(actions))}
        assert set(rows) == {"end_all_sessions", "revoke_refresh_tokens"}
        for row in rows.values():
            assert (row.state, row.outcome, row.verified) == ("done", "revoked", True), row.detail
            assert (row.subject_id, row.subject_login) == (victim.uid, "ana")
        assert authentik.sessions_of(victim) == []
        assert [pk for pk, revoked in authentik.refresh_tokens.values() if pk == victim.pk and not revoked] == []
        assert len(authentik.sessions_of(bystander)) == 1  # nobody else was logged out

        again = service.intake(report, trigger=Trigger.SWEEP, actor="t", source="zendesk", reference="ticket 4711")
        assert again.recorded.planned == ()
        assert set(again.recorded.sighted_again) == {row.id for row in rows.values()}
        assert service.ledger.verify_chain().intact
    finally:
        service.close()
