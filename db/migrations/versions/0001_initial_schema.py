"""Create the initial schema: tenants, users, forecasts, plans, jobs, audit log.

Besides the tables, this revision installs triggers on both SQLite and
PostgreSQL:

- audit_log rejects UPDATE and DELETE, and on PostgreSQL TRUNCATE;
- a plan version whose stored status is approved rejects UPDATE and DELETE,
  and the assignments and plan checks of an approved version reject INSERT,
  UPDATE and DELETE (and TRUNCATE on PostgreSQL while any version is
  approved). Approving is itself an UPDATE from draft, which the trigger
  allows because it looks at the old status;
- forecast_versions.week_anchor and plans.week_anchor must be a Monday.

Both databases report a rejected change as an integrity error: SQLite through
RAISE(ABORT) in a trigger, PostgreSQL through SQLSTATE 23001
(restrict_violation).

Revision ID: 0001
Revises:
Create Date: 2025-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_VALUE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
ROLE_NAMES = ("VIEWER", "DISPATCHER", "PLAN_APPROVER", "TENANT_ADMIN", "SUPER_ADMIN")

AUDIT_LOG_REJECTION = "audit_log entries cannot be updated or deleted"
APPROVED_REJECTION = "plan version is approved and cannot be changed"


def _id_column() -> sa.Column:
    return sa.Column("id", ID, nullable=False)


def _tenant_column(table: str) -> sa.Column:
    return sa.Column(
        "tenant_id",
        ID,
        sa.ForeignKey("tenants.id", name=f"fk_{table}_tenant_id"),
        nullable=False,
    )


def _tenant_fk(table: str, column: str, referred: str) -> sa.ForeignKeyConstraint:
    """Reference a row of `referred` that belongs to the same tenant."""
    return sa.ForeignKeyConstraint(
        ["tenant_id", column],
        [f"{referred}.tenant_id", f"{referred}.id"],
        name=f"fk_{table}_tenant_id_{column}",
    )


def _status_check(table: str, name: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"status IN ({listed})", name=f"ck_{table}_{name}")


def _index(table: str, column: str) -> None:
    op.create_index(f"ix_{table}_{column}", table, [column])


def upgrade() -> None:
    _create_tenants_and_users()
    _create_forecast_tables()
    _create_plan_tables()
    _create_solve_jobs()
    _create_audit_log()

    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        _create_postgresql_triggers()
    elif dialect == "sqlite":
        _create_sqlite_triggers()
    else:
        raise NotImplementedError(
            f"no triggers written for database dialect {dialect!r};"
            " use SQLite or PostgreSQL"
        )


def _create_tenants_and_users() -> None:
    op.create_table(
        "tenants",
        _id_column(),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("slug", name="uq_tenants_slug"),
    )

    roles = ", ".join(f"'{role}'" for role in ROLE_NAMES)
    op.create_table(
        "users",
        _id_column(),
        _tenant_column("users"),
        sa.Column("username", sa.String(150), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint(
            "tenant_id", "username", name="uq_users_tenant_id_username"
        ),
        sa.UniqueConstraint("tenant_id", "id", name="uq_users_tenant_id_id"),
        sa.CheckConstraint(f"role IN ({roles})", name="ck_users_role"),
    )
    _index("users", "tenant_id")


def _create_forecast_tables() -> None:
    op.create_table(
        "forecast_versions",
        _id_column(),
        _tenant_column("forecast_versions"),
        sa.Column("week_anchor", sa.Date(), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("source_filename", sa.String(255), nullable=False),
        sa.Column("source_format", sa.String(32), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tour_count", sa.Integer(), nullable=False),
        sa.Column("holidays", JSON_VALUE, nullable=False),
        sa.Column("line_report", JSON_VALUE, nullable=False),
        sa.Column("diff", JSON_VALUE, nullable=True),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_forecast_versions"),
        sa.UniqueConstraint(
            "tenant_id",
            "week_anchor",
            "sha256",
            name="uq_forecast_versions_tenant_id_week_anchor_sha256",
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "week_anchor",
            "version_number",
            name="uq_forecast_versions_tenant_id_week_anchor_version_number",
        ),
        sa.UniqueConstraint(
            "tenant_id", "id", name="uq_forecast_versions_tenant_id_id"
        ),
        _tenant_fk("forecast_versions", "created_by", "users"),
        _status_check("forecast_versions", "forecast_status", ("accepted", "rejected")),
    )
    _index("forecast_versions", "tenant_id")

    op.create_table(
        "tour_templates",
        _id_column(),
        _tenant_column("tour_templates"),
        sa.Column("forecast_version_id", ID, nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("depot", sa.String(100), nullable=False),
        sa.Column("qualification", sa.String(50), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tour_templates"),
        sa.UniqueConstraint(
            "forecast_version_id",
            "day",
            "start_minute",
            "end_minute",
            "depot",
            "qualification",
            name="uq_tour_templates_key",
        ),
        _tenant_fk("tour_templates", "forecast_version_id", "forecast_versions"),
    )
    _index("tour_templates", "tenant_id")
    _index("tour_templates", "forecast_version_id")

    op.create_table(
        "tours",
        _id_column(),
        _tenant_column("tours"),
        sa.Column("forecast_version_id", ID, nullable=False),
        sa.Column("tour_id", sa.String(100), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("week_start", sa.Integer(), nullable=False),
        sa.Column("week_end", sa.Integer(), nullable=False),
        sa.Column("depot", sa.String(100), nullable=False),
        sa.Column("qualification", sa.String(50), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tours"),
        sa.UniqueConstraint(
            "forecast_version_id",
            "tour_id",
            name="uq_tours_forecast_version_id_tour_id",
        ),
        _tenant_fk("tours", "forecast_version_id", "forecast_versions"),
    )
    _index("tours", "tenant_id")
    _index("tours", "forecast_version_id")


def _create_plan_tables() -> None:
    op.create_table(
        "plans",
        _id_column(),
        _tenant_column("plans"),
        sa.Column("week_anchor", sa.Date(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plans"),
        sa.UniqueConstraint(
            "tenant_id", "week_anchor", name="uq_plans_tenant_id_week_anchor"
        ),
        sa.UniqueConstraint("tenant_id", "id", name="uq_plans_tenant_id_id"),
    )
    _index("plans", "tenant_id")

    op.create_table(
        "plan_versions",
        _id_column(),
        _tenant_column("plan_versions"),
        sa.Column("plan_id", ID, nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("forecast_version_id", ID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("settings", JSON_VALUE, nullable=False),
        sa.Column("lower_bound", sa.Integer(), nullable=True),
        sa.Column("lp_bound", sa.Float(), nullable=True),
        sa.Column("gap", sa.Float(), nullable=True),
        sa.Column("solve_status", sa.String(32), nullable=False),
        sa.Column("kpis", JSON_VALUE, nullable=False),
        sa.Column("uncovered", JSON_VALUE, nullable=False),
        sa.Column("solver_seconds", sa.Float(), nullable=True),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("approved_by", ID, nullable=True),
        sa.Column("approved_at", TIMESTAMP, nullable=True),
        sa.Column("approval_reason", sa.Text(), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plan_versions"),
        sa.UniqueConstraint(
            "plan_id", "version_number", name="uq_plan_versions_plan_id_version_number"
        ),
        sa.UniqueConstraint("tenant_id", "id", name="uq_plan_versions_tenant_id_id"),
        _tenant_fk("plan_versions", "plan_id", "plans"),
        _tenant_fk("plan_versions", "forecast_version_id", "forecast_versions"),
        _tenant_fk("plan_versions", "created_by", "users"),
        _tenant_fk("plan_versions", "approved_by", "users"),
        _status_check(
            "plan_versions",
            "plan_version_status",
            ("draft", "approved", "superseded", "failed"),
        ),
    )
    _index("plan_versions", "tenant_id")
    _index("plan_versions", "plan_id")
    _index("plan_versions", "forecast_version_id")

    op.create_table(
        "assignments",
        _id_column(),
        _tenant_column("assignments"),
        sa.Column("plan_version_id", ID, nullable=False),
        sa.Column("tour_id", sa.String(100), nullable=False),
        sa.Column("driver", sa.String(100), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("block_kind", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_assignments"),
        sa.UniqueConstraint(
            "plan_version_id", "tour_id", name="uq_assignments_plan_version_id_tour_id"
        ),
        _tenant_fk("assignments", "plan_version_id", "plan_versions"),
    )
    _index("assignments", "tenant_id")
    _index("assignments", "plan_version_id")

    op.create_table(
        "plan_checks",
        _id_column(),
        _tenant_column("plan_checks"),
        sa.Column("plan_version_id", ID, nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("violations", JSON_VALUE, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plan_checks"),
        sa.UniqueConstraint(
            "plan_version_id", "rule", name="uq_plan_checks_plan_version_id_rule"
        ),
        _tenant_fk("plan_checks", "plan_version_id", "plan_versions"),
    )
    _index("plan_checks", "tenant_id")
    _index("plan_checks", "plan_version_id")


def _create_solve_jobs() -> None:
    op.create_table(
        "solve_jobs",
        _id_column(),
        _tenant_column("solve_jobs"),
        sa.Column("forecast_version_id", ID, nullable=False),
        sa.Column("settings", JSON_VALUE, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", JSON_VALUE, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("heartbeat_at", TIMESTAMP, nullable=True),
        sa.Column("worker_id", sa.String(200), nullable=True),
        sa.Column("plan_version_id", ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_solve_jobs"),
        _tenant_fk("solve_jobs", "forecast_version_id", "forecast_versions"),
        _tenant_fk("solve_jobs", "plan_version_id", "plan_versions"),
        _tenant_fk("solve_jobs", "created_by", "users"),
        _status_check(
            "solve_jobs",
            "solve_job_status",
            ("queued", "running", "succeeded", "failed"),
        ),
    )
    _index("solve_jobs", "tenant_id")
    op.create_index(
        "ix_solve_jobs_status_created_at", "solve_jobs", ["status", "created_at"]
    )


def _create_audit_log() -> None:
    op.create_table(
        "audit_log",
        _id_column(),
        _tenant_column("audit_log"),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("actor_user_id", ID, nullable=True),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("object_type", sa.String(100), nullable=False),
        sa.Column("object_id", sa.String(100), nullable=False),
        sa.Column("details", JSON_VALUE, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sa.UniqueConstraint(
            "tenant_id", "sequence", name="uq_audit_log_tenant_id_sequence"
        ),
    )


def _create_sqlite_triggers() -> None:
    for table in ("forecast_versions", "plans"):
        for operation in ("INSERT", "UPDATE"):
            op.execute(
                f"""
                CREATE TRIGGER {table}_week_anchor_monday_{operation.lower()}
                BEFORE {operation} ON {table}
                WHEN strftime('%w', NEW.week_anchor) IS NOT '1'
                BEGIN
                    SELECT RAISE(ABORT, 'week_anchor must be a Monday');
                END
                """
            )

    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"""
            CREATE TRIGGER audit_log_reject_{operation.lower()}
            BEFORE {operation} ON audit_log
            BEGIN
                SELECT RAISE(ABORT, '{AUDIT_LOG_REJECTION}');
            END
            """
        )
        op.execute(
            f"""
            CREATE TRIGGER plan_versions_approved_reject_{operation.lower()}
            BEFORE {operation} ON plan_versions
            WHEN OLD.status = 'approved'
            BEGIN
                SELECT RAISE(ABORT, '{APPROVED_REJECTION}');
            END
            """
        )

    for table in ("assignments", "plan_checks"):
        conditions = {
            "INSERT": _sqlite_approved("NEW"),
            "UPDATE": f"{_sqlite_approved('OLD')} OR {_sqlite_approved('NEW')}",
            "DELETE": _sqlite_approved("OLD"),
        }
        for operation, condition in conditions.items():
            op.execute(
                f"""
                CREATE TRIGGER {table}_approved_reject_{operation.lower()}
                BEFORE {operation} ON {table}
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


