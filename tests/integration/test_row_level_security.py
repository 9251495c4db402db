"""Row-level security on PostgreSQL keeps every tenant's rows apart.

The database of these tests has an owner role that ran the migrations and an
application role that the services connect as (databases.py). The tests:

- read the catalog: every table of the public schema, except those of
  TABLES_WITHOUT_ROW_LEVEL_SECURITY, has row-level security enabled and
  forced with the policy `tenant_isolation`. The application role owns
  nothing, is no superuser, has no BYPASSRLS, may not TRUNCATE and may not
  change audit entries. Views run as their invoker, and the only SECURITY
  DEFINER functions are the cross-tenant lookups of migration 0005 and
  the anonymised KPI comparison of migration 0008;
- weaken the catalog inside a transaction that is rolled back, to show that
  those checks report each weakness;
- check, as the application role, that a transaction of one tenant sees,
  updates and deletes none of another tenant's rows, cannot insert a row
  for another tenant, and that a transaction without a tenant sees no rows;
- replace one table's policy by USING (true), again inside a rolled-back
  transaction, to show that the isolation check reports the leak;
- run 1000 requests of two alternating tenants over a pool of two
  connections, some of them failing half-way, and check that no request
  ever sees another tenant's row, nor a request without a tenant any row.

All of them need PostgreSQL: they fail when CI=true and it cannot be
reached, and are skipped with the reason otherwise.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Connection, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from core.audit import append_entry
from core.context import configure, unit_of_work
from core.permissions import Role
from db.models import AuditEntry, Base, PlanVersion, User
from db.repositories import forecasts, jobs, plans, recovery_codes, sessions
from db.session import alembic_config, make_engine
from db.sql_guard_rules import TENANT_SETTING
from solver.rules import RuleSettings
from tests.integration.databases import (
    SMALL_FORECAST,
    WEEK_ANCHOR,
    Database,
    PostgresRoles,
    PostgresUnavailable,
    TenantSetup,
    add_tenant,
    migrated_postgres_database,
    unavailable,
)

# Tables of the public schema that may go without row-level security.
TABLES_WITHOUT_ROW_LEVEL_SECURITY = {
    "alembic_version": (
        "Alembic's record of the schema revision: one row, no tenant data, and"
        " the application role may only read it"
    ),
}
# The SECURITY DEFINER functions that look across tenants, and why each must.
CROSS_TENANT_FUNCTIONS = {
    "tenant_id_for_slug": "sign-in knows the tenant's slug only",
    "tenant_id_for_session": "a request knows its session token only",
    "claim_next_solve_job": "a worker takes the oldest job of any tenant",
    "stale_solve_jobs": "a worker fails the stale jobs of every tenant",
    "all_tenant_ids": "audit checkpoints walk every tenant",
    "is_row_of_another_tenant": "a guessed id is recorded as a cross-tenant attempt",
    "kpi_history_comparison": "the platform operator compares tenants anonymised",
}
LOOKUP_SETTING = "app.cross_tenant_lookup"
ROW_SECURITY_SQLSTATE = "42501"
BROKEN_TABLE = "plan_versions"

SOAK_REQUESTS = 1000
SOAK_POOL_SIZE = 2
SOAK_THREADS = 4
# Every FAILING_EVERY-th request raises inside its unit of work, which rolls back.
FAILING_EVERY = 7
# Every PROBE_EVERY-th request is followed by one without a tenant.
PROBE_EVERY = 10
SOAK_MODELS = (User, PlanVersion, AuditEntry)


# --- The catalog ---------------------------------------------------------------


def unsecured_tables(connection: Connection) -> list[str]:
    """Name the tables of the public schema without forced row-level security.

    Tables of TABLES_WITHOUT_ROW_LEVEL_SECURITY are left out, unless they
    have a tenant_id column, which no exception covers.
    """
    rows = connection.execute(
        text(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
            " EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid"
            "   AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS has_tenant"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
            " ORDER BY c.relname"
        )
    )
    findings = []
    for row in rows:
        if row.relname in TABLES_WITHOUT_ROW_LEVEL_SECURITY and not row.has_tenant:
            continue
        if not row.relrowsecurity:
            findings.append(f"{row.relname}: row-level security is not enabled")
        if not row.relforcerowsecurity:
            findings.append(f"{row.relname}: row-level security is not forced")
    return findings


def policy_findings(connection: Connection, roles: PostgresRoles) -> list[str]:
    """Check every policy of the public schema, and that each secured table has one.

    Each secured table needs `tenant_isolation` for every command and role,
    comparing its tenant column with the tenant setting in USING and WITH
    CHECK. Any other policy must be a cross-tenant lookup policy that
    applies to the owner role only, while the lookup setting is on.
    """
    secured = set(
        connection.scalars(
            text(
                "SELECT c.relname FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relrowsecurity"
            )
        )
    )
    policies = connection.execute(
        text(
            "SELECT tablename, policyname, permissive, roles::text[] AS roles, cmd,"
            " qual, with_check FROM pg_policies WHERE schemaname = 'public'"
            " ORDER BY tablename, policyname"
        )
    ).all()
    findings = []
    isolated = set()
    for policy in policies:
        name = f"{policy.tablename}.{policy.policyname}"
        if policy.policyname == "tenant_isolation":
            isolated.add(policy.tablename)
            findings.extend(_isolation_policy_findings(name, policy))
        else:
            findings.extend(_lookup_policy_findings(name, policy, roles))
    for table in sorted(secured - isolated):
        findings.append(f"{table}: no policy tenant_isolation")
    return findings


def _isolation_policy_findings(name: str, policy) -> list[str]:
    findings = []
    if policy.cmd != "ALL" or policy.roles != ["public"]:
        findings.append(f"{name}: applies to {policy.cmd} for {policy.roles}")
    if policy.permissive != "PERMISSIVE":
        findings.append(f"{name}: is {policy.permissive}")
    for clause, expression in (
        ("USING", policy.qual),
        ("WITH CHECK", policy.with_check),
    ):
        if expression is None or f"'{TENANT_SETTING}'" not in expression:
            findings.append(f"{name}: {clause} ({expression}) ignores {TENANT_SETTING}")
    return findings


def _lookup_policy_findings(name: str, policy, roles: PostgresRoles) -> list[str]:
    findings = []
    if not policy.policyname.startswith("cross_tenant_lookup_"):
        findings.append(f"{name}: unexpected policy")
    if policy.roles != [roles.owner]:
        findings.append(f"{name}: applies to {policy.roles}, not the owner only")
    for expression in (policy.qual, policy.with_check):
        if expression is not None and f"'{LOOKUP_SETTING}'" not in expression:
            findings.append(f"{name}: ({expression}) ignores {LOOKUP_SETTING}")
    return findings


def app_role_findings(connection: Connection, roles: PostgresRoles) -> list[str]:
    """Check that the application role owns nothing and obeys row-level security."""
    parameters = {"app": roles.app, "owner": roles.owner}
    role = connection.execute(
        text(
            "SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles"
            " WHERE rolname = :app"
        ),
        parameters,
    ).one()
    findings = []
    if role.rolsuper:
        findings.append(f"{roles.app}: is a superuser")
    if role.rolbypassrls:
        findings.append(f"{roles.app}: has BYPASSRLS")
    if role.rolcreaterole:
        findings.append(f"{roles.app}: has CREATEROLE")
    owned = connection.scalars(
        text(
            "SELECT 'table ' || relname FROM pg_class"
            " WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = :app)"
            " UNION ALL SELECT 'function ' || proname FROM pg_proc"
            " WHERE proowner = (SELECT oid FROM pg_roles WHERE rolname = :app)"
            " UNION ALL SELECT 'schema ' || nspname FROM pg_namespace"
            " WHERE nspowner = (SELECT oid FROM pg_roles WHERE rolname = :app)"
            " UNION ALL SELECT 'database ' || datname FROM pg_database"
            " WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = :app)"
        ),
        parameters,
    ).all()
    findings.extend(f"{roles.app}: owns {thing}" for thing in owned)
    if connection.scalar(text("SELECT pg_has_role(:app, :owner, 'USAGE')"), parameters):
        findings.append(f"{roles.app}: may act as the owner role {roles.owner}")
    return findings


def privilege_findings(connection: Connection, app_role: str) -> list[str]:
    """Check that the application role may not truncate, add triggers or edit audit."""
    rows = connection.execute(
        text(
            "SELECT c.relname,"
            " has_table_privilege(:app, c.oid, 'TRUNCATE') AS may_truncate,"
            " has_table_privilege(:app, c.oid, 'TRIGGER') AS may_add_trigger,"
            " has_table_privilege(:app, c.oid, 'UPDATE') AS may_update,"
            " has_table_privilege(:app, c.oid, 'DELETE') AS may_delete"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
            " ORDER BY c.relname"
        ),
        {"app": app_role},
    )
    findings = []
    for row in rows:
        if row.may_truncate:
            findings.append(f"{row.relname}: {app_role} may TRUNCATE it")
        if row.may_add_trigger:
            findings.append(f"{row.relname}: {app_role} may create triggers on it")
        if row.relname == "audit_log" and (row.may_update or row.may_delete):
            findings.append(f"audit_log: {app_role} may UPDATE or DELETE entries")
    return findings


def view_findings(connection: Connection) -> list[str]:
    """Check that every view runs as its invoker, and that no materialized view exists.

    A view runs with its owner's rights unless security_invoker is set, and
    a materialized view has no row-level security of its own at all.
    """
    rows = connection.execute(
        text(
            "SELECT c.relname, c.relkind, coalesce(c.reloptions, '{}') AS options"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')"
        )
    )
    findings = []
    for row in rows:
        if row.relkind == "m":
            findings.append(f"{row.relname}: is a materialized view")
        elif not {"security_invoker=true", "security_invoker=on"} & set(row.options):
            findings.append(f"{row.relname}: view without security_invoker")
    return findings


def function_findings(connection: Connection, app_role: str) -> list[str]:
    """Check the SECURITY DEFINER and LEAKPROOF functions of the public schema.

    Only the functions of CROSS_TENANT_FUNCTIONS may be SECURITY DEFINER, each
    with a pinned search_path and not executable by PUBLIC. None may be
    LEAKPROOF, because such a function sees rows before the policies filter
    them.
    """
    rows = connection.execute(
        text(
            "SELECT p.proname, p.prosecdef, p.proleakproof,"
            " coalesce(p.proconfig, '{}') AS config,"
            " EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl,"
            "   acldefault('f', p.proowner))) acl"
            "   WHERE acl.grantee = 0) AS public_may_execute,"
            " has_function_privilege(:app, p.oid, 'EXECUTE') AS app_may_execute"
            " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'public' AND (p.prosecdef OR p.proleakproof)"
        ),
        {"app": app_role},
    )
    findings = []
    found = set()
    for row in rows:
        if row.proleakproof:
            findings.append(f"{row.proname}: is LEAKPROOF")
        if not row.prosecdef:
            continue
        found.add(row.proname)
        if row.proname not in CROSS_TENANT_FUNCTIONS:
            findings.append(f"{row.proname}: unexpected SECURITY DEFINER function")
        if not any(setting.startswith("search_path=") for setting in row.config):
            findings.append(f"{row.proname}: SECURITY DEFINER without search_path")
        if row.public_may_execute:
            findings.append(f"{row.proname}: PUBLIC may execute it")
        if not row.app_may_execute:
            findings.append(f"{row.proname}: {app_role} may not execute it")
    for missing in sorted(set(CROSS_TENANT_FUNCTIONS) - found):
        findings.append(f"{missing}: missing or not SECURITY DEFINER")
    return findings


class TestCatalog:
    def test_every_table_forces_row_level_security(self, postgres):
        with postgres.unguarded_connection() as connection:
            findings = unsecured_tables(connection)

        assert findings == []

    def test_every_secured_table_isolates_tenants(self, postgres):
        with postgres.unguarded_connection() as connection:
            findings = policy_findings(connection, postgres.roles)

        assert findings == []

    def test_application_role_owns_nothing_and_obeys_policies(self, postgres):
        with postgres.unguarded_connection() as connection:
            findings = app_role_findings(connection, postgres.roles)

        assert findings == []

    def test_application_role_cannot_truncate_or_edit_audit(self, postgres):
        with postgres.unguarded_connection() as connection:
            findings = privilege_findings(connection, postgres.roles.app)

        assert findings == []

    def test_views_run_as_invoker(self, postgres):
        with postgres.unguarded_connection() as connection:
            findings = view_findings(connection)

        assert findings == []

    def test_security_definer_functions_are_the_listed_lookups(self, postgres):
        with postgres.unguarded_connection() as connection:
            findings = function_findings(connection, postgres.roles.app)

        assert findings == []

    def test_weakened_catalog_is_reported(self, postgres):
        roles = postgres.roles
        with postgres.unguarded_connection() as connection:
            with weakened_catalog(connection, roles):
                findings = [
                    *unsecured_tables(connection),
                    *policy_findings(connection, roles),
                    *app_role_findings(connection, roles),
                    *privilege_findings(connection, roles.app),
                    *view_findings(connection),
                    *function_findings(connection, roles.app),
                ]
            restored = app_role_findings(connection, roles) + unsecured_tables(
                connection
            )

        assert "tours: row-level security is not forced" in findings
        assert "plans: row-level security is not enabled" in findings
        assert "tour_templates: no policy tenant_isolation" in findings
        assert f"{roles.app}: has BYPASSRLS" in findings
        assert f"{roles.app}: owns table plan_checks" in findings
        assert f"tours: {roles.app} may TRUNCATE it" in findings
        assert f"audit_log: {roles.app} may UPDATE or DELETE entries" in findings
        assert "tours_of_every_tenant: view without security_invoker" in findings
        assert "stray_lookup: unexpected SECURITY DEFINER function" in findings
        assert restored == []


@contextmanager
def weakened_catalog(connection: Connection, roles: PostgresRoles) -> Iterator[None]:
    """Weaken tables, roles and privileges in a transaction that is rolled back."""
    transaction = connection.begin()
    try:
        for statement in (
            "ALTER TABLE tours NO FORCE ROW LEVEL SECURITY",
            "ALTER TABLE plans DISABLE ROW LEVEL SECURITY",
            "DROP POLICY tenant_isolation ON tour_templates",
            f'ALTER ROLE "{roles.app}" BYPASSRLS',
            f'ALTER TABLE plan_checks OWNER TO "{roles.app}"',
            f'GRANT TRUNCATE ON tours TO "{roles.app}"',
            f'GRANT UPDATE ON audit_log TO "{roles.app}"',
            "CREATE VIEW tours_of_every_tenant AS SELECT * FROM tours",
            (
                "CREATE FUNCTION stray_lookup() RETURNS bigint LANGUAGE sql"
                " SECURITY DEFINER AS 'SELECT count(*) FROM tours'"
            ),
        ):
            connection.execute(text(statement))
        yield
    finally:
        transaction.rollback()


class TestMigration:
    def test_downgrade_removes_policies_functions_and_grants(self):
        try:
            with migrated_postgres_database() as database:
                roles = database.roles
                owner_engine = make_engine(roles.owner_url, sql_guard=False)
                config = alembic_config(owner_engine)
                config.attributes["app_role"] = roles.app
                try:
                    command.downgrade(config, "0004")
                    with database.unguarded_connection() as connection:
                        left_over = downgrade_leftovers(connection, roles.app)
                    command.upgrade(config, "head")
                finally:
                    owner_engine.dispose()
                with database.unguarded_connection() as connection:
                    findings = unsecured_tables(connection) + policy_findings(
                        connection, roles
                    )
        except PostgresUnavailable as error:
            unavailable(str(error))

        assert left_over == {
            "tables with row-level security": 0,
            "policies": 0,
            "SECURITY DEFINER functions": 0,
            "tables the application role may read": 0,
        }
        assert findings == []


def downgrade_leftovers(connection: Connection, app_role: str) -> dict[str, int]:
    """Count what row-level security left in the public schema."""
    queries = {
        "tables with row-level security": (
            "SELECT count(*) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public'"
            " AND (c.relrowsecurity OR c.relforcerowsecurity)"
        ),
        "policies": "SELECT count(*) FROM pg_policies WHERE schemaname = 'public'",
        "SECURITY DEFINER functions": (
            "SELECT count(*) FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'public' AND p.prosecdef"
        ),
        "tables the application role may read": (
            "SELECT count(*) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind = 'r'"
            " AND has_table_privilege(:app, c.oid, 'SELECT')"
        ),
    }
    return {
        name: connection.scalar(text(query), {"app": app_role})
        for name, query in queries.items()
    }


# --- Isolation of two tenants --------------------------------------------------


@dataclass(frozen=True)
class TenantTable:
    """A table whose rows belong to tenants, as the isolation check reads it.

    `tenant_column` is tenant_id, or id for the tenants table itself.
    `copy_columns` are the columns an INSERT copies from an existing row,
    which leaves out the id that a sequence draws.
    """

    name: str
    tenant_column: str
    copy_columns: tuple[str, ...]
    may_update: bool
    may_delete: bool


def tenant_tables(connection: Connection, app_role: str) -> list[TenantTable]:
    """Read the tables with a tenant column from the catalog, and what the role may do."""
    rows = connection.execute(
        text(
            "SELECT c.relname, a.attname,"
            " coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS default_value,"
            " has_table_privilege(:app, c.oid, 'UPDATE') AS may_update,"
            " has_table_privilege(:app, c.oid, 'DELETE') AS may_delete"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
            "   AND NOT a.attisdropped"
            " LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum"
            " WHERE n.nspname = 'public' AND c.relkind = 'r'"
            " ORDER BY c.relname, a.attnum"
        ),
        {"app": app_role},
    ).all()
    tables = []
    for name in sorted({row.relname for row in rows}):
        columns = [row for row in rows if row.relname == name]
        names = [column.attname for column in columns]
        if name != "tenants" and "tenant_id" not in names:
            continue
        tables.append(
            TenantTable(
                name=name,
                tenant_column="id" if name == "tenants" else "tenant_id",
                copy_columns=tuple(
                    column.attname
                    for column in columns
                    if not column.default_value.startswith("nextval(")
                ),
                may_update=columns[0].may_update,
                may_delete=columns[0].may_delete,
            )
        )
    return tables


@contextmanager
def rolled_back_savepoint(connection: Connection) -> Iterator[None]:
    savepoint = connection.begin_nested()
    try:
        yield
    finally:
        savepoint.rollback()


def set_tenant(connection: Connection, tenant_id: int | None) -> None:
    """Set the transaction's tenant; None leaves it empty, as after a transaction."""
    connection.execute(
        text(f"SELECT set_config('{TENANT_SETTING}', :tenant_id, true)"),
        {"tenant_id": "" if tenant_id is None else str(tenant_id)},
    )


