"""Forms of the Availability page: one day, weekly pattern, preferences, import.

Each save is one core service call, which checks the permission again. A
failure is shown below its form and the form keeps what the user typed. A
success is kept as a notice and the page reruns.
"""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import streamlit as st

from app_pages._availability_edits import (
    WeekEdits,
    current_exception,
    rebase,
    refresh,
    set_exception,
)
from app_pages._availability_text import (
    STATUS_OPTIONS,
    day_label,
    driver_title,
    error_message,
    format_clock,
    format_window,
    window_inputs,
)
from app_pages._display import LINE_STATUS_COLORS, WEEKDAY_NAMES
from app_pages._driver_display import count_of, keep_notice
from core.availability import (
    ExceptionInput,
    checked_input,
    get_planning_settings,
    get_preferences,
    get_weekly_pattern,
    set_planning_settings,
    set_preferences,
    set_weekly_pattern,
)
from core.availability_import import (
    COLUMNS,
    REQUIRED_COLUMNS,
    ExceptionImportResult,
    import_exceptions,
)
from core.errors import InvalidInput, SolvereignError
from core.permissions import Actor
from solver.drivers import (
    EARLY_START,
    LATE_START,
    MAX_PREFERENCE_WEIGHT,
    DriverPreferences,
)

WEEKDAYS = tuple(WEEKDAY_NAMES)
IMPORT_REPORT_KEY = "availability_import_report"
IMPORT_CAPTION = (
    f"CSV with the header {','.join(COLUMNS)}. Required columns:"
    f" {', '.join(REQUIRED_COLUMNS)}. date is the local date in Europe/Vienna,"
    " as 2026-12-07 or 07.12.2026; a timestamp with a UTC offset, such as"
    " 2026-12-06T23:30:00+00:00, counts on its Vienna date. status is"
    f" {', '.join(STATUS_OPTIONS[1:])}. start and end are HH:MM, both empty for"
    " the whole day, and end may be 24:00. A line replaces that driver's"
    " exception of that date. The whole file applies, or nothing does."
)
WEIGHT_HELP = (
    f"0 ignores the wish, {MAX_PREFERENCE_WEIGHT} weighs it most. The planning"
    " engine weighs wishes only after covering every tour with the fewest drivers."
)


def day_form(edits: WeekEdits, driver_id: int) -> None:
    """Set one day's status, window and note as an unsaved change of the grid."""
    day: date = st.selectbox(
        "Day", edits.days, format_func=day_label, key="availability_day"
    )
    current = current_exception(edits, driver_id, day)
    prefix = f"availability_day_{driver_id}_{day.isoformat()}_{edits.generation}"
    with st.form("availability_day_form"):
        status = st.selectbox(
            "Status",
            STATUS_OPTIONS,
            index=STATUS_OPTIONS.index(current.status) if current else 0,
            format_func=lambda option: option or "no exception",
            key=f"{prefix}_status",
        )
        from_column, to_column = st.columns(2)
        start_text = from_column.text_input(
            "From",
            _clock_or_empty(current.start_minute if current else None),
            placeholder="HH:MM",
            help="Start of the window; leave From and To empty for the whole day",
            key=f"{prefix}_from",
        )
        end_text = to_column.text_input(
            "To",
            _clock_or_empty(current.end_minute if current else None),
            placeholder="HH:MM",
            help="End of the window, up to 24:00",
            key=f"{prefix}_to",
        )
        note = st.text_input(
            "Note",
            current.note if current else "",
            help="Personal data, stored encrypted and shown to dispatchers upwards",
            key=f"{prefix}_note",
        )
        submitted = st.form_submit_button("Apply to the grid")
    st.caption("The change joins the grid's unsaved changes; Save changes stores it.")
    if not submitted:
        return
    try:
        value = None
        if status:
            start, end = window_inputs(start_text, end_text)
            value = checked_input(
                day.isoformat(), ExceptionInput(status, start, end, note)
            )
    except InvalidInput as error:
        st.error(error_message(error), icon=":material/error:")
        return
    set_exception(edits, driver_id, day, value)
    rebase(edits)
    st.rerun()


