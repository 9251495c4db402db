"""Availability of drivers: the week grid, weekly patterns, preferences, settings.

Times are minutes after local midnight, Europe/Vienna wall clock as tours
have them, and a week starts on its Monday (`week_anchor`). A driver
without a weekly pattern is available every day all day. A driver with a
pattern is available only inside its windows, so a weekday without a window
is a day off. A dated exception (VACATION, SICK, BLOCKED) removes its
window or the whole day, and AVAILABLE adds its window or the whole day.
core.driver_profiles turns all this into the planning engine's profiles.

Each driver's week is locked optimistically. get_week_grid returns a
row_version per driver and week (0 when the week was never edited), and
save_driver_week raises Conflict when the week changed since then. Every
change bumps the version, also a CSV import (core.availability_import).

Notes are personal data. They are encrypted like the drivers' personal
fields (core.driver_records) under the field name "availability_note".
Only roles that read personal fields see them, and each grid that shows
names or notes records a PII-read security event. Audit entries name
drivers by id and list dates and statuses, never notes or names.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core.audit import append_entry
from core.context import authorize, current_engine, lock_tenant, unit_of_work
from core.driver_changes import check_not_erased
from core.driver_checks import checked_flag
from core.driver_records import (
    DriverFieldUnreadable,
    driver_keyring,
    may_read_personal_fields,
    read_personal_field,
)
from core.drivers import PERSONAL_DATA_READ, record_unreadable_fields
from core.errors import Conflict, InvalidInput
from core.permissions import Actor, Permission
from core.pii import PersonalDataUnreadable
from core.tenancy import get_owned
from db.models import (
    AvailabilityStatus,
    Driver,
    DriverAvailabilityException,
    DriverPreferenceRow,
    PlanVersionStatus,
    utc_now,
)
from db.repositories import availability, drivers
from solver.drivers import DriverPreferences
from solver.tours import MINUTES_PER_DAY, format_clock

logger = logging.getLogger(__name__)

AVAILABILITY_STATUSES = ("VACATION", "SICK", "BLOCKED", "AVAILABLE")
# The field name that binds a note's ciphertext (core.pii).
# NOTE: core.pii re-encrypts only the drivers table after a key rotation
# (core.pii_rotation), and erasure (core.gdpr) does not yet call
# db.repositories.availability.delete_driver_availability. Until both do,
# notes stay under an old key and survive an erased driver.
NOTE_FIELD = "availability_note"
MAX_NOTE_LENGTH = 500
DAYS_PER_WEEK = 7

AVAILABILITY_UPDATED = "availability.updated"
PATTERN_UPDATED = "availability.pattern_updated"
PREFERENCES_UPDATED = "availability.preferences_updated"
PLANNING_SETTINGS_UPDATED = "planning.settings_updated"

WHOLE_DAY = "all day"
NOT_AVAILABLE = "not available"


@dataclass(frozen=True)
class ExceptionInput:
    """The exception that a grid cell or a CSV line sets for one driver and date.

    `status` is one of AVAILABILITY_STATUSES, in any case. Both minutes None
    means the whole day; otherwise 0 <= start_minute < end_minute <= 1440.
    An empty `note` stores no note.
    """

    status: str
    start_minute: int | None = None
    end_minute: int | None = None
    note: str = ""


@dataclass(frozen=True)
class DayCell:
    """One driver's day in the grid.

    `pattern` is the weekly window ("06:00-18:00"), "all day" or "not
    available". `window` is None for a whole-day exception. `note` is None
    unless the actor reads personal fields. `planned` lists the driver's
    tours of that day in the week's newest approved plan version, else its
    newest draft, such as "06:00-10:30 + 11:00-15:30".
    """

    day: date
    pattern: str
    status: str | None
    window: str | None
    note: str | None
    planned: str | None


@dataclass(frozen=True)
class DriverWeek:
    """One active driver's week; `name` only for actors who read personal fields."""

    driver_id: int
    external_ref: str
    name: str | None
    qualifications: tuple[str, ...]
    row_version: int
    cells: tuple[DayCell, ...]


