"""Add the KPI history of approved plans and the tenants' cost settings.

- kpi_history: the KPIs of each week's newest approved plan version, one
  row per tenant and week, kept for trends and Grafana;
- tenant_cost_settings: a tenant's cost per driver and week, and how many
  days it keeps its KPI history. There is one row per tenant that changed
  the defaults.

On PostgreSQL both tables get what revision 0005 gives every tenant table:
row-level security enabled and forced, the policy `tenant_isolation` on
tenant_id, and SELECT, INSERT, UPDATE and DELETE plus the id sequence for
the application role. kpi_history also gets the policy
`cross_tenant_lookup_select` and the SECURITY DEFINER function
kpi_history_comparison(), which returns per-tenant averages for the
platform operator's comparison without tenant ids or names. It covers only
tenants with at least MIN_COMPARISON_WEEKS weeks of history.

The application role is named as for revision 0005: `-x app_role=NAME`,
`config.attributes["app_role"]` or SOLVEREIGN_APP_ROLE. Without one, no
grants are made.

Revision ID: 0008
Revises: 0007
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

revision = "0008"
down_revision = "0007"
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

NEW_TENANT_TABLES = ("kpi_history", "tenant_cost_settings")
# db.cross_tenant.MIN_COMPARISON_WEEKS must hold the same number.
MIN_COMPARISON_WEEKS = 8
COMPARISON_FUNCTION = "kpi_history_comparison()"


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
    _create_kpi_history()
    _create_cost_settings()
    if op.get_context().dialect.name != "postgresql":
        return

    schema = _quoted(_current_schema())
    for table in NEW_TENANT_TABLES:
        _secure_table(table)
    op.execute(
        f"""
        CREATE POLICY cross_tenant_lookup_select ON kpi_history
        FOR SELECT TO CURRENT_USER
        USING ({LOOKUP_ACTIVE})
        """
    )
    _create_comparison_function(schema)
    op.execute(f"REVOKE ALL ON FUNCTION {schema}.{COMPARISON_FUNCTION} FROM PUBLIC")

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


def _create_kpi_history() -> None:
    op.create_table(
        "kpi_history",
        sa.Column("id", ID, nullable=False),
        _tenant_column("kpi_history"),
        sa.Column("week_anchor", sa.Date(), nullable=False),
        sa.Column("plan_version_id", ID, nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("approved_at", TIMESTAMP, nullable=False),
        sa.Column("drivers", sa.Integer(), nullable=False),
        sa.Column("lower_bound", sa.Integer(), nullable=True),
        sa.Column("gap", sa.Float(), nullable=True),
        sa.Column("part_time_rosters", sa.Integer(), nullable=False),
        sa.Column("hours", sa.Float(), nullable=False),
        sa.Column("split_blocks", sa.Integer(), nullable=False),
        sa.Column("single_blocks", sa.Integer(), nullable=False),
        sa.Column("open_tours", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Numeric(14, 2), nullable=True),
        sa.Column("kpis", JSON_VALUE, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kpi_history"),
        sa.UniqueConstraint(
            "tenant_id", "week_anchor", name="uq_kpi_history_tenant_id_week_anchor"
        ),
        _tenant_fk("kpi_history", "plan_version_id", "plan_versions"),
    )
    op.create_index("ix_kpi_history_tenant_id", "kpi_history", ["tenant_id"])
    op.create_index(
        "ix_kpi_history_plan_version_id", "kpi_history", ["plan_version_id"]
    )


def _create_cost_settings() -> None:
    op.create_table(
        "tenant_cost_settings",
        _tenant_column("tenant_cost_settings"),
        sa.Column("cost_per_driver_week", sa.Numeric(12, 2), nullable=True),
        sa.Column("history_retention_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("updated_by", ID, nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_tenant_cost_settings"),
        _tenant_fk("tenant_cost_settings", "updated_by", "users"),
        sa.CheckConstraint(
            "cost_per_driver_week IS NULL OR cost_per_driver_week >= 0",
            name="ck_tenant_cost_settings_cost_per_driver_week",
        ),
        sa.CheckConstraint(
            "history_retention_days >= 1",
            name="ck_tenant_cost_settings_history_retention_days",
        ),
    )


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


def _create_comparison_function(schema: str) -> None:
    """Create the anonymised comparison of every tenant's KPI history.

    The function returns one row of averages per tenant with at least
    MIN_COMPARISON_WEEKS weeks, and never a tenant id or name. Rows come
    ordered by their figures, so their order does not follow the tenant
    ids. Like the lookups of revision 0005, the function switches
    app.cross_tenant_lookup on with set_config around its query, because
    PostgreSQL 15 lets only a superuser attach a custom setting with
    CREATE FUNCTION ... SET.
    """
    op.execute(
        f"""
        CREATE FUNCTION {schema}.{COMPARISON_FUNCTION}
        RETURNS TABLE (
            weeks bigint,
            average_drivers numeric,
            average_part_time_share numeric,
            average_hours numeric,
            average_cost numeric
        )
        LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = pg_catalog, {schema}, pg_temp
        AS $$
        DECLARE
            previous_lookup text := current_setting('{LOOKUP_SETTING}', true);
        BEGIN
            PERFORM set_config('{LOOKUP_SETTING}', 'on', true);
            RETURN QUERY
                SELECT figures.weeks, figures.average_drivers,
                    figures.average_part_time_share, figures.average_hours,
                    figures.average_cost
                FROM (
                    SELECT count(*) AS weeks,
                        avg(history.drivers)::numeric AS average_drivers,
                        avg(history.part_time_rosters::numeric
                            / nullif(history.drivers, 0)) AS average_part_time_share,
                        avg(history.hours)::numeric AS average_hours,
                        avg(history.cost) AS average_cost
                    FROM {schema}.kpi_history AS history
                    GROUP BY history.tenant_id
                    HAVING count(*) >= {MIN_COMPARISON_WEEKS}
                ) AS figures
                ORDER BY figures.average_drivers, figures.average_hours,
                    figures.weeks, figures.average_part_time_share,
                    figures.average_cost;
            PERFORM set_config(
                '{LOOKUP_SETTING}', coalesce(previous_lookup, ''), true
            );
            RETURN;
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
        {"table": f"{schema}.kpi_history"},
    )
    if sequence is None:
        raise RuntimeError("table kpi_history has no sequence behind its id column")
    op.execute(f"GRANT USAGE ON SEQUENCE {sequence} TO {app_role}")
    op.execute(
        f"GRANT EXECUTE ON FUNCTION {schema}.{COMPARISON_FUNCTION} TO {app_role}"
    )


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
        op.execute(f"DROP FUNCTION {schema}.{COMPARISON_FUNCTION}")
    # Dropping a table drops its policies, grants and indexes as well.
    op.drop_table("tenant_cost_settings")
    op.drop_table("kpi_history")
