"""Engines, migrations and sessions for SQLite and PostgreSQL.

The database URL comes from the caller, else from the DATABASE_URL
environment variable, else it is a SQLite file `var/solvereign.db` under the
project root. A `postgresql://` URL is served by psycopg 3.

Every engine from make_engine checks each statement with the SQL guard
(db.sql_guard) before the driver sends it. Only migrations run without it,
because they create triggers and functions: the migration runner
(db/migrations/env.py) takes an engine from `migration_engine`, which is
never the application's guarded engine.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, ExecutionContext, make_url
from sqlalchemy.orm import Session, sessionmaker

from db.sql_guard import GUARDED_DIALECTS, check_statement
from db.sql_guard_sqlite import sqlite_authorizer

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "var" / "solvereign.db"
# How long a SQLite connection waits for another connection's write lock.
SQLITE_BUSY_TIMEOUT_SECONDS = 30


def resolve_url(url: str | URL | None = None) -> URL:
    """Resolve the database URL and select psycopg 3 for PostgreSQL."""
    if url is None:
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"
    resolved = make_url(url)
    if resolved.drivername in ("postgres", "postgresql"):
        resolved = resolved.set(drivername="postgresql+psycopg")
    return resolved


def make_engine(
    url: str | URL | None = None, *, sql_guard: bool = True, **engine_options: Any
) -> Engine:
    """Create an engine; SQLite gets foreign keys on and, for a file, WAL mode.

    The SQL guard checks every statement of the engine. `sql_guard=False` is
    for migrations (migration_engine, open_workbench) and for tests that
    tamper with the database on purpose; the engine the services use is
    always guarded. Raises ValueError for a guarded engine of a dialect the
    guard has no rules for.
    """
    resolved = resolve_url(url)
    backend = resolved.get_backend_name()
    if sql_guard and backend not in GUARDED_DIALECTS:
        raise ValueError(
            f"the SQL guard has no rules for {backend} databases; use PostgreSQL"
            " or SQLite"
        )
    if backend != "sqlite":
        engine = create_engine(resolved, pool_pre_ping=True, **engine_options)
    else:
        engine = _make_sqlite_engine(resolved, sql_guard, engine_options)
    if sql_guard:
        event.listen(engine, "before_cursor_execute", check_cursor_statement)
    return engine


def _make_sqlite_engine(
    resolved: URL, sql_guard: bool, engine_options: dict[str, Any]
) -> Engine:
    database = resolved.database or ""
    is_file = database not in ("", ":memory:") and not database.startswith("file:")
    if is_file:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {
        "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
        **engine_options.pop("connect_args", {}),
    }
    engine = create_engine(resolved, connect_args=connect_args, **engine_options)
    event.listen(engine, "connect", _configure_sqlite_connection(is_file, sql_guard))
    return engine


def is_guarded(engine: Engine) -> bool:
    """Tell whether the SQL guard checks the engine's statements."""
    return event.contains(engine, "before_cursor_execute", check_cursor_statement)


def check_cursor_statement(
    connection: Connection,
    cursor: object,
    statement: str,
    parameters: object,
    context: ExecutionContext | None,
    executemany: bool,
) -> None:
    """Refuse a dangerous statement before the driver sends it.

    This is a before_cursor_execute listener; DangerousSQLRefused reaches the
    caller unchanged. psycopg rewrites its placeholders unless SQLAlchemy
    calls it without parameters (the no_parameters execution option), and
    the guard reads the text the same way.
    """
    dialect = connection.dialect
    sent_verbatim = not parameters and context is not None and context.no_parameters
    pyformat = (
        dialect.name == "postgresql"
        and dialect.paramstyle in ("pyformat", "format")
        and not sent_verbatim
    )
    check_statement(statement, dialect.name, pyformat=pyformat)


def _configure_sqlite_connection(
    use_wal: bool, sql_guard: bool
) -> Callable[[sqlite3.Connection, object], None]:
    def configure(
        dbapi_connection: sqlite3.Connection, connection_record: object
    ) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # SQLite enforces foreign keys only on connections that enable them.
            cursor.execute("PRAGMA foreign_keys = ON")
            if use_wal:
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()
        if sql_guard:
            dbapi_connection.set_authorizer(sqlite_authorizer)

    return configure


def alembic_config(engine: Engine | None = None) -> Config:
    """Build the Alembic configuration that points at db/migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database schema to `revision` (the latest by default).

    A guarded engine only names the database: the migration runs on an
    engine of its own without the guard (see migration_engine).
    """
    logger.info("migrating %s to %s", engine.url.render_as_string(), revision)
    command.upgrade(alembic_config(engine), revision)


@contextmanager
def migration_engine(engine: Engine | None = None) -> Iterator[Engine]:
    """Yield an engine without the SQL guard for the database of `engine`.

    An unguarded engine is yielded as it is. For a guarded one, or for None
    (DATABASE_URL), a new unguarded engine is made for the same URL and
    disposed afterwards, so the guarded engine never runs a migration.
    Raises ValueError for an in-memory SQLite database, where a second
    engine would open a different, empty database.
    """
    if engine is not None and not is_guarded(engine):
        yield engine
        return
    url = resolve_url(None if engine is None else engine.url)
    if url.get_backend_name() == "sqlite" and _is_in_memory(url):
        raise ValueError(
            "an in-memory SQLite database cannot be migrated through a guarded"
            " engine; migrate an engine from make_engine(url, sql_guard=False)"
        )
    unguarded = make_engine(url, sql_guard=False)
    try:
        yield unguarded
    finally:
        unguarded.dispose()


def _is_in_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or url.query.get("mode") == "memory"


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Create the session factory; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)
