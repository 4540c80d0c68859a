"""The ledger: system of record (hash-chained events) and durable work queue (actions with leases)."""

from __future__ import annotations

from responder.ledger import database
from responder.ledger.store import Ledger
from responder.settings import Settings

__all__ = ["Ledger", "open_ledger"]


def open_ledger(settings: Settings, *, migrate: bool = True) -> Ledger:
    """Connect (SQLite in data_dir by default) and apply pending migrations, as every command does on start."""
    configured = settings.ledger.url.get_secret_value() if settings.ledger.url else None
    url = database.ledger_url(configured, settings.data_dir)
    engine = database.create_ledger_engine(url, pool_size=settings.engine.threads + 2)
    if migrate:
        database.migrate(engine)
    return Ledger(engine)
