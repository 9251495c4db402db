"""Scenarios: named what-if variations of a week, run on the worker's queue.

A scenario names a forecast version of the tenant (its base) and a
variation of the rules, the demand and the driver pool (core.scenario_inputs
checks and applies it). It never changes the base forecast, any plan or
any driver.

Running a scenario applies the variation to the base as it is now. The run
stores what that gives in its `inputs`: the forecast templates after the
variation, the rules, the driver profiles and the time limit. The profiles
are None when the tenant has no drivers and the variation has no pool
part, so the rosters are anonymous. A solve job with `scenario_run_id`
then plans the inputs on the worker's queue (core.worker), which stores
the result JSON in the run. A run whose input hash equals that of a
succeeded run of the tenant reuses that result at once, without a job,
with result["cached_from_run_id"].

Creating and running need scenario:run, reading plan:read. Every create
and run is audited without personal data.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from core.audit import append_entry
from core.context import authorize, lock_tenant, unit_of_work
from core.driver_profiles import driver_profiles_for_week, planning_settings
from core.errors import Conflict, InvalidInput, NotFound
from core.named_planning import DriverPool
from core.permissions import Actor, Permission
from core.plans import MAX_TIME_LIMIT_SECONDS, MIN_TIME_LIMIT_SECONDS
from core.scenario_inputs import (
    ScenarioInputs,
    checked_variation,
    input_hash,
    inputs_json,
    varied_forecast,
    varied_profiles,
    varied_rules,
)
from core.tenancy import get_owned
from db.models import (
    ForecastStatus,
    ForecastVersion,
    Scenario,
    ScenarioRun,
    ScenarioRunStatus,
    utc_now,
)
from db.repositories import forecasts, jobs
from db.repositories import scenarios as scenario_rows
from solver.rules import RuleSettings
from solver.scenarios import DEMAND_SCALE

logger = logging.getLogger(__name__)

SCENARIO_CREATED = "scenario.created"
SCENARIO_RUN_REQUESTED = "scenario.run_requested"
MAX_NAME_LENGTH = 200
MAX_SWEEP_POINTS = 50
ALL_WEEKDAYS = [1, 2, 3, 4, 5, 6, 7]

__all__ = [
    "ScenarioRunView",
    "ScenarioView",
    "checked_variation",
    "create_scenario",
    "get_scenario_run",
    "list_scenarios",
    "run_scenario",
    "sweep_setting",
]


@dataclass(frozen=True)
class ScenarioRunView:
    """One run of a scenario as the pages show it.

    `progress` is the latest progress of the run's job (None for a cached
    run or before the worker wrote any). `result` is the result JSON once
    the run succeeded, else None. `cached` is true when the result was
    reused from an earlier run with the same inputs.
    """

    run_id: int
    scenario_id: int
    scenario_name: str
    status: str
    progress: dict[str, Any] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    cached: bool
    result: dict[str, Any] | None


@dataclass(frozen=True)
class ScenarioView:
    """A scenario with its variation and its runs, newest run first."""

    scenario_id: int
    name: str
    base_forecast_version_id: int
    week_anchor: date
    variation: dict[str, Any]
    created_at: datetime
    runs: tuple[ScenarioRunView, ...]


def create_scenario(
    actor: Actor, name: str, base_forecast_version_id: int, variation: dict
) -> ScenarioView:
    """Store a scenario of an accepted forecast version of the tenant.

    The variation is checked (InvalidInput names the path, as in
    "demand.scale[0].percent") and applied once to the base, so a removed
    template missing from the base, an unknown driver id or a week left
    without tours is reported now. Raises Conflict when the tenant has a
    scenario of this name, NotFound for another tenant's forecast version.
    """
    authorize(actor, Permission.SCENARIO_RUN)
    name = _checked_name(name)
    checked = checked_variation(variation)
    with unit_of_work(actor) as session:
        version = _accepted_version(session, actor, base_forecast_version_id)
        _prepare_inputs(session, actor.tenant_id, version, checked, 60.0)
        lock_tenant(session, actor.tenant_id)
        if scenario_rows.get_scenario_by_name(session, actor.tenant_id, name):
            raise Conflict(
                "scenario", name, "a scenario of this name exists; choose another"
            )
        scenario = scenario_rows.add_scenario(
            session, actor.tenant_id, name, version.id, checked, actor.user_id
        )
        append_entry(
            session,
            actor,
            SCENARIO_CREATED,
            "scenario",
            scenario.id,
            _variation_summary(version.id, checked),
        )
        view = _scenario_view(session, scenario, version.week_anchor)
    logger.info("scenario %s of tenant %s created", view.scenario_id, actor.tenant_id)
    return view


def list_scenarios(actor: Actor) -> list[ScenarioView]:
    """List the tenant's scenarios, newest first, each with its runs."""
    authorize(actor, Permission.PLAN_READ)
    with unit_of_work(actor) as session:
        rows = scenario_rows.list_scenarios(session, actor.tenant_id)
        runs = scenario_rows.list_runs(
            session, actor.tenant_id, [scenario.id for scenario in rows]
        )
        weeks = {
            version_id: _week_of(session, actor.tenant_id, version_id)
            for version_id in {scenario.base_forecast_version_id for scenario in rows}
        }
        return [
            _scenario_view(
                session,
                scenario,
                weeks[scenario.base_forecast_version_id],
                [run for run in runs if run.scenario_id == scenario.id],
            )
            for scenario in rows
        ]


