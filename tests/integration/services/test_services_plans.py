"""Solve requests, plan versions and coverage, and the services' unit of work."""

from __future__ import annotations

import math
import uuid

import pytest
from sqlalchemy import inspect

from core.context import current_engine, open_workbench, unit_of_work
from core.errors import InvalidInput
from core.permissions import Role
from core.plans import (
    coverage_by_time_of_day,
    get_plan_version,
    list_plan_versions,
    list_solve_jobs,
    request_solve,
)
from db import cross_tenant
from db.repositories import tenants
from tests.integration.databases import WEEK_ANCHOR
from tests.integration.services.helpers import add_draft, import_week

WEDNESDAY, THURSDAY = 3, 4


@pytest.fixture
def tenant(workbench, make_tenant):
    return make_tenant()


@pytest.fixture
def viewer(tenant):
    return tenant.actor(Role.VIEWER)


@pytest.fixture
def dispatcher(tenant):
    return tenant.actor(Role.DISPATCHER)


@pytest.fixture
def draft(workbench, tenant, small_solve_result):
    forecast_version = import_week(tenant.actor(Role.DISPATCHER))
    return add_draft(
        workbench,
        tenant.tenant_id,
        forecast_version.forecast_version_id,
        small_solve_result,
    )


def coverage_at(rows, day: int, minute: int) -> dict[str, int]:
    return next(row for row in rows if row["day"] == day and row["minute"] == minute)


class TestReadPlanVersions:
    def test_full_view_has_details(self, workbench, viewer, draft, small_solve_result):
        view = get_plan_version(viewer, draft.id)

        first_roster = small_solve_result.plan.rosters[0]
        first_block = first_roster.blocks[0]
        assert view.week_anchor == WEEK_ANCHOR
        assert view.status == "draft"
        assert view.row_version == 1
        assert [check.rule for check in view.checks] == [
            check.rule for check in small_solve_result.checks
        ]
        assert all(check.passed for check in view.checks)
        assert view.rosters[0].driver == first_roster.driver
        assert view.rosters[0].day == first_block.day
        assert view.rosters[0].tour_ids == tuple(
            tour.tour_id for tour in first_block.tours
        )
        assert view.rosters[0].start == "06:00"
        assert view.kpis["drivers"] == small_solve_result.drivers
        assert view.lower_bound == small_solve_result.lower_bound

    def test_list_gives_summaries(self, workbench, viewer, draft):
        listed = list_plan_versions(viewer)
        of_week = list_plan_versions(viewer, WEEK_ANCHOR)

        assert [view.plan_version_id for view in listed] == [draft.id]
        assert of_week == listed
        assert listed[0].checks == ()
        assert listed[0].rosters == ()
        assert listed[0].kpis["drivers"] == 2


class TestCoverageByTimeOfDay:
    def test_night_tour_counts_on_both_days(self, workbench, viewer, draft):
        rows = coverage_by_time_of_day(viewer, draft.id, step_minutes=30)

        assert len(rows) == 7 * 48
        assert coverage_at(rows, WEDNESDAY, 21 * 60 + 30)["tours_in_demand"] == 0
        assert coverage_at(rows, WEDNESDAY, 22 * 60)["tours_in_demand"] == 1
        assert coverage_at(rows, THURSDAY, 0)["tours_in_demand"] == 1
        assert coverage_at(rows, THURSDAY, 60)["drivers_working"] == 1
        # The tour ends at 01:30, and a tour does not run at its end.
        assert coverage_at(rows, THURSDAY, 90)["tours_in_demand"] == 0

    def test_monday_morning_counts_tours_and_drivers(self, workbench, viewer, draft):
        rows = coverage_by_time_of_day(viewer, draft.id, step_minutes=60)

        assert len(rows) == 7 * 24
        assert coverage_at(rows, 1, 5 * 60) == {
            "day": 1,
            "minute": 300,
            "tours_in_demand": 0,
            "drivers_working": 0,
        }
        assert coverage_at(rows, 1, 6 * 60)["tours_in_demand"] == 2
        assert coverage_at(rows, 1, 6 * 60)["drivers_working"] == 2
        assert coverage_at(rows, 1, 12 * 60)["tours_in_demand"] == 1

    @pytest.mark.parametrize("step", [0, 7, 1441, 2.5, True, -30])
    def test_step_must_divide_a_day(self, workbench, viewer, draft, step):
        with pytest.raises(InvalidInput, match="step_minutes"):
            coverage_by_time_of_day(viewer, draft.id, step_minutes=step)


