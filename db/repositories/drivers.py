"""Drivers of a tenant, their consent records and the tenant's retention period.

Personal fields arrive here already encrypted (core.driver_records); this
module stores and reads ciphertexts and never handles a plain value.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

# true() and false() render as = 1 / = 0 on SQLite, which the SQL guard's
# PostgreSQL grammar accepts, where IS 1 would not parse.
from sqlalchemy import false, or_, select, true
from sqlalchemy.orm import Session

from db.models import (
    Assignment,
    ContractKind,
    Driver,
    DriverConsent,
    DriverRetentionSetting,
    Plan,
    PlanVersion,
)

# The columns that hold a ciphertext, by the field name core.pii binds it to.
CIPHERTEXT_COLUMNS = {
    "name": "display_name_ciphertext",
    "phone": "phone_ciphertext",
    "email": "email_ciphertext",
    "address": "address_ciphertext",
    "licence_number": "licence_number_ciphertext",
}


def add(
    session: Session,
    tenant_id: int,
    external_ref: str,
    *,
    home_depot: str,
    qualifications: list[str],
    contract_kind: ContractKind,
    min_weekly_minutes: int,
    max_weekly_minutes: int,
    is_active: bool,
    now: datetime,
) -> Driver:
    """Insert a driver without personal fields and flush it, so its id is known.

    The id binds each ciphertext to the driver, so the caller encrypts the
    personal fields only after this insert.
    """
    driver = Driver(
        tenant_id=tenant_id,
        external_ref=external_ref,
        home_depot=home_depot,
        qualifications=list(qualifications),
        contract_kind=contract_kind,
        min_weekly_minutes=min_weekly_minutes,
        max_weekly_minutes=max_weekly_minutes,
        is_active=is_active,
        legal_hold=False,
        created_at=now,
        updated_at=now,
        deactivated_at=None if is_active else now,
    )
    session.add(driver)
    session.flush()
    return driver


def list_drivers(
    session: Session,
    tenant_id: int,
    *,
    include_erased: bool = False,
    active_only: bool = False,
) -> list[Driver]:
    """Return the tenant's drivers ordered by external reference."""
    statement = select(Driver).where(Driver.tenant_id == tenant_id)
    if not include_erased:
        statement = statement.where(Driver.erased_at.is_(None))
    if active_only:
        statement = statement.where(Driver.is_active == true())
    return list(session.scalars(statement.order_by(Driver.external_ref)))


def find_by_refs(
    session: Session, tenant_id: int, external_refs: Collection[str]
) -> dict[str, Driver]:
    """Return the tenant's drivers with these external references, by reference."""
    if not external_refs:
        return {}
    statement = select(Driver).where(
        Driver.tenant_id == tenant_id, Driver.external_ref.in_(list(external_refs))
    )
    return {driver.external_ref: driver for driver in session.scalars(statement)}


def ref_exists(session: Session, tenant_id: int, external_ref: str) -> bool:
    """Tell whether the tenant has a driver with this external reference."""
    statement = select(Driver.id).where(
        Driver.tenant_id == tenant_id, Driver.external_ref == external_ref
    )
    return session.scalar(statement) is not None


def list_expired(
    session: Session, tenant_id: int, inactive_before: datetime
) -> list[Driver]:
    """Return the tenant's unerased drivers inactive since before the given time.

    Drivers on legal hold are included, so the caller can count them.
    """
    statement = (
        select(Driver)
        .where(
            Driver.tenant_id == tenant_id,
            Driver.erased_at.is_(None),
            Driver.is_active == false(),
            Driver.deactivated_at < inactive_before,
        )
        .order_by(Driver.id)
    )
    return list(session.scalars(statement))


def add_consent(
    session: Session,
    tenant_id: int,
    driver_id: int,
    *,
    purpose: str,
    granted: bool,
    text_version: str,
    recorded_at: datetime,
    recorded_by: int | None,
) -> DriverConsent:
    """Insert one consent decision of a driver and flush it."""
    consent = DriverConsent(
        tenant_id=tenant_id,
        driver_id=driver_id,
        purpose=purpose,
        granted=granted,
        text_version=text_version,
        recorded_at=recorded_at,
        recorded_by=recorded_by,
    )
    session.add(consent)
    session.flush()
    return consent


def list_consents(
    session: Session, tenant_id: int, driver_id: int
) -> list[DriverConsent]:
    """Return a driver's consent decisions, oldest first."""
    statement = (
        select(DriverConsent)
        .where(
            DriverConsent.tenant_id == tenant_id,
            DriverConsent.driver_id == driver_id,
        )
        .order_by(DriverConsent.recorded_at, DriverConsent.id)
    )
    return list(session.scalars(statement))


def list_assignments_of_label(
    session: Session, tenant_id: int, driver_label: str, driver_id: int | None = None
) -> list[tuple[Assignment, PlanVersion, Plan]]:
    """Return the plan assignments whose driver label is `driver_label`.

    With `driver_id`, assignments of named plans that store this driver's id
    count as well. Each comes with its plan version and plan, ordered by
    week, version, day and tour.
    """
    matches_driver = Assignment.driver == driver_label
    if driver_id is not None:
        matches_driver = or_(matches_driver, Assignment.driver_id == driver_id)
    statement = (
        select(Assignment, PlanVersion, Plan)
        .join(
            PlanVersion,
            (PlanVersion.id == Assignment.plan_version_id)
            & (PlanVersion.tenant_id == Assignment.tenant_id),
        )
        .join(
            Plan,
            (Plan.id == PlanVersion.plan_id)
            & (Plan.tenant_id == PlanVersion.tenant_id),
        )
        .where(Assignment.tenant_id == tenant_id, matches_driver)
        .order_by(
            Plan.week_anchor,
            PlanVersion.version_number,
            Assignment.day,
            Assignment.tour_id,
        )
    )
    return [tuple(row) for row in session.execute(statement)]


def retention_setting(
    session: Session, tenant_id: int
) -> DriverRetentionSetting | None:
    """Return the tenant's retention setting, or None when it keeps the default."""
    return session.get(DriverRetentionSetting, tenant_id)


def set_retention_days(
    session: Session,
    tenant_id: int,
    retention_days: int,
    *,
    updated_at: datetime,
    updated_by: int | None,
) -> DriverRetentionSetting:
    """Store the tenant's retention period, adding its row on first use."""
    setting = session.get(DriverRetentionSetting, tenant_id)
    if setting is None:
        setting = DriverRetentionSetting(tenant_id=tenant_id)
        session.add(setting)
    setting.retention_days = retention_days
    setting.updated_at = updated_at
    setting.updated_by = updated_by
    session.flush()
    return setting
