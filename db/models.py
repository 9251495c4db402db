"""Tables of the workbench as SQLAlchemy 2 typed models, for SQLite and PostgreSQL.

Every business row carries `tenant_id`. A row that refers to another
tenant-owned row does so through a composite foreign key on
(tenant_id, id), so the database itself rejects a reference from one tenant's
row to another tenant's row.

Timestamps are timezone-aware UTC (`UtcDateTime`). Week anchors are the
Monday of the week (ISO 8601 weekday 1).

The migrations (db/migrations/versions) create the same schema plus the
triggers that protect the audit log and approved plan versions. A test
compares the migrated schema with these models, so a change here needs a new
migration.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

# Role names as stored in users.role; core.permissions.Role uses the same values.
ROLE_NAMES = ("VIEWER", "DISPATCHER", "PLAN_APPROVER", "TENANT_ADMIN", "SUPER_ADMIN")

SHA256_HEX_LENGTH = 64

# SQLite gives a rowid alias (and so autoincrement) only to INTEGER PRIMARY KEY.
IdType = BigInteger().with_variant(Integer(), "sqlite")
JsonType = JSON().with_variant(JSONB(), "postgresql")
# Python None is stored as SQL NULL here, not as the JSON value null.
NullableJsonType = JSON(none_as_null=True).with_variant(
    JSONB(none_as_null=True), "postgresql"
)


def utc_now() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def utc_or_now(moment: datetime | None) -> datetime:
    """Return `moment` in UTC, or the current time when it is None.

    Raises ValueError for a naive datetime, whose time zone is unknown.
    """
    if moment is None:
        return utc_now()
    if moment.tzinfo is None:
        raise ValueError(
            f"time {moment.isoformat()} has no time zone; pass an aware one"
        )
    return moment.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no time zone type, so the value is stored there as naive UTC
    text and given back its UTC zone on reading. A naive datetime is rejected
    on writing, because its zone would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"timestamp {value.isoformat()} has no time zone;"
                " pass a timezone-aware datetime such as datetime.now(UTC)"
            )
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _enum_column_type(enum_class: type[enum.Enum], name: str) -> Enum:
    """Store an enum by its value as VARCHAR with a CHECK, alike on both databases."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def _check_monday(value: date) -> date:
    if value.isoweekday() != 1:
        raise ValueError(
            f"week anchor {value.isoformat()} is a {value.strftime('%A')};"
            " use the Monday that starts the week"
        )
    return value


