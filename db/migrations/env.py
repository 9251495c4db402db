"""Alembic environment: migrate the engine the caller passed, or DATABASE_URL.

`db.session.migrate(engine)` hands its engine over in
`config.attributes["engine"]`. Run from the command line
(`alembic -c db/alembic.ini upgrade head`), the URL comes from DATABASE_URL,
else the default SQLite file of db.session. Either way the migrations run on
an engine without the SQL guard (db.session.migration_engine), because they
create the triggers and functions that the guard refuses to the application.
"""

from __future__ import annotations

from alembic import context

from db.models import Base
from db.session import migration_engine, resolve_url

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    """Write the migration SQL for DATABASE_URL's dialect instead of running it."""
    context.configure(
        url=resolve_url(),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a connection of the given or configured engine."""
    with (
        migration_engine(config.attributes.get("engine")) as engine,
        engine.connect() as connection,
    ):
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
