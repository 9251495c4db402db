"""The audit table refuses UPDATE, DELETE, TRUNCATE and switching its triggers off.

Three layers are tested on PostgreSQL:

- the application's engine, whose SQL guard refuses TRUNCATE and trigger
  changes before they reach the server. It connects as the application
  role, which has no UPDATE or DELETE privilege on audit_log, so the server
  refuses those as well;
- a connection of the test server's superuser without the guard, where the
  triggers alone refuse UPDATE, DELETE and TRUNCATE;
- a role that owns no table and may only SELECT and INSERT on audit_log:
  the server refuses every change, and refuses to switch the triggers off,
  even through session_replication_role.

The superuser could switch triggers off, so the last layer creates a role
of its own and drops it afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError, ProgrammingError

from core.audit import append_entry, verify_audit_chain
from db.session import make_engine
from db.sql_guard import DangerousSQLRefused
from tests.integration.databases import Database, add_tenant, bind_tenant

TRIGGER_REJECTION = "audit_log entries cannot be updated or deleted"
UPDATE = "UPDATE audit_log SET action = 'plan.deleted' WHERE tenant_id = :tenant_id"
DELETE = "DELETE FROM audit_log WHERE tenant_id = :tenant_id"
TRUNCATE = "TRUNCATE audit_log"
DISABLE_TRIGGER = "ALTER TABLE audit_log DISABLE TRIGGER audit_log_reject_update_delete"
DISABLE_ALL_TRIGGERS = "ALTER TABLE audit_log DISABLE TRIGGER ALL"
REPLICA_MODE = "SET session_replication_role = replica"


def tenant_with_entries(postgres: Database, count: int = 2):
    tenant = add_tenant(postgres.session_factory)
    with postgres.session_factory() as session, session.begin():
        for number in range(1, count + 1):
            append_entry(
                session,
                tenant.actor(),
                "plan.solved",
                "plan",
                number,
                {"drivers": 142},
                occurred_at=datetime(2025, 12, 1, 9, number, tzinfo=UTC),
            )
    return tenant


def entry_count(postgres: Database, tenant) -> int:
    with postgres.session_factory() as session:
        result = verify_audit_chain(session, tenant.tenant_id)
    assert result.ok, result.message
    return result.entry_count


@pytest.fixture
def audit_writer(postgres: Database) -> Iterator[Connection]:
    """Connect as a fresh role that may only SELECT and INSERT on audit_log."""
    role = f"audit_writer_{uuid.uuid4().hex[:12]}"
    with postgres.unguarded_connection() as admin:
        admin.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        admin.execute(text(f'GRANT SELECT, INSERT ON audit_log TO "{role}"'))
        admin.commit()
    engine = make_engine(postgres.engine.url.set(username=role), sql_guard=False)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()
        with postgres.unguarded_connection() as admin:
            admin.execute(text(f'REVOKE ALL ON audit_log FROM "{role}"'))
            admin.execute(text(f'DROP ROLE "{role}"'))
            admin.commit()


class TestApplicationEngine:
    @pytest.mark.parametrize("statement", [UPDATE, DELETE], ids=["update", "delete"])
    def test_change_is_refused_without_privilege(self, postgres, statement):
        tenant = tenant_with_entries(postgres)

        with (
            postgres.engine.connect() as connection,
            pytest.raises(ProgrammingError, match="permission denied for table"),
        ):
            bind_tenant(connection, tenant.tenant_id)
            connection.execute(text(statement), {"tenant_id": tenant.tenant_id})

        assert entry_count(postgres, tenant) == 2

    @pytest.mark.parametrize(
        "statement",
        [TRUNCATE, DISABLE_TRIGGER, DISABLE_ALL_TRIGGERS, REPLICA_MODE],
        ids=["truncate", "disable-trigger", "disable-all-triggers", "replica-mode"],
    )
    def test_statement_is_refused_by_sql_guard(self, postgres, statement):
        tenant = tenant_with_entries(postgres)

        with (
            postgres.engine.connect() as connection,
            pytest.raises(DangerousSQLRefused),
        ):
            connection.execute(text(statement))

        assert entry_count(postgres, tenant) == 2


class TestWithoutSqlGuard:
    @pytest.mark.parametrize(
        "statement", [UPDATE, DELETE, TRUNCATE], ids=["update", "delete", "truncate"]
    )
    def test_change_is_rejected_by_trigger(self, postgres, statement):
        tenant = tenant_with_entries(postgres)

        with (
            postgres.unguarded_connection() as connection,
            pytest.raises(IntegrityError, match=TRIGGER_REJECTION),
        ):
            connection.execute(text(statement), {"tenant_id": tenant.tenant_id})

        assert entry_count(postgres, tenant) == 2


class TestRoleWithoutOwnership:
    def test_role_may_read_the_audit_log(self, postgres, audit_writer):
        tenant = tenant_with_entries(postgres)
        bind_tenant(audit_writer, tenant.tenant_id)

        count = audit_writer.scalar(
            text("SELECT count(*) FROM audit_log WHERE tenant_id = :tenant_id"),
            {"tenant_id": tenant.tenant_id},
        )

        assert count == 2

    @pytest.mark.parametrize(
        "statement", [UPDATE, DELETE, TRUNCATE], ids=["update", "delete", "truncate"]
    )
    def test_change_is_refused(self, postgres, audit_writer, statement):
        tenant = tenant_with_entries(postgres)

        with pytest.raises(ProgrammingError, match="permission denied for table"):
            audit_writer.execute(text(statement), {"tenant_id": tenant.tenant_id})

        assert entry_count(postgres, tenant) == 2

    @pytest.mark.parametrize(
        "statement",
        [DISABLE_TRIGGER, DISABLE_ALL_TRIGGERS],
        ids=["disable-trigger", "disable-all-triggers"],
    )
    def test_disabling_triggers_is_refused(self, postgres, audit_writer, statement):
        tenant_with_entries(postgres)

        with pytest.raises(ProgrammingError, match="must be owner of table audit_log"):
            audit_writer.execute(text(statement))
        audit_writer.rollback()

        enabled = audit_writer.scalars(
            text(
                "SELECT tgenabled FROM pg_trigger"
                " WHERE tgrelid = 'audit_log'::regclass AND NOT tgisinternal"
            )
        ).all()
        assert enabled == ["O", "O"]

    def test_replica_mode_is_refused(self, audit_writer):
        with pytest.raises(
            ProgrammingError,
            match='permission denied to set parameter "session_replication_role"',
        ):
            audit_writer.execute(text(REPLICA_MODE))