@dataclass(frozen=True)
class WeekGrid:
    """The availability of a tenant's active drivers in one week, by external_ref."""

    week_anchor: date
    drivers: tuple[DriverWeek, ...]


@dataclass(frozen=True)
class PlanningSettings:
    """A tenant's planning settings: stay_at_home_depot keeps drivers at their depot."""

    stay_at_home_depot: bool


# --- Services -------------------------------------------------------------------


def get_week_grid(actor: Actor, week_anchor: date, search: str = "") -> WeekGrid:
    """Return the active drivers' availability in the week starting `week_anchor`.

    `search` keeps drivers whose external reference or, for actors who read
    personal fields, whose name contains it (case-insensitive). Raises
    InvalidInput when `week_anchor` is not a Monday.
    """
    authorize(actor, Permission.DRIVER_READ)
    week_anchor = checked_week_anchor(week_anchor)
    if not isinstance(search, str):
        raise InvalidInput("search", f"expected text, got {search!r}")
    with_personal = may_read_personal_fields(actor)
    needle = search.strip().casefold()
    unreadable: dict[int, set[str]] = defaultdict(set)

    with unit_of_work(actor) as session:
        selected: list[tuple[Driver, str | None]] = []
        for driver in drivers.list_drivers(session, actor.tenant_id, active_only=True):
            name = _name_of(driver, unreadable) if with_personal else None
            haystacks = (driver.external_ref, name or "")
            if needle and not any(needle in text.casefold() for text in haystacks):
                continue
            selected.append((driver, name))
        weeks = _driver_weeks(
            session, actor, week_anchor, selected, with_personal, unreadable
        )
        _record_personal_read(session, actor, week_anchor, weeks)

    if unreadable:
        fields = sorted({field for names in unreadable.values() for field in names})
        record_unreadable_fields(current_engine(), actor, sorted(unreadable), fields)
    return WeekGrid(week_anchor, tuple(weeks))


def save_driver_week(
    actor: Actor,
    driver_id: int,
    week_anchor: date,
    expected_version: int,
    cells: Mapping[date, ExceptionInput | None],
) -> int:
    """Store the exceptions of one driver's week as read at `expected_version`.

    Each date of `cells` gets its exception, or loses it for None; dates
    not in `cells` keep theirs. Returns the week's new row_version, or the
    same one when nothing changed. Raises InvalidInput for a date outside
    the week or an invalid cell, NotFound for an unknown driver or one of
    another tenant, and Conflict when the week changed since it was read
    or the driver was erased.
    """
    authorize(actor, Permission.AVAILABILITY_WRITE)
    week_anchor = checked_week_anchor(week_anchor)
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise InvalidInput(
            "expected_version",
            f"expected the whole row_version of the week, got {expected_version!r}",
        )
    checked = checked_cells(week_anchor, cells)

    with unit_of_work(actor) as session:
        driver = get_owned(session, actor, Driver, driver_id)
        lock_tenant(session, actor.tenant_id)
        check_plannable(driver, "driver_id")
        weeks = availability.weeks_by_driver(
            session, actor.tenant_id, week_anchor, [driver.id]
        )
        current = weeks[driver.id].row_version if driver.id in weeks else 0
        if current != expected_version:
            raise week_conflict(driver.id, week_anchor, expected_version, current)

        existing = {
            row.day: row
            for row in availability.list_exceptions(
                session,
                actor.tenant_id,
                week_anchor,
                week_anchor + timedelta(days=DAYS_PER_WEEK - 1),
                [driver.id],
            )
        }
        now = utc_now()
        changed = {
            day: value
            for day, value in sorted(checked.items())
            if store_exception(
                session, actor, driver, existing.get(day), day, value, now
            )
        }
        if not changed:
            return current
        new_version = bump_week(session, actor.tenant_id, driver.id, week_anchor, now)
        append_entry(
            session,
            actor,
            AVAILABILITY_UPDATED,
            "driver",
            driver.id,
            {
                "source": "grid",
                "week_anchor": week_anchor.isoformat(),
                "days": _audited_days(changed),
            },
        )
    logger.info(
        "availability of driver %s in week %s changed on %d days, version %d",
        driver_id,
        week_anchor,
        len(changed),
        new_version,
    )
    return new_version


