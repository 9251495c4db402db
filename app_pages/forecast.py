"""Forecast: import a week's forecast file and compare the week's versions."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import streamlit as st

from app_pages._display import (
    forecast_diff_summary,
    import_report_table,
    next_monday,
    run_service,
    week_label,
)
from app_pages._session import require_actor
from core.forecasts import import_forecast, list_forecast_versions
from core.permissions import Permission, has_permission

FORECAST_FILE_TYPES = ["csv", "txt", "xlsx"]

actor = require_actor()
st.title("Forecast")

picked_day = st.date_input(
    "Week",
    value=next_monday(date.today()),
    format="DD.MM.YYYY",
    help="Any day of the week the forecast covers; the week starts on its Monday",
)
week_anchor = picked_day - timedelta(days=picked_day.weekday())
st.caption(week_label(week_anchor))

if has_permission(actor, Permission.FORECAST_WRITE):
    with st.form("forecast_import", clear_on_submit=True):
        upload = st.file_uploader(
            "Forecast file",
            type=FORECAST_FILE_TYPES,
            help="Sectioned, wide, line or tidy CSV text, or an Excel workbook",
        )
        submitted = st.form_submit_button("Import", type="primary")
    if submitted and upload is None:
        st.warning("Choose a forecast file first.")
    elif submitted:
        result = run_service(
            import_forecast, actor, week_anchor, upload.name, upload.getvalue()
        )
        if result.version is not None and not result.created:
            st.info(
                f"This content was already imported as version"
                f" {result.version.version_number}; no new version was made."
            )
        elif result.version is not None:
            st.success(
                f"Imported as version {result.version.version_number}"
                f" of {week_label(week_anchor)}."
            )
        import_report_table(result.report)

st.header("Versions of this week")
versions = run_service(list_forecast_versions, actor, week_anchor=week_anchor)
if not versions:
    st.info("No forecast has been imported for this week yet.")
    st.stop()

st.dataframe(
    pd.DataFrame(
        {
            "version": [version.version_number for version in versions],
            "file": [version.source_filename for version in versions],
            "format": [version.source_format for version in versions],
            "status": [version.status for version in versions],
            "tours": [version.tour_count for version in versions],
            "imported": [version.created_at for version in versions],
            "sha256": [version.sha256[:12] for version in versions],
        }
    ),
    hide_index=True,
    width="stretch",
)

chosen = st.selectbox(
    "Changes of version",
    versions,
    format_func=lambda version: f"version {version.version_number}",
)
forecast_diff_summary(chosen.diff)