def pattern_form(
    actor: Actor, edits: WeekEdits, driver_id: int, writable: bool
) -> None:
    """Show a driver's weekly pattern, as a form for roles that change it."""
    try:
        windows = get_weekly_pattern(actor, driver_id)
    except SolvereignError as error:
        st.error(str(error), icon=":material/error:")
        return
    if not writable:
        st.write(_pattern_text(windows))
        return

    prefix = f"availability_pattern_{driver_id}_{edits.generation}"
    with st.form("availability_pattern"):
        always = st.checkbox(
            "No pattern: available every day, all day",
            value=not windows,
            key=f"{prefix}_always",
        )
        st.caption(
            "Otherwise the driver is available only inside these windows, and a"
            " day without a window is a day off."
        )
        texts = {}
        for weekday, name in WEEKDAY_NAMES.items():
            start, end = windows.get(weekday, (None, None))
            from_column, to_column = st.columns(2)
            texts[weekday] = (
                from_column.text_input(
                    f"{name} from",
                    _clock_or_empty(start),
                    placeholder="HH:MM",
                    key=f"{prefix}_{weekday}_from",
                ),
                to_column.text_input(
                    f"{name} to",
                    _clock_or_empty(end),
                    placeholder="HH:MM, up to 24:00",
                    key=f"{prefix}_{weekday}_to",
                ),
            )
        submitted = st.form_submit_button("Save pattern")
    if not submitted:
        return

    try:
        new_windows = {} if always else _pattern_windows(texts)
        set_weekly_pattern(actor, driver_id, new_windows)
    except SolvereignError as error:
        st.error(_pattern_error(error), icon=":material/error:")
        return

    # The grid shows the pattern, so it is read again. A driver with unsaved
    # changes keeps the row as read before until the week is reloaded.
    try:
        refresh(actor, edits, adopt_versions=False)
    except SolvereignError as error:
        st.error(f"The pattern is saved, but {error}", icon=":material/error:")
        return
    keep_notice(f"Weekly pattern of {driver_title(edits.driver(driver_id))} saved.")
    st.rerun()


def preferences_form(
    actor: Actor, edits: WeekEdits, driver_id: int, writable: bool
) -> None:
    """Show a driver's wishes, as a form for roles that change them."""
    try:
        preferences = get_preferences(actor, driver_id)
    except SolvereignError as error:
        st.error(str(error), icon=":material/error:")
        return
    prefix = f"availability_preferences_{driver_id}"
    with st.form("availability_preferences"):
        wish_column, weight_column = st.columns(2)
        start_options = [None, EARLY_START, LATE_START]
        start = wish_column.selectbox(
            "Start of the day",
            start_options,
            index=start_options.index(preferences.start),
            format_func=lambda option: option or "no wish",
            disabled=not writable,
            key=f"{prefix}_start",
        )
        start_weight = weight_column.slider(
            "Weight of the start wish",
            0,
            MAX_PREFERENCE_WEIGHT,
            preferences.start_weight,
            help=WEIGHT_HELP,
            disabled=not writable,
            key=f"{prefix}_start_weight",
        )
        days_off = wish_column.multiselect(
            "Preferred days off",
            WEEKDAYS,
            default=sorted(preferences.days_off),
            format_func=WEEKDAY_NAMES.get,
            disabled=not writable,
            key=f"{prefix}_days_off",
        )
        days_off_weight = weight_column.slider(
            "Weight of the days off",
            0,
            MAX_PREFERENCE_WEIGHT,
            preferences.days_off_weight,
            help=WEIGHT_HELP,
            disabled=not writable,
            key=f"{prefix}_days_off_weight",
        )
        run_options = [None, *range(1, 8)]
        max_days_in_row = wish_column.selectbox(
            "Max working days in a row",
            run_options,
            index=run_options.index(preferences.max_days_in_row),
            format_func=lambda option: "no wish" if option is None else str(option),
            disabled=not writable,
            key=f"{prefix}_max_days",
        )
        max_days_weight = weight_column.slider(
            "Weight of the days in a row",
            0,
            MAX_PREFERENCE_WEIGHT,
            preferences.max_days_in_row_weight,
            help=WEIGHT_HELP,
            disabled=not writable,
            key=f"{prefix}_max_days_weight",
        )
        submitted = st.form_submit_button("Save preferences", disabled=not writable)
    if not submitted:
        return
    wishes = DriverPreferences(
        start=start,
        start_weight=start_weight,
        days_off=frozenset(days_off),
        days_off_weight=days_off_weight,
        max_days_in_row=max_days_in_row,
        max_days_in_row_weight=max_days_weight,
    )
    try:
        set_preferences(actor, driver_id, wishes)
    except SolvereignError as error:
        st.error(str(error), icon=":material/error:")
        return
    keep_notice(f"Preferences of {driver_title(edits.driver(driver_id))} saved.")
    st.rerun()


