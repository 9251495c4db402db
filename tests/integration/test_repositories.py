"""Repositories store and find rows of one tenant only, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError

from db.models import (
    ForecastStatus,
    ForecastVersion,
    PlanVersion,
    PlanVersionStatus,
)
from db.repositories import forecasts, plans, tenants, users
from solver.rules import RuleSettings
from solver.tours import Forecast, TourTemplate, expand
from tests.integration.databases import SMALL_FORECAST, WEEK_ANCHOR

LINE_REPORT = [{"line_number": 1, "status": "pass", "reason": "line 1: 2 tours"}]


def add_small_forecast(session, tenant, forecast=SMALL_FORECAST) -> ForecastVersion:
    return forecasts.add_version(
        session,
        tenant.tenant_id,
        WEEK_ANCHOR,
        forecast,
        source_filename="week49.csv",
        source_format="tidy",
        line_report=LINE_REPORT,
        diff=None,
        created_by=tenant.actor().user_id,
    )


def add_small_plan_version(session, tenant, result) -> PlanVersion:
    forecast_version = add_small_forecast(session, tenant)
    plan = plans.get_or_add_plan(session, tenant.tenant_id, WEEK_ANCHOR)
    return plans.add_version(
        session,
        tenant.tenant_id,
        plan.id,
        forecast_version.id,
        result,
        RuleSettings(),
        created_by=tenant.actor().user_id,
    )


class TestForecasts:
    def test_added_version_found_by_hash(self, database, make_tenant):
        tenant = make_tenant()

        with database.session_factory() as session, session.begin():
            added = add_small_forecast(session, tenant)
        with database.session_factory() as session:
            by_hash = forecasts.find_by_hash(
                session, tenant.tenant_id, WEEK_ANCHOR, SMALL_FORECAST.sha256
            )
            newest = forecasts.latest(session, tenant.tenant_id, WEEK_ANCHOR)

        assert by_hash is not None
        assert by_hash.id == added.id
        assert newest is not None
        assert newest.id == added.id
        assert newest.version_number == 1
        assert newest.status is ForecastStatus.ACCEPTED
        assert newest.tour_count == SMALL_FORECAST.tour_count
        assert newest.line_report == LINE_REPORT

    def test_other_tenant_finds_nothing(self, database, make_tenant):
        owner = make_tenant()
        other = make_tenant()
        with database.session_factory() as session, session.begin():
            added = add_small_forecast(session, owner)

        with database.session_factory() as session:
            by_hash = forecasts.find_by_hash(
                session, other.tenant_id, WEEK_ANCHOR, SMALL_FORECAST.sha256
            )
            newest = forecasts.latest(session, other.tenant_id, WEEK_ANCHOR)
            by_id = forecasts.get_version(session, other.tenant_id, added.id)
            tours = forecasts.list_tours(session, other.tenant_id, added.id)
            forecast = forecasts.load_forecast(session, other.tenant_id, added.id)

        assert by_hash is None
        assert newest is None
        assert by_id is None
        assert tours == []
        assert forecast is None

    def test_stored_forecast_loads_back_equal(self, database, make_tenant):
        tenant = make_tenant()
        with database.session_factory() as session, session.begin():
            added = add_small_forecast(session, tenant)

        with database.session_factory() as session:
            forecast = forecasts.load_forecast(session, tenant.tenant_id, added.id)
            tours = forecasts.list_tours(session, tenant.tenant_id, added.id)

        assert forecast == SMALL_FORECAST
        assert forecast.sha256 == SMALL_FORECAST.sha256
        assert tours == expand(SMALL_FORECAST)

    def test_next_import_gets_next_number(self, database, make_tenant):
        tenant = make_tenant()
        changed = Forecast.from_templates(
            [*SMALL_FORECAST.templates, TourTemplate(4, 6 * 60, 10 * 60, 3)]
        )

        with database.session_factory() as session, session.begin():
            first = add_small_forecast(session, tenant)
            second = add_small_forecast(session, tenant, changed)
        with database.session_factory() as session:
            versions = forecasts.list_versions(session, tenant.tenant_id, WEEK_ANCHOR)

        assert first.version_number == 1
        assert second.version_number == 2
        assert [version.id for version in versions] == [first.id, second.id]

    def test_same_forecast_twice_rejected(self, database, make_tenant):
        tenant = make_tenant()
        with database.session_factory() as session, session.begin():
            add_small_forecast(session, tenant)

        with database.session_factory() as session, pytest.raises(IntegrityError):
            add_small_forecast(session, tenant)

    def test_rejected_import_is_kept_without_tours(self, database, make_tenant):
        tenant = make_tenant()
        failing_report = [
            {"line_number": 3, "status": "failure", "reason": "line 3: no count"}
        ]

        with database.session_factory() as session, session.begin():
            rejected = forecasts.add_version(
                session,
                tenant.tenant_id,
                WEEK_ANCHOR,
                None,
                source_filename="broken.csv",
                source_format="sectioned",
                line_report=failing_report,
                diff=None,
                created_by=None,
                rejected_sha256="ab" * 32,
            )
            accepted = add_small_forecast(session, tenant)
        with database.session_factory() as session:
            newest = forecasts.latest(session, tenant.tenant_id, WEEK_ANCHOR)
            newest_accepted = forecasts.latest(
                session, tenant.tenant_id, WEEK_ANCHOR, accepted_only=True
            )
            rejected_tours = forecasts.list_tours(
                session, tenant.tenant_id, rejected.id
            )

        assert rejected.status is ForecastStatus.REJECTED
        assert rejected.tour_count == 0
        assert rejected_tours == []
        assert newest.id == accepted.id
        assert newest_accepted.id == accepted.id

    def test_week_anchor_not_monday_rejected(self, database, make_tenant):
        tenant = make_tenant()
        tuesday = WEEK_ANCHOR + timedelta(days=1)

        with pytest.raises(ValueError, match="use the Monday"):
            ForecastVersion(tenant_id=tenant.tenant_id, week_anchor=tuesday)

        with (
            database.engine.connect() as connection,
            pytest.raises(IntegrityError, match="Monday"),
        ):
            connection.execute(
                text(
                    "INSERT INTO plans (tenant_id, week_anchor, created_at)"
                    " VALUES (:tenant_id, :week_anchor, :created_at)"
                ),
                {
                    "tenant_id": tenant.tenant_id,
                    "week_anchor": tuesday,
                    "created_at": datetime(2025, 12, 2, tzinfo=UTC),
                },
            )


class TestPlans:
    def test_version_is_none_for_another_tenant(
        self, database, make_tenant, small_solve_result
    ):
        owner = make_tenant()
        other = make_tenant()
        with database.session_factory() as session, session.begin():
            version = add_small_plan_version(session, owner, small_solve_result)

        with database.session_factory() as session:
            own = plans.get_version(session, owner.tenant_id, version.id)
            foreign = plans.get_version(session, other.tenant_id, version.id)
            foreign_assignments = plans.list_assignments(
                session, other.tenant_id, version.id
            )
            foreign_plan = plans.load_plan(session, other.tenant_id, version.id)

        assert own is not None
        assert foreign is None
        assert foreign_assignments == []
        assert foreign_plan is None

    def test_solve_result_stored_with_checks(
        self, database, make_tenant, small_solve_result
    ):
        tenant = make_tenant()

        with database.session_factory() as session, session.begin():
            version = add_small_plan_version(session, tenant, small_solve_result)
        with database.session_factory() as session:
            stored = plans.get_version(session, tenant.tenant_id, version.id)
            assignments = plans.list_assignments(session, tenant.tenant_id, version.id)
            checks = plans.list_checks(session, tenant.tenant_id, version.id)
            loaded_plan = plans.load_plan(session, tenant.tenant_id, version.id)

        assert stored.status is PlanVersionStatus.DRAFT
        assert stored.version_number == 1
        assert stored.row_version == 1
        assert stored.lower_bound == small_solve_result.lower_bound
        assert stored.gap == small_solve_result.gap
        assert stored.solve_status == small_solve_result.status.value
        assert stored.kpis["drivers"] == small_solve_result.drivers
        assert stored.settings == RuleSettings().to_dict()
        assert len(assignments) == SMALL_FORECAST.tour_count
        assert [check.rule for check in checks] == [
            check.rule for check in small_solve_result.checks
        ]
        assert all(check.passed for check in checks)
        assert loaded_plan == small_solve_result.plan

    def test_version_numbers_count_up_per_plan(
        self, database, make_tenant, small_solve_result
    ):
        tenant = make_tenant()

        with database.session_factory() as session, session.begin():
            first = add_small_plan_version(session, tenant, small_solve_result)
            second = plans.add_version(
                session,
                tenant.tenant_id,
                first.plan_id,
                first.forecast_version_id,
                small_solve_result,
                RuleSettings(),
                created_by=None,
            )
            superseded = plans.supersede_drafts(
                session, tenant.tenant_id, first.plan_id, second.version_number
            )
        with database.session_factory() as session:
            statuses = [
                version.status
                for version in plans.list_versions(
                    session, tenant.tenant_id, first.plan_id
                )
            ]

        assert second.version_number == 2
        assert superseded == 1
        assert statuses == [PlanVersionStatus.SUPERSEDED, PlanVersionStatus.DRAFT]

    def test_foreign_forecast_reference_rejected(
        self, database, make_tenant, small_solve_result
    ):
        owner = make_tenant()
        intruder = make_tenant()
        with database.session_factory() as session, session.begin():
            foreign_forecast = add_small_forecast(session, owner)

        with database.session_factory() as session:
            plan = plans.get_or_add_plan(session, intruder.tenant_id, WEEK_ANCHOR)
            with pytest.raises(IntegrityError):
                plans.add_version(
                    session,
                    intruder.tenant_id,
                    plan.id,
                    foreign_forecast.id,
                    small_solve_result,
                    RuleSettings(),
                    created_by=None,
                )


class TestUsersAndTenants:
    def test_username_reused_across_tenants(self, database, make_tenant):
        first = make_tenant()
        second = make_tenant()

        with database.session_factory() as session, session.begin():
            one = users.add(session, first.tenant_id, "alex", "hash-1", "VIEWER")
            two = users.add(session, second.tenant_id, "alex", "hash-2", "VIEWER")
        with database.session_factory() as session:
            found = users.find_by_username(session, second.tenant_id, "alex")
            foreign = users.get(session, first.tenant_id, two.id)

        assert one.id != two.id
        assert found.id == two.id
        assert foreign is None

    def test_duplicate_username_rejected(self, database, make_tenant):
        tenant = make_tenant()
        with database.session_factory() as session, session.begin():
            users.add(session, tenant.tenant_id, "sam", "hash-1", "VIEWER")

        with database.session_factory() as session, pytest.raises(IntegrityError):
            users.add(session, tenant.tenant_id, "sam", "hash-2", "DISPATCHER")

    def test_unknown_role_is_rejected(self, database, make_tenant):
        tenant = make_tenant()

        with (
            database.session_factory() as session,
            pytest.raises(ValueError, match="unknown role"),
        ):
            users.add(session, tenant.tenant_id, "kim", "hash", "OWNER")

    def test_timestamps_read_back_in_utc(self, database, make_tenant):
        tenant = make_tenant()
        berlin_noon = datetime(
            2025, 12, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1))
        )

        with database.session_factory() as session, session.begin():
            stored = tenants.get(session, tenant.tenant_id)
            stored.created_at = berlin_noon
        with database.session_factory() as session:
            reread = tenants.get(session, tenant.tenant_id)

        assert reread.created_at == berlin_noon
        assert reread.created_at.tzinfo == UTC
        assert reread.created_at.hour == 11
        assert reread.created_at.microsecond == 123456

    def test_naive_timestamp_is_rejected(self, database, make_tenant):
        tenant = make_tenant()

        with database.session_factory() as session:
            stored = tenants.get(session, tenant.tenant_id)
            stored.created_at = datetime(2025, 12, 1, 12, 0)
            with pytest.raises(StatementError, match="has no time zone"):
                session.flush()
