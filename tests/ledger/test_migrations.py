"""The migrations build exactly the schema the code declares: a column or index added to schema.py without a
migration (or the reverse) fails here, not on an operator's upgrade."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from responder.ledger import database
from responder.ledger.schema import metadata


def test_migrated_sqlite_schema_matches_the_declared_tables(tmp_path: Path) -> None:
    engine = database.create_ledger_engine(database.ledger_url(None, tmp_path))
    try:
        database.migrate(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            drift = [d for d in compare_metadata(context, metadata) if not _alembic_own(d)]
    finally:
        engine.dispose()
    assert drift == []


def _alembic_own(difference: object) -> bool:
    """alembic_version is Alembic's bookkeeping, not ours."""
    return "alembic_version" in repr(difference)
