"""Add scenarios, their runs, and the scenario run a solve job may belong to.

- scenarios: a named variation of a tenant's forecast version, its rules
  and its driver pool; the name is unique per tenant;
- scenario_runs: one run of a scenario with the inputs it planned, their
  SHA-256, its status and, once it succeeded, its result;
- solve_jobs.scenario_run_id: set for the job that runs a scenario run.
  The worker claims such a job like any other (claim_next_solve_job of
  revision 0005 updates only the claim columns) and stores the result in
  the run instead of a plan version.

On PostgreSQL both new tables get what revision 0005 gives every tenant
table: row-level security enabled and forced, the policy
`tenant_isolation` on tenant_id, and SELECT, INSERT, UPDATE and DELETE plus
the id sequences for the application role. Both also get the policy
`cross_tenant_lookup_select`, and the function is_row_of_another_tenant is
replaced by one that knows them too, so that a request for another
tenant's scenario is recorded like one for another tenant's plan version.

The application role is named as for revision 0005: `-x app_role=NAME`,
`config.attributes["app_role"]` or SOLVEREIGN_APP_ROLE. Without one, no
grants are made.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import logging
import os
import re

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

logger = logging.getLogger("alembic.runtime.migration")

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_VALUE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)

APP_ROLE_VARIABLE = "SOLVEREIGN_APP_ROLE"
ROLE_NAME_PATTERN = re.compile(r"[a-z_][a-z0-9_$]{0,62}")
TENANT_SETTING = "app.tenant_id"
LOOKUP_SETTING = "app.cross_tenant_lookup"
CURRENT_TENANT = f"nullif(current_setting('{TENANT_SETTING}', true), '')::bigint"
LOOKUP_ACTIVE = f"current_setting('{LOOKUP_SETTING}', true) = 'on'"

NEW_TENANT_TABLES = ("scenarios", "scenario_runs")
RUN_STATUSES = ("queued", "running", "succeeded", "failed")
# The tables is_row_of_another_tenant answers for, before and after this revision.
OWNED_BY_ID_BEFORE = (
    "users",
    "forecast_versions",
    "plan_versions",
    "solve_jobs",
    "drivers",
)
OWNED_BY_ID_AFTER = (*OWNED_BY_ID_BEFORE, *NEW_TENANT_TABLES)
JOB_FOREIGN_KEY = "fk_solve_jobs_tenant_id_scenario_run_id"
JOB_INDEX = "ix_solve_jobs_scenario_run_id"


def _tenant_column(table: str) -> sa.Column:
    return sa.Column(
        "tenant_id",
        ID,
        sa.ForeignKey("tenants.id", name=f"fk_{table}_tenant_id"),
        nullable=False,
    )


def _tenant_fk(table: str, column: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", column],
        [f"{referred}.tenant_id", f"{referred}.id"],
        name=f"fk_{table}_tenant_id_{column}",
    )


def upgrade() -> None:
    _create_scenarios()
    _create_scenario_runs()
    _add_job_scenario_run()
    if op.get_context().dialect.name != "postgresql":
        return

    schema = _quoted(_current_schema())
    for table in NEW_TENANT_TABLES:
        _secure_table(table)
        op.execute(
            f"""
            CREATE POLICY cross_tenant_lookup_select ON {table}
            FOR SELECT TO CURRENT_USER
            USING ({LOOKUP_ACTIVE})
            """
        )
    _replace_row_owner_function(schema, OWNED_BY_ID_AFTER)

    app_role = _app_role()
    if app_role is None:
        logger.warning(
            "no application role named (%s, -x app_role=NAME); no privileges"
            " granted on %s",
            APP_ROLE_VARIABLE,
            ", ".join(NEW_TENANT_TABLES),
        )
        return
    _grant(schema, _quoted(app_role))


def _create_scenarios() -> None:
    op.create_table(
        "scenarios",
        sa.Column("id", ID, nullable=False),
        _tenant_column("scenarios"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("base_forecast_version_id", ID, nullable=False),
        sa.Column("variation", JSON_VALUE, nullable=False),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scenarios"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_scenarios_tenant_id_name"),
        sa.UniqueConstraint("tenant_id", "id", name="uq_scenarios_tenant_id_id"),
        _tenant_fk("scenarios", "base_forecast_version_id", "forecast_versions"),
        _tenant_fk("scenarios", "created_by", "users"),
    )
    op.create_index("ix_scenarios_tenant_id", "scenarios", ["tenant_id"])


def _create_scenario_runs() -> None:
    listed = ", ".join(f"'{status}'" for status in RUN_STATUSES)
    op.create_table(
        "scenario_runs",
        sa.Column("id", ID, nullable=False),
        _tenant_column("scenario_runs"),
        sa.Column("scenario_id", ID, nullable=False),
        sa.Column("inputs", JSON_VALUE, nullable=False),
        sa.Column("input_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result", JSON_VALUE, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_scenario_runs"),
        sa.UniqueConstraint("tenant_id", "id", name="uq_scenario_runs_tenant_id_id"),
        _tenant_fk("scenario_runs", "scenario_id", "scenarios"),
        _tenant_fk("scenario_runs", "created_by", "users"),
        sa.CheckConstraint(
            f"status IN ({listed})", name="ck_scenario_runs_scenario_run_status"
        ),
    )
    op.create_index("ix_scenario_runs_tenant_id", "scenario_runs", ["tenant_id"])
    op.create_index("ix_scenario_runs_scenario_id", "scenario_runs", ["scenario_id"])
    op.create_index(
        "ix_scenario_runs_tenant_id_input_hash",
        "scenario_runs",
        ["tenant_id", "input_hash"],
    )


def _add_job_scenario_run() -> None:
    column = sa.Column("scenario_run_id", ID, nullable=True)
    foreign_key = {
        "constraint_name": JOB_FOREIGN_KEY,
        "referent_table": "scenario_runs",
        "local_cols": ["tenant_id", "scenario_run_id"],
        "remote_cols": ["tenant_id", "id"],
    }
    if op.get_context().dialect.name == "sqlite":
        # SQLite adds a foreign key only by copying the table; solve_jobs has
        # no triggers to create again afterwards.
        with op.batch_alter_table("solve_jobs", recreate="always") as batch:
            batch.add_column(column)
            batch.create_foreign_key(**foreign_key)
    else:
        op.add_column("solve_jobs", column)
        op.create_foreign_key(source_table="solve_jobs", **foreign_key)
    op.create_index(JOB_INDEX, "solve_jobs", ["scenario_run_id"])


def _secure_table(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"""
        CREATE POLICY tenant_isolation ON {table}
        USING (tenant_id = {CURRENT_TENANT})
        WITH CHECK (tenant_id = {CURRENT_TENANT})
        """
    )


def _replace_row_owner_function(schema: str, tables: tuple[str, ...]) -> None:
    """Replace is_row_of_another_tenant with one that answers for `tables`.

    The body is that of revision 0006. CREATE OR REPLACE keeps the
    function's owner and its grants, so the application role may still
    execute it.
    """
    branches = "".join(
        f"""
            ELSIF table_name = '{table}' THEN
                SELECT owned.tenant_id INTO owner_id
                FROM {schema}.{table} AS owned WHERE owned.id = row_id;"""
        for table in tables
    )
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION {schema}.is_row_of_another_tenant(
            table_name text, row_id bigint
        ) RETURNS boolean
        LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = pg_catalog, {schema}, pg_temp
        AS $$
        DECLARE
            previous_lookup text := current_setting('{LOOKUP_SETTING}', true);
            owner_id bigint;
            result boolean;
        BEGIN
            PERFORM set_config('{LOOKUP_SETTING}', 'on', true);
            IF table_name IS NULL THEN
                RAISE EXCEPTION 'table_name must not be NULL'
                    USING ERRCODE = 'invalid_parameter_value';{branches}
            ELSE
                RAISE EXCEPTION 'is_row_of_another_tenant has no rule for table %',
                    table_name USING ERRCODE = 'invalid_parameter_value';
            END IF;
            result := owner_id IS NOT NULL
                AND owner_id IS DISTINCT FROM {CURRENT_TENANT};
            PERFORM set_config(
                '{LOOKUP_SETTING}', coalesce(previous_lookup, ''), true
            );
            RETURN result;
        END
        $$
        """
    )


