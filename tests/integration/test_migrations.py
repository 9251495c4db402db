"""The Alembic migrations build the schema of db.models on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from db.models import Base
from db.session import alembic_config, make_engine, migrate
from tests.integration.databases import (
    PostgresUnavailable,
    created_postgres_database,
    unavailable,
)

EXPECTED_TABLES = {
    "tenants",
    "users",
    "forecast_versions",
    "tour_templates",
    "tours",
    "plans",
    "plan_versions",
    "assignments",
    "plan_checks",
    "solve_jobs",
    "audit_log",
    "driver_weekly_patterns",
    "driver_availability_exceptions",
    "driver_preferences",
    "driver_availability_weeks",
    "tenant_planning_settings",
    "scenarios",
    "scenario_runs",
}


def test_migrated_database_is_at_head(database):
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()

    with database.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()

    assert current == head


def test_migrated_schema_has_every_table(database):
    tables = set(inspect(database.engine).get_table_names())

    assert EXPECTED_TABLES <= tables


def test_migrated_schema_matches_models(database):
    with database.engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection), Base.metadata
        )

    assert differences == []


def test_migrated_schema_has_protecting_triggers(database):
    if database.is_postgresql:
        query = (
            "SELECT DISTINCT event_object_table FROM information_schema.triggers"
            " WHERE trigger_schema = 'public'"
        )
    else:
        query = "SELECT DISTINCT tbl_name FROM sqlite_master WHERE type = 'trigger'"

    with database.engine.connect() as connection:
        tables = set(connection.scalars(text(query)))

    assert {"audit_log", "plan_versions", "assignments", "plan_checks"} <= tables


def test_sqlite_connection_has_foreign_keys_and_wal(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")

    with engine.connect() as connection:
        foreign_keys = connection.scalar(text("PRAGMA foreign_keys"))
        journal_mode = connection.scalar(text("PRAGMA journal_mode"))
    engine.dispose()

    assert foreign_keys == 1
    assert journal_mode == "wal"


def test_sqlite_downgrade_and_upgrade_again(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'cycle.db'}")
    migrate(engine)

    command.downgrade(alembic_config(engine), "base")
    tables_after_downgrade = set(inspect(engine).get_table_names())
    migrate(engine)
    tables_after_upgrade = set(inspect(engine).get_table_names())
    engine.dispose()

    assert tables_after_downgrade <= {"alembic_version"}
    assert EXPECTED_TABLES <= tables_after_upgrade


def test_postgresql_downgrade_and_upgrade_again():
    try:
        with created_postgres_database() as url:
            engine = make_engine(url)
            migrate(engine)

            command.downgrade(alembic_config(engine), "base")
            tables_after_downgrade = set(inspect(engine).get_table_names())
            with engine.connect() as connection:
                functions_after_downgrade = connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_proc p"
                        " JOIN pg_namespace n ON n.oid = p.pronamespace"
                        " WHERE n.nspname = 'public'"
                    )
                )
            migrate(engine)
            tables_after_upgrade = set(inspect(engine).get_table_names())
            engine.dispose()
    except PostgresUnavailable as error:
        unavailable(str(error))

    assert tables_after_downgrade <= {"alembic_version"}
    assert functions_after_downgrade == 0
    assert EXPECTED_TABLES <= tables_after_upgrade