def isolation_leaks(
    connection: Connection, tables: list[TenantTable], own_id: int, other_id: int
) -> list[str]:
    """Try to reach another tenant's rows of every table, and list what got through.

    `connection` must act as the application role inside a transaction;
    every attempt runs in a savepoint that is rolled back. For each table,
    a transaction of tenant `own_id` must see its own rows and no other
    tenant's, must update and delete none of tenant `other_id`'s rows, and
    must fail to insert a row for `other_id`. A transaction without a
    tenant must see no row at all. A table without a row of `own_id` is
    reported too, because nothing could be checked on it.
    """
    findings = []
    for table in tables:
        findings.extend(_reading_leaks(connection, table, own_id))
        findings.extend(_writing_leaks(connection, table, own_id, other_id))
        findings.extend(_insert_leaks(connection, table, own_id, other_id))
    return findings


def _reading_leaks(
    connection: Connection, table: TenantTable, own_id: int
) -> list[str]:
    findings = []
    with rolled_back_savepoint(connection):
        set_tenant(connection, own_id)
        counts = connection.execute(
            text(
                f"SELECT count(*) FILTER (WHERE {table.tenant_column} = :own)"
                " AS own_rows,"
                f" count(*) FILTER (WHERE {table.tenant_column} <> :own)"
                " AS foreign_rows"
                f" FROM {table.name}"
            ),
            {"own": own_id},
        ).one()
    if counts.own_rows == 0:
        findings.append(
            f"{table.name}: tenant {own_id} sees no row of its own, so nothing"
            " was checked; add rows in seed_every_tenant_table"
        )
    if counts.foreign_rows:
        findings.append(
            f"{table.name}: tenant {own_id} sees {counts.foreign_rows} rows of others"
        )
    with rolled_back_savepoint(connection):
        set_tenant(connection, None)
        unbound = connection.scalar(text(f"SELECT count(*) FROM {table.name}"))
    if unbound:
        findings.append(f"{table.name}: {unbound} rows visible without a tenant")
    return findings


