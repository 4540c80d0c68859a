"""responder's own keys from mounted files: the fingerprint key and the panic page's session key, so replicas
can share them without putting them in the environment."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from responder.errors import ConfigError
from responder.keys import fingerprinter, page_session_key
from responder.settings import Settings


def test_the_fingerprint_key_can_come_from_a_file(tmp_path: Path) -> None:
    key = secrets.token_hex(32)
    (tmp_path / "fp").write_text(key + "\n")
    from_file = fingerprinter(Settings(data_dir=tmp_path / "a", fingerprint_key_file=tmp_path / "fp"))
    from_env = fingerprinter(Settings(data_dir=tmp_path / "b", fingerprint_key=key))
    assert from_file.key_id == from_env.key_id
    assert not (tmp_path / "a" / "fingerprint.key").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), ("short", "at least 16 bytes")],
)
def test_a_bad_fingerprint_key_file_is_named(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "fp").write_text(content)
    with pytest.raises(ConfigError, match=message) as raised:
        fingerprinter(Settings(data_dir=tmp_path, fingerprint_key_file=tmp_path / "fp"))
    assert "short" not in str(raised.value)


def test_both_forms_of_the_fingerprint_key_are_refused(tmp_path: Path) -> None:
    (tmp_path / "fp").write_text(secrets.token_hex(32))
    settings = Settings(data_dir=tmp_path, fingerprint_key=secrets.token_hex(32), fingerprint_key_file=tmp_path / "fp")
    with pytest.raises(ConfigError, match="not both"):
        fingerprinter(settings)


def test_replicas_share_the_page_session_key_through_a_file(tmp_path: Path) -> None:
    key = secrets.token_hex(32)
    (tmp_path / "page").write_text(key)
    shared = {"serve": {"page_session_key_file": tmp_path / "page"}}
    one = page_session_key(Settings(data_dir=tmp_path / "one", **shared))
    two = page_session_key(Settings(data_dir=tmp_path / "two", **shared))
    assert one == two == bytes.fromhex(key)
    assert page_session_key(Settings(data_dir=tmp_path / "three")) != one  # default: generated per data dir


def test_a_page_session_key_file_that_is_not_hex_is_refused(tmp_path: Path) -> None:
    (tmp_path / "page").write_text("not a key")
    with pytest.raises(ConfigError, match="64 hex"):
        page_session_key(Settings(data_dir=tmp_path, serve={"page_session_key_file": tmp_path / "page"}))
