"""Switch on row-level security for every tenant table of PostgreSQL.

On PostgreSQL this revision:

- enables and forces row-level security on every table with a tenant_id
  column and on tenants itself. FORCE makes the policies apply to the
  tables' owner as well, so only a superuser or a BYPASSRLS role sees past
  them;
- adds the policy `tenant_isolation` to each: a row is visible, and may be
  written, only while the transaction's setting app.tenant_id names its
  tenant. Without the setting no row is visible and every write fails;
- adds SECURITY DEFINER functions for the few lookups that must cross
  tenants before the tenant is known: the tenant of a slug (sign-in), of a
  session token digest (each request), the next queued solve job and the
  stale ones (worker), all tenant ids (audit checkpoints), and whether an
  id names another tenant's row (the cross-tenant security event). They
  return ids or a boolean only, run with a pinned search_path, and are
  executable by the application role only;
- grants the application role SELECT, INSERT, UPDATE and DELETE on the
  tenant tables, SELECT and INSERT only on audit_log, SELECT, INSERT and
  UPDATE on tenants, USAGE on their id sequences and SELECT on
  alembic_version. It never grants TRUNCATE or ownership.

The functions run as the migrating role, the tables' owner, which the
forced policies restrict too. Each function therefore sets
app.cross_tenant_lookup to on while it runs, and the policies
`cross_tenant_lookup_select` and `cross_tenant_lookup_update` admit rows
to the owner role only while that setting is on. The application role is
not named in them, so setting the value itself gains it nothing.

The application role is named by `-x app_role=NAME` on the alembic command
line, by `config.attributes["app_role"]` (db.session.migrate), or by the
environment variable SOLVEREIGN_APP_ROLE. When none is set, no grants are
made: a single role then owns and uses the tables, and the policies still
apply to it because they are forced.

SQLite has no row-level security, so this revision changes nothing there.

Revision ID: 0005
Revises: 0004
Create Date: 2025-12-12
"""

from __future__ import annotations

import logging
import os
import re

from alembic import context, op
from sqlalchemy import text

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

logger = logging.getLogger("alembic.runtime.migration")

APP_ROLE_VARIABLE = "SOLVEREIGN_APP_ROLE"
ROLE_NAME_PATTERN = re.compile(r"[a-z_][a-z0-9_$]{0,62}")

# The transaction setting that names the tenant. db.sql_guard_rules expects
# the same name.
TENANT_SETTING = "app.tenant_id"
LOOKUP_SETTING = "app.cross_tenant_lookup"
CURRENT_TENANT = f"nullif(current_setting('{TENANT_SETTING}', true), '')::bigint"
LOOKUP_ACTIVE = f"current_setting('{LOOKUP_SETTING}', true) = 'on'"

# Tables whose rows belong to one tenant through their tenant_id column.
TENANT_TABLES = (
    "users",
    "user_sessions",
    "recovery_codes",
    "forecast_versions",
    "tour_templates",
    "tours",
    "plans",
    "plan_versions",
    "assignments",
    "plan_checks",
    "solve_jobs",
    "audit_log",
)
# Tables the functions read across tenants, and the commands they use there.
LOOKUP_COMMANDS = {
    "tenants": ("SELECT",),
    "user_sessions": ("SELECT",),
    "users": ("SELECT",),
    "forecast_versions": ("SELECT",),
    "plan_versions": ("SELECT",),
    "solve_jobs": ("SELECT", "UPDATE"),
}
# Tables whose rows core.tenancy.get_owned loads by id.
OWNED_BY_ID_TABLES = ("users", "forecast_versions", "plan_versions", "solve_jobs")

FUNCTION_SIGNATURES = (
    "tenant_id_for_slug(text)",
    "tenant_id_for_session(text)",
    "claim_next_solve_job(text, timestamptz)",
    "stale_solve_jobs(timestamptz)",
    "all_tenant_ids()",
    "is_row_of_another_tenant(text, bigint)",
)


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    schema = _quoted(_current_schema())
    app_role = _app_role()

    for table in ("tenants", *TENANT_TABLES):
        _secure_table(table)
    for table, commands in LOOKUP_COMMANDS.items():
        for command in commands:
            _add_lookup_policy(table, command)
    _create_functions(schema)
    for signature in FUNCTION_SIGNATURES:
        op.execute(f"REVOKE ALL ON FUNCTION {schema}.{signature} FROM PUBLIC")

    if app_role is None:
        logger.warning(
            "no application role named (%s, -x app_role=NAME); no privileges"
            " granted. The role that ran this migration owns the tables and"
            " is the only one that may use them",
            APP_ROLE_VARIABLE,
        )
        return
    _check_app_role(app_role)
    _grant(schema, _quoted(app_role))