def get_weekly_pattern(actor: Actor, driver_id: int) -> dict[int, tuple[int, int]]:
    """Return a driver's windows by ISO weekday; {} means available always."""
    authorize(actor, Permission.DRIVER_READ)
    with unit_of_work(actor) as session:
        driver = get_owned(session, actor, Driver, driver_id)
        patterns = availability.patterns_by_driver(
            session, actor.tenant_id, [driver.id]
        )
        return dict(sorted(patterns.get(driver.id, {}).items()))


def set_weekly_pattern(
    actor: Actor, driver_id: int, windows: Mapping[int, tuple[int, int]]
) -> None:
    """Replace a driver's whole weekly pattern; {} makes them available always.

    `windows` maps ISO weekdays (1 = Monday) to (start_minute, end_minute)
    after local midnight. Weekdays without a window become days off unless
    `windows` is empty. Raises InvalidInput naming the weekday of an
    invalid window, and NotFound or Conflict as save_driver_week does.
    """
    authorize(actor, Permission.AVAILABILITY_WRITE)
    checked = checked_pattern(windows)

    with unit_of_work(actor) as session:
        driver = get_owned(session, actor, Driver, driver_id)
        lock_tenant(session, actor.tenant_id)
        check_not_erased(driver)
        stored = availability.patterns_by_driver(session, actor.tenant_id, [driver.id])
        if stored.get(driver.id, {}) == checked:
            return
        availability.replace_pattern(session, actor.tenant_id, driver.id, checked)
        append_entry(
            session,
            actor,
            PATTERN_UPDATED,
            "driver",
            driver.id,
            {
                "windows": {
                    str(weekday): format_window(start, end)
                    for weekday, (start, end) in sorted(checked.items())
                }
            },
        )
    logger.info("weekly pattern of driver %s replaced", driver_id)


def get_preferences(actor: Actor, driver_id: int) -> DriverPreferences:
    """Return a driver's preferences; a driver who stated none gets empty ones."""
    authorize(actor, Permission.DRIVER_READ)
    with unit_of_work(actor) as session:
        driver = get_owned(session, actor, Driver, driver_id)
        rows = availability.preferences_by_driver(session, actor.tenant_id, [driver.id])
        row = rows.get(driver.id)
        return DriverPreferences() if row is None else preferences_of(row)


def set_preferences(
    actor: Actor, driver_id: int, preferences: DriverPreferences
) -> None:
    """Store a driver's preferences, replacing the earlier ones.

    The audit entry lists the names of the changed wishes, not their values.
    """
    authorize(actor, Permission.AVAILABILITY_WRITE)
    if not isinstance(preferences, DriverPreferences):
        raise InvalidInput(
            "preferences",
            f"expected solver.drivers.DriverPreferences, got {preferences!r}",
        )

    with unit_of_work(actor) as session:
        driver = get_owned(session, actor, Driver, driver_id)
        lock_tenant(session, actor.tenant_id)
        check_not_erased(driver)
        rows = availability.preferences_by_driver(session, actor.tenant_id, [driver.id])
        before = preferences_of(rows[driver.id]) if driver.id in rows else None
        changed = _changed_preference_names(before, preferences)
        if before is not None and not changed:
            return
        row = availability.preference_row(session, actor.tenant_id, driver.id)
        row.start = preferences.start
        row.start_weight = preferences.start_weight
        row.days_off = sorted(preferences.days_off)
        row.days_off_weight = preferences.days_off_weight
        row.max_days_in_row = preferences.max_days_in_row
        row.max_days_in_row_weight = preferences.max_days_in_row_weight
        row.updated_at = utc_now()
        session.flush()
        append_entry(
            session,
            actor,
            PREFERENCES_UPDATED,
            "driver",
            driver.id,
            {"fields": changed},
        )


