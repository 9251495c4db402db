"""Add driver availability, preferences, planning settings and named assignments.

- driver_weekly_patterns: the window of each weekday in which a driver
  works; a driver without rows is available all week;
- driver_availability_exceptions: a driver's status (VACATION, SICK,
  BLOCKED, AVAILABLE) on one date, for the whole day or one window, with
  an encrypted note;
- driver_preferences: a driver's soft wishes for the planning engine;
- driver_availability_weeks: one row per driver and week once edited, whose
  row_version serves optimistic locking of the week;
- tenant_planning_settings: how a tenant plans, one row per tenant that
  changed the default;
- assignments.driver_id: the driver of the master data, set when a plan was
  made for named drivers.

On PostgreSQL the five new tables get what revision 0006 gives its tables:
row-level security enabled and forced, the policy `tenant_isolation` on
tenant_id, and SELECT, INSERT, UPDATE and DELETE plus the id sequences for
the application role, named as for revision 0005 (`-x app_role=NAME`,
`config.attributes["app_role"]` or SOLVEREIGN_APP_ROLE).

SQLite cannot add a foreign key to an existing table, so there the
assignments table is copied into a new one, which drops its triggers. The
triggers that reject changes to the assignments of an approved plan version
are created again with the same text as revision 0001.

Revision ID: 0007
Revises: 0006
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

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

logger = logging.getLogger("alembic.runtime.migration")

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_VALUE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)

APP_ROLE_VARIABLE = "SOLVEREIGN_APP_ROLE"
ROLE_NAME_PATTERN = re.compile(r"[a-z_][a-z0-9_$]{0,62}")
TENANT_SETTING = "app.tenant_id"
CURRENT_TENANT = f"nullif(current_setting('{TENANT_SETTING}', true), '')::bigint"

NEW_TENANT_TABLES = (
    "driver_weekly_patterns",
    "driver_availability_exceptions",
    "driver_preferences",
    "driver_availability_weeks",
    "tenant_planning_settings",
)
# Tables with an id sequence that the application role draws from.
TABLES_WITH_ID_SEQUENCE = ("driver_weekly_patterns", "driver_availability_exceptions")

WINDOW_CHECK = "start_minute >= 0 AND start_minute < end_minute AND end_minute <= 1440"
STATUSES = ("VACATION", "SICK", "BLOCKED", "AVAILABLE")
# The message of revision 0001's triggers on the rows of approved versions.
APPROVED_REJECTION = "plan version is approved and cannot be changed"


def _tenant_column(table: str, primary_key: bool = False) -> sa.Column:
    return sa.Column(
        "tenant_id",
        ID,
        sa.ForeignKey("tenants.id", name=f"fk_{table}_tenant_id"),
        nullable=False,
        primary_key=primary_key,
    )


def _tenant_fk(table: str, column: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", column],
        [f"{referred}.tenant_id", f"{referred}.id"],
        name=f"fk_{table}_tenant_id_{column}",
    )


def upgrade() -> None:
    _create_weekly_patterns()
    _create_exceptions()
    _create_preferences()
    _create_weeks()
    _create_planning_settings()
    _add_assignment_driver()
    if op.get_context().dialect.name != "postgresql":
        return

    schema = _quoted(_current_schema())
    for table in NEW_TENANT_TABLES:
        _secure_table(table)
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


def _create_weekly_patterns() -> None:
    table = "driver_weekly_patterns"
    op.create_table(
        table,
        sa.Column("id", ID, nullable=False),
        _tenant_column(table),
        sa.Column("driver_id", ID, nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.UniqueConstraint(
            "driver_id", "weekday", name=f"uq_{table}_driver_id_weekday"
        ),
        _tenant_fk(table, "driver_id", "drivers"),
        sa.CheckConstraint("weekday >= 1 AND weekday <= 7", name=f"ck_{table}_weekday"),
        sa.CheckConstraint(WINDOW_CHECK, name=f"ck_{table}_window"),
    )
    op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])


def _create_exceptions() -> None:
    table = "driver_availability_exceptions"
    statuses = ", ".join(f"'{status}'" for status in STATUSES)
    op.create_table(
        table,
        sa.Column("id", ID, nullable=False),
        _tenant_column(table),
        sa.Column("driver_id", ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=True),
        sa.Column("end_minute", sa.Integer(), nullable=True),
        sa.Column("note_ciphertext", sa.Text(), nullable=True),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.UniqueConstraint("driver_id", "day", name=f"uq_{table}_driver_id_day"),
        _tenant_fk(table, "driver_id", "drivers"),
        _tenant_fk(table, "created_by", "users"),
        sa.CheckConstraint(
            f"status IN ({statuses})", name=f"ck_{table}_availability_status"
        ),
        sa.CheckConstraint(
            f"(start_minute IS NULL AND end_minute IS NULL) OR ({WINDOW_CHECK})",
            name=f"ck_{table}_window",
        ),
    )
    op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])


def _create_preferences() -> None:
    table = "driver_preferences"
    op.create_table(
        table,
        _tenant_column(table, primary_key=True),
        sa.Column("driver_id", ID, nullable=False, primary_key=True),
        sa.Column("start", sa.String(16), nullable=True),
        sa.Column("start_weight", sa.Integer(), nullable=False),
        sa.Column("days_off", JSON_VALUE, nullable=False),
        sa.Column("days_off_weight", sa.Integer(), nullable=False),
        sa.Column("max_days_in_row", sa.Integer(), nullable=True),
        sa.Column("max_days_in_row_weight", sa.Integer(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "driver_id", name=f"pk_{table}"),
        _tenant_fk(table, "driver_id", "drivers"),
        sa.CheckConstraint("start IN ('early', 'late')", name=f"ck_{table}_start"),
        sa.CheckConstraint(
            "max_days_in_row >= 1 AND max_days_in_row <= 7",
            name=f"ck_{table}_max_days_in_row",
        ),
    )


def _create_weeks() -> None:
    table = "driver_availability_weeks"
    op.create_table(
        table,
        _tenant_column(table, primary_key=True),
        sa.Column("driver_id", ID, nullable=False, primary_key=True),
        sa.Column("week_anchor", sa.Date(), nullable=False, primary_key=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "driver_id", "week_anchor", name=f"pk_{table}"
        ),
        _tenant_fk(table, "driver_id", "drivers"),
    )


def _create_planning_settings() -> None:
    table = "tenant_planning_settings"
    op.create_table(
        table,
        _tenant_column(table, primary_key=True),
        sa.Column("stay_at_home_depot", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("updated_by", ID, nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", name=f"pk_{table}"),
        _tenant_fk(table, "updated_by", "users"),
    )


def _add_assignment_driver() -> None:
    column = sa.Column("driver_id", ID, nullable=True)
    foreign_key = {
        "constraint_name": "fk_assignments_tenant_id_driver_id",
        "referent_table": "drivers",
        "local_cols": ["tenant_id", "driver_id"],
        "remote_cols": ["tenant_id", "id"],
    }
    if op.get_context().dialect.name == "sqlite":
        with op.batch_alter_table("assignments", recreate="always") as batch:
            batch.add_column(column)
            batch.create_foreign_key(**foreign_key)
        _create_sqlite_assignment_triggers()
    else:
        op.add_column("assignments", column)
        op.create_foreign_key(source_table="assignments", **foreign_key)
    op.create_index("ix_assignments_driver_id", "assignments", ["driver_id"])


def _create_sqlite_assignment_triggers() -> None:
    """Create revision 0001's triggers on assignments again, after the copy."""
    conditions = {
        "INSERT": _sqlite_approved("NEW"),
        "UPDATE": f"{_sqlite_approved('OLD')} OR {_sqlite_approved('NEW')}",
        "DELETE": _sqlite_approved("OLD"),
    }
    for operation, condition in conditions.items():
        op.execute(
            f"""
            CREATE TRIGGER assignments_approved_reject_{operation.lower()}
            BEFORE {operation} ON assignments
            WHEN {condition}
            BEGIN
                SELECT RAISE(ABORT, '{APPROVED_REJECTION}');
            END
            """
        )


def _sqlite_approved(row: str) -> str:
    return (
        "EXISTS (SELECT 1 FROM plan_versions"
        f" WHERE id = {row}.plan_version_id AND status = 'approved')"
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


def _grant(schema: str, app_role: str) -> None:
    bind = op.get_bind()
    for table in NEW_TENANT_TABLES:
        op.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.{table} TO {app_role}"
        )
    for table in TABLES_WITH_ID_SEQUENCE:
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
    op.drop_index("ix_assignments_driver_id", table_name="assignments")
    if op.get_context().dialect.name == "sqlite":
        with op.batch_alter_table("assignments", recreate="always") as batch:
            batch.drop_constraint("fk_assignments_tenant_id_driver_id", "foreignkey")
            batch.drop_column("driver_id")
        _create_sqlite_assignment_triggers()
    else:
        op.drop_constraint(
            "fk_assignments_tenant_id_driver_id", "assignments", type_="foreignkey"
        )
        op.drop_column("assignments", "driver_id")
    # Dropping a table drops its policies, grants and indexes as well.
    for table in reversed(NEW_TENANT_TABLES):
        op.drop_table(table)
