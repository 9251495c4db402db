"""Import drivers from a CSV file, all lines or none, with a line-by-line report.

core.driver_csv describes the file. Each line ends as pass, warning or
failure with its line number, its text (control characters shown as "?")
and a reason. Any failure rejects the whole file and nothing changes.
Otherwise each line creates the driver with its external_ref, or updates the
driver that has it, and the whole file applies in one transaction.

The file is the truth for the columns it has: an empty skills cell removes
every qualification, and a column that is absent keeps the drivers' values.
Drivers missing from the file stay as they are. A new max_weekly_hours sets
the contract kind, part_time under 40 h and full_time from 40 h, and keeps
the minimum weekly minutes unless they exceed the new maximum or the kind
changes.

Audit. A created or updated driver gets an entry of its own that names the
changed fields, never their values, and the file gets one "driver.imported"
entry with counts and its SHA-256. A file that changes nothing adds just
one "driver.import_unchanged" entry, and a rejected file one
"driver.import_rejected" entry. The report itself is not stored, because
its lines contain drivers' names.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from core.audit import append_entry
from core.context import authorize, lock_tenant, unit_of_work
from core.driver_changes import (
    add_checked_driver,
    apply_checked_changes,
    changed_field_names,
    flush_or_conflict,
)
from core.driver_checks import (
    DEFAULT_WEEKLY_MINUTES,
    MAX_WEEKLY_MINUTES,
    PART_TIME_BELOW_MINUTES,
)
from core.driver_csv import (
    DriverLineValues,
    ParsedDriverFile,
    ParsedLine,
    parse_driver_file,
)
from core.driver_records import DriverFieldUnreadable, read_personal_field
from core.errors import InvalidInput
from core.forecast_report import LineReport, LineStatus
from core.permissions import Actor, Permission
from db.models import ContractKind, Driver
from db.repositories import drivers

logger = logging.getLogger(__name__)

# A few thousand drivers take a few hundred kilobytes, so both caps leave
# ample room while bounding the work one upload can cause.
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_LINES = 10_000

DRIVERS_IMPORTED = "driver.imported"
DRIVER_IMPORT_UNCHANGED = "driver.import_unchanged"
DRIVER_IMPORT_REJECTED = "driver.import_rejected"
DRIVER_CREATED = "driver.created"
DRIVER_UPDATED = "driver.updated"

# The file's column of each driver field a line can change, for the report.
_CHANGED_COLUMNS = {
    "qualifications": "skills",
    "max_weekly_minutes": "max_weekly_hours",
}
# Fields that max_weekly_hours sets without a column of their own.
_DERIVED_FIELDS = {
    "contract_kind": "contract kind",
    "min_weekly_minutes": "min weekly hours",
}


@dataclass(frozen=True)
class DriverImportReport:
    """Every line's outcome; `applied` is True when the file changed the drivers."""

    lines: tuple[LineReport, ...]
    applied: bool
    created: int
    updated: int
    unchanged: int

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> tuple[LineReport, ...]:
        return tuple(line for line in self.lines if line.status is LineStatus.FAILURE)

    @property
    def warnings(self) -> tuple[LineReport, ...]:
        return tuple(line for line in self.lines if line.status is LineStatus.WARNING)

    def format_text(self) -> str:
        """Write the report as text: a summary, then one line each."""
        summary = (
            f"driver import: {len(self.lines)} lines, {len(self.failures)} failed,"
            f" {len(self.warnings)} with warnings; "
        )
        if self.failures:
            summary += "rejected, nothing changed"
        else:
            summary += (
                f"{self.created} created, {self.updated} updated,"
                f" {self.unchanged} unchanged"
            )
        tags = {LineStatus.PASS: "PASS", LineStatus.WARNING: "WARN"}
        rows = [
            f"{tags.get(line.status, 'FAIL')}  {line.reason}" for line in self.lines
        ]
        return "\n".join([summary, *rows])


