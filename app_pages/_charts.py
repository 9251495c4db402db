"""Plotly charts of a plan: each driver's week, and coverage by time of day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from app_pages._display import WEEKDAY_NAMES
from core.views import RosterRow

ROW_HEIGHT_PIXELS = 18
MIN_CHART_HEIGHT_PIXELS = 320
PANEL_HEIGHT_PIXELS = 160
# Plotly measures date axis steps in milliseconds.
MILLISECONDS_PER_DAY = 24 * 60 * 60 * 1000
COVERAGE_SERIES = {
    "tours_in_demand": "tours in demand",
    "drivers_working": "drivers working",
}
# One fixed color per block kind, so a kind looks the same in every plan.
BLOCK_COLORS = {
    "single": "#4c78a8",
    "double regular": "#54a24b",
    "double split": "#f58518",
    "triple chained": "#b279a2",
}
COVERAGE_COLORS = {"tours in demand": "#a8b3bf", "drivers working": "#c0392b"}


def week_timeline(rosters: Sequence[RosterRow], week_anchor: date) -> go.Figure:
    """Draw one bar per block, one row per driver, across the week's days.

    An end time at or before the start time means the block ends the next day.
    """
    bars = []
    for row in rosters:
        day = week_anchor + timedelta(days=row.day - 1)
        start = datetime.combine(day, time.fromisoformat(row.start))
        end = datetime.combine(day, time.fromisoformat(row.end))
        if end <= start:
            end += timedelta(days=1)
        bars.append(
            {
                "driver": row.driver,
                "start": start,
                "end": end,
                "block": row.block_kind.replace("_", " "),
                "tours": ", ".join(row.tour_ids),
                "hours": round(row.minutes / 60, 2),
            }
        )
    frame = pd.DataFrame(bars)
    drivers = list(dict.fromkeys(row.driver for row in rosters))

    figure = px.timeline(
        frame,
        x_start="start",
        x_end="end",
        y="driver",
        color="block",
        hover_data=["tours", "hours"],
        category_orders={"driver": drivers, "block": list(BLOCK_COLORS)},
        color_discrete_map=BLOCK_COLORS,
    )
    # px.timeline puts the first driver of category_orders at the top.
    figure.update_yaxes(title=None)
    figure.update_xaxes(dtick=MILLISECONDS_PER_DAY, tickformat="%a %d.%m", title=None)
    figure.update_layout(
        height=max(MIN_CHART_HEIGHT_PIXELS, ROW_HEIGHT_PIXELS * len(drivers) + 120),
        legend_title_text="block",
        margin={"t": 30},
    )
    return figure


def coverage_chart(coverage: Sequence[dict[str, Any]]) -> go.Figure:
    """Draw tours in demand and drivers working by time of day, a panel per weekday."""
    frame = pd.DataFrame(list(coverage))
    frame["weekday"] = frame["day"].map(WEEKDAY_NAMES)
    frame["hour"] = frame["minute"] / 60
    long_frame = frame.melt(
        id_vars=["weekday", "hour"],
        value_vars=list(COVERAGE_SERIES),
        var_name="series",
        value_name="count",
    )
    long_frame["series"] = long_frame["series"].map(COVERAGE_SERIES)
    present = set(frame["weekday"])
    weekdays = [name for name in WEEKDAY_NAMES.values() if name in present]

    figure = px.line(
        long_frame,
        x="hour",
        y="count",
        color="series",
        facet_row="weekday",
        category_orders={"weekday": weekdays},
        color_discrete_map=COVERAGE_COLORS,
        line_shape="hv",
    )
    # Demand is a shaded area, so the line of drivers stays visible on top of
    # it where the plan covers every tour and the two counts are equal.
    figure.update_traces(fill="tozeroy", selector={"name": "tours in demand"})

    # Plotly labels each panel "weekday=Mon"; the weekday alone is enough.
    for annotation in figure.layout.annotations:
        annotation.text = annotation.text.split("=")[-1]
    figure.update_xaxes(dtick=2, title=None)
    figure.update_yaxes(title=None, matches=None)
    # The panels share one x axis, and only the bottom one, "xaxis", has ticks.
    figure.update_layout(
        xaxis_title="hour of day",
        height=max(MIN_CHART_HEIGHT_PIXELS, PANEL_HEIGHT_PIXELS * len(weekdays)),
        legend_title_text=None,
        margin={"t": 30},
    )
    return figure