class TestRequestSolve:
    def test_request_queues_job(self, workbench, dispatcher):
        forecast_version = import_week(dispatcher)

        job = request_solve(
            dispatcher,
            forecast_version.forecast_version_id,
            {"min_rest_minutes": 600},
            time_limit_seconds=30,
        )

        assert job.status == "queued"
        assert job.rules["min_rest_minutes"] == 600
        assert job.rules["max_weekly_minutes"] == 55 * 60
        assert job.time_limit_seconds == 30.0
        assert list_solve_jobs(dispatcher) == [job]

    def test_second_request_returns_the_queued_job(self, workbench, dispatcher):
        forecast_version = import_week(dispatcher)
        first = request_solve(dispatcher, forecast_version.forecast_version_id)

        second = request_solve(
            dispatcher, forecast_version.forecast_version_id, {"min_rest_minutes": 600}
        )

        assert second.job_id == first.job_id
        assert len(list_solve_jobs(dispatcher)) == 1

    @pytest.mark.parametrize(
        "settings",
        [
            {"tenant_id": 1},
            {"status": "succeeded"},
            {"approved_by": 1},
            {"max_weekly_minutes": -5},
            {"forbid_triple_after_triple": "no"},
            ["min_rest_minutes", 600],
        ],
        ids=["tenant_id", "status", "approved_by", "negative", "not_bool", "list"],
    )
    def test_invalid_settings_are_rejected(self, workbench, dispatcher, settings):
        forecast_version = import_week(dispatcher)

        with pytest.raises(InvalidInput):
            request_solve(dispatcher, forecast_version.forecast_version_id, settings)

        assert list_solve_jobs(dispatcher) == []

    @pytest.mark.parametrize("time_limit", [0, -1, math.nan, math.inf, 3600, True])
    def test_invalid_time_limit_is_rejected(self, workbench, dispatcher, time_limit):
        forecast_version = import_week(dispatcher)

        with pytest.raises(InvalidInput, match="time_limit_seconds"):
            request_solve(
                dispatcher, forecast_version.forecast_version_id, None, time_limit
            )


class TestContext:
    def test_open_workbench_migrates_once_per_url(self, tmp_path, workbench):
        url = f"sqlite:///{tmp_path / 'opened.db'}"
        try:
            first = open_workbench(url)
            second = open_workbench(url)
            tables = set(inspect(first).get_table_names())
            configured = current_engine()
        finally:
            open_workbench(url).dispose()

        assert second is first
        assert configured is first
        assert {"user_sessions", "plan_versions", "audit_log"} <= tables

    def test_unit_of_work_rolls_back(self, workbench):
        kept_slug = f"kept-{uuid.uuid4().hex[:12]}"
        dropped_slug = f"dropped-{uuid.uuid4().hex[:12]}"

        with unit_of_work() as session:
            cross_tenant.add_tenant(session, kept_slug, "Committed")
        with pytest.raises(RuntimeError), unit_of_work() as session:
            cross_tenant.add_tenant(session, dropped_slug, "Rolled back")
            raise RuntimeError("the service failed after its insert")

        with workbench.session_factory() as session:
            committed = tenants.find_by_slug(session, kept_slug)
            rolled_back = tenants.find_by_slug(session, dropped_slug)

        assert committed is not None
        assert rolled_back is None
