"""Engines, migrations and sessions for SQLite and PostgreSQL.

The database URL comes from the caller, else from the DATABASE_URL
environment variable, else it is a SQLite file `var/solvereign.db` under the
project root. A `postgresql://` URL is served by psycopg 3.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

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


def make_engine(url: str | URL | None = None, **engine_options: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys on and, for a file, WAL mode."""
    resolved = resolve_url(url)
    if resolved.get_backend_name() != "sqlite":
        return create_engine(resolved, pool_pre_ping=True, **engine_options)

    database = resolved.database or ""
    is_file = database not in ("", ":memory:") and not database.startswith("file:")
    if is_file:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {
        "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
        **engine_options.pop("connect_args", {}),
    }
    engine = create_engine(resolved, connect_args=connect_args, **engine_options)
    event.listen(engine, "connect", _configure_sqlite_connection(is_file))
    return engine


def _configure_sqlite_connection(
    use_wal: bool,
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

    return configure


def alembic_config(engine: Engine | None = None) -> Config:
    """Build the Alembic configuration that points at db/migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database schema to `revision` (the latest by default)."""
    logger.info("migrating %s to %s", engine.url.render_as_string(), revision)
    command.upgrade(alembic_config(engine), revision)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Create the session factory; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)
