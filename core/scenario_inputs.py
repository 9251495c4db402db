"""Scenario variations: their check, how they change a week, and the stored inputs.

A variation (see core.scenarios) changes copies of three things of its
base. The rule settings change on top of the product defaults. In the
demand, templates are removed, then counts scaled, then templates added.
In the driver pool, drivers are left out, qualifications granted and
generic drivers added. Generic drivers get the ids "generic-1", "generic-2" and so on;
they live in the inputs only and never in the drivers table.

A run stores its inputs as JSON: the forecast templates after the
variation, the rules, the driver profiles (None for anonymous rosters) and
the time limit. `solve_inputs` plans from those inputs alone, so a stored
run can be repeated later without reading the tenant's current data, and
returns the result JSON that scenario_runs.result holds.

These functions check no permission and open no transaction; the callers
(core.scenarios, core.worker) do.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from core.errors import InvalidInput
from core.forecast_fields import FieldError, parse_clock
from core.named_planning import DriverPool, named_kpis, solve_result_of
from solver.assign import plan_for_drivers
from solver.drivers import DriverPreferences, DriverProfile
from solver.explain import rule_costs, shadow_prices_by_hour
from solver.pricing import plan_kpis
from solver.rules import RuleSettings
from solver.scenarios import scale_demand
from solver.solve import Progress, SolveResult, plan_forecast
from solver.tours import (
    MINUTES_PER_DAY,
    WEEKDAYS,
    Forecast,
    TourTemplate,
    expand,
    format_clock,
)

VARIATION_PARTS = ("rules", "demand", "pool")
DEMAND_PARTS = ("scale", "add_templates", "remove_templates")
POOL_PARTS = ("remove_drivers", "add_generic", "grant")
GRANT_FIELDS = ("driver_ids", "qualification")
GENERIC_DRIVER_PREFIX = "generic-"
# Limits that keep one variation, and so one run, of a sensible size.
MAX_ITEMS_PER_LIST = 500
MAX_TEMPLATE_COUNT = 500
MAX_GENERIC_DRIVERS = 1000
MAX_PERCENT = 1000
MAX_WEEKLY_HOURS = 7 * 24
MAX_LABEL_LENGTH = 100
COVERAGE_STEP_MINUTES = 30
HOURS_PER_DAY = 24
# Explanations solve one LP per relaxed rule and one for the shadow prices,
# within at most this much time in all.
MAX_EXPLAIN_SECONDS = 60.0
INPUTS_FORMAT = 1

ProgressCallback = Callable[[Progress], None]


# --- Checking a variation --------------------------------------------------------


def checked_variation(variation: object) -> dict[str, Any]:
    """Return the variation in canonical form, or raise InvalidInput naming the path.

    The path names the wrong value, such as "demand.scale[0].percent". Empty
    parts are left out, and lists of ids and weekdays are sorted without
    repeats, so equal variations compare and hash equal. Whether the driver
    ids exist and the removed templates are in the base forecast is checked
    when the variation is applied.
    """
    parts = _object(variation, "variation", VARIATION_PARTS)
    checked: dict[str, Any] = {}
    if parts.get("rules") is not None:
        rules = _checked_rules(parts["rules"])
        if rules:
            checked["rules"] = rules
    if parts.get("demand") is not None:
        demand = _checked_demand(parts["demand"])
        if demand:
            checked["demand"] = demand
    if parts.get("pool") is not None:
        pool = _checked_pool(parts["pool"])
        if pool:
            checked["pool"] = pool
    return checked


def _checked_rules(value: object) -> dict[str, Any]:
    known = {field.name: field for field in fields(RuleSettings)}
    rules = _object(value, "rules", tuple(known))
    checked: dict[str, Any] = {}
    for name in sorted(rules):
        item = rules[name]
        path = f"rules.{name}"
        if known[name].type == "bool":
            if not isinstance(item, bool):
                raise InvalidInput(path, f"expected true or false, got {item!r}")
            checked[name] = item
        else:
            checked[name] = _whole_number(item, path, 0, 7 * MINUTES_PER_DAY)
    try:
        RuleSettings.from_dict(checked)
    except ValueError as error:
        raise InvalidInput("rules", str(error)) from error
    return checked


def _checked_demand(value: object) -> dict[str, Any]:
    demand = _object(value, "demand", DEMAND_PARTS)
    checked: dict[str, Any] = {}
    scale = [
        _checked_scale(item, f"demand.scale[{index}]")
        for index, item in enumerate(_list(demand.get("scale"), "demand.scale"))
    ]
    added = [
        _checked_template(item, f"demand.add_templates[{index}]", with_count=True)
        for index, item in enumerate(
            _list(demand.get("add_templates"), "demand.add_templates")
        )
    ]
    removed = [
        _checked_template(item, f"demand.remove_templates[{index}]", with_count=False)
        for index, item in enumerate(
            _list(demand.get("remove_templates"), "demand.remove_templates")
        )
    ]
    if scale:
        checked["scale"] = scale
    if added:
        checked["add_templates"] = added
    if removed:
        checked["remove_templates"] = removed
    return checked


def _checked_scale(value: object, path: str) -> dict[str, Any]:
    item = _object(value, path, ("weekdays", "start_band", "percent"), ("percent",))
    weekdays = None
    if item.get("weekdays") is not None:
        days = _list(item["weekdays"], f"{path}.weekdays")
        if not days:
            raise InvalidInput(
                f"{path}.weekdays", "name at least one weekday, or leave it out"
            )
        weekdays = sorted(
            {
                _whole_number(day, f"{path}.weekdays[{index}]", 1, 7)
                for index, day in enumerate(days)
            }
        )
    band = None
    if item.get("start_band") is not None:
        band_path = f"{path}.start_band"
        times = _list(item["start_band"], band_path)
        if len(times) != 2:
            raise InvalidInput(band_path, "expected two times [from, to] as HH:MM")
        start = _clock(times[0], f"{band_path}[0]", is_end=False)
        end = _clock(times[1], f"{band_path}[1]", is_end=True) or MINUTES_PER_DAY
        if end <= start:
            raise InvalidInput(
                band_path,
                f"ends at {format_clock(end)}, not after its start"
                f" {format_clock(start)}; the band must lie within one day",
            )
        band = [
            format_clock(start),
            "24:00" if end == MINUTES_PER_DAY else format_clock(end),
        ]
    percent = _number(item["percent"], f"{path}.percent", 0, MAX_PERCENT)
    return {"weekdays": weekdays, "start_band": band, "percent": percent}


def _checked_template(value: object, path: str, *, with_count: bool) -> dict[str, Any]:
    names = ("day", "start", "end", "depot", "qualification")
    required = ("day", "start", "end")
    if with_count:
        names = (*names, "count")
        required = (*required, "count")
    item = _object(value, path, names, required)
    day = _whole_number(item["day"], f"{path}.day", 1, 7)
    start = _clock(item["start"], f"{path}.start", is_end=False)
    end = _clock(item["end"], f"{path}.end", is_end=True)
    if start == end:
        raise InvalidInput(f"{path}.end", "a tour cannot end when it starts")
    checked: dict[str, Any] = {
        "day": day,
        "start": format_clock(start),
        "end": format_clock(end),
        "depot": _label(item.get("depot", ""), f"{path}.depot"),
        "qualification": _label(item.get("qualification", ""), f"{path}.qualification"),
    }
    if with_count:
        checked["count"] = _whole_number(
            item["count"], f"{path}.count", 1, MAX_TEMPLATE_COUNT
        )
    return checked


def _checked_pool(value: object) -> dict[str, Any]:
    pool = _object(value, "pool", POOL_PARTS)
    checked: dict[str, Any] = {}
    removed = _driver_ids(pool.get("remove_drivers"), "pool.remove_drivers")
    generic = [
        _checked_generic(item, f"pool.add_generic[{index}]")
        for index, item in enumerate(_list(pool.get("add_generic"), "pool.add_generic"))
    ]
    if sum(item["count"] for item in generic) > MAX_GENERIC_DRIVERS:
        raise InvalidInput(
            "pool.add_generic",
            f"adds more than {MAX_GENERIC_DRIVERS} generic drivers in all",
        )
    grants = []
    for index, item in enumerate(_list(pool.get("grant"), "pool.grant")):
        path = f"pool.grant[{index}]"
        grant = _object(item, path, GRANT_FIELDS, GRANT_FIELDS)
        driver_ids = _driver_ids(grant["driver_ids"], f"{path}.driver_ids")
        if not driver_ids:
            raise InvalidInput(f"{path}.driver_ids", "name at least one driver id")
        qualification = _label(grant["qualification"], f"{path}.qualification")
        if not qualification:
            raise InvalidInput(f"{path}.qualification", "name the qualification")
        grants.append({"driver_ids": driver_ids, "qualification": qualification})
    if removed:
        checked["remove_drivers"] = removed
    if generic:
        checked["add_generic"] = generic
    if grants:
        checked["grant"] = grants
    return checked


def _checked_generic(value: object, path: str) -> dict[str, Any]:
    item = _object(
        value, path, ("count", "qualifications", "max_weekly_hours"), ("count",)
    )
    count = _whole_number(item["count"], f"{path}.count", 1, MAX_GENERIC_DRIVERS)
    qualifications = sorted(
        {
            _label(name, f"{path}.qualifications[{index}]")
            for index, name in enumerate(
                _list(item.get("qualifications"), f"{path}.qualifications")
            )
        }
        - {""}
    )
    hours = None
    if item.get("max_weekly_hours") is not None:
        hours = _number(
            item["max_weekly_hours"], f"{path}.max_weekly_hours", 1, MAX_WEEKLY_HOURS
        )
    return {"count": count, "qualifications": qualifications, "max_weekly_hours": hours}


def _object(
    value: object,
    path: str,
    allowed: Sequence[str],
    required: Sequence[str] = (),
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(path, f"expected an object, got {type(value).__name__}")
    unknown = sorted(str(key) for key in value if key not in allowed)
    if unknown:
        raise InvalidInput(
            _join(path, unknown[0]),
            f"is not a known field; use {', '.join(allowed)}",
        )
    for name in required:
        if value.get(name) is None:
            raise InvalidInput(_join(path, name), "is missing")
    return value


def _join(path: str, name: str) -> str:
    return name if path == "variation" else f"{path}.{name}"


def _list(value: object, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise InvalidInput(path, f"expected a list, got {type(value).__name__}")
    if len(value) > MAX_ITEMS_PER_LIST:
        raise InvalidInput(path, f"has more than {MAX_ITEMS_PER_LIST} entries")
    return list(value)


def _whole_number(value: object, path: str, low: int, high: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not low <= value <= high
    ):
        raise InvalidInput(
            path, f"expected a whole number from {low} to {high}, got {value!r}"
        )
    return value


def _number(value: object, path: str, low: float, high: float) -> int | float:
    valid = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    )
    if not valid:
        raise InvalidInput(
            path, f"expected a number from {low:g} to {high:g}, got {value!r}"
        )
    return int(value) if float(value).is_integer() else float(value)


def _label(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(path, f"expected text, got {type(value).__name__}")
    text = value.strip()
    if len(text) > MAX_LABEL_LENGTH:
        raise InvalidInput(path, f"is longer than {MAX_LABEL_LENGTH} characters")
    return text


def _clock(value: object, path: str, *, is_end: bool) -> int:
    if not isinstance(value, str):
        raise InvalidInput(path, f"expected a time as HH:MM, got {value!r}")
    try:
        return parse_clock(value, is_end=is_end)
    except FieldError as error:
        raise InvalidInput(path, str(error)) from error


def _driver_ids(value: object, path: str) -> list[int]:
    return sorted(
        {
            _whole_number(item, f"{path}[{index}]", 1, 2**63 - 1)
            for index, item in enumerate(_list(value, path))
        }
    )


# --- Applying a variation ----------------------------------------------------------


def varied_rules(variation: dict[str, Any]) -> RuleSettings:
    """Return the product defaults with the variation's rule settings."""
    return RuleSettings.from_dict(variation.get("rules", {}))


