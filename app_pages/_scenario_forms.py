"""Forms of the Scenarios page: a new scenario, a run and a sweep.

Each form builds the arguments of a core.scenarios service from widgets in
the units a dispatcher uses (hours, percent, weekdays) and calls it through
run_service, so a rejected value shows the service's message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time
from typing import Any

import streamlit as st

from app_pages._display import WEEKDAY_NAMES, forecast_version_label, run_service
from core.drivers import list_drivers
from core.permissions import Actor, Permission, has_permission
from core.plans import MAX_TIME_LIMIT_SECONDS, MIN_TIME_LIMIT_SECONDS
from core.scenarios import (
    MAX_SWEEP_POINTS,
    ScenarioView,
    create_scenario,
    run_scenario,
    sweep_setting,
)
from core.views import ForecastVersionView
from solver.rules import RuleSettings
from solver.scenarios import DEMAND_SCALE

MINUTES_PER_HOUR = 60
DEFAULT_TIME_LIMIT_SECONDS = 60
SWEEP_POINTS = 5
# Rule settings the new-scenario form offers, in hours: widget label and field.
HOUR_RULES = {
    "Weekly hour limit (h)": "max_weekly_minutes",
    "Minimum rest (h)": "min_rest_minutes",
    "Split break from (h)": "min_split_gap_minutes",
    "Split break up to (h)": "max_split_gap_minutes",
    "Part-time below (h)": "part_time_below_minutes",
}
# Settings a sweep can vary: label, setting name for sweep_setting, and how
# many units of the setting one unit of the label is (minutes per hour).
SWEEP_SETTINGS: dict[str, tuple[str, int]] = {
    "Weekly hour limit (h)": ("max_weekly_minutes", MINUTES_PER_HOUR),
    "Minimum rest (h)": ("min_rest_minutes", MINUTES_PER_HOUR),
    "Part-time below (h)": ("part_time_below_minutes", MINUTES_PER_HOUR),
    "Split break up to (h)": ("max_split_gap_minutes", MINUTES_PER_HOUR),
    "Demand (%)": (DEMAND_SCALE, 1),
}


def new_scenario_form(actor: Actor, forecasts: Sequence[ForecastVersionView]) -> None:
    """Show the "New scenario" form and create the scenario it describes."""
    defaults = RuleSettings().to_dict()
    drivers = []
    if has_permission(actor, Permission.DRIVER_READ):
        drivers = run_service(list_drivers, actor, active_only=True)
    with st.form("New scenario"):
        st.subheader("New scenario")
        name = st.text_input("Scenario name", max_chars=200)
        forecast = st.selectbox(
            "Base forecast version", forecasts, format_func=forecast_version_label
        )
        st.markdown("**Rules**")
        hours: dict[str, float] = {}
        columns = st.columns(len(HOUR_RULES))
        for column, (label, setting) in zip(columns, HOUR_RULES.items(), strict=True):
            with column:
                hours[setting] = st.number_input(
                    label,
                    min_value=0.0,
                    max_value=168.0,
                    value=defaults[setting] / MINUTES_PER_HOUR,
                    step=0.5,
                )
        demand = _demand_inputs()
        pool = _pool_inputs(drivers) if drivers else {}
        if not st.form_submit_button("Create scenario", type="primary"):
            return
    rules = {
        setting: round(value * MINUTES_PER_HOUR)
        for setting, value in hours.items()
        if round(value * MINUTES_PER_HOUR) != defaults[setting]
    }
    variation: dict[str, Any] = {"rules": rules, "demand": demand, "pool": pool}
    scenario = run_service(
        create_scenario, actor, name, forecast.forecast_version_id, variation
    )
    st.toast(f"Scenario {scenario.name} created.")


def _demand_inputs() -> dict[str, Any]:
    """Return the demand part of a variation: one scaling step, or none at 100 %."""
    st.markdown("**Demand**")
    left, middle, right = st.columns(3)
    with left:
        weekdays = st.multiselect(
            "Weekdays to scale",
            list(WEEKDAY_NAMES),
            default=list(WEEKDAY_NAMES),
            format_func=WEEKDAY_NAMES.get,
        )
        percent = st.number_input(
            "Demand (%)",
            min_value=0,
            max_value=1000,
            value=100,
            step=5,
            help="Tour counts of the chosen days and time band, in percent of the"
            " base forecast",
        )
    with middle:
        use_band = st.checkbox("Only tours starting in a time band")
        band_start = st.time_input("Band from", value=time(5, 0))
    with right:
        band_end = st.time_input("Band to", value=time(9, 0))
    if percent == 100:
        return {}
    band = None
    if use_band:
        band = [band_start.strftime("%H:%M"), band_end.strftime("%H:%M")]
    return {"scale": [{"weekdays": weekdays, "start_band": band, "percent": percent}]}


def _pool_inputs(drivers: Sequence[Any]) -> dict[str, Any]:
    """Return the pool part of a variation from the driver widgets."""
    st.markdown("**Driver pool**")
    labels = {driver.driver_id: driver.external_ref for driver in drivers}
    left, right = st.columns(2)
    with left:
        removed = st.multiselect(
            "Drivers to leave out", list(labels), format_func=labels.get
        )
        granted = st.multiselect(
            "Drivers to grant a qualification", list(labels), format_func=labels.get
        )
        qualification = st.text_input("Qualification to grant", max_chars=100)
    with right:
        generic = st.number_input(
            "Generic drivers to add", min_value=0, max_value=1000, value=0
        )
        generic_hours = st.number_input(
            "Weekly hours of added drivers",
            min_value=1,
            max_value=168,
            value=48,
        )
        generic_skills = st.text_input(
            "Qualifications of added drivers",
            help="Separate several qualifications with commas",
        )
    pool: dict[str, Any] = {}
    if removed:
        pool["remove_drivers"] = removed
    if generic:
        skills = [item.strip() for item in generic_skills.split(",") if item.strip()]
        pool["add_generic"] = [
            {
                "count": int(generic),
                "qualifications": skills,
                "max_weekly_hours": int(generic_hours),
            }
        ]
    if granted or qualification.strip():
        pool["grant"] = [
            {"driver_ids": granted, "qualification": qualification.strip()}
        ]
    return pool


def run_form(actor: Actor, scenarios: Sequence[ScenarioView]) -> bool:
    """Show the scenario choice and the "Run scenario" button; tell if a run began."""
    with st.form("Run"):
        scenario = st.selectbox(
            "Scenario", scenarios, format_func=lambda view: view.name
        )
        time_limit = st.number_input(
            "Time limit (seconds)",
            min_value=int(MIN_TIME_LIMIT_SECONDS),
            max_value=int(MAX_TIME_LIMIT_SECONDS),
            value=DEFAULT_TIME_LIMIT_SECONDS,
            step=5,
        )
        if not st.form_submit_button("Run scenario", type="primary"):
            return False
    run = run_service(run_scenario, actor, scenario.scenario_id, float(time_limit))
    if run.cached:
        st.toast(f"Run {run.run_id} reuses an earlier result.")
    else:
        st.toast(f"Run {run.run_id} queued.")
    return True


def sweep_form(actor: Actor, forecasts: Sequence[ForecastVersionView]) -> bool:
    """Show the sweep form, run one scenario per point, and tell if it ran."""
    with st.form("Sweep"):
        st.subheader("Sweep a setting")
        forecast = st.selectbox(
            "Base forecast version",
            forecasts,
            format_func=forecast_version_label,
            key="sweep_forecast",
        )
        label = st.selectbox("Setting", list(SWEEP_SETTINGS))
        left, middle, right = st.columns(3)
        with left:
            start = st.number_input("From", value=45.0, step=1.0)
        with middle:
            stop = st.number_input("To", value=60.0, step=1.0)
        with right:
            step = st.number_input(
                "Step",
                min_value=0.0,
                value=0.0,
                step=1.0,
                help=f"0 spreads {SWEEP_POINTS} points evenly from From to To",
            )
        if not st.form_submit_button("Run sweep"):
            return False
    setting, unit = SWEEP_SETTINGS[label]
    values = [round(value * unit) for value in sweep_values(start, stop, step)]
    # A cost curve needs each point's head count and bound only; the rule
    # costs would solve one LP per rule at every point.
    runs = run_service(
        sweep_setting,
        actor,
        forecast.forecast_version_id,
        setting,
        values,
        explain=False,
    )
    st.toast(f"Sweep of {len(runs)} points started.")
    return True


def sweep_values(start: float, stop: float, step: float) -> list[float]:
    """Return the points from start to stop: by step, or SWEEP_POINTS evenly."""
    low, high = min(start, stop), max(start, stop)
    if step <= 0:
        if low == high:
            return [low]
        width = (high - low) / (SWEEP_POINTS - 1)
        return [low + index * width for index in range(SWEEP_POINTS)]
    values = []
    value = low
    # A small tolerance keeps the end point despite rounding of the steps.
    # One point past the service's maximum is enough for its error message.
    while value <= high + 1e-9 and len(values) <= MAX_SWEEP_POINTS:
        values.append(value)
        value += step
    return values