@dataclass(frozen=True)
class _PlannedLine:
    """The planned effect of one driver line: create, update fields, or nothing."""

    line: ParsedLine
    driver: Driver | None
    values: dict[str, Any]
    changed: list[str]


def import_drivers(actor: Actor, content: bytes) -> DriverImportReport:
    """Import a driver CSV file and return its line-by-line report.

    Raises InvalidInput for content that is not bytes, over MAX_IMPORT_BYTES
    or over MAX_IMPORT_LINES. Failing lines do not raise: the report lists
    them and nothing changes.
    """
    authorize(actor, Permission.DRIVER_WRITE)
    _check_size(content)
    parsed = parse_driver_file(content)
    sha256 = hashlib.sha256(content).hexdigest()

    with unit_of_work(actor) as session:
        lock_tenant(session, actor.tenant_id)
        if not parsed.ok:
            report = _report(parsed, {}, applied=False)
            _audit_file(session, actor, DRIVER_IMPORT_REJECTED, sha256, report)
            return report

        planned = _plan(session, actor.tenant_id, parsed.drivers)
        outcomes = {plan.line.number: _outcome(plan) for plan in planned}
        changing = [plan for plan in planned if plan.driver is None or plan.changed]
        report = _report(parsed, outcomes, applied=bool(changing), planned=planned)
        if not changing:
            _audit_file(session, actor, DRIVER_IMPORT_UNCHANGED, sha256, report)
            return report

        for plan in changing:
            _apply(session, actor, plan)
        _audit_file(session, actor, DRIVERS_IMPORTED, sha256, report)

    logger.info(
        "driver import for tenant %s: %d created, %d updated, %d unchanged",
        actor.tenant_id,
        report.created,
        report.updated,
        report.unchanged,
    )
    return report


def _check_size(content: bytes) -> None:
    if not isinstance(content, bytes):
        raise InvalidInput("content", "expected the uploaded file's bytes")
    if len(content) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            "content",
            f"the file is {len(content)} bytes, more than the limit of"
            f" {MAX_IMPORT_BYTES} bytes (2 MiB); split it into smaller files",
        )
    line_count = max(content.count(b"\n"), content.count(b"\r")) + 1
    if line_count > MAX_IMPORT_LINES:
        raise InvalidInput(
            "content",
            f"the file has {line_count} lines, more than the limit of"
            f" {MAX_IMPORT_LINES}; remove empty lines or split the file",
        )


def _plan(
    session: Session, tenant_id: int, lines: Sequence[ParsedLine]
) -> list[_PlannedLine]:
    refs = [line.values.external_ref for line in lines if line.values]
    existing = drivers.find_by_refs(session, tenant_id, refs)
    planned = []
    for line in lines:
        assert line.values is not None
        driver = existing.get(line.values.external_ref)
        if driver is None:
            planned.append(_PlannedLine(line, None, _new_values(line.values), []))
            continue
        values = _update_values(driver, line.values)
        changed = changed_field_names(driver, values)
        if "display_name" in changed and _name_unreadable(driver):
            line.warnings.append(
                f"the stored name of driver {driver.id} cannot be decrypted; the"
                " name in this line replaces it"
            )
        planned.append(_PlannedLine(line, driver, values, changed))
    return planned


def _new_values(values: DriverLineValues) -> dict[str, Any]:
    high = values.max_weekly_minutes or MAX_WEEKLY_MINUTES
    kind = _contract_kind(high)
    return {
        "external_ref": values.external_ref,
        "display_name": values.display_name,
        "phone": "",
        "email": "",
        "address": "",
        "licence_number": "",
        "home_depot": values.home_depot or "",
        "qualifications": list(values.qualifications or ()),
        "contract_kind": kind,
        "min_weekly_minutes": min(DEFAULT_WEEKLY_MINUTES[kind][0], high),
        "max_weekly_minutes": high,
        "is_active": True if values.is_active is None else values.is_active,
    }


