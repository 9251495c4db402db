"""What-if variations of a week, and sweeps of one setting over a range.

A scenario changes its base, never the base itself: `scale_demand` returns a
new forecast, and rule changes return new RuleSettings. A sweep plans the
forecast once per value of one setting and reports, per point, the head
count, its proven lower bound, the gap and the time. The setting is any rule
setting in minutes (or true or false), or DEMAND_SCALE for the demand in
percent. Points are cached by their inputs: the forecast's SHA-256, the
rules and the search limits, so a repeated point is never planned twice.

Points are independent searches, so a sweep may plan them in worker
processes. A point's search gives the same plan for the same inputs unless
a time limit stops one of its stages. So workers give the same points as one
process, except for points whose plans depend on how far a stage got.
"""

from __future__ import annotations

import math
import multiprocessing
import sys
import time
import types
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, fields

from solver.rules import RuleSettings
from solver.solve import SolveResult, plan_forecast
from solver.tours import Forecast, TourTemplate

DEMAND_SCALE = "demand_percent"


def scale_demand(
    forecast: Forecast,
    percent: float,
    *,
    days: Sequence[int] | None = None,
    start_band: tuple[int, int] | None = None,
) -> Forecast:
    """Return the forecast with some templates' counts scaled to `percent` %.

    Only templates on `days` (ISO weekdays, 1 = Monday) and starting within
    `start_band` (minutes from midnight, start included, end excluded) are
    scaled; by default all are. A count is rounded half up, so 3 tours at
    150 % become 5; a template scaled to 0 tours is left out.
    """
    if not math.isfinite(percent) or percent < 0:
        raise ValueError(f"demand percent must be 0 or more, got {percent}")
    if days is not None and not set(days) <= set(range(1, 8)):
        raise ValueError(f"days must be ISO weekdays 1 to 7, got {sorted(days)}")
    if start_band is not None and not 0 <= start_band[0] < start_band[1] <= 1440:
        raise ValueError(f"start band must lie within one day, got {start_band}")
    templates = []
    for template in forecast.templates:
        count = template.count
        if _is_scaled(template, days, start_band):
            count = math.floor(template.count * percent / 100 + 0.5)
        if count:
            templates.append(
                TourTemplate(
                    template.day,
                    template.start_minute,
                    template.end_minute,
                    count,
                    template.depot,
                    template.qualification,
                )
            )
    return Forecast.from_templates(templates)


def _is_scaled(
    template: TourTemplate,
    days: Sequence[int] | None,
    start_band: tuple[int, int] | None,
) -> bool:
    if days is not None and template.day not in days:
        return False
    if start_band is not None:
        return start_band[0] <= template.start_minute < start_band[1]
    return True


@dataclass(frozen=True)
class SweepPoint:
    """One planned point of a sweep."""

    setting: str
    value: float
    tours: int
    drivers: int
    lower_bound: int
    gap: float
    status: str
    violations: int
    seconds: float
    cached: bool = False


SweepCache = MutableMapping[tuple, SweepPoint]