def _writing_leaks(
    connection: Connection, table: TenantTable, own_id: int, other_id: int
) -> list[str]:
    findings = []
    column = table.tenant_column
    statements = []
    if table.may_update:
        statements.append(f"UPDATE {table.name} SET {column} = {column}")
    if table.may_delete:
        statements.append(f"DELETE FROM {table.name}")
    for statement in statements:
        command = statement.split()[0]
        with rolled_back_savepoint(connection):
            set_tenant(connection, own_id)
            try:
                changed = connection.execute(
                    text(f"{statement} WHERE {column} = :other"), {"other": other_id}
                ).rowcount
            except DBAPIError as error:
                changed = f"some (it failed with {error.orig})"
        if changed != 0:
            findings.append(
                f"{table.name}: {command} by tenant {own_id} reached {changed}"
                f" rows of tenant {other_id}"
            )
    return findings


def _insert_leaks(
    connection: Connection, table: TenantTable, own_id: int, other_id: int
) -> list[str]:
    """Copy a row of `own_id` as a row of `other_id`; only row-level security may fail it."""
    columns = ", ".join(table.copy_columns)
    values = ", ".join(
        "CAST(:other AS bigint)" if column == table.tenant_column else column
        for column in table.copy_columns
    )
    attempt = f"{table.name}: INSERT by tenant {own_id} of a row of tenant {other_id}"
    with rolled_back_savepoint(connection):
        set_tenant(connection, own_id)
        try:
            inserted = connection.execute(
                text(
                    f"INSERT INTO {table.name} ({columns}) SELECT {values}"
                    f" FROM {table.name} WHERE {table.tenant_column} = :own LIMIT 1"
                ),
                {"own": own_id, "other": other_id},
            ).rowcount
        except DBAPIError as error:
            refused = error.orig.sqlstate == ROW_SECURITY_SQLSTATE and (
                "row-level security" in str(error.orig)
            )
            if refused:
                return []
            return [f"{attempt} passed row-level security, then failed: {error.orig}"]
    if inserted == 0:
        return [f"{table.name}: no row of tenant {own_id} to copy for the INSERT"]
    return [f"{attempt} passed row-level security and was stored"]


