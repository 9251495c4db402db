"""Scenarios: vary rules, demand and drivers of a week, run them, and explain runs.

Dispatchers and above (scenario:run) create and run scenarios and sweeps.
Every reader of plans can view the runs, the sweep curves and the explanations.
"""

from __future__ import annotations

import streamlit as st

from app_pages._display import run_service
from app_pages._scenario_display import (
    SUCCEEDED,
    explanations,
    run_label,
    run_progress,
    runs_table,
    sweep_curve,
)
from app_pages._scenario_forms import (
    SWEEP_SETTINGS,
    new_scenario_form,
    run_form,
    sweep_form,
)
from app_pages._session import require_actor
from core.forecasts import list_forecast_versions
from core.permissions import Permission, has_permission
from core.scenarios import get_scenario_run, list_scenarios

PROGRESS_POLL_SECONDS = 2


@st.fragment(run_every=PROGRESS_POLL_SECONDS)
def follow_runs(run_ids: tuple[int, ...]) -> None:
    """Show the progress of unfinished runs, and rerun the page once all finished."""
    actor = require_actor()
    runs = [run_service(get_scenario_run, actor, run_id) for run_id in run_ids]
    for run in runs:
        run_progress(run)
    if all(run.finished_at is not None for run in runs):
        st.rerun()


actor = require_actor()
st.title("Scenarios")
may_run = has_permission(actor, Permission.SCENARIO_RUN)

forecasts = []
if may_run:
    forecasts = [
        version
        for version in run_service(list_forecast_versions, actor)
        if version.can_be_solved
    ]
    if forecasts:
        new_scenario_form(actor, forecasts)
    else:
        st.info("No forecast to vary yet. Import one on the Forecast page.")

scenarios = run_service(list_scenarios, actor)

st.header("Runs")
if not scenarios:
    st.info("No scenario yet.")
elif may_run and run_form(actor, scenarios):
    # Read the list again, so that it shows the run just started.
    scenarios = run_service(list_scenarios, actor)
unfinished = tuple(
    run.run_id
    for scenario in scenarios
    for run in scenario.runs
    if run.finished_at is None
)
if unfinished:
    follow_runs(unfinished)
if scenarios:
    runs_table(scenarios)

st.header("Sweeps")
if may_run and forecasts and sweep_form(actor, forecasts):
    scenarios = run_service(list_scenarios, actor)
bases = sorted({scenario.base_forecast_version_id for scenario in scenarios})
if bases:
    left, right = st.columns(2)
    with left:
        curve_label = st.selectbox("Setting of the curve", list(SWEEP_SETTINGS))
    with right:
        curve_base = st.selectbox(
            "Forecast version of the curve",
            bases,
            format_func=lambda version_id: f"forecast version {version_id}",
        )
    setting, unit = SWEEP_SETTINGS[curve_label]
    sweep_curve(scenarios, setting, unit, curve_label, curve_base)

st.header("Explanations")
succeeded = [
    (scenario, run)
    for scenario in scenarios
    for run in scenario.runs
    if run.status == SUCCEEDED
]
if not succeeded:
    st.info("No finished run to explain yet.")
    st.stop()
chosen_scenario, chosen_run = st.selectbox(
    "Run to explain", succeeded, format_func=lambda pair: run_label(*pair)
)
explanations(chosen_run)