def _grant(schema: str, app_role: str) -> None:
    bind = op.get_bind()
    for table in NEW_TENANT_TABLES:
        op.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.{table} TO {app_role}"
        )
        sequence = bind.scalar(
            text("SELECT pg_get_serial_sequence(:table, 'id')"),
            {"table": f"{schema}.{table}"},
        )
        if sequence is None:
            raise RuntimeError(f"table {table} has no sequence behind its id column")
        op.execute(f"GRANT USAGE ON SEQUENCE {sequence} TO {app_role}")


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


def _current_schema() -> str:
    return op.get_bind().scalar(text("SELECT current_schema()"))


def _quoted(identifier: str) -> str:
    return op.get_bind().dialect.identifier_preparer.quote(identifier)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        schema = _quoted(_current_schema())
        _replace_row_owner_function(schema, OWNED_BY_ID_BEFORE)
    op.drop_index(JOB_INDEX, table_name="solve_jobs")
    if op.get_context().dialect.name == "sqlite":
        with op.batch_alter_table("solve_jobs", recreate="always") as batch:
            batch.drop_constraint(JOB_FOREIGN_KEY, "foreignkey")
            batch.drop_column("scenario_run_id")
    else:
        op.drop_constraint(JOB_FOREIGN_KEY, "solve_jobs", type_="foreignkey")
        op.drop_column("solve_jobs", "scenario_run_id")
    # Dropping a table drops its policies, grants and indexes as well.
    op.drop_table("scenario_runs")
    op.drop_table("scenarios")