def seed_every_tenant_table(postgres: Database, small_solve_result) -> TenantSetup:
    """Create a tenant with at least one row in every table that has tenant rows."""
    tenant = add_tenant(postgres.session_factory)
    user_id = tenant.actor(Role.TENANT_ADMIN).user_id
    now = datetime.now(UTC)
    with postgres.session_factory() as session, session.begin():
        sessions.add(
            session, tenant.tenant_id, user_id, secrets.token_hex(32), True, now
        )
        recovery_codes.replace_all(
            session, tenant.tenant_id, user_id, [secrets.token_hex(32)], now
        )
        version = forecasts.add_version(
            session,
            tenant.tenant_id,
            WEEK_ANCHOR,
            SMALL_FORECAST,
            source_filename="week.csv",
            source_format="tidy",
            line_report=[],
            diff=None,
            created_by=user_id,
        )
        plan = plans.get_or_add_plan(session, tenant.tenant_id, WEEK_ANCHOR)
        plan_version = plans.add_version(
            session,
            tenant.tenant_id,
            plan.id,
            version.id,
            small_solve_result,
            RuleSettings(),
            created_by=user_id,
        )
        jobs.enqueue(session, tenant.tenant_id, version.id, {}, created_by=user_id)
        append_entry(
            session, tenant.actor(), "tenant.seeded", "tenant", tenant.tenant_id
        )
        _seed_driver_tables(session, tenant.tenant_id, user_id, now)
        _seed_kpi_history_tables(session, tenant.tenant_id, plan_version.id, now)
        _seed_scenario_tables(session, tenant.tenant_id, version.id, user_id, now)
    return tenant


