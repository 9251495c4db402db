"""Data protection requests on drivers: access export, erasure and legal hold.

Access (GDPR Art. 15 and 20). `export_driver_data` returns one driver's
data as JSON: every personal field, the plain fields, the consent history
and the plan assignments whose driver label is the driver's external
reference or, in plans made for named drivers, whose driver id is the
driver's. It needs export:pii, counts against the personal-data export
limit, and appends the security event `gdpr.driver_data_exported`.

Erasure (GDPR Art. 17). `erase_driver` overwrites every personal field with
NULL, replaces the external reference with a random pseudonym
"erased-<hex>", deletes the driver's availability (patterns, exceptions
with their notes, preferences), marks the driver inactive and sets
erased_at. What stays is not personal by itself: depot, qualifications,
contract and the consent history, now tied to the pseudonymous row only.
Audit entries name drivers by id and never hold personal values, so the
hash chain stays valid and the erasure's own entry `gdpr.driver_erased` is
pseudonymous. Erasing an erased driver changes nothing and reports "already
erased". A driver on legal hold cannot be erased; the attempt raises
ErasureRejected and is recorded.

NOTE: erasure overwrites the stored values. PostgreSQL keeps the old row
versions until VACUUM reclaims them, and backups keep them for their own
lifetime, so a restore must apply the erasures recorded after the backup
again (the `gdpr.driver_erased` entries name the drivers). Plan
assignments name drivers by label, and approved plan versions cannot be
changed, so a label equal to the old external reference stays in them.
Named plans store the driver's id instead, which after erasure points to
the pseudonymous row.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.audit import SystemActor, append_entry, record_security_event
from core.context import authorize, current_engine, lock_tenant, unit_of_work
from core.driver_changes import flush_or_conflict
from core.driver_checks import ERASED_REF_PREFIX
from core.driver_records import (
    DriverFieldUnreadable,
    DriverView,
    driver_view,
    read_personal_fields,
    stored_field_names,
)
from core.drivers import record_unreadable_fields
from core.errors import InvalidInput, SolvereignError
from core.permissions import Actor, Permission
from core.rate_limits import check_personal_data_export
from core.tenancy import get_owned
from db.models import Driver, utc_now
from db.repositories import drivers
from db.repositories.availability import delete_driver_availability
from db.repositories.drivers import CIPHERTEXT_COLUMNS

logger = logging.getLogger(__name__)

EXPORT_FORMAT = "solvereign-driver-data/1"
PSEUDONYM_HEX_LENGTH = 24

DRIVER_DATA_EXPORTED = "gdpr.driver_data_exported"
DRIVER_ERASED = "gdpr.driver_erased"
ERASURE_REJECTED = "gdpr.erasure_rejected"
LEGAL_HOLD_PLACED = "gdpr.legal_hold_placed"
LEGAL_HOLD_LIFTED = "gdpr.legal_hold_lifted"


class ErasureRejected(SolvereignError):
    """A driver on legal hold cannot be erased until the hold is lifted."""

    def __init__(self, driver_id: int) -> None:
        self.driver_id = driver_id
        super().__init__(
            f"driver {driver_id} is on legal hold, so their personal data cannot"
            " be erased; lift the hold first if the reason for it has ended"
        )


@dataclass(frozen=True)
class ErasureResult:
    """Outcome of an erasure request; `already_erased` marks one that did nothing."""

    driver_id: int
    pseudonym: str
    erased_at: datetime
    already_erased: bool

    @property
    def message(self) -> str:
        if self.already_erased:
            return f"driver {self.driver_id} was already erased"
        return f"driver {self.driver_id} erased; now named {self.pseudonym}"


def export_driver_data(actor: Actor, driver_id: int) -> tuple[str, bytes]:
    """Return one driver's data as a JSON download: file name and UTF-8 bytes.

    Raises NotFound for a missing id or another tenant's driver,
    TooManyAttempts over the export limit, and DriverFieldUnreadable when a
    personal field cannot be decrypted, in which case nothing is exported.
    """
    authorize(actor, Permission.EXPORT_PII)
    check_personal_data_export(actor)
    try:
        with unit_of_work(actor) as session:
            driver = get_owned(session, actor, Driver, driver_id)
            document = _driver_document(session, driver)
            append_entry(
                session,
                actor,
                DRIVER_DATA_EXPORTED,
                "driver",
                driver.id,
                {
                    "fields": stored_field_names(driver),
                    "consents": len(document["consents"]),
                    "plan_assignments": len(document["plan_assignments"]),
                },
            )
    except DriverFieldUnreadable as error:
        record_unreadable_fields(
            current_engine(), actor, [error.driver_id], [error.field_name]
        )
        raise
    content = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    logger.info("data of driver %s exported by user %s", driver_id, actor.user_id)
    return f"driver-{driver_id}-data.json", content


def erase_driver(actor: Actor, driver_id: int) -> ErasureResult:
    """Erase a driver's personal data now, unless they are on legal hold.

    Raises NotFound for a missing id or another tenant's driver, and
    ErasureRejected for a driver on legal hold.
    """
    authorize(actor, Permission.DRIVER_WRITE)
    try:
        with unit_of_work(actor) as session:
            driver = get_owned(session, actor, Driver, driver_id)
            lock_tenant(session, actor.tenant_id)
            # Writers of the tenant take turns at the lock, so the row as
            # read now is the one this erasure changes.
            session.refresh(driver)
            if driver.erased_at is not None:
                return _result(driver, already_erased=True)
            if driver.legal_hold:
                raise ErasureRejected(driver.id)
            erase_driver_row(session, actor, driver, "request", utc_now())
            result = _result(driver, already_erased=False)
    except ErasureRejected:
        record_security_event(
            current_engine(),
            actor,
            ERASURE_REJECTED,
            {"reason": "legal hold"},
            object_type="driver",
            object_id=driver_id,
        )
        raise
    logger.info("driver %s of tenant %s erased on request", driver_id, actor.tenant_id)
    return result


def set_legal_hold(actor: Actor, driver_id: int, on_hold: bool) -> DriverView:
    """Place a driver on legal hold, which blocks erasure, or lift the hold.

    Setting the state the driver already has changes nothing.
    """
    authorize(actor, Permission.DRIVER_WRITE)
    if not isinstance(on_hold, bool):
        raise InvalidInput("on_hold", f"expected true or false, got {on_hold!r}")
    with unit_of_work(actor) as session:
        driver = get_owned(session, actor, Driver, driver_id)
        lock_tenant(session, actor.tenant_id)
        if driver.legal_hold is on_hold:
            return driver_view(driver)
        driver.legal_hold = on_hold
        driver.updated_at = utc_now()
        flush_or_conflict(session, driver.id)
        action = LEGAL_HOLD_PLACED if on_hold else LEGAL_HOLD_LIFTED
        append_entry(session, actor, action, "driver", driver.id, {})
        return driver_view(driver)


def erase_driver_row(
    session: Session,
    actor_or_system: Actor | SystemActor,
    driver: Driver,
    reason: str,
    now: datetime,
) -> str:
    """Erase one driver inside the caller's transaction and return the pseudonym.

    The caller has checked the legal hold and holds the tenant lock.
    `reason` ("request" or "retention") is recorded in the audit entry.
    """
    erased_fields = stored_field_names(driver)
    pseudonym = _pseudonym(driver)
    for column in CIPHERTEXT_COLUMNS.values():
        setattr(driver, column, None)
    driver.external_ref = pseudonym
    if driver.is_active or driver.deactivated_at is None:
        driver.deactivated_at = now
    driver.is_active = False
    driver.erased_at = now
    driver.updated_at = now
    flush_or_conflict(session, driver.id)
    # Sick days and the notes of exceptions are personal data as well.
    availability_rows = delete_driver_availability(
        session, driver.tenant_id, driver.id
    )
    append_entry(
        session,
        actor_or_system,
        DRIVER_ERASED,
        "driver",
        driver.id,
        {
            "pseudonym": pseudonym,
            "fields": erased_fields,
            "availability_rows": availability_rows,
            "reason": reason,
        },
    )
    return pseudonym


def _pseudonym(driver: Driver) -> str:
    """Return a new random pseudonym, which cannot be recomputed from the old ref."""
    salt = secrets.token_bytes(32)
    digest = hashlib.sha256(salt + f"{driver.tenant_id}:{driver.id}".encode())
    return f"{ERASED_REF_PREFIX}{digest.hexdigest()[:PSEUDONYM_HEX_LENGTH]}"


def _result(driver: Driver, already_erased: bool) -> ErasureResult:
    assert driver.erased_at is not None
    return ErasureResult(
        driver_id=driver.id,
        pseudonym=driver.external_ref,
        erased_at=driver.erased_at,
        already_erased=already_erased,
    )


def _driver_document(session: Session, driver: Driver) -> dict[str, Any]:
    """Collect everything stored about the driver as plain JSON values."""
    personal = read_personal_fields(driver)
    consents = drivers.list_consents(session, driver.tenant_id, driver.id)
    assignments = drivers.list_assignments_of_label(
        session, driver.tenant_id, driver.external_ref, driver.id
    )
    return {
        "format": EXPORT_FORMAT,
        "exported_at": utc_now().isoformat(),
        "tenant_id": driver.tenant_id,
        "driver": {
            "driver_id": driver.id,
            "external_ref": driver.external_ref,
            "display_name": personal["name"],
            "phone": personal["phone"],
            "email": personal["email"],
            "address": personal["address"],
            "licence_number": personal["licence_number"],
            "home_depot": driver.home_depot,
            "qualifications": list(driver.qualifications),
            "contract_kind": driver.contract_kind.value,
            "min_weekly_minutes": driver.min_weekly_minutes,
            "max_weekly_minutes": driver.max_weekly_minutes,
            "is_active": driver.is_active,
            "legal_hold": driver.legal_hold,
            "created_at": driver.created_at.isoformat(),
            "updated_at": driver.updated_at.isoformat(),
            "deactivated_at": _iso(driver.deactivated_at),
            "erased_at": _iso(driver.erased_at),
        },
        "consents": [
            {
                "purpose": consent.purpose,
                "granted": consent.granted,
                "text_version": consent.text_version,
                "recorded_at": consent.recorded_at.isoformat(),
            }
            for consent in consents
        ],
        "plan_assignments": [
            {
                "week_anchor": plan.week_anchor.isoformat(),
                "plan_version_id": version.id,
                "version_number": version.version_number,
                "plan_status": version.status.value,
                "day": assignment.day,
                "tour_id": assignment.tour_id,
                "block_kind": assignment.block_kind,
            }
            for assignment, version, plan in assignments
        ],
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