def get_planning_settings(actor: Actor) -> PlanningSettings:
    """Return the tenant's planning settings, defaults when it changed none."""
    authorize(actor, Permission.PLAN_READ)
    with unit_of_work(actor) as session:
        setting = availability.planning_setting(session, actor.tenant_id)
        return PlanningSettings(
            stay_at_home_depot=bool(setting and setting.stay_at_home_depot)
        )


def set_planning_settings(actor: Actor, stay_at_home_depot: bool) -> None:
    """Store whether the tenant's drivers take tours of their home depot only."""
    authorize(actor, Permission.TENANT_CONFIGURE)
    stay_at_home_depot = checked_flag("stay_at_home_depot", stay_at_home_depot)

    with unit_of_work(actor) as session:
        lock_tenant(session, actor.tenant_id)
        setting = availability.planning_setting(session, actor.tenant_id)
        if setting is not None and setting.stay_at_home_depot == stay_at_home_depot:
            return
        availability.set_planning_setting(
            session,
            actor.tenant_id,
            stay_at_home_depot,
            updated_at=utc_now(),
            updated_by=actor.user_id,
        )
        append_entry(
            session,
            actor,
            PLANNING_SETTINGS_UPDATED,
            "tenant",
            actor.tenant_id,
            {"stay_at_home_depot": stay_at_home_depot},
        )


# --- Checks shared with the CSV import -----------------------------------------


def checked_week_anchor(week_anchor: object) -> date:
    """Return the week anchor, or raise InvalidInput unless it is a Monday date."""
    if isinstance(week_anchor, datetime) or not isinstance(week_anchor, date):
        raise InvalidInput("week_anchor", f"expected a date, got {week_anchor!r}")
    if week_anchor.isoweekday() != 1:
        raise InvalidInput(
            "week_anchor",
            f"{week_anchor.isoformat()} is a {week_anchor:%A}; use the Monday that"
            " starts the week",
        )
    return week_anchor


def checked_cells(
    week_anchor: date, cells: Mapping[date, ExceptionInput | None]
) -> dict[date, ExceptionInput | None]:
    """Check every cell of a week; return them with statuses in upper case.

    Raises InvalidInput naming the date of the first invalid cell, or the
    date that lies outside the week.
    """
    if not isinstance(cells, Mapping):
        raise InvalidInput("cells", f"expected a mapping of dates, got {cells!r}")
    last_day = week_anchor + timedelta(days=DAYS_PER_WEEK - 1)
    checked: dict[date, ExceptionInput | None] = {}
    for day, value in cells.items():
        if isinstance(day, datetime) or not isinstance(day, date):
            raise InvalidInput("cells", f"expected dates as keys, got {day!r}")
        if not week_anchor <= day <= last_day:
            raise InvalidInput(
                day.isoformat(),
                f"the date lies outside the week from {week_anchor.isoformat()}"
                f" to {last_day.isoformat()}",
            )
        checked[day] = None if value is None else checked_input(day.isoformat(), value)
    return checked


def checked_input(field: str, value: object) -> ExceptionInput:
    """Check one exception; InvalidInput names `field` and the part at fault."""
    if not isinstance(value, ExceptionInput):
        raise InvalidInput(field, f"expected an ExceptionInput or None, got {value!r}")
    status = value.status.strip().upper() if isinstance(value.status, str) else ""
    if status not in AVAILABILITY_STATUSES:
        raise InvalidInput(
            f"{field}.status",
            f"{value.status!r} is not a status; use one of"
            f" {', '.join(AVAILABILITY_STATUSES)}",
        )
    start, end = value.start_minute, value.end_minute
    if (start is None) != (end is None):
        missing = "end_minute" if end is None else "start_minute"
        raise InvalidInput(
            f"{field}.{missing}",
            "is missing; give both start and end of the window, or neither for"
            " the whole day",
        )
    if start is not None and end is not None:
        check_window(field, start, end)
    return ExceptionInput(status, start, end, checked_note(f"{field}.note", value.note))


