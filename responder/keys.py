"""responder's own keys: the fingerprint key (HMAC) and the seal key (AES-GCM). From settings, from a file,
or generated once into the data directory; each has a public id so hosts sharing a ledger can prove they
agree before anything is written."""

from __future__ import annotations

from pathlib import Path

from responder.errors import ConfigError
from responder.seal import Sealer
from responder.secret import Fingerprinter, load_or_create_key
from responder.settings import Settings


def fingerprinter(settings: Settings) -> Fingerprinter:
    """Key from RESPONDER_FINGERPRINT_KEY or fingerprint_key_file, else generated once into the data directory."""
    given = settings.fingerprint_key is not None or settings.fingerprint_key_file is not None
    if settings.fingerprint_key is not None and settings.fingerprint_key_file is not None:
        raise ConfigError("give fingerprint_key or fingerprint_key_file, not both")
    if given:
        if settings.fingerprint_key is not None:
            key = settings.fingerprint_key.get_secret_value().encode()
        else:
            assert settings.fingerprint_key_file is not None
            key = _read_key_file(settings.fingerprint_key_file, "fingerprint_key_file").encode()
        if len(key) < 16:
            raise ConfigError("the fingerprint key must be at least 16 bytes (e.g. `openssl rand -hex 32`)")
        return Fingerprinter(key)
    key = _generated(
        settings.data_dir / "fingerprint.key",
        "set RESPONDER_DATA_DIR to a writable directory or RESPONDER_FINGERPRINT_KEY",
        "; remove it to generate a new one (fingerprints will change)",
    )
    return Fingerprinter(key)


def open_sealer(settings: Settings) -> Sealer:
    """Seal key from settings, from seal_key_file, or generated once into data_dir/seal.key (0600)."""
    ledger = settings.ledger
    if ledger.seal_key is not None:
        return Sealer(_hex_key(ledger.seal_key.get_secret_value(), "ledger.seal_key"))
    path = ledger.seal_key_file
    if path is not None:
        try:
            return Sealer(_hex_key(path.read_text(), f"ledger.seal_key_file {path}"))
        except FileNotFoundError:
            raise ConfigError(f"ledger.seal_key_file {path} does not exist (create it: openssl rand -hex 32)") from None
        except OSError as exc:
            raise ConfigError(f"ledger.seal_key_file {path}: {exc.strerror}") from None
    return Sealer(_generated(settings.data_dir / "seal.key", "set RESPONDER_DATA_DIR to a writable directory", ""))


def _read_key_file(path: Path, where: str) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise ConfigError(f"{where} {path} does not exist (create it: openssl rand -hex 32)") from None
    except OSError as exc:
        raise ConfigError(f"{where} {path}: {exc.strerror}") from None


def page_session_key(settings: Settings) -> bytes:
    """The panic page's session-signing key: serve.page_session_key_file (shared by replicas), else generated
    once into data_dir/page-session.key."""
    path = settings.serve.page_session_key_file
    if path is not None:
        return _hex_key(_read_key_file(path, "serve.page_session_key_file"), f"serve.page_session_key_file {path}")
    return _generated(
        settings.data_dir / "page-session.key", "set RESPONDER_DATA_DIR to a writable directory", "; remove it"
    )


def _generated(path: Path, fix: str, when_invalid: str) -> bytes:
    """A key generated once into the data directory (0600); each failure is one line naming the fix."""
    try:
        return load_or_create_key(path)
    except OSError as exc:
        raise ConfigError(f"cannot read or create {path} ({exc.strerror}); {fix}") from None
    except ValueError:
        raise ConfigError(f"{path} is not a valid key (expected 64 hex characters){when_invalid}") from None


def _hex_key(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ConfigError(f"{where}: expected 64 hex characters (openssl rand -hex 32)") from None
    if len(key) != 32:
        raise ConfigError(f"{where}: expected 32 bytes (64 hex characters), got {len(key)}")
    return key
