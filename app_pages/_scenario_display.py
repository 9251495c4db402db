"""Display helpers of the Scenarios page: runs, sweep curves and explanations."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from app_pages._display import week_label
from core.comparison_charts import cost_curve_chart, shadow_price_heatmap
from core.scenarios import ScenarioRunView, ScenarioView

SUCCEEDED = "succeeded"
# Names that core.scenarios.sweep_setting gives its scenarios, such as
# "sweep max_weekly_minutes=2880" or "... (forecast version 3)".
SWEEP_NAME = re.compile(r"^sweep (?P<setting>\w+)=(?P<value>[-+0-9.e]+)")


def run_label(scenario: ScenarioView, run: ScenarioRunView) -> str:
    return f"{scenario.name}, run {run.run_id} ({week_label(scenario.week_anchor)})"


def runs_table(scenarios: Sequence[ScenarioView]) -> None:
    """List every run of the scenarios, newest scenario first."""
    rows = []
    for scenario in scenarios:
        for run in scenario.runs:
            kpis = (run.result or {}).get("kpis") or {}
            rows.append(
                {
                    "scenario": scenario.name,
                    "run": run.run_id,
                    "status": run.status,
                    "drivers": kpis.get("drivers"),
                    "lower bound": (run.result or {}).get("lower_bound"),
                    "open tours": kpis.get("open_tours"),
                    "reused": "yes" if run.cached else "",
                    "finished": run.finished_at,
                    "error": run.error or "",
                }
            )
    if not rows:
        st.info("No run yet. Choose a scenario and run it.")
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def run_progress(run: ScenarioRunView) -> None:
    """Show one unfinished run's latest progress report."""
    progress = run.progress or {}
    text = f"run {run.run_id} of {run.scenario_name}: {run.status}"
    if progress:
        text += (
            f", {progress.get('phase', '')}, best {progress.get('best_drivers')}"
            f" drivers, lower bound {progress.get('lower_bound')}"
        )
    st.info(text)


def sweep_points(
    scenarios: Sequence[ScenarioView], setting: str, base_forecast_version_id: int
) -> list[dict[str, Any]]:
    """Collect the newest succeeded result of each sweep point of the setting."""
    points = []
    for scenario in scenarios:
        match = SWEEP_NAME.match(scenario.name)
        if (
            match is None
            or match["setting"] != setting
            or scenario.base_forecast_version_id != base_forecast_version_id
        ):
            continue
        succeeded = [run for run in scenario.runs if run.status == SUCCEEDED]
        if not succeeded:
            continue
        result = succeeded[0].result or {}
        points.append(
            {
                "value": float(match["value"]),
                "drivers": (result.get("kpis") or {}).get("drivers"),
                "lower_bound": result.get("lower_bound"),
                "open_tours": len(result.get("uncovered") or []),
            }
        )
    return points


def sweep_curve(
    scenarios: Sequence[ScenarioView],
    setting: str,
    unit: int,
    label: str,
    base_forecast_version_id: int,
) -> None:
    """Draw head count and lower bound against the setting, in the label's unit."""
    points = sweep_points(scenarios, setting, base_forecast_version_id)
    if not points:
        st.info("No finished sweep point of this setting yet.")
        return
    scaled = [{**point, "value": point["value"] / unit} for point in points]
    st.plotly_chart(cost_curve_chart(scaled, label), width="stretch")


def explanations(run: ScenarioRunView) -> None:
    """Show the marginal head count of each rule and the shadow-price heatmap."""
    explained = (run.result or {}).get("explanations") or {}
    rule_costs = explained.get("rule_costs") or []
    if rule_costs:
        st.markdown("**What each rule costs**")
        st.dataframe(
            pd.DataFrame(
                {
                    "rule": [item["label"] for item in rule_costs],
                    "drivers without the rule": [
                        item["drivers_without"] for item in rule_costs
                    ],
                    "marginal drivers": [item["marginal"] for item in rule_costs],
                }
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("This run has no rule costs.")
    shadow_prices = explained.get("shadow_prices")
    if shadow_prices:
        st.plotly_chart(shadow_price_heatmap(shadow_prices), width="stretch")
