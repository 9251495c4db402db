"""Availability: the drivers' week as a grid, with exceptions, patterns and wishes.

Layout. The week grid is an st.data_editor with one row per active driver
and two columns per day. The first is a status selectbox: VACATION, SICK,
BLOCKED, AVAILABLE, or empty to delete the day's exception. The second is
read-only and lists the exception's window and note, the weekly pattern and
the planned tours. Changes stay unsaved, and listed under the grid, until
Save changes stores each changed driver's week with the version read with
the grid. A week that someone else changed meanwhile is reported by driver,
and its unsaved changes stay in the grid until the user reloads and saves
again.

Below the grid one driver is chosen for three tabs. Day sets a status with
a window and a note on one day, as an unsaved change of the grid. Weekly
pattern and Preferences save at once. Then come the exception import and,
for tenant admins, the planning setting. Roles without availability:write
see the grid read-only, one text per day, and the driver's pattern and
wishes without the forms.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import streamlit as st

from app_pages._availability_edits import (
    discard,
    merge_editor_state,
    other_weeks_with_changes,
    refresh,
    save_pending,
    week_edits,
)
from app_pages._availability_forms import (
    day_form,
    import_section,
    pattern_form,
    planning_setting_form,
    preferences_form,
)
from app_pages._availability_grid import (
    filter_drivers,
    show_editor,
    show_overview,
    show_pending,
)
from app_pages._availability_text import driver_title
from app_pages._display import next_monday, run_service, week_label
from app_pages._driver_display import count_of, keep_notice, show_notice
from app_pages._session import require_actor
from core.driver_records import may_read_personal_fields
from core.permissions import Permission, has_permission

LOCAL_ZONE = ZoneInfo("Europe/Vienna")
WEEK_KEY = "availability_week_anchor"

actor = require_actor()
st.title("Availability")
show_notice()
writable = has_permission(actor, Permission.AVAILABILITY_WRITE)
with_names = may_read_personal_fields(actor)

week_column, search_column = st.columns(2)
# The week is kept outside the widget's state, which Streamlit clears when the
# user opens another page, so the page comes back to the same week.
picked_day = week_column.date_input(
    "Week",
    value=st.session_state.get(WEEK_KEY, next_monday(date.today())),
    format="DD.MM.YYYY",
    help="Any day of the week; the week starts on its Monday",
)
week_anchor = picked_day - timedelta(days=picked_day.weekday())
st.session_state[WEEK_KEY] = week_anchor
search = search_column.text_input(
    "Search", placeholder="reference or name", help="Part of a reference or name"
)

edits = run_service(week_edits, actor, week_anchor)
matching = filter_drivers(edits.grid, search)
read_at = edits.read_at.astimezone(LOCAL_ZONE)
st.caption(
    f"{week_label(week_anchor)}: {count_of(len(matching), 'active driver')}, as read"
    f" at {read_at:%H:%M:%S}. Reload week shows what others saved since."
)
for other_week in other_weeks_with_changes(week_anchor):
    st.info(f"The {week_label(other_week)} has unsaved changes too.")

if writable:
    merge_editor_state(edits, matching)
    show_editor(edits, matching, with_names)
    show_pending(edits)
else:
    show_overview(edits, matching, with_names)

save_column, discard_column, reload_column = st.columns(3)
if writable and save_column.button(
    "Save changes", type="primary", disabled=not edits.pending
):
    outcome = run_service(save_pending, actor, edits)
    if outcome.saved_days:
        keep_notice(
            f"Saved {count_of(outcome.saved_days, 'change')} of"
            f" {count_of(outcome.saved_drivers, 'driver')}."
        )
    st.rerun()
if writable and discard_column.button("Discard changes", disabled=not edits.pending):
    run_service(discard, actor, edits)
    st.rerun()
if reload_column.button(
    "Reload week", type="primary" if edits.conflicts else "secondary"
):
    run_service(refresh, actor, edits, adopt_versions=True)
    st.rerun()

st.header("One driver")
driver_ids = [week.driver_id for week in matching]
titles = {week.driver_id: driver_title(week) for week in matching}
driver_id = st.selectbox(
    "Driver",
    driver_ids,
    index=None,
    format_func=titles.get,
    placeholder="choose one",
    key="availability_driver",
)
if driver_id is None:
    st.caption("Choose a driver to set one day, the weekly pattern or the wishes.")
else:
    labels = ["Weekly pattern", "Preferences"]
    if writable:
        labels.insert(0, "Day")
    tabs = dict(zip(labels, st.tabs(labels)))
    if writable:
        with tabs["Day"]:
            day_form(edits, driver_id)
    with tabs["Weekly pattern"]:
        pattern_form(actor, edits, driver_id, writable)
    with tabs["Preferences"]:
        preferences_form(actor, edits, driver_id, writable)

if writable:
    st.header("Import exceptions")
    import_section(actor, edits)

if has_permission(actor, Permission.TENANT_CONFIGURE):
    st.header("Planning settings")
    planning_setting_form(actor)