def check_window(field: str, start: object, end: object) -> None:
    """Raise InvalidInput unless 0 <= start < end <= 1440, whole minutes."""
    for part, minute in (("start_minute", start), ("end_minute", end)):
        if isinstance(minute, bool) or not isinstance(minute, int):
            raise InvalidInput(
                f"{field}.{part}", f"expected whole minutes, got {minute!r}"
            )
    if not 0 <= start < MINUTES_PER_DAY:
        raise InvalidInput(
            f"{field}.start_minute",
            f"{start} is out of range; a window starts from 0 to 1439 minutes"
            " after midnight",
        )
    if not 0 < end <= MINUTES_PER_DAY:
        raise InvalidInput(
            f"{field}.end_minute",
            f"{end} is out of range; a window ends from 1 to 1440 minutes after"
            " midnight",
        )
    if end <= start:
        raise InvalidInput(
            f"{field}.end_minute",
            f"the window ends at {format_clock_end(end)}, not after its start"
            f" {format_clock(start)}",
        )


def checked_note(field: str, note: object) -> str:
    """Return the note stripped of surrounding spaces, or raise InvalidInput."""
    if not isinstance(note, str):
        raise InvalidInput(field, f"expected text, got {note!r}")
    note = note.strip()
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidInput(
            field,
            f"the note has {len(note)} characters, more than {MAX_NOTE_LENGTH};"
            " shorten it",
        )
    if any(ord(character) < 32 and character not in "\t\n" for character in note):
        raise InvalidInput(field, "the note contains control characters; remove them")
    return note


def checked_pattern(windows: object) -> dict[int, tuple[int, int]]:
    """Check a weekly pattern; InvalidInput names the weekday at fault."""
    if not isinstance(windows, Mapping):
        raise InvalidInput(
            "windows", f"expected a mapping of weekdays, got {windows!r}"
        )
    checked: dict[int, tuple[int, int]] = {}
    for weekday, window in windows.items():
        field = f"windows[{weekday!r}]"
        if isinstance(weekday, bool) or not isinstance(weekday, int):
            raise InvalidInput(field, "the weekday is not a whole number from 1 to 7")
        if not 1 <= weekday <= DAYS_PER_WEEK:
            raise InvalidInput(
                field, f"weekday {weekday} is out of range; use 1 (Monday) to 7"
            )
        if not isinstance(window, tuple | list) or len(window) != 2:
            raise InvalidInput(
                field, f"expected (start_minute, end_minute), got {window!r}"
            )
        check_window(field, window[0], window[1])
        checked[weekday] = (window[0], window[1])
    return dict(sorted(checked.items()))


def check_plannable(driver: Driver, field: str) -> None:
    """Raise Conflict for an erased driver and InvalidInput for an inactive one."""
    check_not_erased(driver)
    if not driver.is_active:
        raise InvalidInput(
            field,
            f"driver {driver.id} ({driver.external_ref}) is inactive; activate the"
            " driver before changing their availability",
        )


def week_conflict(
    driver_id: int, week_anchor: date, expected_version: int, current: int
) -> Conflict:
    return Conflict(
        "availability of driver",
        f"{driver_id} in the week of {week_anchor.isoformat()}",
        f"it was changed since you read it (version {expected_version}, now"
        f" {current}); reload the week and make your change again",
    )


# --- Storing exceptions ---------------------------------------------------------


def store_exception(
    session: Session,
    actor: Actor,
    driver: Driver,
    row: DriverAvailabilityException | None,
    day: date,
    value: ExceptionInput | None,
    now: datetime,
) -> bool:
    """Make the driver's exception on `day` equal `value`; tell whether it changed.

    `row` is the stored exception of that day or None, and `value` must be
    checked already (checked_input). None deletes the stored exception.
    """
    if value is None:
        if row is None:
            return False
        session.delete(row)
        return True
    status = AvailabilityStatus(value.status)
    if row is not None and _same_exception(driver, row, status, value):
        return False
    if row is None:
        row = availability.add_exception(session, actor.tenant_id, driver.id, day)
        row.created_by = actor.user_id
    row.status = status
    row.start_minute = value.start_minute
    row.end_minute = value.end_minute
    row.note_ciphertext = encrypt_note(driver, value.note)
    row.updated_at = now
    return True


