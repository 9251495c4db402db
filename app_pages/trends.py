"""Trends: the KPIs of each week's approved plan over time, and monthly rollups.

Tenant admins also set the cost per driver and week and how long the
history is kept. The platform operator sees the anonymised comparison of
tenants.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pandas as pd
import plotly.express as px
import streamlit as st

from app_pages._display import run_service
from app_pages._driver_display import show_error
from app_pages._session import require_actor
from core.errors import InvalidInput
from core.kpi_history import (
    MIN_COMPARISON_WEEKS,
    WeeklyKpis,
    compare_tenants,
    list_monthly_rollups,
    list_weekly_kpis,
)
from core.kpi_settings import (
    MAX_HISTORY_RETENTION_DAYS,
    MIN_HISTORY_RETENTION_DAYS,
    get_cost_per_driver,
    get_history_retention_days,
    set_cost_per_driver,
    set_history_retention_days,
)
from core.permissions import Actor, Permission, has_permission

CHART_HEIGHT_PIXELS = 300
WEEK_MILLISECONDS = 7 * 24 * 60 * 60 * 1000
WEEKLY_TICKS_UP_TO = 12
SETTING_LABELS = {"cost_per_driver_week": "Cost per driver and week"}


def weekly_frame(weeks: Sequence[WeeklyKpis]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "week": [week.week_anchor for week in weeks],
            "drivers": [week.drivers for week in weeks],
            "lower bound": [week.lower_bound for week in weeks],
            "part-time share (%)": [
                None if week.part_time_share is None else week.part_time_share * 100
                for week in weeks
            ],
            "tour hours": [week.hours for week in weeks],
            "cost": [None if week.cost is None else float(week.cost) for week in weeks],
        }
    )


def line_chart(frame: pd.DataFrame, columns: list[str], title: str) -> None:
    figure = px.line(frame, x="week", y=columns, markers=True, title=title)
    figure.update_layout(
        height=CHART_HEIGHT_PIXELS, legend_title_text="", yaxis_title=""
    )
    # Weeks are dates: without a date format, one week alone gets clock ticks,
    # and a few weeks get one tick each.
    figure.update_xaxes(tickformat="%d.%m.%Y")
    if len(frame) <= WEEKLY_TICKS_UP_TO:
        figure.update_xaxes(dtick=WEEK_MILLISECONDS)
    st.plotly_chart(figure, width="stretch")


def show_trends(weeks: Sequence[WeeklyKpis]) -> None:
    frame = weekly_frame(weeks)
    left, right = st.columns(2)
    with left:
        line_chart(frame, ["drivers", "lower bound"], "Head count per week")
        line_chart(frame, ["tour hours"], "Tour hours per week")
    with right:
        line_chart(frame, ["part-time share (%)"], "Part-time share per week")
        if frame["cost"].notna().any():
            line_chart(frame, ["cost"], "Cost per week")
        else:
            st.info(
                "No week has a cost yet. Weeks approved after a tenant admin set"
                " the cost per driver get one."
            )


def show_monthly_rollups(actor: Actor) -> None:
    st.subheader("Monthly rollup")
    st.caption("Weeks count in the month of their Monday.")
    rollups = run_service(list_monthly_rollups, actor)
    st.dataframe(
        pd.DataFrame(
            {
                "month": [rollup.month.strftime("%Y-%m") for rollup in rollups],
                "weeks": [rollup.weeks for rollup in rollups],
                "average drivers": [rollup.average_drivers for rollup in rollups],
                "average part-time share (%)": [
                    None
                    if rollup.average_part_time_share is None
                    else round(rollup.average_part_time_share * 100, 2)
                    for rollup in rollups
                ],
                "average tour hours": [rollup.average_hours for rollup in rollups],
                "total cost": [
                    None if rollup.total_cost is None else float(rollup.total_cost)
                    for rollup in rollups
                ],
                "weeks with cost": [rollup.weeks_with_cost for rollup in rollups],
            }
        ),
        hide_index=True,
    )


def show_settings(actor: Actor) -> None:
    st.subheader("Cost and retention")
    cost = run_service(get_cost_per_driver, actor)
    retention_days = run_service(get_history_retention_days, actor)
    with st.form("kpi_history_settings"):
        cost_text = st.text_input(
            "Cost per driver and week",
            value="" if cost is None else str(cost),
            help="Money per driver and week, for plans approved from now on."
            " Leave it empty to record no cost.",
        )
        days = st.number_input(
            "Keep KPI history for (days)",
            min_value=MIN_HISTORY_RETENTION_DAYS,
            max_value=MAX_HISTORY_RETENTION_DAYS,
            value=retention_days,
            step=1,
        )
        if st.form_submit_button("Save settings"):
            new_cost = cost_text.strip() or None
            try:
                stored = set_cost_per_driver(actor, new_cost)
            except InvalidInput as error:
                show_error(error, SETTING_LABELS)
                return
            run_service(set_history_retention_days, actor, int(days))
            st.success(
                f"Saved: cost {_money(stored)} per driver and week,"
                f" history kept for {int(days)} days."
            )


def show_comparison(actor: Actor) -> None:
    st.subheader("Tenant comparison")
    st.caption(
        f"Anonymised: tenants with at least {MIN_COMPARISON_WEEKS} weeks of"
        " history, ordered by average head count."
    )
    comparison = run_service(compare_tenants, actor)
    if not comparison:
        st.info(f"No tenant has {MIN_COMPARISON_WEEKS} weeks of KPI history yet.")
        return
    st.dataframe(pd.DataFrame([row.__dict__ for row in comparison]), hide_index=True)


def _money(amount: Decimal | None) -> str:
    return "none" if amount is None else f"{amount:,.2f}"


actor = require_actor()
st.title("Trends")

weeks = run_service(list_weekly_kpis, actor)
if weeks:
    show_trends(weeks)
    show_monthly_rollups(actor)
else:
    st.info("No approved plan yet. Each approved week adds a point to these trends.")
if has_permission(actor, Permission.TENANT_CONFIGURE):
    show_settings(actor)
if has_permission(actor, Permission.SYSTEM_ADMIN):
    show_comparison(actor)
