"""The worker staffs a week with the tenant's named drivers, end to end.

Each test has a database of its own (the worker claims jobs of every
tenant), on SQLite and on PostgreSQL. Forecasts are a handful of tours so
that what a driver may take is decided by hand: a sick day, a depot, the
rest after the previous week's approved plan.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import approvals, exports, plans, worker
from core.availability import ExceptionInput, save_driver_week, set_planning_settings
from core.drivers import DriverInput
from core.errors import InvalidInput
from core.permissions import Role
from db.models import Assignment, AuditEntry
from solver.tours import Forecast, TourTemplate
from tests.integration.databases import WEEK_ANCHOR
from tests.integration.services.driver_helpers import (  # noqa: F401
    add_driver,
    admin_of,
    driver_keys,
)
from tests.integration.services.helpers import (
    generated_forecast,
    import_week,
)

TIME_LIMIT_SECONDS = 30.0
# The generated week has ADR and KUEHL tours; a pool of twelve holding both
# covers it.
POOL_SIZE = 12
SKILLS = ("ADR", "KUEHL")
MONDAY = WEEK_ANCHOR
PREVIOUS_MONDAY = WEEK_ANCHOR - timedelta(days=7)

# One early tour on Monday and one on Tuesday: a single driver covers both.
TWO_DAYS = Forecast.from_templates(
    [
        TourTemplate(day=1, start_minute=6 * 60, end_minute=10 * 60 + 30, count=1),
        TourTemplate(day=2, start_minute=6 * 60, end_minute=10 * 60 + 30, count=1),
    ]
)
# The last tour of the previous week: Sunday 18:00 to 23:00.
LATE_SUNDAY = Forecast.from_templates(
    [TourTemplate(day=7, start_minute=18 * 60, end_minute=23 * 60, count=1)]
)
SOUTH_ONLY = Forecast.from_templates(
    [
        TourTemplate(
            day=3, start_minute=8 * 60, end_minute=12 * 60 + 30, count=1, depot="Süd"
        )
    ]
)


@pytest.fixture
def tenant(make_private_tenant, driver_keys):  # noqa: F811
    return make_private_tenant()


@pytest.fixture
def dispatcher(tenant):
    return tenant.actor(Role.DISPATCHER)


def solve(actor, forecast: Forecast, week_anchor=MONDAY):
    """Import the forecast, run the solve on the worker and return the version."""
    forecast_version = import_week(actor, forecast, week_anchor)
    job = plans.request_solve(
        actor,
        forecast_version.forecast_version_id,
        time_limit_seconds=TIME_LIMIT_SECONDS,
    )
    assert worker.run_one_job("worker-named") is True
    job = plans.get_solve_job(actor, job.job_id)
    assert job.status == "succeeded", job.error
    return plans.get_plan_version(actor, job.plan_version_id)


def add_pool(tenant, count: int, **fields) -> dict[int, str]:
    """Create drivers D01, D02, ... named "Driver 1", ...; return names by id."""
    names = {}
    for number in range(1, count + 1):
        name = f"Driver {number}"
        driver_id = add_driver(
            tenant,
            DriverInput(external_ref=f"D{number:02d}", display_name=name, **fields),
        )
        names[driver_id] = name
    return names


def days_worked(version, driver_id: int) -> set[int]:
    return {row.day for row in version.rosters if row.driver_id == str(driver_id)}


class TestNamedPlan:
    def test_rosters_go_to_pool(self, private_workbench, tenant, dispatcher):
        names = add_pool(tenant, POOL_SIZE, qualifications=SKILLS)

        version = solve(dispatcher, generated_forecast())

        assert version.kpis["named_drivers"] is True
        assert version.kpis["driver_pool"] == POOL_SIZE
        assert version.kpis["open_tours"] == 0
        assert version.uncovered == ()
        assert {row.driver_id for row in version.rosters} <= {
            str(driver_id) for driver_id in names
        }
        assert all(check.passed for check in version.checks), version.checks

    def test_plan_checks_driver_rules(self, private_workbench, tenant, dispatcher):
        add_pool(tenant, POOL_SIZE, qualifications=SKILLS)

        version = solve(dispatcher, generated_forecast())

        rules = {check.rule for check in version.checks}
        assert {"qualification", "availability", "cross_week_rest"} <= rules
        assert {"personal_weekly_hours", "driver"} <= rules

    def test_assignments_carry_driver_id(self, private_workbench, tenant, dispatcher):
        names = add_pool(tenant, POOL_SIZE, qualifications=SKILLS)

        version = solve(dispatcher, generated_forecast())

        with private_workbench.session_factory() as session:
            stored = session.scalars(
                select(Assignment.driver_id).where(
                    Assignment.plan_version_id == version.plan_version_id
                )
            ).all()
        assert stored
        assert set(stored) <= set(names)

    def test_dispatcher_sees_names(self, private_workbench, tenant, dispatcher):
        add_pool(tenant, POOL_SIZE, qualifications=SKILLS)

        version = solve(dispatcher, generated_forecast())

        labels = {row.driver for row in version.rosters}
        assert all(label.startswith("Driver ") for label in labels), labels
        assert all("(D" in label for label in labels), labels

    def test_viewer_sees_references(self, private_workbench, tenant, dispatcher):
        add_pool(tenant, POOL_SIZE, qualifications=SKILLS)
        solved = solve(dispatcher, generated_forecast())

        version = plans.get_plan_version(
            tenant.actor(Role.VIEWER), solved.plan_version_id
        )

        labels = {row.driver for row in version.rosters}
        assert labels
        assert all(label.startswith("D") and "Driver" not in label for label in labels)

    def test_name_reading_audited(self, private_workbench, tenant, dispatcher):
        add_pool(tenant, POOL_SIZE, qualifications=SKILLS)
        version = solve(dispatcher, generated_forecast())

        with private_workbench.session_factory() as session:
            reads = session.scalars(
                select(AuditEntry).where(
                    AuditEntry.tenant_id == tenant.tenant_id,
                    AuditEntry.action == "driver.personal_data_read",
                    AuditEntry.object_type == "plan drivers",
                )
            ).all()
        assert version.rosters
        assert len(reads) == 1
        assert reads[0].details["fields"] == ["name"]

    def test_export_names_no_one(self, private_workbench, tenant, dispatcher):
        add_pool(tenant, POOL_SIZE, qualifications=SKILLS)
        version = solve(dispatcher, generated_forecast())

        _, content = exports.export_plan(dispatcher, version.plan_version_id, "xlsx")
        filename, archive = exports.export_plan(
            dispatcher, version.plan_version_id, "csv"
        )

        assert filename.endswith(".zip")
        assert b"Driver 1" not in archive
        assert b"Driver 1" not in content

    def test_tenant_without_drivers_anonymous(
        self, private_workbench, tenant, dispatcher
    ):
        version = solve(dispatcher, generated_forecast())

        assert "named_drivers" not in version.kpis
        assert version.solve_status == "optimal"


class TestAvailability:
    def test_sick_driver_not_planned(self, private_workbench, tenant, dispatcher):
        (driver_id,) = add_pool(tenant, 1)
        save_driver_week(
            dispatcher,
            driver_id,
            MONDAY,
            0,
            {MONDAY: ExceptionInput(status="SICK", note="called in")},
        )

        version = solve(dispatcher, TWO_DAYS)

        assert days_worked(version, driver_id) == {2}
        assert [entry["day"] for entry in version.uncovered] == [1]
        assert version.uncovered[0]["rule"] == "no_available_driver"
        assert version.solve_status == "no_feasible_plan"
        assert version.kpis["shortfall"]
        failed = {check.rule for check in version.checks if not check.passed}
        assert failed == {"coverage"}, version.checks

    def test_healthy_driver_takes_both(self, private_workbench, tenant, dispatcher):
        (driver_id,) = add_pool(tenant, 1)

        version = solve(dispatcher, TWO_DAYS)

        assert days_worked(version, driver_id) == {1, 2}
        assert version.uncovered == ()

    def test_shortfall_names_the_day(self, private_workbench, tenant, dispatcher):
        (driver_id,) = add_pool(tenant, 1)
        save_driver_week(
            dispatcher, driver_id, MONDAY, 0, {MONDAY: ExceptionInput(status="SICK")}
        )

        version = solve(dispatcher, TWO_DAYS)

        assert any("Monday" in line for line in version.kpis["shortfall"])


class TestHomeDepot:
    def test_depot_rule_leaves_tour_open(self, private_workbench, tenant, dispatcher):
        add_pool(tenant, 1, home_depot="Nord")
        set_planning_settings(admin_of(tenant), stay_at_home_depot=True)

        version = solve(dispatcher, SOUTH_ONLY)

        assert version.kpis["stay_at_home_depot"] is True
        assert len(version.uncovered) == 1
        assert version.rosters == ()

    def test_drivers_may_travel(self, private_workbench, tenant, dispatcher):
        add_pool(tenant, 1, home_depot="Nord")

        version = solve(dispatcher, SOUTH_ONLY)

        assert version.kpis["stay_at_home_depot"] is False
        assert version.uncovered == ()
        assert len(version.rosters) == 1


class TestCrossWeekRest:
    def approve_previous_week(self, tenant, dispatcher):
        previous = solve(dispatcher, LATE_SUNDAY, PREVIOUS_MONDAY)
        approver = tenant.actor(Role.PLAN_APPROVER)
        approvals.approve_plan(
            approver, previous.plan_version_id, "week agreed", previous.row_version
        )
        return previous

    def test_monday_early_left_open(self, private_workbench, tenant, dispatcher):
        (driver_id,) = add_pool(tenant, 1)
        previous = self.approve_previous_week(tenant, dispatcher)

        version = solve(dispatcher, TWO_DAYS)

        assert days_worked(previous, driver_id) == {7}
        assert days_worked(version, driver_id) == {2}
        assert [entry["day"] for entry in version.uncovered] == [1]
        assert version.uncovered[0]["rule"] == "rest_after_previous_week"

    def test_draft_of_previous_week_ignored(
        self, private_workbench, tenant, dispatcher
    ):
        (driver_id,) = add_pool(tenant, 1)
        solve(dispatcher, LATE_SUNDAY, PREVIOUS_MONDAY)

        version = solve(dispatcher, TWO_DAYS)

        assert days_worked(version, driver_id) == {1, 2}


class TestChangesAgainstApproved:
    def test_changed_tour_named(self, private_workbench, tenant, dispatcher):
        (driver_id,) = add_pool(tenant, 1)
        first = solve(dispatcher, TWO_DAYS)
        approvals.approve_plan(
            tenant.actor(Role.PLAN_APPROVER),
            first.plan_version_id,
            "week agreed",
            first.row_version,
        )
        save_driver_week(
            dispatcher, driver_id, MONDAY, 0, {MONDAY: ExceptionInput(status="SICK")}
        )
        second = solve(dispatcher, TWO_DAYS)

        diff = approvals.diff_to_approved(dispatcher, second.plan_version_id)

        assert diff["assignment_changes"] == 1
        [change] = diff["changed_tours"]
        assert change["approved_driver"] == "Driver 1 (D01)"
        assert change["driver"] == ""
        assert change["tour_id"].startswith("Mo-")

    def test_viewer_sees_reference(self, private_workbench, tenant, dispatcher):
        (driver_id,) = add_pool(tenant, 1)
        first = solve(dispatcher, TWO_DAYS)
        approvals.approve_plan(
            tenant.actor(Role.PLAN_APPROVER),
            first.plan_version_id,
            "week agreed",
            first.row_version,
        )
        save_driver_week(
            dispatcher, driver_id, MONDAY, 0, {MONDAY: ExceptionInput(status="SICK")}
        )
        second = solve(dispatcher, TWO_DAYS)

        diff = approvals.diff_to_approved(
            tenant.actor(Role.VIEWER), second.plan_version_id
        )

        assert [change["approved_driver"] for change in diff["changed_tours"]] == [
            "D01"
        ]


class TestApprovalWithOpenTours:
    def test_open_tours_block_approval(self, private_workbench, tenant, dispatcher):
        (driver_id,) = add_pool(tenant, 1)
        save_driver_week(
            dispatcher, driver_id, MONDAY, 0, {MONDAY: ExceptionInput(status="SICK")}
        )
        version = solve(dispatcher, TWO_DAYS)

        with pytest.raises(InvalidInput, match="1 tour stays open") as raised:
            approvals.approve_plan(
                tenant.actor(Role.PLAN_APPROVER),
                version.plan_version_id,
                "ok",
                version.row_version,
            )

        assert "Add drivers or availability" in str(raised.value)
