"""get_owned: a row of another tenant is not found, and the attempt is recorded."""

from __future__ import annotations

import pytest

from core.audit import verify_audit_chain
from core.errors import NotFound
from core.tenancy import CROSS_TENANT_ACCESS, describe_model, get_owned
from db.models import ForecastVersion, PlanVersion
from db.repositories import audit_log, forecasts, plans
from solver.rules import RuleSettings
from tests.integration.databases import SMALL_FORECAST, WEEK_ANCHOR

MISSING_ID = 987_654_321


def add_plan_version(database, tenant, result) -> PlanVersion:
    with database.session_factory() as session, session.begin():
        forecast_version = forecasts.add_version(
            session,
            tenant.tenant_id,
            WEEK_ANCHOR,
            SMALL_FORECAST,
            source_filename="week49.csv",
            source_format="tidy",
            line_report=[],
            diff=None,
            created_by=None,
        )
        plan = plans.get_or_add_plan(session, tenant.tenant_id, WEEK_ANCHOR)
        return plans.add_version(
            session,
            tenant.tenant_id,
            plan.id,
            forecast_version.id,
            result,
            RuleSettings(),
            created_by=None,
        )


def security_events(database, tenant):
    with database.session_factory() as session:
        return audit_log.list_entries(
            session, tenant.tenant_id, action=CROSS_TENANT_ACCESS
        )


class TestGetOwned:
    def test_own_row_is_returned(self, database, make_tenant, small_solve_result):
        tenant = make_tenant()
        version = add_plan_version(database, tenant, small_solve_result)

        with database.session_factory() as session:
            found = get_owned(session, tenant.actor(), PlanVersion, version.id)

        assert found.id == version.id
        assert found.tenant_id == tenant.tenant_id
        assert security_events(database, tenant) == []

    def test_missing_id_records_no_event(self, database, make_tenant):
        tenant = make_tenant()

        with (
            database.session_factory() as session,
            pytest.raises(NotFound) as missing,
        ):
            get_owned(session, tenant.actor(), PlanVersion, MISSING_ID)

        assert str(missing.value) == f"plan version {MISSING_ID} not found"
        assert security_events(database, tenant) == []

    def test_foreign_row_looks_missing(self, database, make_tenant, small_solve_result):
        owner = make_tenant()
        intruder = make_tenant()
        version = add_plan_version(database, owner, small_solve_result)

        with (
            database.session_factory() as session,
            pytest.raises(NotFound) as foreign,
        ):
            get_owned(session, intruder.actor(), PlanVersion, version.id)
        with (
            database.session_factory() as session,
            pytest.raises(NotFound) as missing,
        ):
            get_owned(session, intruder.actor(), PlanVersion, MISSING_ID)

        assert type(foreign.value) is type(missing.value)
        assert str(foreign.value) == f"plan version {version.id} not found"
        assert str(missing.value) == f"plan version {MISSING_ID} not found"
        assert foreign.value.object_type == missing.value.object_type

    def test_foreign_plan_read_is_recorded(
        self, database, make_tenant, small_solve_result
    ):
        owner = make_tenant()
        intruder = make_tenant()
        version = add_plan_version(database, owner, small_solve_result)
        actor = intruder.actor()

        with database.session_factory() as session:
            with pytest.raises(NotFound):
                get_owned(session, actor, PlanVersion, version.id)
            session.rollback()
        events = security_events(database, intruder)
        with database.session_factory() as session:
            intruder_chain = verify_audit_chain(session, intruder.tenant_id)

        assert len(events) == 1
        assert events[0].actor_user_id == actor.user_id
        assert events[0].object_type == "plan version"
        assert events[0].object_id == str(version.id)
        assert events[0].details["role"] == actor.role.value
        assert intruder_chain.ok
        assert security_events(database, owner) == []

    def test_guessed_forecast_id_reveals_no_data(self, database, make_tenant):
        owner = make_tenant()
        intruder = make_tenant()
        with database.session_factory() as session, session.begin():
            secret = forecasts.add_version(
                session,
                owner.tenant_id,
                WEEK_ANCHOR,
                SMALL_FORECAST,
                source_filename="owner-only.csv",
                source_format="tidy",
                line_report=[],
                diff=None,
                created_by=None,
            )

        with (
            database.session_factory() as session,
            pytest.raises(NotFound) as rejected,
        ):
            get_owned(session, intruder.actor(), ForecastVersion, secret.id)

        assert "owner-only.csv" not in str(rejected.value)
        assert str(rejected.value) == f"forecast version {secret.id} not found"

    def test_non_numeric_id_not_found(self, database, make_tenant):
        tenant = make_tenant()

        with (
            database.session_factory() as session,
            pytest.raises(NotFound, match="plan version 12abc not found"),
        ):
            get_owned(session, tenant.actor(), PlanVersion, "12abc")


def test_model_names_read_as_words():
    assert describe_model(PlanVersion) == "plan version"
    assert describe_model(ForecastVersion) == "forecast version"