def _seed_driver_tables(session, tenant_id: int, user_id: int, now: datetime) -> None:
    """Add a driver, a consent and a retention setting where those tables exist."""
    tables = Base.metadata.tables
    if "drivers" in tables:
        driver_id = session.execute(
            insert(tables["drivers"])
            .values(
                tenant_id=tenant_id,
                external_ref=f"driver-{secrets.token_hex(6)}",
                home_depot="",
                qualifications=[],
                contract_kind="full_time",
                min_weekly_minutes=0,
                max_weekly_minutes=3300,
                is_active=True,
                legal_hold=False,
                created_at=now,
                updated_at=now,
                row_version=1,
            )
            .returning(tables["drivers"].c.id)
        ).scalar_one()
        if "driver_consents" in tables:
            session.execute(
                insert(tables["driver_consents"]).values(
                    tenant_id=tenant_id,
                    driver_id=driver_id,
                    purpose="planning",
                    granted=True,
                    text_version="1",
                    recorded_at=now,
                    recorded_by=user_id,
                )
            )
        _seed_availability_tables(session, tenant_id, driver_id, user_id, now)
    if "driver_retention_settings" in tables:
        session.execute(
            insert(tables["driver_retention_settings"]).values(
                tenant_id=tenant_id, retention_days=365, updated_at=now
            )
        )


