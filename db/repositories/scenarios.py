"""Scenarios and their runs, always within one tenant.

A scenario run is planned by a solve job with `scenario_run_id` set
(db.repositories.jobs); these functions only store and read the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Scenario, ScenarioRun, ScenarioRunStatus, utc_now

ACTIVE_RUN_STATUSES = (ScenarioRunStatus.QUEUED, ScenarioRunStatus.RUNNING)


def add_scenario(
    session: Session,
    tenant_id: int,
    name: str,
    base_forecast_version_id: int,
    variation: dict[str, Any],
    created_by: int | None,
) -> Scenario:
    """Insert a scenario; the unique (tenant_id, name) rejects a taken name."""
    scenario = Scenario(
        tenant_id=tenant_id,
        name=name,
        base_forecast_version_id=base_forecast_version_id,
        variation=variation,
        created_by=created_by,
    )
    session.add(scenario)
    session.flush()
    return scenario


def get_scenario(session: Session, tenant_id: int, scenario_id: int) -> Scenario | None:
    """Return the tenant's scenario with this id, or None."""
    statement = select(Scenario).where(
        Scenario.tenant_id == tenant_id, Scenario.id == scenario_id
    )
    return session.scalars(statement).one_or_none()


def get_scenario_by_name(
    session: Session, tenant_id: int, name: str
) -> Scenario | None:
    """Return the tenant's scenario of this name, or None."""
    statement = select(Scenario).where(
        Scenario.tenant_id == tenant_id, Scenario.name == name
    )
    return session.scalars(statement).one_or_none()


def list_scenarios(session: Session, tenant_id: int) -> list[Scenario]:
    """Return the tenant's scenarios, newest first."""
    statement = (
        select(Scenario)
        .where(Scenario.tenant_id == tenant_id)
        .order_by(Scenario.created_at.desc(), Scenario.id.desc())
    )
    return list(session.scalars(statement))


def add_run(
    session: Session,
    tenant_id: int,
    scenario_id: int,
    inputs: dict[str, Any],
    input_hash: str,
    created_by: int | None,
    *,
    status: ScenarioRunStatus = ScenarioRunStatus.QUEUED,
    result: dict[str, Any] | None = None,
    finished_at: datetime | None = None,
) -> ScenarioRun:
    """Insert a run of the scenario with `status`, queued by default."""
    run = ScenarioRun(
        tenant_id=tenant_id,
        scenario_id=scenario_id,
        inputs=inputs,
        input_hash=input_hash,
        status=status,
        result=result,
        created_by=created_by,
        finished_at=finished_at,
    )
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, tenant_id: int, run_id: int) -> ScenarioRun | None:
    """Return the tenant's scenario run with this id, or None."""
    statement = select(ScenarioRun).where(
        ScenarioRun.tenant_id == tenant_id, ScenarioRun.id == run_id
    )
    return session.scalars(statement).one_or_none()


def list_runs(
    session: Session, tenant_id: int, scenario_ids: Sequence[int]
) -> list[ScenarioRun]:
    """Return the runs of these scenarios of the tenant, newest first."""
    if not scenario_ids:
        return []
    statement = (
        select(ScenarioRun)
        .where(
            ScenarioRun.tenant_id == tenant_id,
            ScenarioRun.scenario_id.in_(list(scenario_ids)),
        )
        .order_by(ScenarioRun.created_at.desc(), ScenarioRun.id.desc())
    )
    return list(session.scalars(statement))


def find_succeeded_run(
    session: Session, tenant_id: int, input_hash: str
) -> ScenarioRun | None:
    """Return the tenant's oldest succeeded run of these inputs that was planned.

    Runs that reused another run's result are passed over, so the run found
    is the one whose job planned the result.
    """
    statement = (
        select(ScenarioRun)
        .where(
            ScenarioRun.tenant_id == tenant_id,
            ScenarioRun.input_hash == input_hash,
            ScenarioRun.status == ScenarioRunStatus.SUCCEEDED,
        )
        .order_by(ScenarioRun.created_at, ScenarioRun.id)
    )
    for run in session.scalars(statement):
        if "cached_from_run_id" not in (run.result or {}):
            return run
    return None


def find_active_run(
    session: Session, tenant_id: int, scenario_id: int, input_hash: str
) -> ScenarioRun | None:
    """Return the scenario's oldest queued or running run of these inputs."""
    statement = (
        select(ScenarioRun)
        .where(
            ScenarioRun.tenant_id == tenant_id,
            ScenarioRun.scenario_id == scenario_id,
            ScenarioRun.input_hash == input_hash,
            ScenarioRun.status.in_(ACTIVE_RUN_STATUSES),
        )
        .order_by(ScenarioRun.created_at, ScenarioRun.id)
        .limit(1)
    )
    return session.scalars(statement).one_or_none()


def mark_running(session: Session, run: ScenarioRun) -> None:
    """Mark the run running, as its job was claimed."""
    run.status = ScenarioRunStatus.RUNNING
    session.flush()


def mark_queued(session: Session, run: ScenarioRun) -> None:
    """Mark the run queued again, as its job was released for another worker."""
    run.status = ScenarioRunStatus.QUEUED
    session.flush()


def mark_succeeded(
    session: Session,
    run: ScenarioRun,
    result: dict[str, Any],
    now: datetime | None = None,
) -> None:
    """Finish the run with its result."""
    run.status = ScenarioRunStatus.SUCCEEDED
    run.result = result
    run.error = None
    run.finished_at = now or utc_now()
    session.flush()


def mark_failed(
    session: Session, run: ScenarioRun, error: str, now: datetime | None = None
) -> None:
    """Finish the run as failed with an error text; it keeps no result."""
    run.status = ScenarioRunStatus.FAILED
    run.result = None
    run.error = error
    run.finished_at = now or utc_now()
    session.flush()
