"""Approved plan versions are locked, and concurrent edits of a draft conflict."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from db.models import PlanVersion, PlanVersionStatus
from db.repositories import forecasts, plans
from solver.rules import RuleSettings
from tests.integration.databases import (
    SMALL_FORECAST,
    WEEK_ANCHOR,
    add_tenant,
    bind_tenant,
)

LOCKED_MESSAGE = "approved and cannot be changed"

# Raw SQL that would change an approved version or the rows under it.
CHANGES_OF_AN_APPROVED_VERSION = {
    "update version": "UPDATE plan_versions SET gap = 0.5 WHERE id = :version_id",
    "delete version": "DELETE FROM plan_versions WHERE id = :version_id",
    "insert assignment": (
        "INSERT INTO assignments"
        " (tenant_id, plan_version_id, tour_id, driver, day, block_kind)"
        " VALUES (:tenant_id, :version_id, 'Mo-0600-1030-09', 'D099', 1, 'single')"
    ),
    "update assignment": (
        "UPDATE assignments SET driver = 'D099' WHERE plan_version_id = :version_id"
    ),
    "delete assignment": "DELETE FROM assignments WHERE plan_version_id = :version_id",
    "insert check": (
        "INSERT INTO plan_checks"
        " (tenant_id, plan_version_id, rule, label, passed, checked, violations)"
        " VALUES (:tenant_id, :version_id, 'extra', 'Extra', :passed, 0, '[]')"
    ),
    "update check": (
        "UPDATE plan_checks SET passed = :passed WHERE plan_version_id = :version_id"
    ),
    "delete check": "DELETE FROM plan_checks WHERE plan_version_id = :version_id",
}


def add_draft(database, tenant, result) -> PlanVersion:
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
            created_by=tenant.actor().user_id,
        )


def approve(database, tenant, version_id: int) -> PlanVersion:
    approver = tenant.actor()
    with database.session_factory() as session, session.begin():
        version = plans.get_version(session, tenant.tenant_id, version_id)
        plans.approve_version(version, approver.user_id, "checked against the depot")
    return version


class TestApproval:
    def test_approval_records_approver_and_reason(
        self, database, make_tenant, small_solve_result
    ):
        tenant = make_tenant()
        draft = add_draft(database, tenant, small_solve_result)

        approve(database, tenant, draft.id)
        with database.session_factory() as session:
            stored = plans.get_version(session, tenant.tenant_id, draft.id)
            in_force = plans.latest_approved_version(
                session, tenant.tenant_id, draft.plan_id
            )

        assert stored.status is PlanVersionStatus.APPROVED
        assert stored.approved_by == tenant.actor().user_id
        assert stored.approval_reason == "checked against the depot"
        assert stored.approved_at is not None
        assert stored.row_version == 2
        assert in_force.id == draft.id

    def test_second_approval_raises_value_error(
        self, database, make_tenant, small_solve_result
    ):
        tenant = make_tenant()
        draft = add_draft(database, tenant, small_solve_result)
        approved = approve(database, tenant, draft.id)

        with pytest.raises(ValueError, match="only a draft can be approved"):
            plans.approve_version(approved, tenant.actor().user_id, "again")


class TestApprovedVersionIsLocked:
    @pytest.mark.parametrize("change", sorted(CHANGES_OF_AN_APPROVED_VERSION))
    def test_sql_change_is_rejected(
        self, database, make_tenant, small_solve_result, change
    ):
        tenant = make_tenant()
        version = add_draft(database, tenant, small_solve_result)
        approve(database, tenant, version.id)
        parameters = {
            "version_id": version.id,
            "tenant_id": tenant.tenant_id,
            "passed": False,
        }

        with (
            database.engine.connect() as connection,
            pytest.raises(IntegrityError, match=LOCKED_MESSAGE),
        ):
            bind_tenant(connection, tenant.tenant_id)
            connection.execute(text(CHANGES_OF_AN_APPROVED_VERSION[change]), parameters)
        with database.session_factory() as session:
            stored = plans.get_version(session, tenant.tenant_id, version.id)
            assignments = plans.list_assignments(session, tenant.tenant_id, version.id)

        assert stored.status is PlanVersionStatus.APPROVED
        assert stored.gap == small_solve_result.gap
        assert len(assignments) == SMALL_FORECAST.tour_count

    def test_orm_change_is_rejected(self, database, make_tenant, small_solve_result):
        tenant = make_tenant()
        version = add_draft(database, tenant, small_solve_result)
        approve(database, tenant, version.id)

        with database.session_factory() as session:
            stored = plans.get_version(session, tenant.tenant_id, version.id)
            stored.status = PlanVersionStatus.SUPERSEDED
            with pytest.raises(IntegrityError, match=LOCKED_MESSAGE):
                session.flush()

    def test_supersede_skips_approved_versions(
        self, database, make_tenant, small_solve_result
    ):
        tenant = make_tenant()
        version = add_draft(database, tenant, small_solve_result)
        approve(database, tenant, version.id)

        with database.session_factory() as session, session.begin():
            changed = plans.supersede_drafts(
                session, tenant.tenant_id, version.plan_id, newer_than=99
            )

        assert changed == 0

    def test_truncate_of_assignments_is_rejected(self, postgres, small_solve_result):
        tenant = add_tenant(postgres.session_factory)
        version = add_draft(postgres, tenant, small_solve_result)
        approve(postgres, tenant, version.id)

        with (
            postgres.unguarded_connection() as connection,
            pytest.raises(IntegrityError, match=LOCKED_MESSAGE),
        ):
            connection.execute(text("TRUNCATE assignments"))


class TestDraftStaysEditable:
    def test_draft_assignment_can_be_changed(
        self, database, make_tenant, small_solve_result
    ):
        tenant = make_tenant()
        draft = add_draft(database, tenant, small_solve_result)

        with database.session_factory() as session, session.begin():
            assignment = plans.list_assignments(session, tenant.tenant_id, draft.id)[0]
            assignment.driver = "D099"
        with database.session_factory() as session:
            drivers = {
                row.driver
                for row in plans.list_assignments(session, tenant.tenant_id, draft.id)
            }

        assert "D099" in drivers

    def test_draft_checks_can_be_deleted(
        self, database, make_tenant, small_solve_result
    ):
        tenant = make_tenant()
        draft = add_draft(database, tenant, small_solve_result)

        with database.engine.begin() as connection:
            bind_tenant(connection, tenant.tenant_id)
            deleted = connection.execute(
                text("DELETE FROM plan_checks WHERE plan_version_id = :version_id"),
                {"version_id": draft.id},
            ).rowcount

        assert deleted == len(small_solve_result.checks)


class TestOptimisticLocking:
    def test_stale_draft_edit_raises_stale_data(
        self, database, make_tenant, small_solve_result
    ):
        tenant = make_tenant()
        draft = add_draft(database, tenant, small_solve_result)

        with (
            database.session_factory() as first,
            database.session_factory() as second,
        ):
            first_copy = plans.get_version(first, tenant.tenant_id, draft.id)
            second_copy = plans.get_version(second, tenant.tenant_id, draft.id)
            first_copy.kpis = {**first_copy.kpis, "note": "first dispatcher"}
            first.commit()
            second_copy.kpis = {**second_copy.kpis, "note": "second dispatcher"}
            with pytest.raises(StaleDataError):
                second.flush()
        with database.session_factory() as session:
            stored = plans.get_version(session, tenant.tenant_id, draft.id)

        assert stored.kpis["note"] == "first dispatcher"
        assert stored.row_version == 2

    def test_second_approval_raises_stale_data(
        self, database, make_tenant, small_solve_result
    ):
        tenant = make_tenant()
        draft = add_draft(database, tenant, small_solve_result)
        approver = tenant.actor()

        with (
            database.session_factory() as first,
            database.session_factory() as second,
        ):
            first_copy = plans.get_version(first, tenant.tenant_id, draft.id)
            second_copy = plans.get_version(second, tenant.tenant_id, draft.id)
            plans.approve_version(first_copy, approver.user_id, "first approval")
            first.commit()
            plans.approve_version(second_copy, approver.user_id, "second approval")
            with pytest.raises(StaleDataError):
                second.flush()
        with database.session_factory() as session:
            stored = plans.get_version(session, tenant.tenant_id, draft.id)

        assert stored.approval_reason == "first approval"
