"""Staff a week with the tenant's named drivers and store it like any plan.

A tenant with active drivers gets plans for those people: the worker reads
their profiles for the week (core.driver_profiles: availability,
qualifications, limits, preferences and the end of each driver's last block
in the previous week's approved plan) and calls
solver.assign.plan_for_drivers. A tenant without drivers gets anonymous
rosters from solver.solve.plan_forecast, as before.

The named result is stored through the same SolveResult as an anonymous
one. Its open tours become the plan version's uncovered tours, each with
its reason. The shortfall in words, the spreads among comparable drivers
and the preference figures go into the KPIs. Status: OPTIMAL when every
tour is covered and the head count meets a proven lower bound, FEASIBLE
when every tour is covered otherwise, and NO_FEASIBLE_PLAN when tours stay
open, because this pool of drivers cannot cover the week.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, is_dataclass
from datetime import date
from typing import Any

from core.audit import SystemActor
from core.context import unit_of_work
from core.driver_profiles import driver_profiles_for_week, planning_settings
from solver.assign import NamedPlanResult, plan_for_drivers
from solver.drivers import DriverProfile
from solver.rules import RuleSettings
from solver.solve import SolveResult, SolveStatus, UncoverableTour
from solver.tours import Forecast


@dataclass(frozen=True)
class DriverPool:
    """The tenant's drivers as engine profiles for one week."""

    profiles: tuple[DriverProfile, ...]
    stay_at_home_depot: bool

    @property
    def is_empty(self) -> bool:
        return not self.profiles


@dataclass(frozen=True)
class NamedSolve:
    """A named plan in the stored form, with the KPIs only named plans have."""

    result: SolveResult
    extra_kpis: dict[str, Any]


def load_driver_pool(worker: SystemActor, week_anchor: date) -> DriverPool:
    """Read the active drivers' profiles for the week and the depot setting.

    Only the solve worker calls this, in the tenant of the job it claimed.
    """
    tenant_id = worker.tenant_id
    with unit_of_work(worker) as session:
        profiles = driver_profiles_for_week(session, tenant_id, week_anchor)
        stay_at_home_depot = planning_settings(session, tenant_id)
    return DriverPool(tuple(profiles), stay_at_home_depot)


def plan_for_pool(
    forecast: Forecast,
    pool: DriverPool,
    rules: RuleSettings,
    time_limit_seconds: float,
) -> NamedSolve:
    """Assign the forecast's tours to the pool's drivers, ready to store."""
    named = plan_for_drivers(
        forecast,
        pool.profiles,
        rules,
        stay_at_home_depot=pool.stay_at_home_depot,
        time_limit_seconds=time_limit_seconds,
    )
    return NamedSolve(solve_result_of(named), named_kpis(named, pool))


def solve_result_of(named: NamedPlanResult) -> SolveResult:
    """Express a named plan as the SolveResult that plan storage takes."""
    return SolveResult(
        plan=named.plan,
        status=_status_of(named),
        lower_bound=named.lower_bound,
        lp_bound=float(named.lower_bound),
        bound_is_exact=named.bound_is_exact,
        part_time_lower_bound=None,
        seconds=named.seconds,
        checks=named.checks,
        uncoverable=tuple(
            UncoverableTour(tour=item.tour, rule=item.reason, reason=item.message)
            for item in named.open_tours
        ),
    )


def named_kpis(named: NamedPlanResult, pool: DriverPool) -> dict[str, Any]:
    """Return the figures a named plan adds to the stored KPIs."""
    return {
        "named_drivers": True,
        "driver_pool": len(pool.profiles),
        "stay_at_home_depot": pool.stay_at_home_depot,
        "open_tours": len(named.open_tours),
        "shortfall": list(named.shortfall),
        "status_text": describe_named_status(named),
        "bound_is_exact": named.bound_is_exact,
        "violations": named.violations,
        "weekly_hours_spread": round(named.weekly_hours_spread, 2),
        "spreads": dict(named.spreads),
        "preferences": _plain(named.preferences),
        "under_contract_minimum": _under_contract_minimum(named, pool),
    }


def _under_contract_minimum(named: NamedPlanResult, pool: DriverPool) -> list[str]:
    """Return the planned drivers who work less than their contract's minimum."""
    minimum = {
        profile.driver_id: profile.min_weekly_minutes for profile in pool.profiles
    }
    return sorted(
        roster.driver
        for roster in named.plan.rosters
        if roster.work_minutes < minimum.get(roster.driver, 0)
    )


def describe_named_status(named: NamedPlanResult) -> str:
    """Say in plain words how the pool covers the week."""
    drivers = named.drivers_used
    if named.open_tours:
        count = len(named.open_tours)
        tours = "tour stays" if count == 1 else "tours stay"
        return (
            f"{count} {tours} open: the driver pool cannot cover them;"
            f" {drivers} drivers staff the other tours"
        )
    if _is_proven(named):
        return f"optimal: {drivers} named drivers, proven by the lower bound"
    return (
        f"every tour covered by {drivers} named drivers,"
        f" lower bound {named.lower_bound}"
    )


def _status_of(named: NamedPlanResult) -> SolveStatus:
    if named.open_tours:
        return SolveStatus.NO_FEASIBLE_PLAN
    if _is_proven(named):
        return SolveStatus.OPTIMAL
    return SolveStatus.FEASIBLE


def _is_proven(named: NamedPlanResult) -> bool:
    return named.bound_is_exact and named.drivers_used <= named.lower_bound


def _plain(value: Any) -> Any:
    """Turn dataclasses, sets and tuples into JSON-ready dicts and lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(item) for item in value]
        return sorted(items) if isinstance(value, set | frozenset) else items
    return value


__all__: Sequence[str] = (
    "DriverPool",
    "NamedSolve",
    "describe_named_status",
    "load_driver_pool",
    "named_kpis",
    "plan_for_pool",
    "solve_result_of",
)