class ForecastStatus(enum.Enum):
    """Whether a forecast version may be solved."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"


class PlanVersionStatus(enum.Enum):
    """Life cycle of a plan version.

    A draft is what the solver produced. Approving locks it: database triggers
    reject any change to an approved version, its assignments and its checks.
    A draft that a newer version of the same plan replaced is superseded, and
    a version whose solve failed is failed.
    """

    DRAFT = "draft"
    APPROVED = "approved"
    SUPERSEDED = "superseded"
    FAILED = "failed"


class SolveJobStatus(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _tenant_fk(columns: list[str], table: str) -> ForeignKeyConstraint:
    """Reference a row of `table` that belongs to the same tenant."""
    return ForeignKeyConstraint(
        ["tenant_id", *columns], [f"{table}.tenant_id", f"{table}.id"]
    )


class Tenant(Base):
    """One operator; every business row belongs to exactly one tenant."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class User(Base):
    """A person who signs in to one tenant, with one role."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "username"),
        UniqueConstraint("tenant_id", "id"),
        CheckConstraint(
            "role IN ({})".format(", ".join(f"'{role}'" for role in ROLE_NAMES)),
            name="role",
        ),
        # A unique index, not a constraint, because SQLite adds an index to an
        # existing table in place but would have to copy the table for a
        # constraint. NULLs are distinct in it, so password-only users never clash.
        Index(
            "ix_users_tenant_id_oidc_issuer_oidc_subject",
            "tenant_id",
            "oidc_issuer",
            "oidc_subject",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"), index=True)
    username: Mapped[str] = mapped_column(String(150))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    # Base32 TOTP secret (RFC 6238), None until the user enrols an authenticator.
    # NOTE: stored in plain text; anyone who can read this column can generate
    # codes, so it is as sensitive as a password.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    # The newest TOTP time step accepted, so no code is accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # A new Base32 secret shown to the user during enrolment. It replaces
    # totp_secret only when the user confirms it with a valid code (core.mfa).
    # NOTE: stored in plain text, like totp_secret.
    totp_pending_secret: Mapped[str | None] = mapped_column(String(64))
    # The OpenID Connect identity linked to this user for single sign-on: the
    # provider's issuer URL and its subject (`sub`, at most 255 characters by
    # OpenID Connect Core 1.0). core.oidc_sign_in sets both together, and a
    # pair is unique within a tenant. Both are None for a password-only user.
    oidc_issuer: Mapped[str | None] = mapped_column(String(255))
    oidc_subject: Mapped[str | None] = mapped_column(String(255))


class UserSession(Base):
    """A server-side sign-in session; the browser holds only the token.

    The token itself is never stored: `token_sha256` is the SHA-256 hex digest
    of it. `mfa_verified` is true when the sign-in passed the TOTP step.
    """

    __tablename__ = "user_sessions"
    __table_args__ = (_tenant_fk(["user_id"], "users"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"), index=True)
    user_id: Mapped[int] = mapped_column(IdType, index=True)
    token_sha256: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH), unique=True)
    mfa_verified: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RecoveryCode(Base):
    """A one-time code that replaces the TOTP code once, when the phone is lost.

    Only `code_sha256` is stored, a SHA-256 hex digest over the code and its
    tenant and user (core.recovery_codes explains why a fast hash suffices).
    `used_at` is set when the code is used; a used code is never accepted again.
    """

    __tablename__ = "recovery_codes"
    __table_args__ = (
        _tenant_fk(["user_id"], "users"),
        UniqueConstraint("tenant_id", "user_id", "code_sha256"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"), index=True)
    user_id: Mapped[int] = mapped_column(IdType, index=True)
    code_sha256: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ForecastVersion(Base):
    """One import of a week's forecast, numbered per tenant and week.

    `line_report` is the importer's outcome for every source line, `diff` the
    added, removed and changed templates against the previous version (None
    for the first version of a week). `sha256` is the hash of the canonical
    forecast, so importing the same demand twice finds the earlier version.
    """

    __tablename__ = "forecast_versions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "week_anchor", "sha256"),
        UniqueConstraint("tenant_id", "week_anchor", "version_number"),
        UniqueConstraint("tenant_id", "id"),
        _tenant_fk(["created_by"], "users"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"), index=True)
    week_anchor: Mapped[date] = mapped_column(Date)
    version_number: Mapped[int] = mapped_column(Integer)
    source_filename: Mapped[str] = mapped_column(String(255))
    source_format: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH))
    status: Mapped[ForecastStatus] = mapped_column(
        _enum_column_type(ForecastStatus, "forecast_status")
    )
    tour_count: Mapped[int] = mapped_column(Integer)
    holidays: Mapped[list[int]] = mapped_column(JsonType)
    line_report: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    diff: Mapped[dict[str, Any] | None] = mapped_column(NullableJsonType)
    created_by: Mapped[int | None] = mapped_column(IdType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)

    @validates("week_anchor")
    def _validate_week_anchor(self, key: str, value: date) -> date:
        return _check_monday(value)


class TourTemplateRow(Base):
    """One canonical tour template of a forecast version (minutes after midnight)."""

    __tablename__ = "tour_templates"
    __table_args__ = (
        UniqueConstraint(
            "forecast_version_id",
            "day",
            "start_minute",
            "end_minute",
            "depot",
            "qualification",
            name="uq_tour_templates_key",
        ),
        _tenant_fk(["forecast_version_id"], "forecast_versions"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"), index=True)
    forecast_version_id: Mapped[int] = mapped_column(IdType, index=True)
    day: Mapped[int] = mapped_column(Integer)
    start_minute: Mapped[int] = mapped_column(Integer)
    end_minute: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    depot: Mapped[str] = mapped_column(String(100), default="")
    qualification: Mapped[str] = mapped_column(String(50), default="")


class TourRow(Base):
    """One expanded tour of a forecast version; times count minutes from Monday."""

    __tablename__ = "tours"
    __table_args__ = (
        UniqueConstraint("forecast_version_id", "tour_id"),
        _tenant_fk(["forecast_version_id"], "forecast_versions"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"), index=True)
    forecast_version_id: Mapped[int] = mapped_column(IdType, index=True)
    tour_id: Mapped[str] = mapped_column(String(100))
    day: Mapped[int] = mapped_column(Integer)
    week_start: Mapped[int] = mapped_column(Integer)
    week_end: Mapped[int] = mapped_column(Integer)
    depot: Mapped[str] = mapped_column(String(100), default="")
    qualification: Mapped[str] = mapped_column(String(50), default="")


class Plan(Base):
    """The plan of one tenant's week; its content lives in its versions."""

    __tablename__ = "plans"
    __table_args__ = (
        UniqueConstraint("tenant_id", "week_anchor"),
        UniqueConstraint("tenant_id", "id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"), index=True)
    week_anchor: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)

    @validates("week_anchor")
    def _validate_week_anchor(self, key: str, value: date) -> date:
        return _check_monday(value)


