"""The week a session edits on the Availability page, and its unsaved changes.

The grid is read once per week and kept in st.session_state as a
WeekEdits, together with each driver week's row_version as read and the
unsaved changes. Rereading happens only on request (reload), after a save
and after an import, because each read that shows names or notes records a
personal-data read.

WeekEdits.pending is the truth about unsaved changes. The st.data_editor
only shows them. It starts from the grid with the pending changes applied,
and its own edit state contains the cells changed since then. Each run merges
that edit state into `pending`. Whenever the editor's table must change
(search, a change from the day form, a save, a reload) the editor gets a
new key and starts again from the grid with `pending` applied. So no edit
is dropped, even when the user opened another page and Streamlit cleared
the editor's state.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import streamlit as st

from app_pages._availability_text import (
    day_label,
    driver_title,
    error_message,
    exception_text,
    parse_window,
)
from core.availability import (
    DayCell,
    DriverWeek,
    ExceptionInput,
    WeekGrid,
    get_week_grid,
    save_driver_week,
)
from core.errors import Conflict, SolvereignError
from core.permissions import Actor

WEEKS_KEY = "availability_weeks"
EDITOR_KEY_PREFIX = "availability_editor"
# Conflict.object_type of a driver week changed since it was read, as
# core.availability raises it; an erased driver raises another Conflict.
WEEK_CONFLICT_OBJECT = "availability of driver"

CellKey = tuple[int, date]


@dataclass
class WeekEdits:
    """One week as this session read it, and the changes it has not saved yet.

    `read_at` is when the grid was last read (UTC). `versions` contains the
    row_version each driver week had when read, which save_driver_week gets
    as the expected version. `pending` maps (driver id, day) to the
    exception to store, None to delete it. `conflicts` and `errors` contain
    the messages of the last save by driver id, and `overlaps` the cells
    where a reload found a change under an unsaved one.
    """

    grid: WeekGrid
    versions: dict[int, int]
    read_at: datetime
    pending: dict[CellKey, ExceptionInput | None] = field(default_factory=dict)
    base_pending: dict[CellKey, ExceptionInput | None] = field(default_factory=dict)
    generation: int = 0
    shown_ids: tuple[int, ...] = ()
    conflicts: dict[int, str] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    overlaps: list[str] = field(default_factory=list)

    @property
    def week_anchor(self) -> date:
        return self.grid.week_anchor

    @property
    def days(self) -> list[date]:
        return [self.week_anchor + timedelta(days=offset) for offset in range(7)]

    def driver(self, driver_id: int) -> DriverWeek:
        return next(week for week in self.grid.drivers if week.driver_id == driver_id)

    def cell(self, driver_id: int, day: date) -> DayCell:
        return next(cell for cell in self.driver(driver_id).cells if cell.day == day)


@dataclass(frozen=True)
class SaveOutcome:
    """Result of one save: how many days and drivers it saved."""

    saved_days: int
    saved_drivers: int


def week_edits(actor: Actor, week_anchor: date) -> WeekEdits:
    """Return this session's state of the week, reading the grid the first time.

    Raises SolvereignError when the grid cannot be read.
    """
    weeks: dict[date, WeekEdits] = st.session_state.setdefault(WEEKS_KEY, {})
    if week_anchor not in weeks:
        grid = get_week_grid(actor, week_anchor)
        weeks[week_anchor] = WeekEdits(
            grid,
            {week.driver_id: week.row_version for week in grid.drivers},
            datetime.now(UTC),
        )
    return weeks[week_anchor]


def other_weeks_with_changes(week_anchor: date) -> list[date]:
    weeks: dict[date, WeekEdits] = st.session_state.get(WEEKS_KEY, {})
    return sorted(
        anchor
        for anchor, edits in weeks.items()
        if anchor != week_anchor and edits.pending
    )


def refresh(actor: Actor, edits: WeekEdits, *, adopt_versions: bool) -> None:
    """Read the week again and show it under the unsaved changes.

    With `adopt_versions` (the reload button) every driver week takes the
    cells and version just read, so the next save replaces what others
    saved. The cells where that happens under an unsaved change are listed
    in `overlaps`. Without it (after a save or an import) a driver week with
    unsaved changes keeps the cells and version it had. So a change saved
    meanwhile still raises Conflict on the next save, and the reload after
    that lists the overlaps.
    """
    fresh = get_week_grid(actor, edits.week_anchor)
    changed_ids = {driver_id for driver_id, _ in edits.pending}
    old_rows = {week.driver_id: week for week in edits.grid.drivers}
    if adopt_versions:
        edits.overlaps = _overlaps(edits, fresh)
        edits.conflicts.clear()
        kept_ids = set()
    else:
        kept_ids = changed_ids & set(old_rows)
    fresh_ids = {week.driver_id for week in fresh.drivers}
    rows = [
        old_rows[week.driver_id] if week.driver_id in kept_ids else week
        for week in fresh.drivers
    ]
    # A driver deactivated meanwhile keeps their row while changes are pending,
    # so the save reports the driver instead of the change vanishing.
    rows += [old_rows[d] for d in sorted(changed_ids - fresh_ids) if d in old_rows]
    rows.sort(key=lambda week: week.external_ref)
    for week in rows:
        if week.driver_id not in kept_ids or week.driver_id not in edits.versions:
            edits.versions[week.driver_id] = week.row_version
    edits.grid = WeekGrid(edits.week_anchor, tuple(rows))
    edits.read_at = datetime.now(UTC)
    rebase(edits)


def discard(actor: Actor, edits: WeekEdits) -> None:
    """Drop the unsaved changes of the week and read it again."""
    edits.pending.clear()
    edits.conflicts.clear()
    edits.errors.clear()
    edits.overlaps.clear()
    refresh(actor, edits, adopt_versions=True)


def _overlaps(edits: WeekEdits, fresh: WeekGrid) -> list[str]:
    fresh_cells = {
        (week.driver_id, cell.day): (week, cell)
        for week in fresh.drivers
        for cell in week.cells
    }
    messages = []
    for (driver_id, day), value in sorted(edits.pending.items()):
        if (driver_id, day) not in fresh_cells:
            continue
        week, new_cell = fresh_cells[(driver_id, day)]
        old_cell = edits.cell(driver_id, day)
        if stored_exception(old_cell) == stored_exception(new_cell):
            continue
        messages.append(
            f"{week.external_ref} on {day_label(day)}: someone else saved"
            f" {_describe(stored_exception(new_cell))}; your unsaved change is"
            f" {_describe(value)}"
        )
    return messages


def editor_key(edits: WeekEdits) -> str:
    return f"{EDITOR_KEY_PREFIX}_{edits.week_anchor.isoformat()}_{edits.generation}"


def rebase(edits: WeekEdits) -> None:
    """Start a new editor from the grid with every pending change applied."""
    edits.base_pending = dict(edits.pending)
    edits.generation += 1


def merge_editor_state(edits: WeekEdits, visible: Sequence[DriverWeek]) -> None:
    """Take the editor's cell edits into `pending`, rebasing when the table changes.

    `visible` are the drivers the editor is about to show. When they differ
    from those of the current editor, or the editor's state was cleared,
    the editor starts again from `pending`.
    """
    state = st.session_state.get(editor_key(edits))
    if state is not None:
        edits.pending = dict(edits.base_pending)
        for row_key, changes in state.get("edited_rows", {}).items():
            row = int(row_key)
            if row >= len(edits.shown_ids):
                continue
            driver_id = edits.shown_ids[row]
            for column, status in changes.items():
                day = _day_of_column(edits, column)
                if day is not None:
                    set_status(edits, driver_id, day, status or "")
    elif edits.pending != edits.base_pending:
        rebase(edits)
    shown_ids = tuple(week.driver_id for week in visible)
    if shown_ids != edits.shown_ids:
        if state is not None:
            rebase(edits)
        edits.shown_ids = shown_ids


def set_status(edits: WeekEdits, driver_id: int, day: date, status: str) -> None:
    """Set a cell's status, keeping its window and note; "" deletes the exception."""
    current = current_exception(edits, driver_id, day)
    if not status:
        value = None
    elif current is None:
        value = ExceptionInput(status)
    else:
        value = ExceptionInput(
            status, current.start_minute, current.end_minute, current.note
        )
    set_exception(edits, driver_id, day, value)


