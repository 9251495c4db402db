"""Changes to drivers: the checked values of a new driver or an edit, and writing them.

core.drivers (the form) and core.driver_import (the CSV file) create and
change drivers through these steps, so both check, encrypt and compare
the same way. Values arrive by input name: `display_name` for the name,
and the column names of db.models.Driver for the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core.driver_checks import (
    checked_contract_kind,
    checked_external_ref,
    checked_flag,
    checked_home_depot,
    checked_personal_field,
    checked_qualifications,
    checked_weekly_minutes,
)
from core.driver_records import (
    DriverFieldUnreadable,
    read_personal_field,
    store_personal_fields,
)
from core.errors import Conflict, InvalidInput
from core.permissions import Actor
from db.models import Driver, utc_now
from db.repositories import drivers

# Input names of the personal fields, by the field name core.pii binds them to.
PERSONAL_INPUTS = {
    "display_name": "name",
    "phone": "phone",
    "email": "email",
    "address": "address",
    "licence_number": "licence_number",
}
PLAIN_INPUTS = (
    "external_ref",
    "home_depot",
    "qualifications",
    "contract_kind",
    "min_weekly_minutes",
    "max_weekly_minutes",
    "is_active",
)
EDITABLE_FIELDS = (*PERSONAL_INPUTS, *PLAIN_INPUTS)


@dataclass(frozen=True)
class DriverInput:
    """The fields of a new driver. Empty personal fields are stored as NULL.

    min and max weekly minutes default to those of the contract kind:
    full_time 2400 to 3300 (40 h to 55 h), part_time 0 to 2400.
    """

    external_ref: str
    display_name: str
    phone: str = ""
    email: str = ""
    address: str = ""
    licence_number: str = ""
    home_depot: str = ""
    qualifications: tuple[str, ...] = ()
    contract_kind: str = "full_time"
    min_weekly_minutes: int | None = None
    max_weekly_minutes: int | None = None
    is_active: bool = True


def checked_new_driver(new_driver: DriverInput) -> dict[str, Any]:
    """Check every field of a new driver and return the values to store."""
    if not isinstance(new_driver, DriverInput):
        raise InvalidInput(
            "new_driver", f"expected a DriverInput, got {type(new_driver).__name__}"
        )
    kind = checked_contract_kind(new_driver.contract_kind)
    low, high = checked_weekly_minutes(
        kind, new_driver.min_weekly_minutes, new_driver.max_weekly_minutes
    )
    values: dict[str, Any] = {
        name: checked_personal_field(field, getattr(new_driver, name))
        for name, field in PERSONAL_INPUTS.items()
    }
    values.update(
        external_ref=checked_external_ref(new_driver.external_ref),
        home_depot=checked_home_depot(new_driver.home_depot),
        qualifications=checked_qualifications(new_driver.qualifications),
        contract_kind=kind,
        min_weekly_minutes=low,
        max_weekly_minutes=high,
        is_active=checked_flag("is_active", new_driver.is_active),
    )
    return values


def checked_changes(driver: Driver, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Check each change and complete the contract fields that depend on it."""
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name in PERSONAL_INPUTS:
            values[name] = checked_personal_field(PERSONAL_INPUTS[name], value)
        elif name == "external_ref":
            values[name] = checked_external_ref(value)
        elif name == "home_depot":
            values[name] = checked_home_depot(value)
        elif name == "qualifications":
            values[name] = checked_qualifications(value)
        elif name == "is_active":
            values[name] = checked_flag(name, value)

    contract_names = {"contract_kind", "min_weekly_minutes", "max_weekly_minutes"}
    if contract_names & set(changes):
        kind = checked_contract_kind(changes.get("contract_kind", driver.contract_kind))
        kind_changed = kind is not driver.contract_kind
        low = changes.get(
            "min_weekly_minutes", None if kind_changed else driver.min_weekly_minutes
        )
        high = changes.get(
            "max_weekly_minutes", None if kind_changed else driver.max_weekly_minutes
        )
        low, high = checked_weekly_minutes(kind, low, high)
        values.update(
            contract_kind=kind, min_weekly_minutes=low, max_weekly_minutes=high
        )
    return values