def bump_week(
    session: Session, tenant_id: int, driver_id: int, week_anchor: date, now: datetime
) -> int:
    """Record a change of the driver's week and return its new row_version.

    Raises Conflict when another writer changed the week meanwhile.
    """
    try:
        week = availability.touch_week(session, tenant_id, driver_id, week_anchor, now)
    except StaleDataError as error:
        raise Conflict(
            "availability of driver",
            f"{driver_id} in the week of {week_anchor.isoformat()}",
            "someone else changed it at the same time; reload the week and make"
            " your change again",
        ) from error
    return week.row_version


def encrypt_note(driver: Driver, note: str) -> str | None:
    """Encrypt a note bound to the tenant, the driver and NOTE_FIELD; "" gives None."""
    if not note:
        return None
    return driver_keyring().encrypt(driver.tenant_id, driver.id, NOTE_FIELD, note)


def read_note(driver: Driver, row: DriverAvailabilityException) -> str | None:
    """Decrypt the note of an exception; None when it has none.

    Raises core.pii.PersonalDataUnreadable when it cannot be decrypted.
    """
    if row.note_ciphertext is None:
        return None
    return driver_keyring().decrypt(
        driver.tenant_id, driver.id, NOTE_FIELD, row.note_ciphertext
    )


def _same_exception(
    driver: Driver,
    row: DriverAvailabilityException,
    status: AvailabilityStatus,
    value: ExceptionInput,
) -> bool:
    if (row.status, row.start_minute, row.end_minute) != (
        status,
        value.start_minute,
        value.end_minute,
    ):
        return False
    try:
        return (read_note(driver, row) or "") == value.note
    except PersonalDataUnreadable:
        return False


def _audited_days(changed: Mapping[date, ExceptionInput | None]) -> dict[str, str]:
    """Describe changed days for the audit trail: status and window, never notes."""
    days = {}
    for day, value in changed.items():
        if value is None:
            days[day.isoformat()] = "removed"
        elif value.start_minute is None or value.end_minute is None:
            days[day.isoformat()] = value.status
        else:
            window = format_window(value.start_minute, value.end_minute)
            days[day.isoformat()] = f"{value.status} {window}"
    return days


# --- Preferences ----------------------------------------------------------------


def preferences_of(row: DriverPreferenceRow) -> DriverPreferences:
    """Build the engine's preferences from a stored row."""
    return DriverPreferences(
        start=row.start,
        start_weight=row.start_weight,
        days_off=frozenset(row.days_off),
        days_off_weight=row.days_off_weight,
        max_days_in_row=row.max_days_in_row,
        max_days_in_row_weight=row.max_days_in_row_weight,
    )


def _changed_preference_names(
    before: DriverPreferences | None, after: DriverPreferences
) -> list[str]:
    names = (
        "start",
        "start_weight",
        "days_off",
        "days_off_weight",
        "max_days_in_row",
        "max_days_in_row_weight",
    )
    reference = before or DriverPreferences()
    return [name for name in names if getattr(reference, name) != getattr(after, name)]


# --- The grid -------------------------------------------------------------------


def format_window(start: int, end: int) -> str:
    """Format a window of minutes after midnight as "HH:MM-HH:MM" (end 1440: 24:00)."""
    return f"{format_clock(start)}-{format_clock_end(end)}"


def format_clock_end(minute: int) -> str:
    return "24:00" if minute == MINUTES_PER_DAY else format_clock(minute)


def pattern_label(windows: Mapping[int, tuple[int, int]], weekday: int) -> str:
    """Describe a driver's weekly pattern on one weekday for the grid."""
    if not windows:
        return WHOLE_DAY
    window = windows.get(weekday)
    if window is None:
        return NOT_AVAILABLE
    if window == (0, MINUTES_PER_DAY):
        return WHOLE_DAY
    return format_window(*window)