def _seed_kpi_history_tables(
    session, tenant_id: int, plan_version_id: int, now: datetime
) -> None:
    """Add a KPI history week and the cost settings where those tables exist."""
    tables = Base.metadata.tables
    if "kpi_history" in tables:
        session.execute(
            insert(tables["kpi_history"]).values(
                tenant_id=tenant_id,
                week_anchor=WEEK_ANCHOR,
                plan_version_id=plan_version_id,
                version_number=1,
                approved_at=now,
                drivers=3,
                part_time_rosters=1,
                hours=22.5,
                split_blocks=0,
                single_blocks=1,
                open_tours=0,
                kpis={"drivers": 3},
            )
        )
    if "tenant_cost_settings" in tables:
        session.execute(
            insert(tables["tenant_cost_settings"]).values(
                tenant_id=tenant_id,
                cost_per_driver_week=1000,
                history_retention_days=730,
                updated_at=now,
            )
        )


def _seed_scenario_tables(
    session, tenant_id: int, forecast_version_id: int, user_id: int, now: datetime
) -> None:
    """Add a scenario, a run of it and the run's solve job where those tables exist."""
    tables = Base.metadata.tables
    if "scenarios" not in tables:
        return
    scenario_id = session.execute(
        insert(tables["scenarios"])
        .values(
            tenant_id=tenant_id,
            name=f"scenario-{secrets.token_hex(6)}",
            base_forecast_version_id=forecast_version_id,
            variation={"rules": {"max_weekly_minutes": 2880}},
            created_by=user_id,
            created_at=now,
        )
        .returning(tables["scenarios"].c.id)
    ).scalar_one()
    run_id = session.execute(
        insert(tables["scenario_runs"])
        .values(
            tenant_id=tenant_id,
            scenario_id=scenario_id,
            inputs={"time_limit_seconds": 60.0},
            input_hash="0" * 64,
            status="queued",
            created_by=user_id,
            created_at=now,
        )
        .returning(tables["scenario_runs"].c.id)
    ).scalar_one()
    jobs.enqueue(
        session,
        tenant_id,
        forecast_version_id,
        {},
        created_by=user_id,
        scenario_run_id=run_id,
    )