def import_section(actor: Actor, edits: WeekEdits) -> None:
    """Import an exception file and show its report below the upload.

    An import that changed exceptions rereads the shown week and reruns the
    page. A driver week with unsaved changes keeps its old version, so its
    next save reports that the import changed it. The report is kept for as
    long as the same file stays in the upload field.
    """
    st.caption(IMPORT_CAPTION)
    upload = st.file_uploader("Exception file", type=["csv", "txt"])
    if st.button("Import exceptions", disabled=upload is None):
        try:
            result = import_exceptions(actor, upload.name, upload.getvalue())
        except SolvereignError as error:
            st.error(f"{upload.name}: {error}", icon=":material/error:")
            return
        st.session_state[IMPORT_REPORT_KEY] = (upload.file_id, result)
        if result.applied:
            try:
                refresh(actor, edits, adopt_versions=False)
            except SolvereignError as error:
                st.error(str(error), icon=":material/error:")
                return
            st.rerun()
    kept = st.session_state.get(IMPORT_REPORT_KEY)
    if kept is not None and upload is not None and kept[0] == upload.file_id:
        import_report_table(kept[1])


def import_report_table(result: ExceptionImportResult) -> None:
    """Show the import's summary and every line, failures shaded."""
    summary = f"{result.filename}: {count_of(result.line_count, 'line')},"
    summary += f" {result.failed_line_count} failed."
    if not result.ok:
        st.error(
            f"{summary} The file is rejected and nothing changed. Correct the"
            " shaded lines and import it again."
        )
    else:
        st.success(
            f"{summary} {count_of(result.created, 'exception')} created,"
            f" {result.updated} updated, {result.unchanged} unchanged, in"
            f" {count_of(result.weeks, 'driver week')}."
        )
    frame = pd.DataFrame(
        {
            "line": [line.line_number for line in result.lines],
            "status": [line.status.value for line in result.lines],
            "column": [line.field for line in result.lines],
            "message": [line.message for line in result.lines],
            "text": [line.raw for line in result.lines],
        }
    )
    st.dataframe(
        frame.style.apply(
            lambda row: [LINE_STATUS_COLORS.get(row["status"], "")] * len(row),
            axis=1,
        ),
        hide_index=True,
        width="stretch",
    )


def planning_setting_form(actor: Actor) -> None:
    """Let a tenant admin choose whether drivers stay at their home depot."""
    try:
        settings = get_planning_settings(actor)
    except SolvereignError as error:
        st.error(str(error), icon=":material/error:")
        return
    with st.form("planning_settings"):
        stay = st.toggle(
            "Drivers work only at their home depot",
            value=settings.stay_at_home_depot,
            help="When on, the planning engine gives each driver only tours of"
            " their home depot and tours without a depot",
        )
        submitted = st.form_submit_button("Save planning setting")
    if not submitted:
        return
    try:
        set_planning_settings(actor, stay)
    except SolvereignError as error:
        st.error(str(error), icon=":material/error:")
        return
    state = "only at their home depot" if stay else "at any depot"
    keep_notice(f"Drivers now work {state}.")
    st.rerun()


def _clock_or_empty(minute: int | None) -> str:
    return "" if minute is None else format_clock(minute)


def _pattern_windows(
    texts: dict[int, tuple[str, str]],
) -> dict[int, tuple[int, int]]:
    windows = {}
    for weekday, (start_text, end_text) in texts.items():
        name = WEEKDAY_NAMES[weekday]
        start, end = window_inputs(start_text, end_text, name)
        if start is not None and end is not None:
            windows[weekday] = (start, end)
    if not windows:
        raise InvalidInput(
            "Weekly pattern",
            "no day has a window; enter at least one, or tick No pattern to make"
            " the driver available every day",
        )
    return windows


# Field paths of set_weekly_pattern's errors, such as "windows[6].end_minute".
WINDOW_FIELD = re.compile(
    r"windows\[(?P<weekday>\d+)\](?:\.(?P<edge>start|end)_minute)?"
)


def _pattern_error(error: SolvereignError) -> str:
    """Word a pattern error with the weekday's name instead of windows[n]."""
    if isinstance(error, InvalidInput):
        window = WINDOW_FIELD.fullmatch(error.field)
        if window and int(window["weekday"]) in WEEKDAY_NAMES:
            label = WEEKDAY_NAMES[int(window["weekday"])]
            if window["edge"]:
                label += " from" if window["edge"] == "start" else " to"
            return f"{label}: {error.reason}"
    if isinstance(error, InvalidInput):
        return f"{error.field}: {error.reason}"
    return str(error)


def _pattern_text(windows: dict[int, tuple[int, int]]) -> str:
    if not windows:
        return "No weekly pattern: available every day, all day."
    days = [
        f"{name} {format_window(*windows[weekday])}"
        if weekday in windows
        else f"{name} off"
        for weekday, name in WEEKDAY_NAMES.items()
    ]
    return "Weekly pattern: " + ", ".join(days) + "."