def _name_of(driver: Driver, unreadable: dict[int, set[str]]) -> str | None:
    try:
        return read_personal_field(driver, "name")
    except DriverFieldUnreadable:
        unreadable[driver.id].add("name")
        return None


def _driver_weeks(
    session: Session,
    actor: Actor,
    week_anchor: date,
    selected: Iterable[tuple[Driver, str | None]],
    with_personal: bool,
    unreadable: dict[int, set[str]],
) -> list[DriverWeek]:
    selected = list(selected)
    ids = [driver.id for driver, _ in selected]
    tenant_id = actor.tenant_id
    last_day = week_anchor + timedelta(days=DAYS_PER_WEEK - 1)
    patterns = availability.patterns_by_driver(session, tenant_id, ids)
    exceptions = {
        (row.driver_id, row.day): row
        for row in availability.list_exceptions(
            session, tenant_id, week_anchor, last_day, ids
        )
    }
    weeks = availability.weeks_by_driver(session, tenant_id, week_anchor, ids)
    planned = _planned_labels(session, tenant_id, week_anchor)

    result = []
    for driver, name in selected:
        cells = []
        for offset in range(DAYS_PER_WEEK):
            day = week_anchor + timedelta(days=offset)
            row = exceptions.get((driver.id, day))
            note = None
            if row is not None and with_personal:
                note = _note_of(driver, row, unreadable)
            cells.append(
                DayCell(
                    day=day,
                    pattern=pattern_label(patterns.get(driver.id, {}), offset + 1),
                    status=None if row is None else row.status.value,
                    window=_window_of(row),
                    note=note,
                    planned=planned.get((driver.id, offset + 1)),
                )
            )
        week = weeks.get(driver.id)
        result.append(
            DriverWeek(
                driver_id=driver.id,
                external_ref=driver.external_ref,
                name=name,
                qualifications=tuple(driver.qualifications),
                row_version=0 if week is None else week.row_version,
                cells=tuple(cells),
            )
        )
    return result


def _note_of(
    driver: Driver, row: DriverAvailabilityException, unreadable: dict[int, set[str]]
) -> str | None:
    try:
        return read_note(driver, row)
    except PersonalDataUnreadable:
        unreadable[driver.id].add(NOTE_FIELD)
        return None


def _window_of(row: DriverAvailabilityException | None) -> str | None:
    if row is None or row.start_minute is None or row.end_minute is None:
        return None
    return format_window(row.start_minute, row.end_minute)


def _planned_labels(
    session: Session, tenant_id: int, week_anchor: date
) -> dict[tuple[int, int], str]:
    """Label each named driver's tours by (driver id, weekday) in the week's plan.

    The plan version is the newest approved one, else the newest draft.
    """
    version = availability.newest_version_of_week(
        session, tenant_id, week_anchor, [PlanVersionStatus.APPROVED]
    ) or availability.newest_version_of_week(
        session, tenant_id, week_anchor, [PlanVersionStatus.DRAFT]
    )
    if version is None:
        return {}
    windows: dict[tuple[int, int], list[str]] = defaultdict(list)
    for tour in availability.planned_tours(session, tenant_id, version):
        windows[(tour.driver_id, tour.day)].append(
            f"{format_clock(tour.week_start)}-{format_clock(tour.week_end)}"
        )
    return {key: " + ".join(labels) for key, labels in windows.items()}


def _record_personal_read(
    session: Session, actor: Actor, week_anchor: date, weeks: list[DriverWeek]
) -> None:
    """Append one PII-read event for the names and notes the grid shows."""
    names = sum(week.name is not None for week in weeks)
    notes = sum(cell.note is not None for week in weeks for cell in week.cells)
    if not names and not notes:
        return
    fields = [field for field, count in (("name", names), (NOTE_FIELD, notes)) if count]
    append_entry(
        session,
        actor,
        PERSONAL_DATA_READ,
        "driver availability",
        week_anchor.isoformat(),
        {"fields": fields, "driver_count": len(weeks), "note_count": notes},
    )
