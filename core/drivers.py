"""Driver service: list, read, create, edit and deactivate drivers; record consents.

core.driver_records explains which roles read personal fields, and
core.driver_checks lists what each field accepts. Every read of personal
fields appends the security event `driver.personal_data_read` (category
PII read) with the field names, never the values. A page that reruns on
every click therefore records one such event per display. A stored
ciphertext that cannot be decrypted is never shown: reading one driver
raises DriverFieldUnreadable, which names the driver and the field, and a
list marks the field in `unreadable_fields`. Either way the CRITICAL
security event `security.personal_data_unreadable` is recorded, because the
value was altered, copied from another row, or its key is missing.

Audit entries name drivers by their id and list changed field names, never
values or external references, because the audit trail can never be
erased while a driver's data must be.

Edits are optimistic: the caller passes the `row_version` it read, and a
stale one raises Conflict, as does a concurrent write caught by SQLAlchemy's
version counter.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from core.audit import append_entry, record_security_event
from core.context import authorize, current_engine, lock_tenant, unit_of_work
from core.driver_changes import (
    EDITABLE_FIELDS,
    DriverInput,
    add_checked_driver,
    apply_checked_changes,
    changed_field_names,
    check_change_names,
    check_not_erased,
    checked_changes,
    checked_new_driver,
    filled_fields,
    flush_or_conflict,
)
from core.driver_checks import (
    check_row_version,
    checked_flag,
    checked_purpose,
    checked_text_version,
)
from core.driver_records import (
    ConsentView,
    DriverDetails,
    DriverFieldUnreadable,
    DriverView,
    consent_view,
    driver_view,
    may_read_personal_fields,
    read_personal_field,
    read_personal_fields,
    stored_field_names,
)
from core.errors import Conflict
from core.permissions import Actor, Permission
from core.tenancy import get_owned
from db.models import Driver, utc_now
from db.repositories import drivers

logger = logging.getLogger(__name__)

DRIVER_CREATED = "driver.created"
DRIVER_UPDATED = "driver.updated"
DRIVER_DEACTIVATED = "driver.deactivated"
CONSENT_RECORDED = "driver.consent_recorded"
PERSONAL_DATA_READ = "driver.personal_data_read"
PERSONAL_DATA_UNREADABLE = "security.personal_data_unreadable"


def list_drivers(
    actor: Actor,
    *,
    active_only: bool = False,
    home_depot: str | None = None,
    qualification: str | None = None,
    text: str | None = None,
) -> list[DriverView]:
    """List the tenant's drivers that are not erased, by external reference.

    Filters: active drivers only, one home depot, one qualification, and
    `text` found in the external reference or, for actors who read
    personal fields, in the name (case-insensitive).
    """
    authorize(actor, Permission.DRIVER_READ)
    with_names = may_read_personal_fields(actor)
    needle = (text or "").strip().casefold()
    unreadable: list[int] = []

    with unit_of_work(actor) as session:
        rows = drivers.list_drivers(session, actor.tenant_id, active_only=active_only)
        views = []
        for driver in rows:
            if home_depot and driver.home_depot != home_depot:
                continue
            if qualification and qualification.upper() not in driver.qualifications:
                continue
            view = _list_view(driver, with_names)
            if view.unreadable_fields:
                unreadable.append(driver.id)
            if needle and not _matches(view, needle):
                continue
            views.append(view)
        names_read = sum(view.display_name is not None for view in views)
        if names_read:
            append_entry(
                session,
                actor,
                PERSONAL_DATA_READ,
                "driver list",
                "list",
                {"fields": ["name"], "driver_count": names_read},
            )

    if unreadable:
        record_unreadable_fields(current_engine(), actor, unreadable, ["name"])
    return views


def get_driver(actor: Actor, driver_id: int) -> DriverDetails:
    """Return one driver with consents and, for DISPATCHER upwards, personal fields.

    Raises NotFound for a missing id or another tenant's driver, and
    DriverFieldUnreadable when a stored personal field cannot be decrypted.
    """
    authorize(actor, Permission.DRIVER_READ)
    try:
        with unit_of_work(actor) as session:
            driver = get_owned(session, actor, Driver, driver_id)
            consents = tuple(
                consent_view(consent)
                for consent in drivers.list_consents(
                    session, actor.tenant_id, driver.id
                )
            )
            if not may_read_personal_fields(actor):
                return DriverDetails(
                    driver_view(driver), False, None, None, None, None, consents
                )
            values = read_personal_fields(driver)
            stored = stored_field_names(driver)
            if stored:
                append_entry(
                    session,
                    actor,
                    PERSONAL_DATA_READ,
                    "driver",
                    driver.id,
                    {"fields": stored},
                )
            return DriverDetails(
                driver=driver_view(driver, values["name"]),
                personal_fields_shown=True,
                phone=values["phone"],
                email=values["email"],
                address=values["address"],
                licence_number=values["licence_number"],
                consents=consents,
            )
    except DriverFieldUnreadable as error:
        record_unreadable_fields(
            current_engine(), actor, [error.driver_id], [error.field_name]
        )
        raise


def create_driver(actor: Actor, new_driver: DriverInput) -> DriverView:
    """Create a driver with encrypted personal fields and return it.

    The returned view, like those of the other writing services, carries no
    personal fields; get_driver reads them. Raises InvalidInput for a field
    that fails its check and Conflict when the external reference is in use.
    """
    authorize(actor, Permission.DRIVER_WRITE)
    values = checked_new_driver(new_driver)

    with unit_of_work(actor) as session:
        lock_tenant(session, actor.tenant_id)
        driver = add_checked_driver(session, actor, values)
        append_entry(
            session,
            actor,
            DRIVER_CREATED,
            "driver",
            driver.id,
            {"source": "form", "fields": sorted(filled_fields(values))},
        )
        view = driver_view(driver)
    logger.info("driver %s created in tenant %s", view.driver_id, actor.tenant_id)
    return view


def edit_driver(
    actor: Actor,
    driver_id: int,
    expected_row_version: int,
    changes: Mapping[str, Any],
) -> DriverView:
    """Change the named fields of a driver, as read at `expected_row_version`.

    `changes` maps names of EDITABLE_FIELDS to new values; any other name,
    such as tenant_id or legal_hold, raises InvalidInput. Changing the
    contract kind without weekly minutes sets the new kind's defaults.
    Raises Conflict when the driver changed since it was read, was erased,
    or the new external reference is in use. The audit entry lists the
    changed field names; a call that changes nothing writes nothing.
    """
    authorize(actor, Permission.DRIVER_WRITE)
    check_row_version(expected_row_version)
    check_change_names(changes)
    return _change_driver(
        actor, driver_id, expected_row_version, changes, DRIVER_UPDATED
    )


def deactivate_driver(
    actor: Actor, driver_id: int, expected_row_version: int
) -> DriverView:
    """Mark a driver inactive, which starts the retention period of their data."""
    authorize(actor, Permission.DRIVER_WRITE)
    check_row_version(expected_row_version)
    return _change_driver(
        actor, driver_id, expected_row_version, {"is_active": False}, DRIVER_DEACTIVATED
    )


def record_consent(
    actor: Actor, driver_id: int, purpose: str, granted: bool, text_version: str
) -> ConsentView:
    """Record a driver's decision on one purpose, such as "sms_notifications".

    `text_version` names the wording shown to the driver. The newest
    decision per purpose is the one in force; older ones stay as history.
    """
    authorize(actor, Permission.DRIVER_WRITE)
    purpose = checked_purpose(purpose)
    text_version = checked_text_version(text_version)
    granted = checked_flag("granted", granted)

    with unit_of_work(actor) as session:
        driver = get_owned(session, actor, Driver, driver_id)
        lock_tenant(session, actor.tenant_id)
        check_not_erased(driver)
        consent = drivers.add_consent(
            session,
            actor.tenant_id,
            driver.id,
            purpose=purpose,
            granted=granted,
            text_version=text_version,
            recorded_at=utc_now(),
            recorded_by=actor.user_id,
        )
        append_entry(
            session,
            actor,
            CONSENT_RECORDED,
            "driver",
            driver.id,
            {
                "consent_id": consent.id,
                "purpose": purpose,
                "granted": granted,
                "text_version": text_version,
            },
        )
        return consent_view(consent)


# --- Private steps -------------------------------------------------------------


def _change_driver(
    actor: Actor,
    driver_id: int,
    expected_row_version: int,
    changes: Mapping[str, Any],
    action: str,
) -> DriverView:
    with unit_of_work(actor) as session:
        driver = get_owned(session, actor, Driver, driver_id)
        lock_tenant(session, actor.tenant_id)
        check_not_erased(driver)
        if driver.row_version != expected_row_version:
            raise Conflict(
                "driver",
                driver.id,
                f"it was changed since you read it (version {expected_row_version},"
                f" now {driver.row_version}); reload it and make your change again",
            )
        values = checked_changes(driver, changes)
        changed = changed_field_names(driver, values)
        if not changed:
            return driver_view(driver)
        if "external_ref" in changed and drivers.ref_exists(
            session, actor.tenant_id, values["external_ref"]
        ):
            raise Conflict(
                "driver",
                driver.id,
                "another driver has this external reference; choose another",
            )
        apply_checked_changes(driver, {name: values[name] for name in changed})
        flush_or_conflict(session, driver_id)
        append_entry(
            session, actor, action, "driver", driver.id, {"fields": sorted(changed)}
        )
        view = driver_view(driver)
    logger.info("driver %s changed: %s", driver_id, ", ".join(sorted(changed)))
    return view


def _list_view(driver: Driver, with_names: bool) -> DriverView:
    if not with_names:
        return driver_view(driver)
    try:
        return driver_view(driver, read_personal_field(driver, "name"))
    except DriverFieldUnreadable:
        return driver_view(driver, None, ["name"])


def _matches(view: DriverView, needle: str) -> bool:
    haystacks = [view.external_ref, view.display_name or ""]
    return any(needle in haystack.casefold() for haystack in haystacks)


def record_unreadable_fields(
    engine: Engine, actor: Actor, driver_ids: list[int], fields: list[str]
) -> None:
    """Record personal fields that failed to decrypt as a CRITICAL security event.

    The event is written in a transaction of its own on `engine`, so call it
    after the caller's unit of work has ended.
    """
    record_security_event(
        engine,
        actor,
        PERSONAL_DATA_UNREADABLE,
        {
            "driver_ids": driver_ids[:100],
            "driver_count": len(driver_ids),
            "fields": fields,
        },
        object_type="driver",
        object_id=driver_ids[0],
    )
    logger.error(
        "personal fields %s of %d drivers of tenant %s cannot be decrypted; first: %s",
        ", ".join(fields),
        len(driver_ids),
        actor.tenant_id,
        driver_ids[0],
    )


__all__ = [
    "EDITABLE_FIELDS",
    "ConsentView",
    "DriverDetails",
    "DriverFieldUnreadable",
    "DriverInput",
    "DriverView",
    "create_driver",
    "deactivate_driver",
    "edit_driver",
    "get_driver",
    "list_drivers",
    "record_consent",
]
