"""Plotly figures of comparisons and scenarios, shared by the pages and exports.

Nothing here imports Streamlit, so the export service can draw the same
figures as the Compare and Scenarios pages. The coverage charts of one
comparison share their y range, so results side by side read on one scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.comparison import WEEKDAY_SHORT_NAMES, ComparedResult, Comparison

# Width of one bar of the hours histogram, in hours.
HOURS_BIN_WIDTH = 2
PANEL_HEIGHT_PIXELS = 130
CHART_HEIGHT_PIXELS = 380
# One color per result position, so a result keeps its color in every chart.
RESULT_COLORS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2")
TOURS_COLOR = "#a8b3bf"
DRIVERS_COLOR = "#c0392b"
HOURS_PER_DAY = 24


def comparison_figures(comparison: Comparison) -> dict[str, go.Figure]:
    """Build every chart of a comparison, by a name fit for a file name.

    The names are "hours_distribution", "head_count" and "coverage_<n>" for
    the n-th result, counted from 1.
    """
    figures = {
        "hours_distribution": hours_distribution_chart(comparison),
        "head_count": head_count_chart(comparison),
    }
    coverage_max = max_coverage(comparison)
    for number, result in enumerate(comparison.results, start=1):
        figures[f"coverage_{number}"] = coverage_chart(result, coverage_max)
    return figures


def hours_distribution_chart(comparison: Comparison) -> go.Figure:
    """Draw how many drivers work how many hours a week, one bar color per result."""
    figure = go.Figure()
    for index, (label, hours) in enumerate(
        zip(comparison.columns, comparison.hours, strict=True)
    ):
        figure.add_trace(
            go.Histogram(
                x=list(hours),
                name=label,
                xbins={"start": 0, "size": HOURS_BIN_WIDTH},
                marker_color=RESULT_COLORS[index % len(RESULT_COLORS)],
            )
        )
    figure.update_layout(
        barmode="group",
        title="Weekly hours per driver",
        xaxis_title="hours per week",
        yaxis_title="drivers",
        height=CHART_HEIGHT_PIXELS,
        legend_title_text=None,
        margin={"t": 50},
    )
    return figure


def head_count_chart(comparison: Comparison) -> go.Figure:
    """Draw the drivers working on each weekday, one bar per result."""
    figure = go.Figure()
    for index, (label, counts) in enumerate(
        zip(comparison.columns, comparison.head_count, strict=True)
    ):
        figure.add_trace(
            go.Bar(
                x=list(WEEKDAY_SHORT_NAMES),
                y=list(counts),
                name=label,
                marker_color=RESULT_COLORS[index % len(RESULT_COLORS)],
            )
        )
    figure.update_layout(
        barmode="group",
        title="Drivers working per day",
        yaxis_title="drivers",
        height=CHART_HEIGHT_PIXELS,
        legend_title_text=None,
        margin={"t": 50},
    )
    return figure


def max_coverage(comparison: Comparison) -> int:
    """Return the largest count of any coverage chart, at least 1, for a shared axis."""
    counts = [
        max(row["tours"], row["drivers"])
        for result in comparison.results
        for row in result.coverage
    ]
    return max([1, *counts])


def coverage_chart(result: ComparedResult, y_max: int) -> go.Figure:
    """Draw tours running and drivers working by time of day, a panel per weekday.

    Every panel's y axis runs from 0 to `y_max`, so that charts of several
    results side by side share one scale.
    """
    figure = make_subplots(
        rows=len(WEEKDAY_SHORT_NAMES),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.02,
        row_titles=list(WEEKDAY_SHORT_NAMES),
    )
    for day, _name in enumerate(WEEKDAY_SHORT_NAMES, start=1):
        rows = sorted(
            (row for row in result.coverage if row["day"] == day),
            key=lambda row: row["minute"],
        )
        hours = [row["minute"] / 60 for row in rows]
        first = day == 1
        figure.add_trace(
            go.Scatter(
                x=hours,
                y=[row["tours"] for row in rows],
                name="tours running",
                line={"shape": "hv", "color": TOURS_COLOR},
                fill="tozeroy",
                legendgroup="tours",
                showlegend=first,
            ),
            row=day,
            col=1,
        )
        figure.add_trace(
            go.Scatter(
                x=hours,
                y=[row["drivers"] for row in rows],
                name="drivers working",
                line={"shape": "hv", "color": DRIVERS_COLOR},
                legendgroup="drivers",
                showlegend=first,
            ),
            row=day,
            col=1,
        )
    figure.update_yaxes(range=[0, y_max * 1.05])
    figure.update_xaxes(range=[0, HOURS_PER_DAY], dtick=2)
    figure.update_xaxes(title_text="hour of day", row=len(WEEKDAY_SHORT_NAMES))
    figure.update_layout(
        title=f"Coverage: {result.label}",
        height=PANEL_HEIGHT_PIXELS * len(WEEKDAY_SHORT_NAMES),
        legend={"orientation": "h", "y": -0.06},
        margin={"t": 50},
    )
    return figure


def cost_curve_chart(points: Sequence[dict[str, Any]], setting_label: str) -> go.Figure:
    """Draw head count and lower bound against the swept setting's value.

    Each point has `value`, `drivers` and `lower_bound`; a None count leaves
    a gap in its line. Points may carry `open_tours`: when any point leaves
    tours open, a third line shows how many, because the head count of a
    pool that cannot cover the week stays flat however the setting moves.
    """
    ordered = sorted(points, key=lambda point: point["value"])
    values = [point["value"] for point in ordered]
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=values,
            y=[point["drivers"] for point in ordered],
            name="drivers",
            mode="lines+markers",
            line={"color": RESULT_COLORS[0]},
        )
    )
    figure.add_trace(
        go.Scatter(
            x=values,
            y=[point["lower_bound"] for point in ordered],
            name="lower bound",
            mode="lines+markers",
            line={"color": RESULT_COLORS[1], "dash": "dash"},
        )
    )
    if any(point.get("open_tours") for point in ordered):
        figure.add_trace(
            go.Scatter(
                x=values,
                y=[point.get("open_tours") for point in ordered],
                name="open tours",
                mode="lines+markers",
                line={"color": RESULT_COLORS[2], "dash": "dot"},
            )
        )
    figure.update_layout(
        title=f"Head count against {setting_label}",
        xaxis_title=setting_label,
        yaxis_title="drivers",
        height=CHART_HEIGHT_PIXELS,
        legend_title_text=None,
        margin={"t": 50},
    )
    return figure


def shadow_price_heatmap(shadow_prices: Sequence[Sequence[float]]) -> go.Figure:
    """Draw shadow prices as a heatmap of weekday (rows) by hour of day (columns).

    `shadow_prices` has 7 rows of 24 values, Monday first, as a scenario
    run's explanations store them.
    """
    figure = go.Figure(
        go.Heatmap(
            z=[list(row) for row in shadow_prices],
            x=list(range(HOURS_PER_DAY)),
            y=list(WEEKDAY_SHORT_NAMES[: len(shadow_prices)]),
            colorscale="Reds",
            colorbar={"title": "shadow price"},
        )
    )
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(
        title="Shadow price of demand by weekday and hour",
        xaxis_title="hour of day",
        height=CHART_HEIGHT_PIXELS,
        margin={"t": 50},
    )
    return figure
