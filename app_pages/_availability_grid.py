"""The week grid of the Availability page: editor, read-only table, unsaved list.

The tables render a WeekEdits (app_pages._availability_edits) and call no
service.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from app_pages._availability_edits import (
    WeekEdits,
    current_exception,
    editor_key,
    stored_exception,
)
from app_pages._availability_text import (
    STATUS_OPTIONS,
    day_label,
    exception_text,
)
from app_pages._driver_display import count_of
from core.availability import DayCell, DriverWeek, ExceptionInput, WeekGrid

REF_COLUMN = "driver"
NAME_COLUMN = "name"
DETAILS_SUFFIX = " details"


def filter_drivers(grid: WeekGrid, search: str) -> list[DriverWeek]:
    """Keep the drivers whose reference or name contains `search`."""
    needle = search.strip().casefold()
    return [
        week
        for week in grid.drivers
        if not needle
        or needle in week.external_ref.casefold()
        or needle in (week.name or "").casefold()
    ]


def details_text(
    cell: DayCell, value: ExceptionInput | None, with_window: bool = True
) -> str:
    """Write a day's exception window, note, weekly pattern and planned tours."""
    parts = []
    if with_window and value is not None and value.start_minute is not None:
        parts.append(exception_text(value).partition(" ")[2])
    if value is not None and value.note:
        parts.append(f'"{value.note}"')
    if cell.pattern != "all day":
        parts.append(f"pattern {cell.pattern}")
    if cell.planned:
        parts.append(f"{cell.planned} planned")
    return "; ".join(parts)


def overview_frame(
    edits: WeekEdits, visible: Sequence[DriverWeek], with_names: bool
) -> pd.DataFrame:
    """Build the read-only table: one text per day with exception and details."""
    rows = []
    for week in visible:
        row = _row_head(week, with_names)
        for cell in week.cells:
            value = current_exception(edits, week.driver_id, cell.day)
            texts = [
                exception_text(value),
                details_text(cell, value, with_window=False),
            ]
            row[day_label(cell.day)] = "; ".join(text for text in texts if text)
        rows.append(row)
    return pd.DataFrame(rows, columns=_head_columns(with_names) + _day_columns(edits))


def editor_frame(
    edits: WeekEdits, visible: Sequence[DriverWeek], with_names: bool
) -> pd.DataFrame:
    """Build the editor's table: a status and a details column per day.

    The statuses include the pending changes as of the editor's start.
    """
    rows = []
    for week in visible:
        row = _row_head(week, with_names)
        for cell in week.cells:
            key = (week.driver_id, cell.day)
            if key in edits.base_pending:
                value = edits.base_pending[key]
            else:
                value = stored_exception(cell)
            row[day_label(cell.day)] = value.status if value else ""
            row[day_label(cell.day) + DETAILS_SUFFIX] = details_text(cell, value)
        rows.append(row)
    columns = _head_columns(with_names)
    for day_column in _day_columns(edits):
        columns += [day_column, day_column + DETAILS_SUFFIX]
    return pd.DataFrame(rows, columns=columns)


def show_editor(
    edits: WeekEdits, visible: Sequence[DriverWeek], with_names: bool
) -> None:
    """Show the grid with a status selectbox per day; details are read-only."""
    frame = editor_frame(edits, visible, with_names)
    config: dict[str, Any] = {
        REF_COLUMN: st.column_config.TextColumn(REF_COLUMN, pinned=True),
    }
    for day_column in _day_columns(edits):
        config[day_column] = st.column_config.SelectboxColumn(
            day_column,
            options=list(STATUS_OPTIONS),
            help="Exception of the day; empty deletes it",
            width="small",
        )
        config[day_column + DETAILS_SUFFIX] = st.column_config.TextColumn(
            day_column + DETAILS_SUFFIX,
            help="Window and note of the exception, weekly pattern, planned tours",
        )
    read_only = [
        column for column in frame.columns if column not in _day_columns(edits)
    ]
    st.data_editor(
        frame,
        key=editor_key(edits),
        column_config=config,
        disabled=read_only,
        hide_index=True,
        num_rows="fixed",
        width="stretch",
    )


def show_overview(
    edits: WeekEdits, visible: Sequence[DriverWeek], with_names: bool
) -> None:
    st.dataframe(
        overview_frame(edits, visible, with_names), hide_index=True, width="stretch"
    )


def show_pending(edits: WeekEdits) -> None:
    """List the unsaved changes, and the messages of the last save and reload."""
    for message in edits.conflicts.values():
        st.warning(message, icon=":material/sync_problem:")
    for message in edits.errors.values():
        st.error(message, icon=":material/error:")
    if edits.overlaps:
        st.warning(
            "The reload found changes under your unsaved ones, which replace them"
            " when you save: " + "; ".join(edits.overlaps) + ".",
            icon=":material/warning:",
        )
    if not edits.pending:
        return
    drivers = {driver_id for driver_id, _ in edits.pending}
    lines = [
        f"{edits.driver(driver_id).external_ref} {day_label(day)}:"
        f" {exception_text(value) or 'delete the exception'}"
        for (driver_id, day), value in sorted(
            edits.pending.items(),
            key=lambda item: (edits.driver(item[0][0]).external_ref, item[0][1]),
        )
    ]
    st.caption(
        f"Unsaved: {count_of(len(edits.pending), 'change')} of"
        f" {count_of(len(drivers), 'driver')}. " + "; ".join(lines) + "."
    )


def _row_head(week: DriverWeek, with_names: bool) -> dict[str, Any]:
    row: dict[str, Any] = {REF_COLUMN: week.external_ref}
    if with_names:
        row[NAME_COLUMN] = week.name or ""
    return row


def _head_columns(with_names: bool) -> list[str]:
    return [REF_COLUMN, NAME_COLUMN] if with_names else [REF_COLUMN]


def _day_columns(edits: WeekEdits) -> list[str]:
    return [day_label(day) for day in edits.days]