def run_scenario(
    actor: Actor,
    scenario_id: int,
    time_limit_seconds: float = 60.0,
    *,
    explain: bool = True,
) -> ScenarioRunView:
    """Run the scenario: reuse a result of the same inputs, or queue a job.

    The variation is applied to the base forecast version and, when the
    tenant has drivers or the variation has a pool part, to the drivers'
    profiles for the week as they are now. When a succeeded run of the
    tenant has the same input hash, a run succeeded at once with its result
    is returned (`cached`). While a run of this scenario with the same
    inputs is queued or running, that run is returned. Otherwise a queued
    run and its solve job are stored.

    `explain` adds the rule costs and shadow prices to the result. They take
    up to core.scenario_inputs.MAX_EXPLAIN_SECONDS after the solve. Measured
    on generated weeks (solver.generate, seed 7, a shared 2-core machine):
    0.2 s for 40 tours, 1.9 s for 300, 17 to 27 s for 1,000. A rule cost
    whose LP ran out of its time share has "exact" false.
    `explain` is part of the inputs, so a run without explanations does not
    reuse one with them, nor the reverse.
    """
    authorize(actor, Permission.SCENARIO_RUN)
    time_limit = _checked_time_limit(time_limit_seconds)
    with unit_of_work(actor) as session:
        scenario = get_owned(session, actor, Scenario, scenario_id)
        view = _start_run(session, actor, scenario, time_limit, _flag(explain))
    logger.info(
        "scenario run %s of tenant %s: %s",
        view.run_id,
        actor.tenant_id,
        "cached" if view.cached else view.status,
    )
    return view


def get_scenario_run(actor: Actor, run_id: int) -> ScenarioRunView:
    """Return one scenario run of the tenant with its progress or result."""
    authorize(actor, Permission.PLAN_READ)
    with unit_of_work(actor) as session:
        run = get_owned(session, actor, ScenarioRun, run_id)
        scenario = scenario_rows.get_scenario(session, actor.tenant_id, run.scenario_id)
        if scenario is None:
            raise NotFound("scenario run", run_id)
        return _run_view(session, run, scenario.name)


def sweep_setting(
    actor: Actor,
    base_forecast_version_id: int,
    setting: str,
    values: Sequence[float],
    time_limit_seconds: float = 60.0,
    *,
    explain: bool = True,
) -> list[ScenarioRunView]:
    """Run one scenario per value of one setting; return the runs in value order.

    `setting` is a field of solver.rules.RuleSettings (whole minutes, or 0
    and 1 for a true or false rule) or "demand_percent", which scales every
    template of the week. The scenario of a point is named
    "sweep <setting>=<value>" and reused when it exists with the same base
    and variation. When that name belongs to a scenario of another base or
    variation, the point's scenario is named
    "sweep <setting>=<value> (forecast version <id>)" instead; Conflict is
    raised when that name is taken the same way. Each point is stored in a
    transaction of its own, so the points before a Conflict stay stored and
    queued. Points whose inputs ran before reuse their result at once.
    `explain` is that of run_scenario.
    """
    authorize(actor, Permission.SCENARIO_RUN)
    variations = _sweep_variations(setting, values)
    time_limit = _checked_time_limit(time_limit_seconds)
    explain = _flag(explain)
    views = []
    for label, variation in variations:
        with unit_of_work(actor) as session:
            version = _accepted_version(session, actor, base_forecast_version_id)
            scenario = _sweep_scenario(session, actor, version, label, variation)
            views.append(_start_run(session, actor, scenario, time_limit, explain))
    return views


# --- Runs ------------------------------------------------------------------------


