"""The SQL guard on real engines: refused statements never reach the database."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import select, text

from core.audit import append_entry, verify_audit_chain
from core.context import DANGEROUS_SQL, configure, unit_of_work
from db.models import AuditEntry
from db.repositories import audit_log
from db.session import is_guarded, make_engine, migration_engine
from db.sql_guard import DangerousSQLRefused, RefusalKind
from tests.integration.databases import bind_tenant

ENTRY_COUNT = 3
TRIGGERS_QUERY = {
    "sqlite": "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'",
    "postgresql": (
        "SELECT count(*) FROM pg_trigger"
        " WHERE tgrelid = 'audit_log'::regclass AND NOT tgisinternal"
        " AND tgenabled = 'O'"
    ),
}


def append_entries(database, tenant, count: int = ENTRY_COUNT) -> None:
    with database.session_factory() as session, session.begin():
        for number in range(1, count + 1):
            append_entry(
                session, tenant.actor(), "forecast.import", "forecast", number, {}
            )


def audit_rows(database, tenant) -> int:
    with database.session_factory() as session:
        return len(audit_log.list_entries(session, tenant.tenant_id))


def enabled_triggers(database) -> int:
    with database.engine.connect() as connection:
        return connection.scalar(text(TRIGGERS_QUERY[database.dialect]))


class TestRefusedOnTheEngine:
    @pytest.mark.parametrize(
        ("statement", "kind"),
        [
            ("TRUNCATE audit_log", RefusalKind.TRUNCATE),
            ("ALTER TABLE audit_log DISABLE TRIGGER ALL", RefusalKind.TRIGGER_BYPASS),
        ],
    )
    def test_audit_rows_survive_refused_statement(
        self, database, make_tenant, statement, kind
    ):
        tenant = make_tenant()
        append_entries(database, tenant)
        triggers_before = enabled_triggers(database)

        with (
            database.engine.connect() as connection,
            pytest.raises(DangerousSQLRefused) as refused,
        ):
            connection.execute(text(statement))

        assert refused.value.kind == kind
        assert audit_rows(database, tenant) == ENTRY_COUNT
        assert enabled_triggers(database) == triggers_before
        with database.session_factory() as session:
            assert verify_audit_chain(session, tenant.tenant_id).ok

    def test_refused_statement_is_never_sent(self, database, make_tenant):
        # A statement the server had rejected would abort a PostgreSQL
        # transaction; after a refusal the same transaction still works.
        tenant = make_tenant()
        append_entries(database, tenant)

        with database.engine.connect() as connection, connection.begin():
            bind_tenant(connection, tenant.tenant_id)
            with pytest.raises(DangerousSQLRefused):
                connection.execute(text("SELECT 1; TRUNCATE audit_log"))
            rows = connection.scalar(
                select(AuditEntry.id)
                .where(AuditEntry.tenant_id == tenant.tenant_id)
                .limit(1)
            )

        assert rows is not None

    def test_obfuscated_do_block_is_refused(self, postgres):
        statement = (
            "/* routine */ dO $fn$ BEGIN EXECUTE"
            " 'ALTER TABLE audit_log DISABLE TRIGGER ALL'; END $fn$"
        )
        triggers_before = enabled_triggers(postgres)

        with (
            postgres.engine.connect() as connection,
            pytest.raises(DangerousSQLRefused, match="trigger bypass"),
        ):
            connection.execute(text(statement))

        assert enabled_triggers(postgres) == triggers_before

    def test_session_wide_tenant_is_refused(self, postgres):
        with (
            postgres.engine.connect() as connection,
            pytest.raises(DangerousSQLRefused, match="session-wide tenant"),
        ):
            connection.execute(text("SELECT set_config('app.tenant_id', '7', false)"))

    def test_raw_sqlite_connection_cannot_drop_trigger(self, tmp_path):
        engine = make_engine(f"sqlite:///{tmp_path / 'raw.db'}")
        with migration_engine(engine) as unguarded, unguarded.begin() as connection:
            connection.execute(text("CREATE TABLE kept (id INTEGER)"))
            connection.execute(
                text(
                    "CREATE TRIGGER kept_forever BEFORE DELETE ON kept"
                    " BEGIN SELECT RAISE(ABORT, 'kept'); END"
                )
            )
        raw_connection = engine.raw_connection()

        # The DBAPI connection skips SQLAlchemy's events, but not SQLite's
        # authorizer.
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            raw_connection.cursor().execute("DROP TRIGGER kept_forever")
        raw_connection.close()
        with engine.connect() as connection:
            triggers = connection.scalar(
                text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")
            )
        engine.dispose()

        assert triggers == 1


class TestAllowedOnTheEngine:
    def test_local_tenant_ends_with_transaction(self, postgres):
        with postgres.engine.connect() as connection:
            with connection.begin():
                inside = connection.scalar(
                    text("SELECT set_config('app.tenant_id', :tenant, true)"),
                    {"tenant": "7"},
                )
                connection.execute(text("SET LOCAL lock_timeout = '5s'"))
            after = connection.scalar(
                text("SELECT current_setting('app.tenant_id', true)")
            )

        assert inside == "7"
        assert after in ("", None)

    def test_percent_beside_parameter_passes(self, database):
        with database.engine.connect() as connection:
            label = connection.scalar(
                text("SELECT :share || '% of tours'"), {"share": "40"}
            )

        assert label == "40% of tours"

    def test_sqlite_connection_pragmas_still_apply(self, tmp_path):
        engine = make_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")

        with engine.connect() as connection:
            foreign_keys = connection.scalar(text("PRAGMA foreign_keys"))
            with pytest.raises(DangerousSQLRefused):
                connection.execute(text("PRAGMA foreign_keys = OFF"))
            still_on = connection.scalar(text("PRAGMA foreign_keys"))
        engine.dispose()

        assert foreign_keys == 1
        assert still_on == 1


class TestMigrationEngine:
    def test_migration_uses_unguarded_engine(self, database):
        with migration_engine(database.engine) as unguarded:
            migrating_guarded = is_guarded(unguarded)
            same_engine = unguarded is database.engine

        assert is_guarded(database.engine)
        assert not migrating_guarded
        assert not same_engine

    def test_in_memory_sqlite_migration_is_rejected(self):
        engine = make_engine("sqlite://")

        with (
            pytest.raises(ValueError, match="in-memory SQLite"),
            migration_engine(engine),
        ):
            pass
        engine.dispose()

    def test_privileged_connection_skips_triggers(self, database, make_tenant):
        tenant = make_tenant()
        append_entries(database, tenant)

        with database.privileged_connection() as connection:
            connection.execute(
                text("DELETE FROM audit_log WHERE tenant_id = :tenant_id"),
                {"tenant_id": tenant.tenant_id},
            )

        assert audit_rows(database, tenant) == 0
        assert is_guarded(database.engine)


class TestRecordedRefusal:
    def test_refusal_is_recorded_as_critical(self, database, make_tenant):
        tenant = make_tenant()
        actor = tenant.actor()
        configure(database.engine)

        with pytest.raises(DangerousSQLRefused), unit_of_work(actor) as session:
            session.execute(text("TRUNCATE audit_log"))
        with database.session_factory() as session:
            events = audit_log.list_entries(
                session, tenant.tenant_id, action=DANGEROUS_SQL
            )
            chain = verify_audit_chain(session, tenant.tenant_id)

        assert len(events) == 1
        assert events[0].actor_user_id == actor.user_id
        assert events[0].object_type == "sql_statement"
        assert events[0].details["severity"] == "CRITICAL"
        assert events[0].details["kind"] == "truncate"
        assert events[0].details["statement"] == "TRUNCATE audit_log"
        assert chain.ok

    def test_refusal_without_actor_not_recorded(self, database, make_tenant):
        tenant = make_tenant()
        configure(database.engine)

        with pytest.raises(DangerousSQLRefused), unit_of_work() as session:
            session.execute(text("SET ROLE postgres"))

        assert audit_rows(database, tenant) == 0

    def test_refused_unit_of_work_rolls_back(self, database, make_tenant):
        tenant = make_tenant()
        actor = tenant.actor()
        configure(database.engine)

        with pytest.raises(DangerousSQLRefused), unit_of_work(actor) as session:
            append_entry(session, actor, "forecast.import", "forecast", 1, {})
            session.flush()
            session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER ALL"))
        with database.session_factory() as session:
            actions = [
                entry.action
                for entry in audit_log.list_entries(session, tenant.tenant_id)
            ]

        assert actions == [DANGEROUS_SQL]
