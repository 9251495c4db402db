"""Export the tenant's driver list as a CSV file.

The file lists every driver that is not erased, one per line, with the
columns of PLAIN_COLUMNS. With personal fields, which need export:pii, it
has PERSONAL_COLUMNS after external_ref as well. Hours are decimal numbers
such as 37.5, skills are joined by "|", and the text is UTF-8 with a
byte-order mark, so that Excel shows umlauts correctly.

Every export counts against the personal-data export limit of the user (5
an hour, core.rate_limits), because even the plain list names the tenant's
drivers. Each one appends a `driver.list_exported` entry that names the
columns and the number of drivers, never a value. A cell that a spreadsheet
would run as a formula gets a leading apostrophe (core.exports).
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import date

from core.audit import append_entry
from core.context import authorize, current_engine, unit_of_work
from core.driver_records import DriverFieldUnreadable, read_personal_fields
from core.drivers import record_unreadable_fields
from core.exports import neutralise_cell
from core.permissions import Actor, Permission
from core.pii import PERSONAL_FIELDS
from core.rate_limits import check_personal_data_export
from db.models import Driver
from db.repositories import drivers

logger = logging.getLogger(__name__)

PLAIN_COLUMNS = (
    "driver_id",
    "external_ref",
    "home_depot",
    "skills",
    "contract_kind",
    "min_weekly_hours",
    "max_weekly_hours",
    "is_active",
    "legal_hold",
)
# Columns of the personal fields, in core.pii's field order.
PERSONAL_COLUMNS = ("display_name", "phone", "email", "address", "licence_number")
MINUTES_PER_HOUR = 60

DRIVER_LIST_EXPORTED = "driver.list_exported"


def export_drivers(
    actor: Actor, include_personal_fields: bool = False
) -> tuple[str, bytes]:
    """Export the driver list and return the download's file name and bytes.

    Personal fields need export:pii. Raises TooManyAttempts over the export
    limit and DriverFieldUnreadable when a personal field cannot be
    decrypted, in which case nothing is exported.
    """
    authorize(actor, Permission.DRIVER_READ)
    if include_personal_fields:
        authorize(actor, Permission.EXPORT_PII)
    check_personal_data_export(actor)
    columns = _columns(include_personal_fields)

    try:
        with unit_of_work(actor) as session:
            rows = drivers.list_drivers(session, actor.tenant_id)
            content = _csv_bytes(columns, rows, include_personal_fields)
            append_entry(
                session,
                actor,
                DRIVER_LIST_EXPORTED,
                "driver list",
                "csv",
                {
                    "fields": list(columns),
                    "driver_count": len(rows),
                    "personal_fields": include_personal_fields,
                    "bytes": len(content),
                },
            )
    except DriverFieldUnreadable as error:
        record_unreadable_fields(
            current_engine(), actor, [error.driver_id], [error.field_name]
        )
        raise

    logger.info(
        "driver list of tenant %s exported by user %s: %d drivers, personal fields %s",
        actor.tenant_id,
        actor.user_id,
        len(rows),
        include_personal_fields,
    )
    kind = "drivers-personal" if include_personal_fields else "drivers"
    return f"{kind}-{date.today().isoformat()}.csv", content


def _columns(include_personal_fields: bool) -> tuple[str, ...]:
    if not include_personal_fields:
        return PLAIN_COLUMNS
    return (*PLAIN_COLUMNS[:2], *PERSONAL_COLUMNS, *PLAIN_COLUMNS[2:])


def _csv_bytes(
    columns: tuple[str, ...], rows: list[Driver], include_personal_fields: bool
) -> bytes:
    output = io.StringIO(newline="")
    writer = csv.writer(output)
    writer.writerow(columns)
    for driver in rows:
        record = _plain_record(driver)
        if include_personal_fields:
            values = read_personal_fields(driver)
            for column, field_name in zip(PERSONAL_COLUMNS, PERSONAL_FIELDS):
                record[column] = values[field_name] or ""
        writer.writerow([neutralise_cell(record[column]) for column in columns])
    return output.getvalue().encode("utf-8-sig")


def _plain_record(driver: Driver) -> dict[str, str]:
    return {
        "driver_id": str(driver.id),
        "external_ref": driver.external_ref,
        "home_depot": driver.home_depot,
        "skills": "|".join(driver.qualifications),
        "contract_kind": driver.contract_kind.value,
        "min_weekly_hours": format_hours(driver.min_weekly_minutes),
        "max_weekly_hours": format_hours(driver.max_weekly_minutes),
        "is_active": "true" if driver.is_active else "false",
        "legal_hold": "true" if driver.legal_hold else "false",
    }


def format_hours(minutes: int) -> str:
    """Write minutes as hours without trailing zeros, such as 2250 as "37.5"."""
    hours = minutes / MINUTES_PER_HOUR
    return f"{hours:.4f}".rstrip("0").rstrip(".")