def varied_forecast(forecast: Forecast, variation: dict[str, Any]) -> Forecast:
    """Return the forecast after the variation's demand part; the base is unchanged.

    Removed templates go first, then every scale step in its order, then the
    added templates, whose counts are not scaled. Raises InvalidInput naming
    a removed template that the forecast does not have, and when no tour
    is left.
    """
    demand = variation.get("demand", {})
    templates = list(forecast.templates)
    for index, removed in enumerate(demand.get("remove_templates", ())):
        key = _template_key(removed)
        kept = [template for template in templates if template.key != key]
        if len(kept) == len(templates):
            raise InvalidInput(
                f"demand.remove_templates[{index}]",
                f"the base forecast has no template {_describe(removed)}",
            )
        templates = kept
    varied = Forecast.from_templates(templates, forecast.holidays)
    for step in demand.get("scale", ()):
        band = step["start_band"]
        varied = scale_demand(
            varied,
            step["percent"],
            days=step["weekdays"],
            start_band=None
            if band is None
            else (_band_minute(band[0]), _band_minute(band[1])),
        )
    added = [
        TourTemplate(
            item["day"],
            _minute(item["start"]),
            _minute(item["end"]),
            item["count"],
            item["depot"],
            item["qualification"],
        )
        for item in demand.get("add_templates", ())
    ]
    varied = Forecast.from_templates([*varied.templates, *added], forecast.holidays)
    if not varied.tour_count:
        raise InvalidInput("demand", "the variation leaves no tour in the week")
    return varied