def check_change_names(changes: Mapping[str, Any]) -> None:
    """Raise InvalidInput for a change of a field outside EDITABLE_FIELDS."""
    if not isinstance(changes, Mapping):
        raise InvalidInput(
            "changes", f"expected a mapping, got {type(changes).__name__}"
        )
    unknown = sorted(str(name) for name in changes if name not in EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(
            "changes",
            f"{', '.join(unknown)} cannot be changed here; editable fields are"
            f" {', '.join(EDITABLE_FIELDS)}",
        )


def add_checked_driver(
    session: Session, actor: Actor, values: Mapping[str, Any]
) -> Driver:
    """Insert a driver from checked values and encrypt its personal fields.

    The caller holds the tenant lock. Raises Conflict when the external
    reference is in use.
    """
    if drivers.ref_exists(session, actor.tenant_id, values["external_ref"]):
        raise Conflict(
            "driver",
            values["external_ref"],
            "another driver has this external reference; choose another",
        )
    now = utc_now()
    driver = drivers.add(
        session,
        actor.tenant_id,
        values["external_ref"],
        home_depot=values["home_depot"],
        qualifications=values["qualifications"],
        contract_kind=values["contract_kind"],
        min_weekly_minutes=values["min_weekly_minutes"],
        max_weekly_minutes=values["max_weekly_minutes"],
        is_active=values["is_active"],
        now=now,
    )
    store_personal_fields(
        driver,
        {field: values[name] for name, field in PERSONAL_INPUTS.items()},
    )
    session.flush()
    return driver


def apply_checked_changes(driver: Driver, changes: Mapping[str, Any]) -> None:
    """Write checked new values onto the driver; the caller flushes.

    Personal values are encrypted. Becoming inactive sets deactivated_at,
    becoming active again clears it.
    """
    now = utc_now()
    personal = {
        PERSONAL_INPUTS[name]: value
        for name, value in changes.items()
        if name in PERSONAL_INPUTS
    }
    store_personal_fields(driver, personal)
    for name in PLAIN_INPUTS:
        if name in changes:
            setattr(driver, name, changes[name])
    if "is_active" in changes:
        driver.deactivated_at = None if changes["is_active"] else now
    driver.updated_at = now


def changed_field_names(driver: Driver, values: Mapping[str, Any]) -> list[str]:
    """Return the names of `values` that differ from the driver's stored fields.

    A personal field that cannot be decrypted counts as changed, so that
    entering the value again repairs it.
    """
    changed = []
    for name, value in values.items():
        if name in PERSONAL_INPUTS:
            try:
                current = read_personal_field(driver, PERSONAL_INPUTS[name]) or ""
            except DriverFieldUnreadable:
                current = None
        else:
            current = getattr(driver, name)
        if current != value:
            changed.append(name)
    return changed


def flush_or_conflict(session: Session, driver_id: int) -> None:
    """Flush the driver's changes, turning a concurrent write into Conflict."""
    try:
        session.flush()
    except StaleDataError as error:
        raise Conflict(
            "driver",
            driver_id,
            "someone else changed this driver at the same time; reload it and"
            " make your change again",
        ) from error
    except IntegrityError as error:
        raise Conflict(
            "driver",
            driver_id,
            "another driver has this external reference; choose another",
        ) from error


def check_not_erased(driver: Driver) -> None:
    if driver.erased_at is not None:
        raise Conflict(
            "driver",
            driver.id,
            f"the driver's personal data was erased on"
            f" {driver.erased_at:%Y-%m-%d}; it cannot be changed",
        )


def filled_fields(values: Mapping[str, Any]) -> list[str]:
    """Return the input names with a value, leaving out empty personal fields."""
    return [
        name for name, value in values.items() if name not in PERSONAL_INPUTS or value
    ]