def _seed_availability_tables(
    session, tenant_id: int, driver_id: int, user_id: int, now: datetime
) -> None:
    """Add a driver's pattern, exception, preferences and week, and settings."""
    tables = Base.metadata.tables
    if "driver_weekly_patterns" not in tables:
        return
    driver = {"tenant_id": tenant_id, "driver_id": driver_id}
    session.execute(
        insert(tables["driver_weekly_patterns"]).values(
            **driver, weekday=1, start_minute=360, end_minute=1080
        )
    )
    session.execute(
        insert(tables["driver_availability_exceptions"]).values(
            **driver,
            day=WEEK_ANCHOR,
            status="SICK",
            created_by=user_id,
            updated_at=now,
        )
    )
    session.execute(
        insert(tables["driver_preferences"]).values(
            **driver,
            start="early",
            start_weight=1,
            days_off=[7],
            days_off_weight=1,
            max_days_in_row_weight=0,
            updated_at=now,
        )
    )
    session.execute(
        insert(tables["driver_availability_weeks"]).values(
            **driver, week_anchor=WEEK_ANCHOR, updated_at=now, row_version=1
        )
    )
    session.execute(
        insert(tables["tenant_planning_settings"]).values(
            tenant_id=tenant_id, stay_at_home_depot=True, updated_at=now
        )
    )


@pytest.fixture
def two_tenants(postgres, small_solve_result) -> tuple[TenantSetup, TenantSetup]:
    return (
        seed_every_tenant_table(postgres, small_solve_result),
        seed_every_tenant_table(postgres, small_solve_result),
    )


@pytest.fixture
def tables(postgres) -> list[TenantTable]:
    with postgres.unguarded_connection() as connection:
        return tenant_tables(connection, postgres.roles.app)