def varied_profiles(
    profiles: Sequence[DriverProfile], variation: dict[str, Any]
) -> tuple[DriverProfile, ...]:
    """Return the driver profiles after the variation's pool part.

    Drivers are left out first, then granted qualifications, then the
    generic drivers are added. Raises InvalidInput naming a driver id that
    is not among the profiles (the tenant's active drivers).
    """
    pool = variation.get("pool", {})
    by_id = {profile.driver_id: profile for profile in profiles}
    for index, driver_id in enumerate(pool.get("remove_drivers", ())):
        _known_driver(by_id, driver_id, f"pool.remove_drivers[{index}]")
    for index, grant in enumerate(pool.get("grant", ())):
        for position, driver_id in enumerate(grant["driver_ids"]):
            path = f"pool.grant[{index}].driver_ids[{position}]"
            _known_driver(by_id, driver_id, path)
            if driver_id in pool.get("remove_drivers", ()):
                raise InvalidInput(
                    path, f"driver {driver_id} is removed from the pool as well"
                )
    removed = {str(driver_id) for driver_id in pool.get("remove_drivers", ())}
    varied = {key: value for key, value in by_id.items() if key not in removed}
    for grant in pool.get("grant", ()):
        for driver_id in grant["driver_ids"]:
            profile = varied[str(driver_id)]
            varied[profile.driver_id] = replace(
                profile,
                qualifications=profile.qualifications | {grant["qualification"]},
            )
    result = list(varied.values())
    number = 0
    for generic in pool.get("add_generic", ()):
        hours = generic["max_weekly_hours"]
        for _ in range(generic["count"]):
            number += 1
            result.append(
                DriverProfile(
                    driver_id=f"{GENERIC_DRIVER_PREFIX}{number}",
                    qualifications=frozenset(generic["qualifications"]),
                    max_weekly_minutes=None if hours is None else round(hours * 60),
                )
            )
    return tuple(result)


