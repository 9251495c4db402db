"""The cost curve of a sweep: head count, bound and, when any, open tours."""

from __future__ import annotations

from core.comparison_charts import cost_curve_chart


def trace_names(points):
    return [trace.name for trace in cost_curve_chart(points, "Weekly hour limit").data]


def test_curve_without_open_tours():
    points = [
        {"value": 48, "drivers": 20, "lower_bound": 19, "open_tours": 0},
        {"value": 55, "drivers": 18, "lower_bound": 18, "open_tours": 0},
    ]

    assert trace_names(points) == ["drivers", "lower bound"]


def test_curve_shows_open_tours():
    points = [
        {"value": 55, "drivers": 13, "lower_bound": 13, "open_tours": 92},
        {"value": 48, "drivers": 13, "lower_bound": 13, "open_tours": 95},
    ]

    figure = cost_curve_chart(points, "Weekly hour limit")

    assert [trace.name for trace in figure.data] == [
        "drivers",
        "lower bound",
        "open tours",
    ]
    assert list(figure.data[2].x) == [48, 55]
    assert list(figure.data[2].y) == [95, 92]