class TestIsolation:
    def test_catalog_lists_every_tenant_table(self, tables):
        names = {table.name for table in tables}

        assert {"tenants", "users", "audit_log", "solve_jobs", "tours"} <= names
        assert set(Base.metadata.tables) <= names

    def test_tenant_reaches_none_of_another_tenants_rows(
        self, postgres, two_tenants, tables
    ):
        first, second = two_tenants

        with postgres.engine.connect() as connection, connection.begin():
            first_leaks = isolation_leaks(
                connection, tables, first.tenant_id, second.tenant_id
            )
            second_leaks = isolation_leaks(
                connection, tables, second.tenant_id, first.tenant_id
            )
            connection.rollback()

        assert first_leaks == []
        assert second_leaks == []

    def test_fresh_connection_without_tenant_sees_no_rows(
        self, postgres, two_tenants, tables
    ):
        engine = make_engine(postgres.roles.app_url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                tenant = connection.scalar(
                    text(f"SELECT current_setting('{TENANT_SETTING}', true)")
                )
                visible = {
                    table.name: connection.scalar(
                        text(f"SELECT count(*) FROM {table.name}")
                    )
                    for table in tables
                }
        finally:
            engine.dispose()

        assert tenant is None
        assert visible == {table.name: 0 for table in tables}

    def test_broken_policy_is_reported_as_a_leak(self, postgres, two_tenants, tables):
        first, second = two_tenants
        roles = postgres.roles

        with postgres.unguarded_connection() as connection:
            transaction = connection.begin()
            try:
                connection.execute(text(f'SET LOCAL ROLE "{roles.owner}"'))
                connection.execute(
                    text(f"DROP POLICY tenant_isolation ON {BROKEN_TABLE}")
                )
                connection.execute(
                    text(
                        f"CREATE POLICY tenant_isolation ON {BROKEN_TABLE}"
                        " USING (true) WITH CHECK (true)"
                    )
                )
                connection.execute(text(f'SET LOCAL ROLE "{roles.app}"'))
                leaks = isolation_leaks(
                    connection, tables, first.tenant_id, second.tenant_id
                )
            finally:
                transaction.rollback()
        with postgres.engine.connect() as connection, connection.begin():
            leaks_after_rollback = isolation_leaks(
                connection, tables, first.tenant_id, second.tenant_id
            )
            connection.rollback()

        broken = [leak for leak in leaks if leak.startswith(f"{BROKEN_TABLE}:")]
        assert any("rows of others" in leak for leak in broken), leaks
        assert any("without a tenant" in leak for leak in broken), leaks
        assert any("INSERT by tenant" in leak for leak in broken), leaks
        assert any("UPDATE by tenant" in leak for leak in broken), leaks
        assert broken == leaks
        assert leaks_after_rollback == []


# --- Pooled connections --------------------------------------------------------


class SoakRequestFailed(Exception):
    """Raised inside a soak request on purpose, so its unit of work rolls back."""


@dataclass(frozen=True)
class SoakOutcome:
    """What one soak request saw: its connection, tenant and any foreign rows."""

    number: int
    backend_pid: int
    tenant_id: int
    own_rows: int
    foreign_rows: tuple[str, ...]
    probe_pid: int | None
    probe_rows: int


def soak_request(number: int, tenants: tuple[TenantSetup, TenantSetup]) -> SoakOutcome:
    """Read every row of the soak tables as one tenant, like a service would.

    The reads carry no tenant filter of their own, so only row-level
    security keeps other tenants' rows out. Some requests fail after their
    reads, and some are followed by a request without a tenant.
    """
    tenant = tenants[number % 2]
    actor = tenant.actor(Role.VIEWER)
    own_rows = 0
    foreign: list[str] = []
    try:
        with unit_of_work(actor) as session:
            backend_pid = session.scalar(text("SELECT pg_backend_pid()"))
            for model in SOAK_MODELS:
                for row_tenant_id in session.scalars(select(model.tenant_id)):
                    if row_tenant_id == tenant.tenant_id:
                        own_rows += 1
                    else:
                        foreign.append(
                            f"{model.__tablename__} of tenant {row_tenant_id}"
                        )
            if number % FAILING_EVERY == 0:
                raise SoakRequestFailed(f"request {number} fails after its reads")
    except SoakRequestFailed:
        pass
    probe_pid, probe_rows = None, 0
    if number % PROBE_EVERY == 0:
        probe_pid, probe_rows = probe_without_tenant()
    return SoakOutcome(
        number=number,
        backend_pid=backend_pid,
        tenant_id=tenant.tenant_id,
        own_rows=own_rows,
        foreign_rows=tuple(foreign),
        probe_pid=probe_pid,
        probe_rows=probe_rows,
    )


def probe_without_tenant() -> tuple[int, int]:
    """Count the rows of the soak tables that a unit of work without a tenant sees."""
    with unit_of_work() as session:
        backend_pid = session.scalar(text("SELECT pg_backend_pid()"))
        rows = sum(
            session.scalar(select(func.count()).select_from(model))
            for model in SOAK_MODELS
        )
    return backend_pid, rows


class TestPooledConnections:
    def test_soak_never_returns_another_tenants_row(self, postgres, two_tenants):
        engine = make_engine(
            postgres.roles.app_url, pool_size=SOAK_POOL_SIZE, max_overflow=0
        )
        configure(engine)
        try:
            with ThreadPoolExecutor(max_workers=SOAK_THREADS) as executor:
                outcomes = list(
                    executor.map(
                        lambda number: soak_request(number, two_tenants),
                        range(1, SOAK_REQUESTS + 1),
                    )
                )
            final_probes = probe_every_pooled_connection()
        finally:
            engine.dispose()

        pids = {outcome.backend_pid for outcome in outcomes}
        tenants_by_pid = {
            pid: {o.tenant_id for o in outcomes if o.backend_pid == pid} for pid in pids
        }
        probes = [o for o in outcomes if o.probe_pid is not None]
        assert len(outcomes) == SOAK_REQUESTS
        assert [o.number for o in outcomes if o.foreign_rows] == []
        assert [o.number for o in outcomes if o.own_rows == 0] == []
        assert len(pids) == SOAK_POOL_SIZE
        assert all(len(tenants) == 2 for tenants in tenants_by_pid.values())
        assert len(probes) == SOAK_REQUESTS // PROBE_EVERY
        assert [o.probe_rows for o in probes if o.probe_rows] == []
        assert {o.probe_pid for o in probes} == pids
        assert {pid for pid, _ in final_probes} == pids
        assert [rows for _, rows in final_probes] == [0] * SOAK_POOL_SIZE


def probe_every_pooled_connection() -> list[tuple[int, int]]:
    """Probe without a tenant on every connection of the pool at once.

    Holding one unit of work open while the next one starts makes each take
    another pooled connection.
    """
    with unit_of_work() as first, unit_of_work() as second:
        return [
            (
                session.scalar(text("SELECT pg_backend_pid()")),
                sum(
                    session.scalar(select(func.count()).select_from(model))
                    for model in SOAK_MODELS
                ),
            )
            for session in (first, second)
        ]
