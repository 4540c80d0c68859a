"""From a HAR to planned actions with the Okta plugin: what the scanner recognises on an Okta org, what the plugin
plans for each finding, and what the planner records (planned, needs_subject, unhandled). No I/O: nothing is
executed here (tests/providers/test_okta.py does that against the fake org)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jwt

from providers.okta import OktaProvider
from responder.http import build_client
from responder.ledger.store import FindingRecord, IntakeRecord
from responder.model import Subject, Verb
from responder.plan import Planner
from responder.plugins import load_readers
from responder.scan import Scanner
from responder.seal import Sealer
from responder.secret import Fingerprinter
from responder.settings import ProviderConfig, ScanSettings
from tests import harbuild

ORG = "acme.okta.com"  # only ever scanned for, never called
ALICE = "00u00000000000000001"
SPA = "0oa2spaBBBBBBBBBBBBB"
INTAKE = IntakeRecord("i-1", "upload", "test", "cli", "x.har", "x.har", "0" * 64, 1, "har", False)


def _jwt(claims: dict[str, Any]) -> str:
    return jwt.encode({"ver": 1, "iat": 1767225600, "exp": 4102444800, **claims}, "k" * 32, "HS256")


def _token_response(host: str) -> dict[str, Any]:
    issuer = f"https://{host}/oauth2/default"
    access = _jwt({"iss": issuer, "aud": "api://default", "cid": SPA, "uid": ALICE, "sub": "alice@acme.test"})
    body = {
        "token_type": "Bearer",
        "expires_in": 3600,
        "access_token": access,
        "id_token": _jwt({"iss": issuer, "aud": SPA, "sub": ALICE}),
        "refresh_token": "R" * 40,
    }
    return harbuild.entry(f"https://{host}/oauth2/default/v1/token", method="POST", body=json.dumps(body))


def _records(tmp_path: Path, host: str, *entries: dict[str, Any]) -> dict[str, FindingRecord]:
    """Scan a HAR of these entries and plan it; records keyed by the first location's name."""
    path = harbuild.write(tmp_path / "capture.har", harbuild.har(*entries))
    table = {"name": "okta", "plugin": "okta", "base_url": f"https://{host}", "token": "unused-here"}
    config = ProviderConfig.model_validate(table)
    scanner = Scanner(load_readers(), Fingerprinter(b"okta-scan-test-key-0123456789ab"), ScanSettings(), (config,))
    report = scanner.scan(path)
    provider = OktaProvider.from_config(config.model_dump(), build_client(f"https://{host}"))
    planner = Planner({"okta": provider}, Sealer(os.urandom(32)))
    names = {f.fingerprint: f.locations[0].name for f in report.findings}
    return {names[r.fingerprint]: r for r in planner.for_intake(INTAKE, report.findings)}


def test_a_capture_from_an_okta_org(tmp_path: Path) -> None:
    records = _records(
        tmp_path,
        ORG,
        harbuild.entry(
            f"https://{ORG}/app/UserHome",
            request_cookies=[("idx", "102" + "i" * 40), ("JSESSIONID", "J" * 32), ("DT", "d" * 24)],
        ),
        harbuild.entry(f"https://{ORG}/login/sessionCookieRedirect", request_cookies=[("sid", "102" + "s" * 22)]),
        _token_response(ORG),
        harbuild.entry(f"https://{ORG}/api/v1/users/me", request_headers=[("Authorization", "SSWS 00" + "t" * 40)]),
    )
    dispositions = {name: record.disposition for name, record in records.items()}
    assert dispositions == {
        "idx": "planned",
        "sid": "planned",
        "JSESSIONID": "unhandled",
        "access_token": "planned",
        "id_token": "no_action",
        "refresh_token": "planned",
        "Authorization": "planned",
    }
    verbs = {name: [(a.verb, a.subject, a.sealed is not None) for a in r.actions] for name, r in records.items()}
    alice = Subject("okta", ALICE)
    assert verbs["idx"] == [(Verb.END_ALL_SESSIONS, alice, True)]  # the cookie is kept: it names its user
    assert verbs["sid"] == [(Verb.END_SESSION, alice, True)]
    assert verbs["access_token"] == [(Verb.END_ALL_SESSIONS, alice, False)]  # another client's: no RFC 7009
    assert verbs["refresh_token"] == [(Verb.END_ALL_SESSIONS, alice, False)]
    assert verbs["Authorization"] == [(Verb.DELETE_API_TOKEN, None, True)]


def test_a_refresh_token_alone_needs_a_person_to_name_its_user(tmp_path: Path) -> None:
    body = json.dumps({"token_type": "Bearer", "refresh_token": "R" * 40})
    records = _records(tmp_path, ORG, harbuild.entry(f"https://{ORG}/oauth2/default/v1/token", body=body))
    assert records["refresh_token"].disposition == "needs_subject"


def test_an_idx_cookie_on_a_custom_domain_is_recognised(tmp_path: Path) -> None:
    host = "sso.acme.test"
    records = _records(
        tmp_path, host, harbuild.entry(f"https://{host}/app/UserHome", request_cookies=[("idx", "102" + "i" * 40)])
    )
    assert records["idx"].disposition == "planned"