def _create_postgresql_triggers() -> None:
    op.execute(
        """
        CREATE FUNCTION check_week_anchor_is_monday() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF EXTRACT(ISODOW FROM NEW.week_anchor) <> 1 THEN
                RAISE EXCEPTION 'week_anchor must be a Monday, got %',
                    NEW.week_anchor USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    for table in ("forecast_versions", "plans"):
        op.execute(
            f"""
            CREATE TRIGGER {table}_week_anchor_monday
            BEFORE INSERT OR UPDATE OF week_anchor ON {table}
            FOR EACH ROW EXECUTE FUNCTION check_week_anchor_is_monday()
            """
        )

    op.execute(
        f"""
        CREATE FUNCTION reject_audit_log_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{AUDIT_LOG_REJECTION} (%)', TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_log_reject_update_delete
        BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION reject_audit_log_change()
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_log_reject_truncate
        BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION reject_audit_log_change()
        """
    )

    op.execute(
        f"""
        CREATE FUNCTION reject_approved_plan_version_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.status = 'approved' THEN
                RAISE EXCEPTION '{APPROVED_REJECTION}: plan version %', OLD.id
                    USING ERRCODE = 'restrict_violation';
            END IF;
            IF TG_OP = 'DELETE' THEN
                RETURN OLD;
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER plan_versions_approved_reject_update_delete
        BEFORE UPDATE OR DELETE ON plan_versions
        FOR EACH ROW EXECUTE FUNCTION reject_approved_plan_version_change()
        """
    )

    # FOR SHARE makes a concurrent approval of the same version wait until this
    # row change commits, so no row slips into a version approved meanwhile.
    op.execute(
        f"""
        CREATE FUNCTION reject_change_in_approved_plan_version() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            version_status text;
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                SELECT status INTO version_status FROM plan_versions
                    WHERE id = OLD.plan_version_id FOR SHARE;
                IF version_status = 'approved' THEN
                    RAISE EXCEPTION '{APPROVED_REJECTION}: plan version %',
                        OLD.plan_version_id USING ERRCODE = 'restrict_violation';
                END IF;
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                SELECT status INTO version_status FROM plan_versions
                    WHERE id = NEW.plan_version_id FOR SHARE;
                IF version_status = 'approved' THEN
                    RAISE EXCEPTION '{APPROVED_REJECTION}: plan version %',
                        NEW.plan_version_id USING ERRCODE = 'restrict_violation';
                END IF;
            END IF;
            IF TG_OP = 'DELETE' THEN
                RETURN OLD;
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION reject_truncate_with_approved_plan_versions() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM plan_versions WHERE status = 'approved') THEN
                RAISE EXCEPTION '{APPROVED_REJECTION}: TRUNCATE of % rejected',
                    TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    for table in ("assignments", "plan_checks"):
        op.execute(
            f"""
            CREATE TRIGGER {table}_approved_reject_change
            BEFORE INSERT OR UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION reject_change_in_approved_plan_version()
            """
        )
    for table in ("plan_versions", "assignments", "plan_checks"):
        op.execute(
            f"""
            CREATE TRIGGER {table}_approved_reject_truncate
            BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT
            EXECUTE FUNCTION reject_truncate_with_approved_plan_versions()
            """
        )


def downgrade() -> None:
    # Dropping a table drops its triggers on both databases.
    for table in (
        "audit_log",
        "solve_jobs",
        "plan_checks",
        "assignments",
        "plan_versions",
        "plans",
        "tours",
        "tour_templates",
        "forecast_versions",
        "users",
        "tenants",
    ):
        op.drop_table(table)

    if op.get_context().dialect.name == "postgresql":
        for function in (
            "check_week_anchor_is_monday",
            "reject_audit_log_change",
            "reject_approved_plan_version_change",
            "reject_change_in_approved_plan_version",
            "reject_truncate_with_approved_plan_versions",
        ):
            op.execute(f"DROP FUNCTION {function}()")