def _secure_table(table: str) -> None:
    column = "id" if table == "tenants" else "tenant_id"
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"""
        CREATE POLICY tenant_isolation ON {table}
        USING ({column} = {CURRENT_TENANT})
        WITH CHECK ({column} = {CURRENT_TENANT})
        """
    )


def _add_lookup_policy(table: str, command: str) -> None:
    check = f" WITH CHECK ({LOOKUP_ACTIVE})" if command == "UPDATE" else ""
    op.execute(
        f"""
        CREATE POLICY cross_tenant_lookup_{command.lower()} ON {table}
        FOR {command} TO CURRENT_USER
        USING ({LOOKUP_ACTIVE}){check}
        """
    )


def _create_function(
    schema: str, signature: str, returns: str, declarations: str, body: str
) -> None:
    """Create a SECURITY DEFINER function that reads across tenants while it runs.

    `body` is PL/pgSQL that fills the result: RETURN QUERY for a set, or an
    assignment to the variable `result`, which `declarations` declares, for
    a single value. The function switches app.cross_tenant_lookup on around
    the body and back to the caller's value afterwards. PostgreSQL 15 lets
    only a superuser attach a custom setting to a function (CREATE FUNCTION
    ... SET), so the body sets it with set_config. An error rolls the
    setting back with the statement.
    """
    returns_set = returns.startswith(("TABLE", "SETOF"))
    final_return = "RETURN;" if returns_set else "RETURN result;"
    op.execute(
        f"""
        CREATE FUNCTION {schema}.{signature} RETURNS {returns}
        LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = pg_catalog, {schema}, pg_temp
        AS $$
        DECLARE
            previous_lookup text := current_setting('{LOOKUP_SETTING}', true);
            {declarations}
        BEGIN
            PERFORM set_config('{LOOKUP_SETTING}', 'on', true);
            {body}
            PERFORM set_config(
                '{LOOKUP_SETTING}', coalesce(previous_lookup, ''), true
            );
            {final_return}
        END
        $$
        """
    )


def _create_functions(schema: str) -> None:
    _create_function(
        schema,
        "tenant_id_for_slug(tenant_slug text)",
        "bigint",
        "result bigint;",
        f"""SELECT tenant.id INTO result FROM {schema}.tenants AS tenant
            WHERE tenant.slug = tenant_slug;""",
    )
    _create_function(
        schema,
        "tenant_id_for_session(session_token_sha256 text)",
        "bigint",
        "result bigint;",
        f"""SELECT sign_in.tenant_id INTO result
            FROM {schema}.user_sessions AS sign_in
            WHERE sign_in.token_sha256 = session_token_sha256;""",
    )
    # SKIP LOCKED lets concurrent workers pass over each other's candidates.
    _create_function(
        schema,
        "claim_next_solve_job(claiming_worker text, claimed_at timestamptz)",
        "TABLE (job_id bigint, tenant_id bigint)",
        "",
        f"""RETURN QUERY
            UPDATE {schema}.solve_jobs AS job
            SET status = 'running', worker_id = claiming_worker,
                started_at = claimed_at, heartbeat_at = claimed_at
            WHERE job.status = 'queued' AND job.id = (
                SELECT candidate.id FROM {schema}.solve_jobs AS candidate
                WHERE candidate.status = 'queued'
                ORDER BY candidate.created_at, candidate.id
                LIMIT 1
                FOR UPDATE SKIP LOCKED
            )
            RETURNING job.id, job.tenant_id;""",
    )
    _create_function(
        schema,
        "stale_solve_jobs(heartbeat_before timestamptz)",
        "TABLE (job_id bigint, tenant_id bigint)",
        "",
        f"""RETURN QUERY
            SELECT job.id, job.tenant_id FROM {schema}.solve_jobs AS job
            WHERE job.status = 'running' AND job.heartbeat_at < heartbeat_before
            ORDER BY job.id;""",
    )
    _create_function(
        schema,
        "all_tenant_ids()",
        "SETOF bigint",
        "",
        f"""RETURN QUERY
            SELECT tenant.id FROM {schema}.tenants AS tenant ORDER BY tenant.id;""",
    )
    _create_row_owner_function(schema)


