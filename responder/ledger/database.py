"""Opening the ledger database: URL handling, SQLite pragmas, and migrations applied on start.

Every failure here is an operator problem (wrong URL, database down, unwritable directory) and becomes one
ConfigError line; the URL is only ever shown with its password hidden."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import QueuePool

from responder.errors import ConfigError

_MIGRATION_LOCK = 0x5E5_0001  # pg_advisory_xact_lock key: replicas starting together migrate one at a time


def ledger_url(configured: str | None, data_dir: Path) -> URL:
    """The configured URL, or SQLite in the data directory. `postgresql://` means psycopg 3."""
    if not configured:
        try:
            data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the data directory {data_dir} ({exc.strerror}); set RESPONDER_DATA_DIR "
                "to a writable directory or RESPONDER_LEDGER_URL to a database"
            ) from None
        return URL.create("sqlite", database=str(data_dir / "ledger.sqlite3"))
    try:
        url = make_url(configured)
    except ArgumentError:
        raise ConfigError(
            "ledger.url is not a database URL (expected sqlite:///path or postgresql://user@host/db)"
        ) from None
    if url.get_backend_name() == "postgresql" and url.get_driver_name() in ("", "psycopg2"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"ledger.url: unsupported database {url.get_backend_name()!r} (use sqlite or postgresql)")
    return url


def shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def create_ledger_engine(url: URL, pool_size: int = 5) -> Engine:
    try:
        if url.get_backend_name() == "sqlite":
            # Pooled: opening a connection (and its pragmas) per transaction cost a fifth of a panic's time.
            engine = create_engine(
                url,
                poolclass=QueuePool,
                pool_size=pool_size,
                max_overflow=pool_size,
                connect_args={"timeout": 60, "check_same_thread": False},
                hide_parameters=True,  # a query's values (a filter someone typed) never reach a log or an error
            )
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin_immediate)
            return engine
        return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, hide_parameters=True)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"ledger.url {shown(url)}: {exc}") from None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from the sqlite3 module so every transaction can begin IMMEDIATE (below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=FULL",  # a committed event survives power loss, not only a process crash
        "PRAGMA foreign_keys=ON",
        "PRAGMA busy_timeout=60000",
    ):
        cursor.execute(pragma)
    cursor.close()


def _sqlite_begin_immediate(connection: Connection) -> None:
    # Writers take the lock at BEGIN, so read-then-write (claims, the chain head) cannot interleave.
    # Readers (connections opened with execution option readonly=True) never block writers under WAL.
    readonly = connection.get_execution_options().get("readonly", False)
    connection.exec_driver_sql("BEGIN DEFERRED" if readonly else "BEGIN IMMEDIATE")


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", "responder.ledger:migrations")
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    config = Config()
    config.set_main_option("script_location", "responder.ledger:migrations")
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect().execution_options(readonly=True) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine) -> bool:
    """Bring the schema to the newest revision. Returns whether anything was applied."""
    with _reachable(engine):
        if current_revision(engine) == head_revision():
            return False
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            if MigrationContext.configure(connection).get_current_revision() == head_revision():
                return False
            command.upgrade(_alembic_config(connection), "head")
        return True


@contextmanager
def _reachable(engine: Engine) -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise ConfigError(f"cannot open the ledger at {shown(engine.url)}: {reason}") from None
    except SQLAlchemyError as exc:
        raise ConfigError(f"ledger at {shown(engine.url)} failed: {type(exc).__name__}") from None