def set_exception(
    edits: WeekEdits, driver_id: int, day: date, value: ExceptionInput | None
) -> None:
    """Record an unsaved change, or forget it when it equals the stored cell."""
    stored = stored_exception(edits.cell(driver_id, day))
    if value == stored:
        edits.pending.pop((driver_id, day), None)
    else:
        edits.pending[(driver_id, day)] = value


def current_exception(
    edits: WeekEdits, driver_id: int, day: date
) -> ExceptionInput | None:
    """Return the cell's exception with its unsaved change, None for none."""
    if (driver_id, day) in edits.pending:
        return edits.pending[(driver_id, day)]
    return stored_exception(edits.cell(driver_id, day))


def stored_exception(cell: DayCell) -> ExceptionInput | None:
    """Return the exception the cell shows as stored, None for none."""
    if cell.status is None:
        return None
    start, end = parse_window(cell.window) if cell.window else (None, None)
    # NOTE: a note that the actor may not read, or that cannot be decrypted,
    # arrives as None and is stored as "" when this cell is saved again.
    return ExceptionInput(cell.status, start, end, cell.note or "")


def _day_of_column(edits: WeekEdits, column: str) -> date | None:
    return next((day for day in edits.days if day_label(day) == column), None)


def save_pending(actor: Actor, edits: WeekEdits) -> SaveOutcome:
    """Save the unsaved changes, one save_driver_week call per driver.

    A driver whose save fails keeps their changes in `pending`, with the
    message in `conflicts` (changed by someone else) or `errors`.
    """
    by_driver: dict[int, dict[date, ExceptionInput | None]] = defaultdict(dict)
    for (driver_id, day), value in edits.pending.items():
        by_driver[driver_id][day] = value
    refs = {week.driver_id: week.external_ref for week in edits.grid.drivers}
    saved_days = 0
    saved_drivers = 0
    for driver_id in sorted(by_driver, key=lambda d: refs.get(d, "")):
        cells = by_driver[driver_id]
        week = edits.driver(driver_id)
        edits.conflicts.pop(driver_id, None)
        edits.errors.pop(driver_id, None)
        try:
            edits.versions[driver_id] = save_driver_week(
                actor,
                driver_id,
                edits.week_anchor,
                edits.versions.get(driver_id, 0),
                cells,
            )
        except Conflict as error:
            if error.object_type != WEEK_CONFLICT_OBJECT:
                edits.errors[driver_id] = f"{driver_title(week)}: {error}"
                continue
            edits.conflicts[driver_id] = (
                f"Someone else changed the week of {driver_title(week)} meanwhile;"
                " reload to see their change. Your unsaved changes of this driver"
                " are kept: check them after the reload and save again."
            )
            continue
        except SolvereignError as error:
            edits.errors[driver_id] = (
                f"{driver_title(week)}: {error_message(error)}; the changes of"
                " this driver are not saved"
            )
            continue
        for day in cells:
            edits.pending.pop((driver_id, day), None)
        saved_days += len(cells)
        saved_drivers += 1
    edits.overlaps.clear()
    refresh(actor, edits, adopt_versions=False)
    return SaveOutcome(saved_days, saved_drivers)


def _describe(value: ExceptionInput | None) -> str:
    return exception_text(value) or "no exception"