def _update_values(driver: Driver, values: DriverLineValues) -> dict[str, Any]:
    """Return the fields the line sets on an existing driver, changed or not."""
    update: dict[str, Any] = {"display_name": values.display_name}
    if values.home_depot is not None:
        update["home_depot"] = values.home_depot
    if values.qualifications is not None:
        update["qualifications"] = list(values.qualifications)
    if values.is_active is not None:
        update["is_active"] = values.is_active
    high = values.max_weekly_minutes
    if high is not None:
        kind = _contract_kind(high)
        low = driver.min_weekly_minutes
        if kind is not driver.contract_kind:
            low = DEFAULT_WEEKLY_MINUTES[kind][0]
        update.update(
            contract_kind=kind,
            min_weekly_minutes=min(low, high),
            max_weekly_minutes=high,
        )
    return update


def _contract_kind(max_weekly_minutes: int) -> ContractKind:
    if max_weekly_minutes < PART_TIME_BELOW_MINUTES:
        return ContractKind.PART_TIME
    return ContractKind.FULL_TIME


def _name_unreadable(driver: Driver) -> bool:
    try:
        read_personal_field(driver, "name")
    except DriverFieldUnreadable:
        return True
    return False


def _apply(session: Session, actor: Actor, plan: _PlannedLine) -> None:
    if plan.driver is None:
        driver = add_checked_driver(session, actor, plan.values)
        action = DRIVER_CREATED
        fields = sorted(
            name for name, value in plan.values.items() if value not in ("", [])
        )
    else:
        driver = plan.driver
        apply_checked_changes(
            driver, {name: plan.values[name] for name in plan.changed}
        )
        flush_or_conflict(session, driver.id)
        action = DRIVER_UPDATED
        fields = sorted(plan.changed)
    append_entry(
        session,
        actor,
        action,
        "driver",
        driver.id,
        {"source": "import", "fields": fields},
    )


def _outcome(plan: _PlannedLine) -> str:
    """Describe a line's effect, naming changed fields by the file's columns."""
    ref = plan.line.values.external_ref if plan.line.values else ""
    if plan.driver is None:
        return f"creates driver {ref!r}"
    if not plan.changed:
        return f"driver {ref!r} is unchanged"
    columns = sorted(
        {_CHANGED_COLUMNS.get(name, name) for name in plan.changed}
        - set(_DERIVED_FIELDS)
    )
    outcome = f"updates driver {ref!r}: {', '.join(columns)}"
    derived = [label for name, label in _DERIVED_FIELDS.items() if name in plan.changed]
    if derived:
        outcome += f"; this also changes the {' and the '.join(derived)}"
    return outcome


def _report(
    parsed: ParsedDriverFile,
    outcomes: dict[int, str],
    *,
    applied: bool,
    planned: Sequence[_PlannedLine] = (),
) -> DriverImportReport:
    lines = tuple(
        _line_report(line, outcomes.get(line.number)) for line in parsed.lines
    )
    created = sum(plan.driver is None for plan in planned)
    updated = sum(plan.driver is not None and bool(plan.changed) for plan in planned)
    return DriverImportReport(
        lines=lines,
        applied=applied,
        created=created,
        updated=updated,
        unchanged=len(planned) - created - updated,
    )


def _line_report(line: ParsedLine, outcome: str | None) -> LineReport:
    if line.failures:
        status, clauses = LineStatus.FAILURE, line.failures
    else:
        status = LineStatus.WARNING if line.warnings else LineStatus.PASS
        first = outcome or line.note or "the line is valid"
        clauses = [first, *line.warnings]
    reason = f"{line.location}: " + "; ".join(clauses)
    return LineReport(line.number, line.raw, status, reason)


def _audit_file(
    session: Session,
    actor: Actor,
    action: str,
    sha256: str,
    report: DriverImportReport,
) -> None:
    append_entry(
        session,
        actor,
        action,
        "driver import",
        sha256[:16],
        {
            "sha256": sha256,
            "lines": len(report.lines),
            "failures": len(report.failures),
            "warnings": len(report.warnings),
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
        },
    )