class PlanVersion(Base):
    """One solved version of a plan with its proof of quality and KPIs.

    `row_version` is SQLAlchemy's version counter: an UPDATE through the ORM
    names the version it read, so a second writer holding a stale copy gets
    StaleDataError instead of overwriting the first. `uncovered` lists the
    tours no roster may take, with the rule that stops each.
    """

    __tablename__ = "plan_versions"
    __table_args__ = (
        UniqueConstraint("plan_id", "version_number"),
        UniqueConstraint("tenant_id", "id"),
        _tenant_fk(["plan_id"], "plans"),
        _tenant_fk(["forecast_version_id"], "forecast_versions"),
        _tenant_fk(["created_by"], "users"),
        _tenant_fk(["approved_by"], "users"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"), index=True)
    plan_id: Mapped[int] = mapped_column(IdType, index=True)
    version_number: Mapped[int] = mapped_column(Integer)
    forecast_version_id: Mapped[int] = mapped_column(IdType, index=True)
    status: Mapped[PlanVersionStatus] = mapped_column(
        _enum_column_type(PlanVersionStatus, "plan_version_status")
    )
    settings: Mapped[dict[str, Any]] = mapped_column(JsonType)
    lower_bound: Mapped[int | None] = mapped_column(Integer)
    lp_bound: Mapped[float | None] = mapped_column(Float)
    gap: Mapped[float | None] = mapped_column(Float)
    solve_status: Mapped[str] = mapped_column(String(32))
    kpis: Mapped[dict[str, Any]] = mapped_column(JsonType)
    uncovered: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    solver_seconds: Mapped[float | None] = mapped_column(Float)
    created_by: Mapped[int | None] = mapped_column(IdType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    approved_by: Mapped[int | None] = mapped_column(IdType)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    approval_reason: Mapped[str | None] = mapped_column(Text)
    row_version: Mapped[int] = mapped_column(Integer)

    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": row_version}


class Assignment(Base):
    """One tour of a plan version given to one driver, inside one block."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("plan_version_id", "tour_id"),
        _tenant_fk(["plan_version_id"], "plan_versions"),
        _tenant_fk(["driver_id"], "drivers"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"), index=True)
    plan_version_id: Mapped[int] = mapped_column(IdType, index=True)
    tour_id: Mapped[str] = mapped_column(String(100))
    driver: Mapped[str] = mapped_column(String(100))
    day: Mapped[int] = mapped_column(Integer)
    block_kind: Mapped[str] = mapped_column(String(32))
    # The driver of the master data when the plan was made for named drivers,
    # and then `driver` is str(driver_id). None for anonymous rosters.
    driver_id: Mapped[int | None] = mapped_column(IdType, index=True)


class PlanCheck(Base):
    """The validator's result for one plan rule on one plan version."""

    __tablename__ = "plan_checks"
    __table_args__ = (
        UniqueConstraint("plan_version_id", "rule"),
        _tenant_fk(["plan_version_id"], "plan_versions"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"), index=True)
    plan_version_id: Mapped[int] = mapped_column(IdType, index=True)
    rule: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    passed: Mapped[bool] = mapped_column(Boolean)
    checked: Mapped[int] = mapped_column(Integer)
    violations: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)


class SolveJob(Base):
    """A request to solve a forecast version, taken by one worker at a time.

    `heartbeat_at` is renewed by the worker while it runs, so a job whose
    worker died can be found and queued again. A job with `scenario_run_id`
    runs that scenario run's stored inputs and stores no plan version.
    """

    __tablename__ = "solve_jobs"
    __table_args__ = (
        Index("ix_solve_jobs_status_created_at", "status", "created_at"),
        _tenant_fk(["forecast_version_id"], "forecast_versions"),
        _tenant_fk(["plan_version_id"], "plan_versions"),
        _tenant_fk(["created_by"], "users"),
        _tenant_fk(["scenario_run_id"], "scenario_runs"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"), index=True)
    forecast_version_id: Mapped[int] = mapped_column(IdType)
    settings: Mapped[dict[str, Any]] = mapped_column(JsonType)
    status: Mapped[SolveJobStatus] = mapped_column(
        _enum_column_type(SolveJobStatus, "solve_job_status")
    )
    progress: Mapped[dict[str, Any] | None] = mapped_column(NullableJsonType)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(IdType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    plan_version_id: Mapped[int | None] = mapped_column(IdType)
    # Set for a scenario run: the worker stores its result in the run instead
    # of a plan version (core.scenarios).
    scenario_run_id: Mapped[int | None] = mapped_column(IdType, index=True)


class AuditEntry(Base):
    """One entry of a tenant's audit trail, chained to the one before by hash.

    `entry_hash` is SHA-256 over the canonical JSON of the entry's fields and
    `prev_hash` (see core.audit). `actor_user_id` has no foreign key, so an
    audit row never blocks or follows a change to the users table. Triggers
    reject UPDATE and DELETE (and TRUNCATE on PostgreSQL).
    """

    __tablename__ = "audit_log"
    __table_args__ = (UniqueConstraint("tenant_id", "sequence"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"))
    sequence: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor_user_id: Mapped[int | None] = mapped_column(IdType)
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str] = mapped_column(String(100))
    details: Mapped[dict[str, Any]] = mapped_column(JsonType)
    prev_hash: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH))
    entry_hash: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH))


class ContractKind(enum.Enum):
    """A driver's contract: full-time, or part-time under the weekly threshold."""

    FULL_TIME = "full_time"
    PART_TIME = "part_time"


class Driver(Base):
    """A driver of a tenant, with personal fields encrypted by core.pii.

    The *_ciphertext columns hold ``v1:<key id>:<payload>`` text bound to the
    tenant, the driver's id and the field, so a value copied onto another row
    cannot be decrypted. They are NULL when the field is empty and after
    erasure. `external_ref` is the operator's own code for the driver,
    unique per tenant; erasure replaces it with a random pseudonym that
    starts with "erased-". `deactivated_at` is when the driver last became
    inactive, which starts the retention period. `row_version` is
    SQLAlchemy's version counter, so a writer holding a stale copy gets
    StaleDataError instead of overwriting a newer change.
    """

    __tablename__ = "drivers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_ref"),
        UniqueConstraint("tenant_id", "id"),
        CheckConstraint(
            "min_weekly_minutes >= 0 AND min_weekly_minutes <= max_weekly_minutes",
            name="weekly_minutes",
        ),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"), index=True)
    external_ref: Mapped[str] = mapped_column(String(100))
    display_name_ciphertext: Mapped[str | None] = mapped_column(Text)
    phone_ciphertext: Mapped[str | None] = mapped_column(Text)
    email_ciphertext: Mapped[str | None] = mapped_column(Text)
    address_ciphertext: Mapped[str | None] = mapped_column(Text)
    licence_number_ciphertext: Mapped[str | None] = mapped_column(Text)
    home_depot: Mapped[str] = mapped_column(String(100), default="")
    qualifications: Mapped[list[str]] = mapped_column(JsonType)
    contract_kind: Mapped[ContractKind] = mapped_column(
        _enum_column_type(ContractKind, "contract_kind")
    )
    min_weekly_minutes: Mapped[int] = mapped_column(Integer)
    max_weekly_minutes: Mapped[int] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    deactivated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    row_version: Mapped[int] = mapped_column(Integer)

    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": row_version}


class DriverConsent(Base):
    """One recorded consent decision of a driver for one purpose.

    Rows are only ever added: the newest row of a driver and purpose is the
    decision in force, and the older rows show its history. `text_version`
    names the wording the driver agreed to or declined.
    """

    __tablename__ = "driver_consents"
    __table_args__ = (
        _tenant_fk(["driver_id"], "drivers"),
        _tenant_fk(["recorded_by"], "users"),
        Index("ix_driver_consents_driver_id_purpose", "driver_id", "purpose"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"), index=True)
    driver_id: Mapped[int] = mapped_column(IdType)
    purpose: Mapped[str] = mapped_column(String(100))
    granted: Mapped[bool] = mapped_column(Boolean)
    text_version: Mapped[str] = mapped_column(String(50))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_by: Mapped[int | None] = mapped_column(IdType)


class AvailabilityStatus(enum.Enum):
    """The status a dated exception gives a driver's day or window.

    VACATION, SICK and BLOCKED make the driver unavailable; AVAILABLE makes
    them available even where the weekly pattern does not.
    """

    VACATION = "VACATION"
    SICK = "SICK"
    BLOCKED = "BLOCKED"
    AVAILABLE = "AVAILABLE"


# A window of minutes after local midnight: it starts within the day and ends
# after its start, at the latest at midnight (1440).
_WINDOW_CHECK = "start_minute >= 0 AND start_minute < end_minute AND end_minute <= 1440"


class DriverWeeklyPattern(Base):
    """The window of one ISO weekday (1 = Monday) in which a driver works.

    A driver without pattern rows is available every day all day. A driver
    with pattern rows is available only inside them, so a weekday without a
    row is a day off.
    """

    __tablename__ = "driver_weekly_patterns"
    __table_args__ = (
        UniqueConstraint("driver_id", "weekday"),
        _tenant_fk(["driver_id"], "drivers"),
        CheckConstraint("weekday >= 1 AND weekday <= 7", name="weekday"),
        CheckConstraint(_WINDOW_CHECK, name="window"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"), index=True)
    driver_id: Mapped[int] = mapped_column(IdType)
    weekday: Mapped[int] = mapped_column(Integer)
    start_minute: Mapped[int] = mapped_column(Integer)
    end_minute: Mapped[int] = mapped_column(Integer)


class DriverAvailabilityException(Base):
    """A driver's status on one local date, for the whole day or one window.

    `start_minute` and `end_minute` are both None for the whole day.
    `note_ciphertext` is the note encrypted by core.pii, bound to the
    tenant, the driver and the field "availability_note"; None without a note.
    """

    __tablename__ = "driver_availability_exceptions"
    __table_args__ = (
        UniqueConstraint("driver_id", "day"),
        _tenant_fk(["driver_id"], "drivers"),
        _tenant_fk(["created_by"], "users"),
        CheckConstraint(
            f"(start_minute IS NULL AND end_minute IS NULL) OR ({_WINDOW_CHECK})",
            name="window",
        ),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"), index=True)
    driver_id: Mapped[int] = mapped_column(IdType)
    day: Mapped[date] = mapped_column(Date)
    status: Mapped[AvailabilityStatus] = mapped_column(
        _enum_column_type(AvailabilityStatus, "availability_status")
    )
    start_minute: Mapped[int | None] = mapped_column(Integer)
    end_minute: Mapped[int | None] = mapped_column(Integer)
    note_ciphertext: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(IdType)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class DriverPreferenceRow(Base):
    """A driver's soft wishes, stored as solver.drivers.DriverPreferences has them.

    `days_off` is a JSON list of ISO weekdays. A driver without a row has no
    wishes.
    """

    __tablename__ = "driver_preferences"
    __table_args__ = (
        _tenant_fk(["driver_id"], "drivers"),
        CheckConstraint("start IN ('early', 'late')", name="start"),
        CheckConstraint(
            "max_days_in_row >= 1 AND max_days_in_row <= 7", name="max_days_in_row"
        ),
    )

    tenant_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("tenants.id"), primary_key=True
    )
    driver_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    start: Mapped[str | None] = mapped_column(String(16))
    start_weight: Mapped[int] = mapped_column(Integer)
    days_off: Mapped[list[int]] = mapped_column(JsonType)
    days_off_weight: Mapped[int] = mapped_column(Integer)
    max_days_in_row: Mapped[int | None] = mapped_column(Integer)
    max_days_in_row_weight: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class DriverAvailabilityWeek(Base):
    """The optimistic lock of one driver's availability in one week.

    The row appears with the first change to the week. Every change of the
    week's exceptions updates it, so SQLAlchemy's version counter
    `row_version` grows and a writer that read an older version is rejected.
    """

    __tablename__ = "driver_availability_weeks"
    __table_args__ = (_tenant_fk(["driver_id"], "drivers"),)

    tenant_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("tenants.id"), primary_key=True
    )
    driver_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    week_anchor: Mapped[date] = mapped_column(Date, primary_key=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    row_version: Mapped[int] = mapped_column(Integer)

    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": row_version}

    @validates("week_anchor")
    def _validate_week_anchor(self, key: str, value: date) -> date:
        return _check_monday(value)


class TenantPlanningSetting(Base):
    """A tenant's planning settings: whether drivers take home-depot tours only.

    A tenant without a row plans with stay_at_home_depot false.
    """

    __tablename__ = "tenant_planning_settings"
    __table_args__ = (_tenant_fk(["updated_by"], "users"),)

    tenant_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("tenants.id"), primary_key=True
    )
    stay_at_home_depot: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_by: Mapped[int | None] = mapped_column(IdType)


class DriverRetentionSetting(Base):
    """How many days a tenant keeps an inactive driver before erasing them.

    A tenant without a row keeps inactive drivers for the default of
    core.retention (730 days).
    """

    __tablename__ = "driver_retention_settings"
    __table_args__ = (
        CheckConstraint("retention_days >= 1", name="retention_days"),
        _tenant_fk(["updated_by"], "users"),
    )

    tenant_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("tenants.id"), primary_key=True
    )
    retention_days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_by: Mapped[int | None] = mapped_column(IdType)


class KpiHistoryRow(Base):
    """The KPIs of a tenant's approved plan of one week, kept to show trends.

    There is one row per tenant and week, for the week's newest approved
    version; core.kpi_history replaces it when a newer version is approved.
    `hours` sums the durations of the covered tours. `cost` is `drivers`
    times the tenant's cost per driver and week at approval, NULL when the
    tenant had none set. `kpis` is a copy of the version's full KPI object.
    """

    __tablename__ = "kpi_history"
    __table_args__ = (
        UniqueConstraint("tenant_id", "week_anchor"),
        _tenant_fk(["plan_version_id"], "plan_versions"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"), index=True)
    week_anchor: Mapped[date] = mapped_column(Date)
    plan_version_id: Mapped[int] = mapped_column(IdType, index=True)
    version_number: Mapped[int] = mapped_column(Integer)
    approved_at: Mapped[datetime] = mapped_column(UtcDateTime)
    drivers: Mapped[int] = mapped_column(Integer)
    lower_bound: Mapped[int | None] = mapped_column(Integer)
    gap: Mapped[float | None] = mapped_column(Float)
    part_time_rosters: Mapped[int] = mapped_column(Integer)
    hours: Mapped[float] = mapped_column(Float)
    split_blocks: Mapped[int] = mapped_column(Integer)
    single_blocks: Mapped[int] = mapped_column(Integer)
    open_tours: Mapped[int] = mapped_column(Integer)
    cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    kpis: Mapped[dict[str, Any]] = mapped_column(JsonType)

    @validates("week_anchor")
    def _validate_week_anchor(self, key: str, value: date) -> date:
        return _check_monday(value)


class TenantCostSetting(Base):
    """A tenant's cost per driver and week, and how long it keeps its KPI history.

    A tenant without a row has no cost set and keeps its KPI history for the
    default of core.kpi_history (730 days). A NULL cost means none is set.
    """

    __tablename__ = "tenant_cost_settings"
    __table_args__ = (
        CheckConstraint(
            "cost_per_driver_week IS NULL OR cost_per_driver_week >= 0",
            name="cost_per_driver_week",
        ),
        CheckConstraint("history_retention_days >= 1", name="history_retention_days"),
        _tenant_fk(["updated_by"], "users"),
    )

    tenant_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("tenants.id"), primary_key=True
    )
    cost_per_driver_week: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    history_retention_days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_by: Mapped[int | None] = mapped_column(IdType)


class ScenarioRunStatus(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Scenario(Base):
    """A named variation of a tenant's forecast version, its rules and drivers.

    `variation` is the checked variation of core.scenarios. A scenario never
    changes its base forecast version nor any plan.
    """

    __tablename__ = "scenarios"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        UniqueConstraint("tenant_id", "id"),
        _tenant_fk(["base_forecast_version_id"], "forecast_versions"),
        _tenant_fk(["created_by"], "users"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    base_forecast_version_id: Mapped[int] = mapped_column(IdType)
    variation: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created_by: Mapped[int | None] = mapped_column(IdType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class ScenarioRun(Base):
    """One run of a scenario: the inputs it planned and, once done, the result.

    `inputs` contains everything the run plans (the forecast templates after the
    variation, the rules, the driver profiles or None, the time limit), so
    the run can be repeated from it alone. `input_hash` is the SHA-256 of
    its canonical JSON. `result` is None until the run succeeded.
    """

    __tablename__ = "scenario_runs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        Index("ix_scenario_runs_tenant_id_input_hash", "tenant_id", "input_hash"),
        _tenant_fk(["scenario_id"], "scenarios"),
        _tenant_fk(["created_by"], "users"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id"), index=True)
    scenario_id: Mapped[int] = mapped_column(IdType, index=True)
    inputs: Mapped[dict[str, Any]] = mapped_column(JsonType)
    input_hash: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH))
    status: Mapped[ScenarioRunStatus] = mapped_column(
        _enum_column_type(ScenarioRunStatus, "scenario_run_status")
    )
    result: Mapped[dict[str, Any] | None] = mapped_column(NullableJsonType)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(IdType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
