"""Compare: two to four plan versions and scenario runs side by side.

The first chosen result is the reference for every difference. Downloads
are made only when the user clicks them, because each one is audited and
the PNG charts start a browser.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from app_pages._display import plan_version_label, run_service, week_label
from app_pages._session import require_actor
from core.comparison import (
    MAX_RESULTS,
    MIN_RESULTS,
    PLAN,
    SCENARIO,
    WEEKDAY_SHORT_NAMES,
    Comparison,
    ResultRef,
    compare,
    format_delta,
    format_value,
)
from core.comparison_charts import (
    coverage_chart,
    head_count_chart,
    hours_distribution_chart,
    max_coverage,
)
from core.comparison_export import (
    browser_path,
    comparison_filename,
    export_comparison,
)
from core.permissions import Actor
from core.plans import list_plan_versions
from core.scenarios import list_scenarios

SUCCEEDED = "succeeded"
# Button label, export format and MIME type of each download.
DOWNLOADS = (
    ("Download CSV", "csv", "application/zip"),
    (
        "Download Excel",
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("Download PNG charts", "png", "application/zip"),
    ("Download HTML report", "html", "text/html"),
)


def result_options(actor: Actor) -> dict[str, ResultRef]:
    """Map a unique label to every plan version and succeeded scenario run."""
    options = {
        f"Plan: {plan_version_label(plan)}": ResultRef(PLAN, plan.plan_version_id)
        for plan in run_service(list_plan_versions, actor)
    }
    for scenario in run_service(list_scenarios, actor):
        for run in scenario.runs:
            if run.status == SUCCEEDED:
                label = (
                    f"Scenario: {scenario.name}, run {run.run_id}"
                    f" ({week_label(scenario.week_anchor)})"
                )
                options[label] = ResultRef(SCENARIO, run.run_id)
    return options


def kpi_table(comparison: Comparison) -> pd.DataFrame:
    """Build the KPI table: one row per KPI, each value with its difference."""
    rows = {}
    for row in comparison.kpi_rows:
        cells = []
        for value, delta in zip(row.values, row.deltas, strict=True):
            text = format_value(value, row.unit)
            difference = format_delta(delta, row.unit)
            cells.append(f"{text} ({difference})" if difference else text)
        rows[row.label] = cells
    return pd.DataFrame.from_dict(rows, orient="index", columns=comparison.columns)


def driver_diff_table(comparison: Comparison) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "result": [diff.result for diff in comparison.driver_diffs],
            "driver": [diff.driver for diff in comparison.driver_diffs],
            "day": [
                WEEKDAY_SHORT_NAMES[diff.day - 1] if diff.day else ""
                for diff in comparison.driver_diffs
            ],
            "change": [diff.change for diff in comparison.driver_diffs],
        }
    )


def export_callable(
    actor: Actor, refs: list[ResultRef], file_format: str
) -> Callable[[], bytes]:
    """Return a function that makes the export when the download is clicked.

    NOTE: Streamlit calls it on a thread of its own, where Streamlit commands
    are ignored, so an export error cannot be shown on the page.
    """

    def content() -> bytes:
        _, data = export_comparison(actor, refs, file_format)
        return data

    return content


def download_buttons(actor: Actor, refs: list[ResultRef]) -> None:
    png_missing = browser_path() is None
    columns = st.columns(len(DOWNLOADS))
    for column, (label, file_format, mime_type) in zip(columns, DOWNLOADS, strict=True):
        disabled = file_format == "png" and png_missing
        with column:
            st.download_button(
                label,
                data=export_callable(actor, refs, file_format),
                file_name=comparison_filename(refs, file_format),
                mime=mime_type,
                on_click="ignore",
                disabled=disabled,
                help="Chromium is not installed on the server, so PNG charts"
                " cannot be drawn; use the HTML report"
                if disabled
                else None,
                icon=":material/download:",
                key=f"download_{file_format}",
            )


actor = require_actor()
st.title("Compare")

options = result_options(actor)
if len(options) < MIN_RESULTS:
    st.info(
        "Nothing to compare yet: solve a plan or run a scenario, so that there"
        " are at least two results."
    )
    st.stop()

# Options are labels, not refs, so that the widget's state is plain text.
chosen_labels = st.multiselect(
    "Results",
    list(options),
    max_selections=MAX_RESULTS,
    help="The first result is the reference for every difference",
)
if len(chosen_labels) < MIN_RESULTS:
    st.info(f"Choose {MIN_RESULTS} to {MAX_RESULTS} results.")
    st.stop()
chosen = [options[label] for label in chosen_labels]

comparison = run_service(compare, actor, chosen)

st.header("KPIs")
st.caption("Differences in brackets are against the first result.")
st.dataframe(kpi_table(comparison), width="stretch")
if comparison.cost_per_driver is None:
    st.caption(
        "No cost per driver and week is set, so the cost stays empty; a tenant"
        " admin sets it on the Trends page."
    )

st.header("Charts")
left, right = st.columns(2)
with left:
    st.plotly_chart(hours_distribution_chart(comparison), width="stretch")
with right:
    st.plotly_chart(head_count_chart(comparison), width="stretch")
coverage_max = max_coverage(comparison)
for column, result in zip(
    st.columns(len(comparison.results)), comparison.results, strict=True
):
    with column:
        st.plotly_chart(coverage_chart(result, coverage_max), width="stretch")

st.header("Driver changes")
if comparison.driver_diffs:
    st.dataframe(driver_diff_table(comparison), hide_index=True, width="stretch")
else:
    st.success("No driver's week changes between the results.")

st.header("Downloads")
download_buttons(actor, chosen)