def _create_row_owner_function(schema: str) -> None:
    """Create the check whether an id names a row of a tenant other than the current.

    It answers true or false only, never which tenant, and only for the
    tables of OWNED_BY_ID_TABLES; any other table name raises.
    """
    branches = "".join(
        f"""
            ELSIF table_name = '{table}' THEN
                SELECT owned.tenant_id INTO owner_id
                FROM {schema}.{table} AS owned WHERE owned.id = row_id;"""
        for table in OWNED_BY_ID_TABLES
    )
    _create_function(
        schema,
        "is_row_of_another_tenant(table_name text, row_id bigint)",
        "boolean",
        "owner_id bigint; result boolean;",
        f"""IF table_name IS NULL THEN
                RAISE EXCEPTION 'table_name must not be NULL'
                    USING ERRCODE = 'invalid_parameter_value';{branches}
            ELSE
                RAISE EXCEPTION 'is_row_of_another_tenant has no rule for table %',
                    table_name USING ERRCODE = 'invalid_parameter_value';
            END IF;
            result := owner_id IS NOT NULL
                AND owner_id IS DISTINCT FROM {CURRENT_TENANT};""",
    )


def _grant(schema: str, app_role: str) -> None:
    bind = op.get_bind()
    for table in TENANT_TABLES:
        # Audit entries are only ever added; triggers reject changes as well.
        privileges = "SELECT, INSERT"
        if table != "audit_log":
            privileges = "SELECT, INSERT, UPDATE, DELETE"
        op.execute(f"GRANT {privileges} ON {schema}.{table} TO {app_role}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON {schema}.tenants TO {app_role}")
    op.execute(f"GRANT SELECT ON {schema}.alembic_version TO {app_role}")
    for table in ("tenants", *TENANT_TABLES):
        sequence = bind.scalar(
            text("SELECT pg_get_serial_sequence(:table, 'id')"),
            {"table": f"{schema}.{table}"},
        )
        if sequence is None:
            raise RuntimeError(f"table {table} has no sequence behind its id column")
        op.execute(f"GRANT USAGE ON SEQUENCE {sequence} TO {app_role}")
    for signature in FUNCTION_SIGNATURES:
        op.execute(f"GRANT EXECUTE ON FUNCTION {schema}.{signature} TO {app_role}")


def _app_role() -> str | None:
    """Return the application role to grant to, or None when none is named."""
    name = (
        context.config.attributes.get("app_role")
        or context.get_x_argument(as_dictionary=True).get("app_role")
        or os.environ.get(APP_ROLE_VARIABLE)
    )
    if not name:
        return None
    if not ROLE_NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"application role {name!r} is not a plain lower-case PostgreSQL"
            " role name (letters, digits, _ and $, at most 63 characters)"
        )
    return name


def _check_app_role(app_role: str) -> None:
    """Raise unless the role exists, differs from the owner and obeys the policies."""
    row = (
        op.get_bind()
        .execute(
            text(
                "SELECT rolsuper, rolbypassrls, rolname = current_user AS is_owner"
                " FROM pg_roles WHERE rolname = :name"
            ),
            {"name": app_role},
        )
        .one_or_none()
    )
    if row is None:
        raise ValueError(
            f"application role {app_role!r} does not exist; create it first with"
            " CREATE ROLE ... LOGIN NOSUPERUSER NOBYPASSRLS"
        )
    if row.rolsuper or row.rolbypassrls:
        raise ValueError(
            f"application role {app_role!r} is a superuser or has BYPASSRLS, so"
            " row-level security would not apply to it; use a role without both"
        )
    if row.is_owner:
        raise ValueError(
            f"application role {app_role!r} is the role running the migration,"
            " which owns the tables; migrate as a separate owner role"
        )


def _current_schema() -> str:
    return op.get_bind().scalar(text("SELECT current_schema()"))


def _quoted(identifier: str) -> str:
    return op.get_bind().dialect.identifier_preparer.quote(identifier)


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    schema = _quoted(_current_schema())
    app_role = _app_role()
    if app_role is not None:
        quoted_role = _quoted(app_role)
        for table in ("tenants", *TENANT_TABLES, "alembic_version"):
            op.execute(f"REVOKE ALL ON {schema}.{table} FROM {quoted_role}")
        op.execute(
            f"REVOKE USAGE ON ALL SEQUENCES IN SCHEMA {schema} FROM {quoted_role}"
        )
    for signature in FUNCTION_SIGNATURES:
        op.execute(f"DROP FUNCTION {schema}.{signature}")
    for table, commands in LOOKUP_COMMANDS.items():
        for command in commands:
            op.execute(f"DROP POLICY cross_tenant_lookup_{command.lower()} ON {table}")
    for table in ("tenants", *TENANT_TABLES):
        op.execute(f"DROP POLICY tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