def _start_run(
    session: Session,
    actor: Actor,
    scenario: Scenario,
    time_limit: float,
    explain: bool,
) -> ScenarioRunView:
    version = _accepted_version(session, actor, scenario.base_forecast_version_id)
    inputs = _prepare_inputs(
        session, actor.tenant_id, version, scenario.variation, time_limit, explain
    )
    stored = inputs_json(inputs)
    digest = input_hash(stored)
    lock_tenant(session, actor.tenant_id)

    cached_from = scenario_rows.find_succeeded_run(session, actor.tenant_id, digest)
    active = None
    if cached_from is None:
        active = scenario_rows.find_active_run(
            session, actor.tenant_id, scenario.id, digest
        )
    if cached_from is not None:
        run = scenario_rows.add_run(
            session,
            actor.tenant_id,
            scenario.id,
            stored,
            digest,
            actor.user_id,
            status=ScenarioRunStatus.SUCCEEDED,
            result={**(cached_from.result or {}), "cached_from_run_id": cached_from.id},
            finished_at=utc_now(),
        )
    elif active is not None:
        run = active
    else:
        run = scenario_rows.add_run(
            session, actor.tenant_id, scenario.id, stored, digest, actor.user_id
        )
        jobs.enqueue(
            session,
            actor.tenant_id,
            version.id,
            {
                "rules": stored["rules"],
                "time_limit_seconds": time_limit,
                "explain": explain,
            },
            created_by=actor.user_id,
            scenario_run_id=run.id,
        )
    append_entry(
        session,
        actor,
        SCENARIO_RUN_REQUESTED,
        "scenario run",
        run.id,
        {
            "scenario_id": scenario.id,
            "input_hash": digest,
            "cached_from_run_id": None if cached_from is None else cached_from.id,
            "queued_before": active is not None,
            "named_drivers": inputs.pool is not None,
            "explain": explain,
            "time_limit_seconds": str(time_limit),
        },
    )
    return _run_view(session, run, scenario.name)


def _prepare_inputs(
    session: Session,
    tenant_id: int,
    version: ForecastVersion,
    variation: dict[str, Any],
    time_limit: float,
    explain: bool = True,
) -> ScenarioInputs:
    """Apply the variation to the base forecast version and the tenant's drivers."""
    forecast = forecasts.load_forecast(session, tenant_id, version.id)
    profiles = driver_profiles_for_week(session, tenant_id, version.week_anchor)
    pool = None
    if profiles or "pool" in variation:
        pool = DriverPool(
            varied_profiles(profiles, variation),
            planning_settings(session, tenant_id),
        )
        if not pool.profiles:
            raise InvalidInput("pool", "the variation leaves no driver in the pool")
    return ScenarioInputs(
        forecast=varied_forecast(forecast, variation),
        rules=varied_rules(variation),
        pool=pool,
        time_limit_seconds=time_limit,
        explain=explain,
    )


def _run_view(
    session: Session, run: ScenarioRun, scenario_name: str
) -> ScenarioRunView:
    job = jobs.get_for_scenario_run(session, run.tenant_id, run.id)
    result = None if run.result is None else dict(run.result)
    return ScenarioRunView(
        run_id=run.id,
        scenario_id=run.scenario_id,
        scenario_name=scenario_name,
        status=run.status.value,
        progress=None if job is None or job.progress is None else dict(job.progress),
        error=run.error,
        created_at=run.created_at,
        finished_at=run.finished_at,
        cached=result is not None and "cached_from_run_id" in result,
        result=result,
    )


def _scenario_view(
    session: Session,
    scenario: Scenario,
    week_anchor: date,
    runs: Sequence[ScenarioRun] | None = None,
) -> ScenarioView:
    if runs is None:
        runs = scenario_rows.list_runs(session, scenario.tenant_id, [scenario.id])
    return ScenarioView(
        scenario_id=scenario.id,
        name=scenario.name,
        base_forecast_version_id=scenario.base_forecast_version_id,
        week_anchor=week_anchor,
        variation=dict(scenario.variation),
        created_at=scenario.created_at,
        runs=tuple(_run_view(session, run, scenario.name) for run in runs),
    )


# --- Sweeps ----------------------------------------------------------------------