def sweep(
    forecast: Forecast,
    rules: RuleSettings,
    setting: str,
    values: Sequence[float],
    *,
    time_limit_seconds: float = 120.0,
    gap_target: float = 0.0,
    cache: SweepCache | None = None,
    on_point: Callable[[SweepPoint], None] | None = None,
    workers: int = 1,
) -> list[SweepPoint]:
    """Plan the forecast once per value of `setting`; return the points in order.

    Each point gets its own `time_limit_seconds`. Its head count search stops
    once the gap to its lower bound is at most `gap_target` (a fraction),
    and the point reports its drivers, its bound and the gap between them.
    With `workers` above 1, the points not in the cache are planned in that
    many worker processes. A value repeated within `values` is planned once.
    `on_point` is called once per point, in the order of `values`, as soon
    as that point and all points before it are planned.

    Raises ValueError naming the setting when it is unknown or a value does
    not fit it, or naming `workers` when it is below 1.
    """
    known = {field.name: field for field in fields(RuleSettings)}
    if setting != DEMAND_SCALE and setting not in known:
        raise ValueError(
            f"unknown sweep setting {setting!r}; use {DEMAND_SCALE} or one of"
            f" {', '.join(sorted(known))}"
        )
    if workers < 1:
        raise ValueError(f"workers must be 1 or more, got {workers}")
    if not 0 <= gap_target < 1:
        raise ValueError(f"gap_target must lie in [0, 1), got {gap_target}")
    inputs = [_point_inputs(forecast, rules, setting, value) for value in values]
    limits = (time_limit_seconds, gap_target)
    keys = [_cache_key(*point_inputs, *limits) for point_inputs in inputs]
    planned: dict[int, Future[SweepPoint]] = {}
    pool: ProcessPoolExecutor | None = None
    if workers > 1:
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )
    points: list[SweepPoint] = []
    try:
        first_of_key: dict[tuple, int] = {}
        with _bare_main_module():
            for number, (value, key) in enumerate(zip(values, keys)):
                if (cache is not None and key in cache) or key in first_of_key:
                    continue
                first_of_key[key] = number
                if pool is not None:
                    planned[number] = pool.submit(
                        plan_point, setting, value, *inputs[number], *limits
                    )
        for number, (value, key) in enumerate(zip(values, keys)):
            if cache is not None and key in cache:
                point = _as_cached(cache[key], setting, value)
            elif first_of_key[key] != number:
                point = _as_cached(points[first_of_key[key]], setting, value)
            else:
                if pool is None:
                    point = plan_point(setting, value, *inputs[number], *limits)
                else:
                    point = planned[number].result()
                if cache is not None:
                    cache[key] = point
            points.append(point)
            if on_point is not None:
                on_point(point)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return points


def _cache_key(
    forecast: Forecast,
    rules: RuleSettings,
    time_limit_seconds: float,
    gap_target: float,
) -> tuple:
    return (
        forecast.sha256,
        tuple(sorted(rules.to_dict().items())),
        time_limit_seconds,
        gap_target,
    )


def plan_point(
    setting: str,
    value: float,
    forecast: Forecast,
    rules: RuleSettings,
    time_limit_seconds: float,
    gap_target: float,
) -> SweepPoint:
    """Plan one point of a sweep (module level, so worker processes can run it)."""
    started = time.monotonic()
    result = plan_forecast(
        forecast,
        rules,
        time_limit_seconds=time_limit_seconds,
        gap_target=gap_target,
    )
    return _point(setting, value, forecast, result, started)


@contextmanager
def _bare_main_module() -> Iterator[None]:
    """Start worker processes without running the parent's __main__ in them.

    A spawned process runs the parent's __main__ script again before it
    takes work. Under Streamlit, or in a test after Streamlit's AppTest,
    __main__ is a page script, which must not run in a planning process.
    The workers need only this module, which they import by name. The pool
    starts its processes on submit, so submits happen inside this block.
    """
    main_module = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main_module


def _point_inputs(
    forecast: Forecast, rules: RuleSettings, setting: str, value: float
) -> tuple[Forecast, RuleSettings]:
    if setting == DEMAND_SCALE:
        return scale_demand(forecast, value), rules
    current = getattr(rules, setting)
    if isinstance(current, bool):
        if value not in (0, 1):
            raise ValueError(f"{setting} takes true or false, got {value!r}")
        new_value: object = bool(value)
    else:
        if value != int(value):
            raise ValueError(f"{setting} takes whole minutes, got {value!r}")
        new_value = int(value)
    return forecast, RuleSettings.from_dict({**rules.to_dict(), setting: new_value})


def _point(
    setting: str, value: float, forecast: Forecast, result: SolveResult, started: float
) -> SweepPoint:
    return SweepPoint(
        setting=setting,
        value=value,
        tours=forecast.tour_count,
        drivers=result.drivers,
        lower_bound=result.lower_bound,
        gap=result.gap,
        status=result.status.value,
        violations=result.violations,
        seconds=time.monotonic() - started,
    )


def _as_cached(point: SweepPoint, setting: str, value: float) -> SweepPoint:
    return SweepPoint(
        setting=setting,
        value=value,
        tours=point.tours,
        drivers=point.drivers,
        lower_bound=point.lower_bound,
        gap=point.gap,
        status=point.status,
        violations=point.violations,
        seconds=0.0,
        cached=True,
    )
