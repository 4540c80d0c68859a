"""The ledger: system of record (hash-chained events) and durable work queue (actions with leases)."""

from __future__ import annotations

from responder.errors import ConfigError
from responder.ledger import database
from responder.ledger.store import Ledger
from responder.seal import Sealer
from responder.secret import load_or_create_key
from responder.settings import Settings

__all__ = ["Ledger", "open_ledger", "open_sealer"]


def open_ledger(settings: Settings, *, migrate: bool = True) -> Ledger:
    """Connect (SQLite in data_dir by default) and apply pending migrations, as every command does on start."""
    configured = settings.ledger.url.get_secret_value() if settings.ledger.url else None
    url = database.ledger_url(configured, settings.data_dir)
    engine = database.create_ledger_engine(url, pool_size=settings.engine.threads + 2)
    if migrate:
        database.migrate(engine)
    return Ledger(engine)


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
    path = settings.data_dir / "seal.key"
    try:
        return Sealer(load_or_create_key(path))
    except OSError as exc:
        raise ConfigError(
            f"cannot read or create {path} ({exc.strerror}); set RESPONDER_DATA_DIR to a writable directory"
        ) from None
    except ValueError:
        raise ConfigError(f"{path} is not a valid key (expected 64 hex characters)") from None


def _hex_key(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ConfigError(f"{where}: expected 64 hex characters (openssl rand -hex 32)") from None
    if len(key) != 32:
        raise ConfigError(f"{where}: expected 32 bytes (64 hex characters), got {len(key)}")
    return key
