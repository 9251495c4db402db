"""Engines, migrations and sessions for SQLite and PostgreSQL.

The database URL comes from the caller, else from the DATABASE_URL
environment variable, else it is a SQLite file `var/solvereign.db` under the
project root. A `postgresql://` URL is served by psycopg 3. Migrations use
MIGRATION_DATABASE_URL when it is set, so that on PostgreSQL a role that owns
the tables migrates them while the application connects as a role that owns
none (see db/migrations/versions/0005_row_level_security.py).

Row-level security on PostgreSQL shows a transaction only the rows of the
tenant named by the setting app.tenant_id. `set_transaction_tenant` sets it
with set_config(..., true), so it ends with the transaction and a pooled
connection never carries it into the next one.

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
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, ExecutionContext, make_url
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from db.sql_guard import GUARDED_DIALECTS, check_statement
from db.sql_guard_rules import TENANT_SETTING
from db.sql_guard_sqlite import sqlite_authorizer

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "var" / "solvereign.db"
# How long a SQLite connection waits for another connection's write lock.
SQLITE_BUSY_TIMEOUT_SECONDS = 30

DATABASE_URL_VARIABLE = "DATABASE_URL"
MIGRATION_URL_VARIABLE = "MIGRATION_DATABASE_URL"

# Keys in Session.info: the tenant of the session's transactions, and the
# transaction and tenant that set_config was last run for.
TENANT_INFO_KEY = "db.session.tenant_id"
_APPLIED_INFO_KEY = "db.session.tenant_applied"


def resolve_url(url: str | URL | None = None) -> URL:
    """Resolve the database URL and select psycopg 3 for PostgreSQL."""
    if url is None:
        url = (
            os.environ.get(DATABASE_URL_VARIABLE) or f"sqlite:///{DEFAULT_SQLITE_PATH}"
        )
    resolved = make_url(url)
    if resolved.drivername in ("postgres", "postgresql"):
        resolved = resolved.set(drivername="postgresql+psycopg")
    return resolved


def resolve_migration_url(url: str | URL | None = None) -> URL:
    """Resolve the URL that migrates the database the application opens at `url`.

    MIGRATION_DATABASE_URL applies to the database of DATABASE_URL, that is
    when `url` is None or equals DATABASE_URL. Any other `url` migrates
    itself, and so does DATABASE_URL when no migration URL is set.
    """
    opened = resolve_url(url)
    migration_url = os.environ.get(MIGRATION_URL_VARIABLE)
    if migration_url and (url is None or opened == resolve_url(None)):
        return resolve_url(migration_url)
    return opened


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


def migrate(
    engine: Engine, revision: str = "head", *, app_role: str | None = None
) -> None:
    """Upgrade the database schema to `revision` (the latest by default).

    A guarded engine only names the database: the migration runs on an
    engine of its own without the guard (see migration_engine). Connect the
    engine as the role that is to own the tables. On PostgreSQL, `app_role`,
    else the environment variable SOLVEREIGN_APP_ROLE, names the role that
    the application connects as and that gets its privileges.
    """
    logger.info("migrating %s to %s", engine.url.render_as_string(), revision)
    config = alembic_config(engine)
    if app_role is not None:
        config.attributes["app_role"] = app_role
    command.upgrade(config, revision)


@contextmanager
def migration_engine(engine: Engine | None = None) -> Iterator[Engine]:
    """Yield an engine without the SQL guard for the database of `engine`.

    An unguarded engine is yielded as it is. For a guarded one a new
    unguarded engine is made for the same URL, and for None one for
    MIGRATION_DATABASE_URL, else DATABASE_URL. It is disposed afterwards, so
    the guarded engine never runs a migration. Raises ValueError for an
    in-memory SQLite database, where a second engine would open a
    different, empty database.
    """
    if engine is not None and not is_guarded(engine):
        yield engine
        return
    url = resolve_migration_url() if engine is None else resolve_url(engine.url)
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


def set_transaction_tenant(session: Session, tenant_id: int) -> None:
    """Make the session's transactions see and write only this tenant's rows.

    On PostgreSQL this runs set_config('app.tenant_id', ..., true) now and at
    the start of every later transaction of the session, so row-level
    security admits the tenant's rows only. The setting ends with each
    transaction. SQLite has no row-level security, so there the services'
    own tenant filters are the only ones.

    Raises ValueError for an id that is not a positive integer, and when the
    session is bound to another tenant already, because one transaction
    serves one tenant.
    """
    if not isinstance(tenant_id, int) or isinstance(tenant_id, bool) or tenant_id < 1:
        raise ValueError(f"tenant id {tenant_id!r} is not a positive whole number")
    bound = session.info.get(TENANT_INFO_KEY)
    if bound is not None and bound != tenant_id:
        raise ValueError(
            f"the session is bound to tenant {bound} and cannot switch to tenant"
            f" {tenant_id}; open a unit of work per tenant"
        )
    session.info[TENANT_INFO_KEY] = tenant_id
    # Acquiring the connection begins the transaction, which may apply it.
    connection = session.connection()
    if session.info.get(_APPLIED_INFO_KEY) != (session.get_transaction(), tenant_id):
        _apply_tenant(session, session.get_transaction(), connection)


def transaction_tenant(session: Session) -> int | None:
    """Return the tenant the session is bound to, or None."""
    return session.info.get(TENANT_INFO_KEY)


@event.listens_for(Session, "after_begin")
def _apply_tenant(
    session: Session, transaction: SessionTransaction, connection: Connection
) -> None:
    """Set the session's tenant at the start of each of its transactions."""
    tenant_id = session.info.get(TENANT_INFO_KEY)
    if tenant_id is None or connection.dialect.name != "postgresql":
        return
    connection.execute(
        text(f"SELECT set_config('{TENANT_SETTING}', :tenant_id, true)"),
        {"tenant_id": str(tenant_id)},
    )
    session.info[_APPLIED_INFO_KEY] = (transaction, tenant_id)


@event.listens_for(Session, "after_transaction_end")
def _forget_applied_tenant(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_APPLIED_INFO_KEY, None)
