"""`responder sweep` end to end on a folder source: live tokens revoked at a FakeIdP over real HTTP, captures
replaced by sanitized copies, notes left, everything recorded; a second sweep does nothing new."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from responder.cli import app
from responder.ledger import open_ledger
from responder.ledger.schema import actions, events, intakes
from responder.model import Trigger
from responder.settings import load_settings
from responder.sources.folder import NOTES_FILE
from responder.testing import FakeIdP
from tests.ledger import flows
from tests.ledger.conftest import random_token

runner = CliRunner()


def write_config(tmp_path: Path, idp_url: str, folder: Path) -> Path:
    config = tmp_path / "responder.toml"
    config.write_text(
        f"""data_dir = "{tmp_path / "data"}"
log_level = "error"

[ledger]
url = "sqlite:///{tmp_path / "ledger.sqlite3"}"

[[providers]]
name = "lab"
plugin = "fake"
base_url = "{idp_url}"
hosts = ["{flows.HOST}"]

[[sources]]
name = "drop"
plugin = "folder"
path = "{folder}"
page_size = 2
"""
    )
    return config


def sweep(config: Path, *extra: str) -> tuple[int, dict[str, object]]:
    result = runner.invoke(app, ["sweep", "drop", "--format", "json", "--config", str(config), *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def count(config: Path, table: object, where: object = None) -> int:
    ledger = open_ledger(load_settings(config), migrate=False)
    with ledger.reader() as connection:
        query = select(func.count()).select_from(table)  # type: ignore[arg-type]
        found = connection.execute(query if where is None else query.where(where)).scalar_one()  # type: ignore[arg-type]
    ledger.close()
    return int(found)


@pytest.fixture
def tickets(tmp_path: Path) -> tuple[Path, list[str]]:
    live = [random_token() for _ in range(3)]
    folder = tmp_path / "tickets"
    for ticket in ("100", "101", "102", "103", "104"):
        (folder / ticket).mkdir(parents=True)
    flows.capture(folder / "100" / "network.har", live[:2])
    (folder / "101" / "console.log").write_text(
        f"GET /v1/me HTTP/1.1\nHost: {flows.HOST}\nAuthorization: Bearer {live[2]}\n"
    )
    (folder / "102" / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))
    (folder / "103" / "contract.pdf").write_bytes(b"%PDF-1.7 not a capture")
    flows.capture(folder / "104" / "quiet.har", [])
    return folder, live


def test_a_folder_sweep_revokes_cleans_notes_and_a_second_sweep_does_nothing(
    tmp_path: Path, tickets: tuple[Path, list[str]]
) -> None:
    folder, live = tickets
    with FakeIdP() as idp:
        for n, token in enumerate(live):
            idp.issue(token, subject=f"user-{n}")
        config = write_config(tmp_path, idp.url, folder)

        code, summary = sweep(config)

        assert code == 0, summary
        assert summary["tickets_seen"] == 5
        assert summary["captures_found"] == 4  # the PDF is not fetched at all
        assert summary["credentials"] == 3
        assert summary["revoked"] == 3
        assert summary["captures_cleaned"] == 2
        assert summary["skipped"] == {"no_credentials": 1, "not_a_capture": 1}
        assert summary["still_open"] == 0
        assert all(idp.state(token).revoked for token in live)

        cleaned = (folder / "100" / "network.har").read_text()
        assert json.loads(cleaned)["log"]["entries"][1]["request"]["url"].endswith("/v1/items/1")
        assert not any(token in cleaned for token in live)
        assert "[REDACTED access_token" in cleaned
        assert live[2] not in (folder / "101" / "console.log").read_text()
        note = (folder / "100" / NOTES_FILE).read_text()
        assert "revoke token" in note
        assert "Ledger: intake" in note
        assert not any(token in note for token in live)
        assert not (folder / "104" / NOTES_FILE).exists()  # nothing found: the ticket is left alone
        assert (folder / "102" / "photo.txt").read_bytes().startswith(b"\x89PNG")

        intakes_before = count(config, intakes)
        requests_before = idp.requests
        code, again = sweep(config)

        assert code == 0
        assert again["captures_found"] == 0
        assert again["credentials"] == 0
        assert count(config, intakes) == intakes_before
        assert idp.requests == requests_before
        assert count(config, events, events.c.type == "note_added") == 2


def test_a_new_file_after_a_sweep_is_found_by_the_next_one(tmp_path: Path, tickets: tuple[Path, list[str]]) -> None:
    folder, live = tickets
    late = random_token()
    with FakeIdP() as idp:
        for token in [*live, late]:
            idp.issue(token, subject="someone")
        config = write_config(tmp_path, idp.url, folder)
        sweep(config)
        compressed = folder / "105" / "trace.har.gz"
        compressed.parent.mkdir()
        compressed.write_bytes(gzip.compress(flows.capture(tmp_path / "late.har", [late]).read_bytes()))

        code, summary = sweep(config)

        assert code == 0
        assert summary["captures_found"] == 1
        assert summary["revoked"] == 1
        assert idp.state(late).revoked
        assert late.encode() not in gzip.decompress(compressed.read_bytes())


def test_a_dry_run_changes_nothing_and_moves_no_checkpoint(tmp_path: Path, tickets: tuple[Path, list[str]]) -> None:
    folder, live = tickets
    with FakeIdP() as idp:
        for token in live:
            idp.issue(token)
        config = write_config(tmp_path, idp.url, folder)
        before = (folder / "100" / "network.har").read_bytes()

        code, summary = sweep(config, "--dry-run")

        assert code == 0
        assert summary["dry_run"] is True
        assert summary["credentials"] == 3
        assert summary["revoked"] == 3
        assert idp.mutating_requests == 0
        assert not any(idp.state(token).revoked for token in live)
        assert (folder / "100" / "network.har").read_bytes() == before
        assert not (folder / "100" / NOTES_FILE).exists()

        code, real = sweep(config)  # the rehearsal left the checkpoint where it was
        assert real["captures_found"] == 4
        assert all(idp.state(token).revoked for token in live)


def test_an_unknown_source_is_a_usage_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", tmp_path)
    result = runner.invoke(app, ["sweep", "nope", "--config", str(config)])
    assert result.exit_code == 2
    assert "no source named 'nope'" in result.output
    assert "Traceback" not in result.output


def test_a_held_lease_makes_a_second_sweep_exit_5(tmp_path: Path, tickets: tuple[Path, list[str]]) -> None:
    folder, _ = tickets
    config = write_config(tmp_path, "http://127.0.0.1:9", folder)
    from responder.ledger.sources import SourceBook

    ledger = open_ledger(load_settings(config))
    assert SourceBook(ledger).take_lease("sweep:drop", "other-host/1", 300)
    ledger.close()
    result = runner.invoke(app, ["sweep", "drop", "--config", str(config)])
    assert result.exit_code == 5
    assert "being swept by other-host/1" in result.output


def test_progress_is_shown_on_stderr_and_the_table_on_stdout(tmp_path: Path, tickets: tuple[Path, list[str]]) -> None:
    folder, live = tickets
    with FakeIdP() as idp:
        for token in live:
            idp.issue(token)
        config = write_config(tmp_path, idp.url, folder)
        result = runner.invoke(app, ["sweep", "drop", "--config", str(config)])
    assert result.exit_code == 0
    assert "listing: 5 tickets" in result.stderr
    assert "4 captures" in result.stderr
    assert "tickets seen" in result.stdout
    assert "live ones revoked" in result.stdout
    assert not any(token in result.output for token in live)


def test_a_dry_run_never_touches_real_actions_waiting_in_the_ledger(
    tmp_path: Path, tickets: tuple[Path, list[str]]
) -> None:
    folder, live = tickets
    waiting = random_token()
    with FakeIdP() as idp:
        for token in [*live, waiting]:
            idp.issue(token)
        config = write_config(tmp_path, idp.url, folder)
        settings = load_settings(config)
        service = flows.responder(settings)
        report = flows.scan(settings, flows.capture(tmp_path / "upload.har", [waiting]))
        recorded = service.intake(report, trigger=Trigger.UPLOAD, actor="test", source="api", reference="upload.har")
        service.close()

        code, summary = sweep(config, "--dry-run")

        assert code == 0
        assert summary["revoked"] == 3  # the rehearsal's own three, as dry runs
        assert count(config, actions, actions.c.id.in_(recorded.action_ids) & (actions.c.state == "planned")) == 1
        assert not idp.state(waiting).revoked


def test_links_never_lead_responder_outside_the_folder(tmp_path: Path) -> None:
    from responder.errors import AttachmentGone, SourceError
    from responder.http import build_client
    from responder.model import AttachmentRef
    from responder.sources.folder import FolderSource

    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "7").mkdir(parents=True)
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("untouched\n")
    (root / "7" / NOTES_FILE).symlink_to(victim)
    (root / "7" / "link.har").symlink_to(victim)
    source = FolderSource.from_config("drop", {"name": "drop", "path": str(root)}, build_client(""), None)

    assert [ref.name for ref in source.attachments_of("7")] == []  # links are not listed
    with pytest.raises(SourceError, match="cannot write the note"):
        source.annotate(AttachmentRef("7", "7/x.har@1", "x.har"), "note")
    with pytest.raises(AttachmentGone, match="link"):
        source.replace_with_sanitized(AttachmentRef("7", "7/link.har@1", "link.har"), victim, "link.har")
    assert victim.read_text() == "untouched\n"


def test_a_dead_processs_spool_is_removed_at_start(tmp_path: Path, tickets: tuple[Path, list[str]]) -> None:
    folder, _ = tickets
    config = write_config(tmp_path, "http://127.0.0.1:9", folder)
    import socket

    from responder.leases import process_tag

    spools = tmp_path / "data" / "spool" / "sources"
    namespace = process_tag().split(".")[1]
    dead = spools / f"{socket.gethostname()[:60]}~999999.{namespace}~abcdef"  # no such pid
    elsewhere = spools / f"another-host~123.{namespace}~abcdef"  # maybe alive on its own host: kept
    for spool in (dead, elsewhere):
        spool.mkdir(parents=True)
        (spool / "item.har").write_text("raw capture")
    result = runner.invoke(app, ["sweep", "drop", "--dry-run", "--config", str(config)])
    assert result.exit_code in (0, 4), result.output
    assert not dead.exists()
    assert (elsewhere / "item.har").exists()


def test_a_crash_after_the_copy_is_in_place_but_before_it_is_recorded_never_scans_our_copy(
    tmp_path: Path, tickets: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal

    from sqlalchemy import update

    from responder.ledger.schema import source_items
    from responder.ledger.sources import SourceBook

    folder, live = tickets
    recorded = SourceBook.replaced

    unrecorded: list[object] = []

    def stopped_before_the_record(self: SourceBook, *args: object, **kwargs: object) -> bool:
        unrecorded.append(args)
        if len(unrecorded) == 2:  # both copies are in place: the operator stops the sweep
            os.kill(os.getpid(), signal.SIGINT)
        return False  # this record never happens

    with FakeIdP() as idp:
        for n, token in enumerate(live):
            idp.issue(token, subject=f"user-{n}")
        config = write_config(tmp_path, idp.url, folder)
        monkeypatch.setattr(SourceBook, "replaced", stopped_before_the_record)
        code, first = sweep(config)
        assert first["still_open"] == 2
        assert live[0] not in (folder / "100" / "network.har").read_text()  # the copy is in place, unrecorded
        monkeypatch.setattr(SourceBook, "replaced", recorded)
        ledger = open_ledger(load_settings(config), migrate=False)
        with ledger.transaction() as tx:  # the stopped run's claims lapse
            tx.connection.execute(update(source_items).values(lease_owner=None, lease_until=None))
        ledger.close()

        code, summary = sweep(config)

        assert code == 0, summary
        assert summary["still_open"] == 0
        assert count(config, events, events.c.type == "attachment_fetched") == 3  # 100, 101, 104: never a copy
        assert count(config, source_items, source_items.c.result == "ours") == 2
        assert count(config, source_items, source_items.c.origin == "sweep") == 4  # the copies count as ours
        assert all(idp.state(token).revoked for token in live)
        assert (folder / "100" / NOTES_FILE).exists()
