"""Exports: download a plan version as CSV files in a zip, or as an Excel workbook.

Exports are rate-limited per user, so a file is made only when the user asks
for it. The download button then serves that file without rerunning the page.
"""

from __future__ import annotations

import streamlit as st

from app_pages._display import plan_version_label, run_service
from app_pages._session import require_actor
from core.exports import export_plan
from core.plans import list_plan_versions

# Button label, file format for export_plan, MIME type of the file.
EXPORT_FORMATS = {
    "CSV files (zip)": ("csv", "application/zip"),
    "Excel workbook": (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
}

actor = require_actor()
st.title("Exports")

plans = run_service(list_plan_versions, actor)
if not plans:
    st.info("No plan version to export yet.")
    st.stop()

chosen = st.selectbox("Plan version", plans, format_func=plan_version_label)
st.caption(
    "The zip contains assignments.csv, rosters.csv, matrix.csv, kpis.json and"
    " checks.json. The workbook has one sheet for each of these files."
)

columns = st.columns(len(EXPORT_FORMATS))
for column, (label, (file_format, mime_type)) in zip(columns, EXPORT_FORMATS.items()):
    with column:
        if st.button(f"Prepare {label}", key=f"prepare_{file_format}"):
            filename, content = run_service(
                export_plan, actor, chosen.plan_version_id, file_format
            )
            st.download_button(
                f"Download {filename}",
                data=content,
                file_name=filename,
                mime=mime_type,
                on_click="ignore",
                type="primary",
                icon=":material/download:",
            )