def _known_driver(by_id: dict[str, DriverProfile], driver_id: int, path: str) -> None:
    if str(driver_id) not in by_id:
        raise InvalidInput(
            path, f"driver {driver_id} is not an active driver of the tenant"
        )


def _template_key(item: dict[str, Any]) -> tuple[int, int, int, str, str]:
    return (
        item["day"],
        _minute(item["start"]),
        _minute(item["end"]),
        item["depot"],
        item["qualification"],
    )


def _describe(item: dict[str, Any]) -> str:
    text = f"day {item['day']} {item['start']}-{item['end']}"
    if item["depot"]:
        text += f" depot {item['depot']}"
    if item["qualification"]:
        text += f" needs {item['qualification']}"
    return text


def _minute(clock: str) -> int:
    hours, minutes = clock.split(":")
    return (int(hours) * 60 + int(minutes)) % MINUTES_PER_DAY


def _band_minute(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


# --- Stored inputs ------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioInputs:
    """The inputs of one run: forecast, rules, pool (None when anonymous), limits."""

    forecast: Forecast
    rules: RuleSettings
    pool: DriverPool | None
    time_limit_seconds: float
    explain: bool = True


def inputs_json(inputs: ScenarioInputs) -> dict[str, Any]:
    """Return the inputs as the JSON that scenario_runs.inputs stores."""
    pool = None
    if inputs.pool is not None:
        pool = {
            "profiles": [_profile_json(profile) for profile in inputs.pool.profiles],
            "stay_at_home_depot": inputs.pool.stay_at_home_depot,
        }
    return {
        "format": INPUTS_FORMAT,
        "forecast": {
            "templates": [
                {
                    "day": template.day,
                    "start": format_clock(template.start_minute),
                    "end": format_clock(template.end_minute),
                    "count": template.count,
                    "depot": template.depot,
                    "qualification": template.qualification,
                }
                for template in inputs.forecast.templates
            ],
            "holidays": list(inputs.forecast.holidays),
        },
        "rules": inputs.rules.to_dict(),
        "pool": pool,
        "time_limit_seconds": float(inputs.time_limit_seconds),
        "explain": inputs.explain,
    }


def input_hash(inputs: dict[str, Any]) -> str:
    """Return the SHA-256 hex of the inputs' canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_inputs(inputs: dict[str, Any]) -> ScenarioInputs:
    """Rebuild the inputs from their stored JSON; raise ValueError when damaged."""
    if inputs.get("format") != INPUTS_FORMAT:
        raise ValueError(f"scenario inputs of format {inputs.get('format')!r} unknown")
    forecast = Forecast.from_templates(
        (
            TourTemplate(
                item["day"],
                _minute(item["start"]),
                _minute(item["end"]),
                item["count"],
                item["depot"],
                item["qualification"],
            )
            for item in inputs["forecast"]["templates"]
        ),
        inputs["forecast"]["holidays"],
    )
    pool = None
    if inputs["pool"] is not None:
        pool = DriverPool(
            tuple(_profile_of(item) for item in inputs["pool"]["profiles"]),
            bool(inputs["pool"]["stay_at_home_depot"]),
        )
    return ScenarioInputs(
        forecast=forecast,
        rules=RuleSettings.from_dict(inputs["rules"]),
        pool=pool,
        time_limit_seconds=float(inputs["time_limit_seconds"]),
        explain=bool(inputs.get("explain", True)),
    )


def _profile_json(profile: DriverProfile) -> dict[str, Any]:
    preferences = profile.preferences
    return {
        "driver_id": profile.driver_id,
        "qualifications": sorted(profile.qualifications),
        "home_depot": profile.home_depot,
        "max_weekly_minutes": profile.max_weekly_minutes,
        "min_weekly_minutes": profile.min_weekly_minutes,
        "unavailable": [[start, end] for start, end in profile.unavailable],
        "previous_week_end": profile.previous_week_end,
        "preferences": {
            "start": preferences.start,
            "start_weight": preferences.start_weight,
            "days_off": sorted(preferences.days_off),
            "days_off_weight": preferences.days_off_weight,
            "max_days_in_row": preferences.max_days_in_row,
            "max_days_in_row_weight": preferences.max_days_in_row_weight,
        },
    }


def _profile_of(item: dict[str, Any]) -> DriverProfile:
    preferences = dict(item["preferences"])
    preferences["days_off"] = frozenset(preferences["days_off"])
    return DriverProfile(
        driver_id=item["driver_id"],
        qualifications=frozenset(item["qualifications"]),
        home_depot=item["home_depot"],
        max_weekly_minutes=item["max_weekly_minutes"],
        min_weekly_minutes=item["min_weekly_minutes"],
        unavailable=tuple((start, end) for start, end in item["unavailable"]),
        previous_week_end=item["previous_week_end"],
        preferences=DriverPreferences(**preferences),
    )


# --- Planning the inputs -------------------------------------------------------------


def solve_inputs(
    inputs: ScenarioInputs, on_progress: ProgressCallback | None = None
) -> dict[str, Any]:
    """Plan the inputs and return the result JSON of scenario_runs.result.

    Anonymous inputs are planned by solver.solve.plan_forecast, a pool by
    solver.assign.plan_for_drivers. With `explain`, the rule costs and the
    shadow prices of the forecast under the rules follow, within
    MAX_EXPLAIN_SECONDS or the time limit, whichever is shorter.
    `on_progress` is called as plan_forecast calls it, and once before the
    named search and the explanations; it may raise to stop the run.
    """
    report = on_progress or (lambda progress: None)
    if inputs.pool is None:
        result = plan_forecast(
            inputs.forecast,
            inputs.rules,
            time_limit_seconds=inputs.time_limit_seconds,
            on_progress=on_progress,
        )
        extra_kpis: dict[str, Any] = {
            "status_text": result.describe_status(),
            "bound_is_exact": result.bound_is_exact,
            "part_time_lower_bound": result.part_time_lower_bound,
            "violations": result.violations,
            "open_tours": len(result.uncoverable),
        }
    else:
        report(_phase(f"planning {len(inputs.pool.profiles)} drivers", 0.0))
        named = plan_for_drivers(
            inputs.forecast,
            inputs.pool.profiles,
            inputs.rules,
            stay_at_home_depot=inputs.pool.stay_at_home_depot,
            time_limit_seconds=inputs.time_limit_seconds,
        )
        result = solve_result_of(named)
        extra_kpis = named_kpis(named, inputs.pool)
    explanations = None
    if inputs.explain:
        report(_phase("explaining the head count", result.seconds))
        explanations = explain(
            inputs.forecast,
            inputs.rules,
            min(inputs.time_limit_seconds, MAX_EXPLAIN_SECONDS),
        )
    return result_json(inputs.forecast, inputs.rules, result, extra_kpis, explanations)


def explain(
    forecast: Forecast, rules: RuleSettings, time_limit_seconds: float
) -> dict[str, Any]:
    """Return the rule costs and the shadow prices per weekday and hour (7 x 24)."""
    started = time.monotonic()
    share = time_limit_seconds / 2
    costs = [
        {
            "rule": cost.rule,
            "label": cost.label,
            "drivers_without": cost.bound_without_rule,
            "marginal": cost.drivers,
            "exact": cost.exact,
        }
        for cost in rule_costs(forecast, rules, share)
    ]
    grid = [[0.0] * HOURS_PER_DAY for _ in WEEKDAYS]
    for cell in shadow_prices_by_hour(forecast, rules, share):
        grid[int(cell["day"]) - 1][int(cell["hour"])] = float(
            cell["total_shadow_price"]
        )
    return {
        "rule_costs": costs,
        "shadow_prices": grid,
        "seconds": round(time.monotonic() - started, 3),
    }


def result_json(
    forecast: Forecast,
    rules: RuleSettings,
    result: SolveResult,
    extra_kpis: dict[str, Any],
    explanations: dict[str, Any] | None,
) -> dict[str, Any]:
    """Build the result JSON of a run from its solve result."""
    kpis = {**plan_kpis(result.plan, rules), **extra_kpis}
    kpis.setdefault("open_tours", len(result.uncoverable))
    return {
        "kpis": kpis,
        "lower_bound": result.lower_bound,
        "gap": round(result.gap, 6),
        "solve_status": result.status.value,
        "seconds": round(result.seconds, 3),
        "rosters": [
            {
                "driver": roster.driver,
                "day": block.day,
                "block_kind": block.kind.value,
                "tour_ids": [tour.tour_id for tour in block.tours],
                "start": format_clock(block.week_start % MINUTES_PER_DAY),
                "end": format_clock(block.week_end % MINUTES_PER_DAY),
                "minutes": block.work_minutes,
            }
            for roster in result.plan.rosters
            for block in sorted(roster.blocks, key=lambda block: block.week_start)
        ],
        "uncovered": [
            {
                "tour_id": item.tour.tour_id,
                "day": item.tour.day,
                "rule": item.rule,
                "reason": item.reason,
            }
            for item in result.uncoverable
        ],
        "coverage": coverage(forecast, result),
        "explanations": explanations,
    }


def coverage(forecast: Forecast, result: SolveResult) -> list[dict[str, int]]:
    """Count tours running and drivers working per weekday and half hour.

    The rows follow core.plans.coverage_by_time_of_day at a step of
    COVERAGE_STEP_MINUTES, with the keys day, minute, tours and drivers.
    """
    driver_by_tour = {
        tour.tour_id: roster.driver
        for roster in result.plan.rosters
        for tour in roster.tours
    }
    steps_per_day = MINUTES_PER_DAY // COVERAGE_STEP_MINUTES
    step_count = len(WEEKDAYS) * steps_per_day
    tours_running = [0] * step_count
    drivers_working: list[set[str]] = [set() for _ in range(step_count)]
    for tour in expand(forecast):
        first_step = -(-tour.week_start // COVERAGE_STEP_MINUTES)
        end_step = min(-(-tour.week_end // COVERAGE_STEP_MINUTES), step_count)
        driver = driver_by_tour.get(tour.tour_id)
        for step in range(first_step, end_step):
            tours_running[step] += 1
            if driver:
                drivers_working[step].add(driver)
    return [
        {
            "day": step // steps_per_day + 1,
            "minute": (step % steps_per_day) * COVERAGE_STEP_MINUTES,
            "tours": tours_running[step],
            "drivers": len(drivers_working[step]),
        }
        for step in range(step_count)
    ]


def _phase(phase: str, elapsed_seconds: float) -> Progress:
    return Progress(
        phase=phase,
        lower_bound=None,
        best_drivers=None,
        gap=None,
        elapsed_seconds=elapsed_seconds,
    )
