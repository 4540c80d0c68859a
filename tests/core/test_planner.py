"""The planner hands each provider the artifact's other findings as evidence, and records a cookie whose user
no one can name as needs_subject instead of dropping it or guessing."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import ClassVar

from responder.ledger.store import NEEDS_A_PERSON, IntakeRecord
from responder.model import (
    Family,
    Finding,
    Kind,
    ProviderRef,
    Subject,
    Target,
    Verb,
    subject_from_claims,
    subject_from_related,
)
from responder.plan import Planner, panic_actions
from responder.seal import Sealer
from responder.secret import Secret

INTAKE = IntakeRecord("i-1", "upload", "test", "cli", "x.har", "x.har", "0" * 64, 1, "har", False)


def finding(fp: str, kind: Kind, claims: dict[str, str] | None = None, instance: str = "idp") -> Finding:
    return Finding(
        fingerprint=fp,
        kind=kind,
        detector="test",
        label="test",
        revocable=True,
        provider=ProviderRef(Family.ENTRA, instance),
        claims=claims or {},
        expires_at=None,
        locations=(),
        value=Secret(f"value-of-{fp}"),
    )


class CookieByEvidence:
    """Like Entra: an opaque cookie names nobody; an id_token in the same artifact may."""

    plugin: ClassVar[str] = "test"
    name = "idp"
    seen_related: list[list[str]]

    def __init__(self) -> None:
        self.seen_related = []

    def claims(self, f: Finding) -> bool:
        return True

    def plan(self, f: Finding, related: Sequence[Finding] = ()) -> tuple[Target, ...]:
        self.seen_related.append([r.fingerprint for r in related])
        if f.kind is Kind.SESSION_COOKIE:
            subject = subject_from_related(self.name, related, "oid")
            return (Target(Verb.END_ALL_SESSIONS, uses_credential=False, subject=subject),)
        if f.kind is Kind.ID_TOKEN:
            return ()
        return (Target(Verb.END_ALL_SESSIONS, False, subject_from_claims(self.name, f.claims, "oid")),)


def plan(provider: CookieByEvidence, findings: list[Finding]) -> dict[str, str]:
    planner = Planner({"idp": provider}, Sealer(os.urandom(32)))  # type: ignore[dict-item]
    return {r.fingerprint: r.disposition for r in planner.for_intake(INTAKE, findings)}


def test_a_cookie_takes_its_user_from_an_id_token_in_the_same_artifact() -> None:
    provider = CookieByEvidence()
    cookie = finding("c", Kind.SESSION_COOKIE)
    id_token = finding("t", Kind.ID_TOKEN, {"oid": "user-1"})
    other_instance = finding("o", Kind.ID_TOKEN, {"oid": "user-2"}, instance="elsewhere")
    planner = Planner({"idp": provider}, Sealer(os.urandom(32)))  # type: ignore[dict-item]
    records = {r.fingerprint: r for r in planner.for_intake(INTAKE, [cookie, id_token, other_instance])}
    assert records["c"].disposition == "planned"
    assert records["c"].subject_id == "user-1"
    assert records["c"].actions[0].subject == Subject("idp", "user-1")
    # evidence is the same instance's other findings, never the finding itself nor another instance's
    assert provider.seen_related[0] == ["t"]


def test_a_cookie_alone_needs_a_subject_and_a_person() -> None:
    dispositions = plan(CookieByEvidence(), [finding("c", Kind.SESSION_COOKIE)])
    assert dispositions == {"c": "needs_subject"}
    assert "needs_subject" in NEEDS_A_PERSON


def test_two_different_users_in_the_evidence_are_never_guessed_between() -> None:
    findings = [
        finding("c", Kind.SESSION_COOKIE),
        finding("t1", Kind.ID_TOKEN, {"oid": "user-1"}),
        finding("t2", Kind.ID_TOKEN, {"oid": "user-2"}),
    ]
    assert plan(CookieByEvidence(), findings)["c"] == "needs_subject"


def test_masked_claims_are_not_evidence() -> None:
    findings = [finding("c", Kind.SESSION_COOKIE), finding("t", Kind.ID_TOKEN, {"oid": "fingerprint:abc"})]
    assert plan(CookieByEvidence(), findings)["c"] == "needs_subject"


def test_panic_acts_once_per_user_and_verb_even_when_listed_twice() -> None:
    users = [Subject("idp", "u1"), Subject("idp", "u2"), Subject("idp", "u1")]
    verbs = (Verb.END_ALL_SESSIONS.value, Verb.REVOKE_REFRESH_TOKENS.value)
    actions = panic_actions("idp", users, "p-1", "cli:test", verbs=verbs)
    assert [(a.subject.user_id if a.subject else "", a.verb) for a in actions] == [
        ("u1", "end_all_sessions"),
        ("u1", "revoke_refresh_tokens"),
        ("u2", "end_all_sessions"),
        ("u2", "revoke_refresh_tokens"),
    ]
    assert len({a.id for a in actions}) == 4
    again = panic_actions("idp", users, "p-2", "cli:test", verbs=verbs)
    assert not {a.id for a in actions} & {a.id for a in again}  # a second panic runs again


def test_several_cookies_of_one_user_make_one_user_wide_action_per_verb() -> None:
    provider = CookieByEvidence()
    findings = [
        finding("c1", Kind.SESSION_COOKIE),
        finding("c2", Kind.SESSION_COOKIE),
        finding("t", Kind.ID_TOKEN, {"oid": "user-1"}),
    ]
    planner = Planner({"idp": provider}, Sealer(os.urandom(32)))  # type: ignore[dict-item]
    records = {r.fingerprint: r for r in planner.for_intake(INTAKE, findings)}
    assert records["c1"].actions == records["c2"].actions  # one sign-out, seen twice
    assert len(records["c1"].actions) == 1
