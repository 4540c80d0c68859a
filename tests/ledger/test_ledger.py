"""The ledger as system of record: hash chain, one event type per act, idempotent planning, sealing, tamper
evidence. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from responder.keys import open_sealer
from responder.ledger import Ledger
from responder.ledger.chain import GENESIS, EventType, canonical_json
from responder.ledger.queries import Filters, export_events, list_actions, report
from responder.ledger.schema import actions, events, sightings
from responder.ledger.store import FindingRecord, IntakeRecord, PlannedAction
from responder.model import Subject, Trigger
from responder.plan import action_key
from responder.seal import SealBroken, binding
from responder.service import Responder
from responder.settings import Settings, load_settings
from responder.testing import FakeIdP
from tests.ledger import flows
from tests.ledger.conftest import random_token


def event_types(ledger: Ledger) -> list[str]:
    with ledger.engine.connect() as connection:
        return [row.type for row in connection.execute(select(events.c.type).order_by(events.c.seq))]


@pytest.fixture
def idp() -> FakeIdP:
    with FakeIdP() as running:
        yield running  # type: ignore[misc]


@pytest.fixture
def lab(make_settings: Callable[..., Settings], idp: FakeIdP) -> Settings:
    return make_settings(providers=[flows.lab_provider(idp.url)])


def test_an_intake_records_one_event_per_act_and_a_verifiable_chain(lab: Settings, tmp_path: Path) -> None:
    tokens = [random_token(), random_token()]
    report = flows.scan(lab, flows.capture(tmp_path / "a.har", tokens))
    service = flows.responder(lab)
    result = service.intake(report, trigger=Trigger.UPLOAD, actor="test", source="cli", reference="a.har")
    assert len(result.action_ids) == 2
    assert event_types(service.ledger)[0] == "artifact_received"
    types = Counter(event_types(service.ledger))
    assert types == {"artifact_received": 1, "finding_recorded": 2, "action_planned": 2}
    assert service.ledger.verify_chain().intact
    service.close()


def test_the_chain_is_recomputable_from_an_export_alone(lab: Settings, tmp_path: Path) -> None:
    """The documented canonical form (docs/ledger.md) is enough to verify an export without responder."""
    service = flows.responder(lab)
    report = flows.scan(lab, flows.capture(tmp_path / "a.har", [random_token()]))
    service.intake(report, trigger=Trigger.UPLOAD, actor="test", source="cli", reference="a.har")
    exported = list(export_events(service.ledger, Filters()))
    previous = GENESIS
    for event in exported:
        record = {k: event[k] for k in ("seq", "ts", "type", "intake_id", "action_id", "body")}
        record["prev_hash"] = previous
        digest = hashlib.sha256(
            json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
        ).hexdigest()
        assert event["prev_hash"] == previous
        assert event["hash"] == digest
        previous = digest
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"\\u00e9","b":1}'
    service.close()


def test_the_same_credential_in_two_uploads_is_one_action_with_two_sightings(lab: Settings, tmp_path: Path) -> None:
    token = random_token()
    service = flows.responder(lab)
    first = service.intake(
        flows.scan(lab, flows.capture(tmp_path / "a.har", [token])),
        trigger=Trigger.UPLOAD,
        actor="zendesk",
        source="zendesk",
        reference="ticket 1",
    )
    second = service.intake(
        flows.scan(lab, flows.capture(tmp_path / "b.har", [token, random_token()])),
        trigger=Trigger.SWEEP,
        actor="scheduler",
        source="zendesk",
        reference="ticket 2",
    )
    shared = set(first.action_ids) & set(second.action_ids)
    assert len(shared) == 1
    assert second.recorded.sighted_again == tuple(shared)
    with service.ledger.engine.connect() as connection:
        count = connection.execute(select(sightings).where(sightings.c.action_id == next(iter(shared)))).all()
        planned = connection.execute(
            select(events).where(events.c.type == "action_planned", events.c.action_id == next(iter(shared)))
        ).all()
    assert len(count) == 2
    assert len(planned) == 1
    assert len(list_actions(service.ledger, Filters())) == 2
    service.close()


def test_panic_twice_runs_twice_and_a_dry_run_never_blocks_the_real_run(lab: Settings) -> None:
    service = flows.responder(lab)
    user = Subject("lab", "u-1", "ana@example.com")
    first_id, first = service.panic("lab", [user], actor="oncall", reason="HAR posted to ticket 4711")
    second_id, second = service.panic("lab", [user], actor="oncall", reason="again")
    assert first_id != second_id
    assert first.planned
    assert second.planned
    assert first.planned != second.planned
    assert Counter(event_types(service.ledger))["panic_requested"] == 2

    fingerprint = "f" * 64
    real = action_key(f"fp:{fingerprint}", "lab", "revoke_token")
    rehearsal = action_key(f"fp:{fingerprint}", "lab", "revoke_token", dry_run=True)
    assert real != rehearsal
    assert real == action_key(f"fp:{fingerprint}", "lab", "revoke_token")  # deterministic
    service.close()


def test_a_pending_credential_is_sealed_to_its_action_and_erased_when_done(
    lab: Settings, tmp_path: Path, idp: FakeIdP
) -> None:
    token = random_token()
    idp.issue(token, subject="u-9")
    service = flows.responder(lab)
    result = service.intake(
        flows.scan(lab, flows.capture(tmp_path / "a.har", [token])),
        trigger=Trigger.UPLOAD,
        actor="t",
        source="cli",
        reference="a",
    )
    (action_id,) = result.action_ids
    with service.ledger.engine.connect() as connection:
        sealed = connection.execute(select(actions.c.sealed).where(actions.c.id == action_id)).scalar_one()
    assert sealed
    assert token.encode() not in sealed
    sealer = open_sealer(lab)
    assert sealer.unseal(sealed, binding(action_id, "lab", "revoke_token")).reveal() == token
    for elsewhere in (("another-action", "lab", "revoke_token"), (action_id, "other-idp", "revoke_token")):
        with pytest.raises(SealBroken):
            sealer.unseal(sealed, binding(*elsewhere))  # a blob moved to another row or provider does not open

    service.engine(sleep=lambda _s: None).run(until_idle=True)
    with service.ledger.engine.connect() as connection:
        row = connection.execute(select(actions).where(actions.c.id == action_id)).one()
    assert row.sealed is None
    assert (row.state, row.outcome, row.verified) == ("done", "revoked", True)
    assert row.subject_id == "u-9"
    service.close()


def _settings(url: str, data_dir: Path, idp: FakeIdP) -> Settings:
    return load_settings(None, data_dir=data_dir, ledger={"url": url}, providers=[flows.lab_provider(idp.url)])


def test_editing_or_deleting_an_event_is_named_by_verify_on_sqlite(tmp_path: Path, idp: FakeIdP) -> None:
    settings = _settings(f"sqlite:///{tmp_path / 'first.sqlite3'}", tmp_path / "d1", idp)
    service = flows.responder(settings)
    service.intake(
        flows.scan(settings, flows.capture(tmp_path / "a.har", [random_token(), random_token()])),
        trigger=Trigger.UPLOAD,
        actor="t",
        source="cli",
        reference="a",
    )
    ledger = service.ledger
    assert ledger.verify_chain().intact
    with ledger.engine.begin() as connection:
        connection.execute(update(events).where(events.c.seq == 3).values(body='{"verb":"nothing happened"}'))
    broken = ledger.verify_chain()
    assert (broken.first_bad_seq, broken.problem) == (3, "content does not match its hash")

    # Deleting rows, on a second ledger: a gap is named, and so is a cut-off tail.
    settings2 = _settings(f"sqlite:///{tmp_path / 'second.sqlite3'}", tmp_path / "d2", idp)
    second = flows.responder(settings2)
    second.intake(
        flows.scan(settings2, flows.capture(tmp_path / "b.har", [random_token()])),
        trigger=Trigger.UPLOAD,
        actor="t",
        source="cli",
        reference="b",
    )
    with second.ledger.engine.begin() as connection:
        connection.execute(delete(events).where(events.c.seq == 2))
    gap = second.ledger.verify_chain()
    assert (gap.first_bad_seq, gap.problem) == (2, "event 2 is missing")
    with second.ledger.engine.begin() as connection:
        connection.execute(delete(events).where(events.c.seq == 3))
    tail = second.ledger.verify_chain()
    assert not tail.intact
    assert tail.first_bad_seq == 2
    service.close()
    second.close()


def test_postgresql_itself_refuses_update_delete_and_truncate_of_events(
    pg_url: str, tmp_path: Path, idp: FakeIdP
) -> None:
    settings = _settings(pg_url, tmp_path / "data", idp)
    service = flows.responder(settings)
    service.intake(
        flows.scan(settings, flows.capture(tmp_path / "a.har", [random_token()])),
        trigger=Trigger.UPLOAD,
        actor="t",
        source="cli",
        reference="a",
    )
    engine = service.ledger.engine
    for statement in (
        update(events).where(events.c.seq == 1).values(type="edited"),
        delete(events).where(events.c.seq == 1),
        text("TRUNCATE events"),
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(statement)
    assert service.ledger.verify_chain().intact
    assert service.ledger.verify_chain().checked == len(event_types(service.ledger))
    service.close()


def test_every_event_type_has_one_producer() -> None:
    """One name per act: the ledger's stores (actions and intakes; ticket work) are the only writers, and each
    type is emitted from exactly one place."""
    ledger = Path(__file__).resolve().parents[2] / "responder" / "ledger"
    source = "".join((ledger / name).read_text() for name in ("store.py", "sources.py"))
    for event_type in EventType:
        uses = source.count(f"EventType.{event_type.name}")
        assert uses == 1 or event_type in (EventType.SWEEP_STARTED, EventType.SWEEP_FINISHED), event_type
    assert "EventType.SWEEP_STARTED if started else EventType.SWEEP_FINISHED" in source


def test_sweeps_are_recorded_as_start_and_finish(ledger: Ledger) -> None:
    ledger.record_sweep(True, {"source": "support", "cursor": None})
    ledger.record_sweep(False, {"source": "support", "cursor": "abc", "tickets": 3, "artifacts": 1})
    assert event_types(ledger) == ["sweep_started", "sweep_finished"]
    report = ledger.verify_chain()
    assert (report.intact, report.checked, report.head_seq) == (True, 2, 2)


def _intake_with(service: Responder, actions_: list[PlannedAction]) -> None:
    intake_id = str(uuid.uuid4())
    record = IntakeRecord(intake_id, "upload", "t", "cli", "r", "a.har", "0" * 64, 1, "har", False)
    findings_ = [
        FindingRecord(f"{n:064x}", "access_token", "test", True, None, "lab", None, "planned", 1, (a,))
        for n, a in enumerate(actions_)
    ]
    service.ledger.record_intake(record, findings_)


def test_overlapping_intakes_on_postgresql_queue_instead_of_deadlocking(
    pg_url: str, tmp_path: Path, idp: FakeIdP
) -> None:
    """Two uploads sharing credentials in opposite order lock the same rows in the same (key) order."""
    service = flows.responder(_settings(pg_url, tmp_path / "data", idp))
    errors: list[BaseException] = []

    def upload(order: list[PlannedAction]) -> None:
        try:
            for _ in range(15):
                _intake_with(service, order)
        except BaseException as exc:
            errors.append(exc)

    shared = [
        PlannedAction(str(uuid.uuid4()), "revoke_token", "lab", f"{n:064x}", "access_token", None, "upload", "t", False)
        for n in range(6)
    ]
    threads = [
        threading.Thread(target=upload, args=(order,)) for order in (shared, shared[::-1], shared[2:] + shared[:2])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(list_actions(service.ledger, Filters())) == 6
    assert service.ledger.verify_chain().intact
    service.close()


def test_verify_while_others_append_reports_an_intact_chain(pg_url: str, tmp_path: Path, idp: FakeIdP) -> None:
    service = flows.responder(_settings(pg_url, tmp_path / "data", idp))
    done = threading.Event()

    def write() -> None:
        while not done.is_set():
            service.ledger.record_sweep(True, {"source": "support"})

    writer = threading.Thread(target=write)
    writer.start()
    try:
        results = [service.ledger.verify_chain(batch=7) for _ in range(20)]
    finally:
        done.set()
        writer.join()
    assert all(result.intact for result in results), [r.problem for r in results if not r.intact]
    assert results[-1].checked > 0
    service.close()


def test_the_report_counts_a_credential_seen_again_inside_the_window(lab: Settings, tmp_path: Path) -> None:
    token = random_token()
    clock = {"now": datetime(2026, 10, 1, tzinfo=UTC)}
    service = flows.responder(lab)
    service.ledger._clock = lambda: clock["now"]  # first upload a month ago
    service.intake(
        flows.scan(lab, flows.capture(tmp_path / "old.har", [token])),
        trigger=Trigger.UPLOAD, actor="t", source="zendesk", reference="ticket 1",
    )  # fmt: skip
    clock["now"] = datetime.now(UTC)
    service.intake(
        flows.scan(lab, flows.capture(tmp_path / "new.har", [token])),
        trigger=Trigger.UPLOAD, actor="t", source="zendesk", reference="ticket 2",
    )  # fmt: skip
    this_week = report(service.ledger, Filters(since=datetime.now(UTC) - timedelta(days=7)))
    assert [user["artifacts"] for user in this_week["users"]] == [["ticket 2"]]
    everything = report(service.ledger, Filters())
    assert [user["artifacts"] for user in everything["users"]] == [["ticket 1", "ticket 2"]]
    service.close()