def _sweep_variations(
    setting: str, values: Sequence[float]
) -> list[tuple[str, dict[str, Any]]]:
    """Return the scenario name and the variation of each point of a sweep."""
    known = {field.name: field for field in fields(RuleSettings)}
    if setting != DEMAND_SCALE and setting not in known:
        raise InvalidInput(
            "setting",
            f"{setting!r} is not a rule setting; use {DEMAND_SCALE} or one of"
            f" {', '.join(sorted(known))}",
        )
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise InvalidInput("values", "expected a list of numbers")
    if not 1 <= len(values) <= MAX_SWEEP_POINTS:
        raise InvalidInput(
            "values", f"expected 1 to {MAX_SWEEP_POINTS} values, got {len(values)}"
        )
    points = []
    for index, value in enumerate(values):
        path = f"values[{index}]"
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise InvalidInput(path, f"expected a number, got {value!r}")
        if setting == DEMAND_SCALE:
            variation = {
                "demand": {
                    "scale": [
                        {"weekdays": ALL_WEEKDAYS, "start_band": None, "percent": value}
                    ]
                }
            }
        elif known[setting].type == "bool":
            if value not in (0, 1):
                raise InvalidInput(path, f"{setting} takes 0 or 1, got {value!r}")
            variation = {"rules": {setting: bool(value)}}
        else:
            if value != int(value):
                raise InvalidInput(
                    path, f"{setting} takes whole minutes, got {value!r}"
                )
            variation = {"rules": {setting: int(value)}}
        try:
            checked = checked_variation(variation)
        except InvalidInput as error:
            raise InvalidInput(path, error.reason) from error
        points.append((f"sweep {setting}={value:g}", checked))
    return points


def _sweep_scenario(
    session: Session,
    actor: Actor,
    version: ForecastVersion,
    label: str,
    variation: dict[str, Any],
) -> Scenario:
    """Return the point's scenario of this base and variation, created if missing."""
    for name in (label, f"{label} (forecast version {version.id})"):
        existing = scenario_rows.get_scenario_by_name(session, actor.tenant_id, name)
        if existing is None:
            _prepare_inputs(session, actor.tenant_id, version, variation, 60.0)
            lock_tenant(session, actor.tenant_id)
            scenario = scenario_rows.add_scenario(
                session, actor.tenant_id, name, version.id, variation, actor.user_id
            )
            append_entry(
                session,
                actor,
                SCENARIO_CREATED,
                "scenario",
                scenario.id,
                _variation_summary(version.id, variation),
            )
            return scenario
        same_inputs = (
            existing.base_forecast_version_id == version.id
            and existing.variation == variation
        )
        if same_inputs:
            return existing
    raise Conflict(
        "scenario",
        label,
        "scenarios of this sweep point exist with other inputs; rename them first",
    )


# --- Checks and helpers --------------------------------------------------------------


def _checked_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("name", "give the scenario a name")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput("name", f"is longer than {MAX_NAME_LENGTH} characters")
    return name


def _flag(explain: object) -> bool:
    if not isinstance(explain, bool):
        raise InvalidInput("explain", f"expected true or false, got {explain!r}")
    return explain


def _checked_time_limit(time_limit_seconds: float) -> float:
    valid = (
        isinstance(time_limit_seconds, int | float)
        and not isinstance(time_limit_seconds, bool)
        and math.isfinite(time_limit_seconds)
        and MIN_TIME_LIMIT_SECONDS <= time_limit_seconds <= MAX_TIME_LIMIT_SECONDS
    )
    if not valid:
        raise InvalidInput(
            "time_limit_seconds",
            f"{time_limit_seconds!r} is not a number of seconds from"
            f" {MIN_TIME_LIMIT_SECONDS:g} to {MAX_TIME_LIMIT_SECONDS:g}",
        )
    return float(time_limit_seconds)


def _accepted_version(
    session: Session, actor: Actor, forecast_version_id: int
) -> ForecastVersion:
    version = get_owned(session, actor, ForecastVersion, forecast_version_id)
    if version.status is not ForecastStatus.ACCEPTED:
        raise InvalidInput(
            "base_forecast_version_id",
            f"forecast version {version.id} was rejected at import and cannot be"
            " the base of a scenario",
        )
    return version


def _week_of(session: Session, tenant_id: int, forecast_version_id: int) -> date:
    version = forecasts.get_version(session, tenant_id, forecast_version_id)
    if version is None:
        raise NotFound("forecast version", forecast_version_id)
    return version.week_anchor


def _variation_summary(
    base_forecast_version_id: int, variation: dict[str, Any]
) -> dict[str, Any]:
    """Describe a variation for the audit trail: its parts, no driver ids."""
    demand = variation.get("demand", {})
    pool = variation.get("pool", {})
    return {
        "base_forecast_version_id": base_forecast_version_id,
        "changed_rules": sorted(variation.get("rules", {})),
        "demand_changes": {part: len(demand.get(part, ())) for part in sorted(demand)},
        "pool_changes": {part: len(pool.get(part, ())) for part in sorted(pool)},
    }
