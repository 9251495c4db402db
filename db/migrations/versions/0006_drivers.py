"""Add driver master data, driver consents and the tenants' retention period.

- drivers: one row per driver of a tenant. The personal fields (name,
  phone, email, address, licence number) are TEXT columns holding core.pii
  ciphertexts, NULL when empty or erased. external_ref is unique per
  tenant, and row_version serves optimistic locking;
- driver_consents: every consent decision of a driver, newest row in force;
- driver_retention_settings: the days a tenant keeps inactive drivers, one
  row per tenant that changed the default.

On PostgreSQL the three tables get what revision 0005 gives every tenant
table: row-level security enabled and forced, the policy
`tenant_isolation` on tenant_id, and SELECT, INSERT, UPDATE and DELETE plus
the id sequences for the application role. drivers also gets the policy
`cross_tenant_lookup_select`, and the function is_row_of_another_tenant is
replaced by one that knows drivers too, so that a request for another
tenant's driver is recorded like one for another tenant's plan version.

The application role is named as for revision 0005: `-x app_role=NAME`,
`config.attributes["app_role"]` or SOLVEREIGN_APP_ROLE. Without one, no
grants are made.

Revision ID: 0006
Revises: 0005
Create Date: 2025-12-15
"""

from __future__ import annotations

import logging
import os
import re

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
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

NEW_TENANT_TABLES = ("drivers", "driver_consents", "driver_retention_settings")
# Tables with an id sequence that the application role draws from.
TABLES_WITH_ID_SEQUENCE = ("drivers", "driver_consents")
# The tables is_row_of_another_tenant answers for, before and after this revision.
OWNED_BY_ID_BEFORE = ("users", "forecast_versions", "plan_versions", "solve_jobs")
OWNED_BY_ID_AFTER = (*OWNED_BY_ID_BEFORE, "drivers")


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
    _create_drivers()
    _create_driver_consents()
    _create_retention_settings()
    if op.get_context().dialect.name != "postgresql":
        return

    schema = _quoted(_current_schema())
    for table in NEW_TENANT_TABLES:
        _secure_table(table)
    op.execute(
        f"""
        CREATE POLICY cross_tenant_lookup_select ON drivers
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


def _create_drivers() -> None:
    op.create_table(
        "drivers",
        sa.Column("id", ID, nullable=False),
        _tenant_column("drivers"),
        sa.Column("external_ref", sa.String(100), nullable=False),
        sa.Column("display_name_ciphertext", sa.Text(), nullable=True),
        sa.Column("phone_ciphertext", sa.Text(), nullable=True),
        sa.Column("email_ciphertext", sa.Text(), nullable=True),
        sa.Column("address_ciphertext", sa.Text(), nullable=True),
        sa.Column("licence_number_ciphertext", sa.Text(), nullable=True),
        sa.Column("home_depot", sa.String(100), nullable=False),
        sa.Column("qualifications", JSON_VALUE, nullable=False),
        sa.Column("contract_kind", sa.String(16), nullable=False),
        sa.Column("min_weekly_minutes", sa.Integer(), nullable=False),
        sa.Column("max_weekly_minutes", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("deactivated_at", TIMESTAMP, nullable=True),
        sa.Column("erased_at", TIMESTAMP, nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_drivers"),
        sa.UniqueConstraint(
            "tenant_id", "external_ref", name="uq_drivers_tenant_id_external_ref"
        ),
        sa.UniqueConstraint("tenant_id", "id", name="uq_drivers_tenant_id_id"),
        sa.CheckConstraint(
            "contract_kind IN ('full_time', 'part_time')",
            name="ck_drivers_contract_kind",
        ),
        sa.CheckConstraint(
            "min_weekly_minutes >= 0 AND min_weekly_minutes <= max_weekly_minutes",
            name="ck_drivers_weekly_minutes",
        ),
    )
    op.create_index("ix_drivers_tenant_id", "drivers", ["tenant_id"])


def _create_driver_consents() -> None:
    op.create_table(
        "driver_consents",
        sa.Column("id", ID, nullable=False),
        _tenant_column("driver_consents"),
        sa.Column("driver_id", ID, nullable=False),
        sa.Column("purpose", sa.String(100), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("text_version", sa.String(50), nullable=False),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.Column("recorded_by", ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_driver_consents"),
        _tenant_fk("driver_consents", "driver_id", "drivers"),
        _tenant_fk("driver_consents", "recorded_by", "users"),
    )
    op.create_index("ix_driver_consents_tenant_id", "driver_consents", ["tenant_id"])
    op.create_index(
        "ix_driver_consents_driver_id_purpose",
        "driver_consents",
        ["driver_id", "purpose"],
    )


def _create_retention_settings() -> None:
    op.create_table(
        "driver_retention_settings",
        _tenant_column("driver_retention_settings"),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("updated_by", ID, nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_driver_retention_settings"),
        _tenant_fk("driver_retention_settings", "updated_by", "users"),
        sa.CheckConstraint(
            "retention_days >= 1", name="ck_driver_retention_settings_retention_days"
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


def _replace_row_owner_function(schema: str, tables: tuple[str, ...]) -> None:
    """Replace is_row_of_another_tenant with one that answers for `tables`.

    The body follows revision 0005: the function switches
    app.cross_tenant_lookup on with set_config around its lookup, because
    PostgreSQL 15 lets only a superuser attach a custom setting with
    CREATE FUNCTION ... SET. CREATE OR REPLACE keeps the function's owner
    and its grants, so the application role may still execute it.
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
    if op.get_context().dialect.name == "postgresql":
        schema = _quoted(_current_schema())
        _replace_row_owner_function(schema, OWNED_BY_ID_BEFORE)
    # Dropping a table drops its policies, grants and indexes as well.
    op.drop_table("driver_retention_settings")
    op.drop_table("driver_consents")
    op.drop_table("drivers")
