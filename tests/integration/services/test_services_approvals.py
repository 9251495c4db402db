"""Approving plan versions through the service: locking, conflicts, diffs."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from core.approvals import PLAN_APPROVED, approve_plan, diff_to_approved
from core.context import current_engine
from core.errors import Conflict, InvalidInput, PlanLocked
from core.permissions import Role
from core.plans import get_plan_version, list_plan_versions
from db.repositories import audit_log, plans
from solver.checks import Violation
from solver.plan import Plan
from tests.integration.databases import bind_tenant
from tests.integration.services.helpers import add_draft, import_week

REASON = "checked against the depot's staff list"
CONCURRENT_ROUNDS = 5


@pytest.fixture
def tenant(workbench, make_tenant):
    return make_tenant()


@pytest.fixture
def approver(tenant):
    return tenant.actor(Role.PLAN_APPROVER, mfa_verified=True)


@pytest.fixture
def forecast_version_id(tenant) -> int:
    return import_week(tenant.actor(Role.DISPATCHER)).forecast_version_id


@pytest.fixture
def draft(workbench, tenant, forecast_version_id, small_solve_result):
    return add_draft(
        workbench, tenant.tenant_id, forecast_version_id, small_solve_result
    )


def stored_version(workbench, tenant, version_id):
    with workbench.session_factory() as session:
        return plans.get_version(session, tenant.tenant_id, version_id)


class TestApprovePlan:
    def test_approval_locks_and_records_the_approver(
        self, workbench, tenant, approver, draft
    ):
        approved = approve_plan(approver, draft.id, REASON, draft.row_version)
        with workbench.session_factory() as session:
            entries = audit_log.list_entries(
                session, tenant.tenant_id, action=PLAN_APPROVED
            )

        assert approved.status == "approved"
        assert approved.approved_by == approver.user_id
        assert approved.approval_reason == REASON
        assert approved.approved_at is not None
        assert approved.row_version == draft.row_version + 1
        assert approved.checks
        assert len(entries) == 1
        assert entries[0].details["reason_length"] == len(REASON)
        assert REASON not in str(entries[0].details)

    def test_approved_version_cannot_be_approved_again(
        self, workbench, tenant, approver, draft
    ):
        approved = approve_plan(approver, draft.id, REASON, draft.row_version)

        with pytest.raises(PlanLocked, match="approved and locked"):
            approve_plan(approver, draft.id, "second look", approved.row_version)

        assert stored_version(workbench, tenant, draft.id).approval_reason == REASON

    def test_stale_row_version_is_a_conflict(self, workbench, tenant, approver, draft):
        with workbench.session_factory() as session, session.begin():
            version = plans.get_version(session, tenant.tenant_id, draft.id)
            version.kpis = {**version.kpis, "note": "edited by a dispatcher"}

        with pytest.raises(Conflict) as conflict:
            approve_plan(approver, draft.id, REASON, draft.row_version)

        assert "changed since you read it" in str(conflict.value)
        assert "reload it" in str(conflict.value)
        assert stored_version(workbench, tenant, draft.id).status.value == "draft"

    @pytest.mark.parametrize("reason", ["", "   ", "\n"])
    def test_empty_reason_is_rejected(self, workbench, tenant, approver, draft, reason):
        with pytest.raises(InvalidInput) as rejected:
            approve_plan(approver, draft.id, reason, draft.row_version)

        assert rejected.value.field == "reason"
        assert stored_version(workbench, tenant, draft.id).status.value == "draft"

    def test_superseded_version_is_a_conflict(
        self,
        workbench,
        tenant,
        approver,
        draft,
        forecast_version_id,
        small_solve_result,
    ):
        add_draft(workbench, tenant.tenant_id, forecast_version_id, small_solve_result)
        superseded = stored_version(workbench, tenant, draft.id)

        with pytest.raises(Conflict, match="only a draft can be approved"):
            approve_plan(approver, draft.id, REASON, superseded.row_version)

    def test_plan_failing_a_check_is_rejected(
        self, workbench, tenant, approver, forecast_version_id, small_solve_result
    ):
        breach = Violation("D001 rests 9 h", driver="D001", day=2, amount_minutes=120)
        checks = tuple(
            replace(check, violations=(breach,)) if check.rule == "rest" else check
            for check in small_solve_result.checks
        )
        failing = replace(small_solve_result, checks=checks)
        version = add_draft(workbench, tenant.tenant_id, forecast_version_id, failing)

        with pytest.raises(InvalidInput, match="breaks the rules rest"):
            approve_plan(approver, version.id, REASON, version.row_version)

    def test_newest_approval_is_in_force(
        self,
        workbench,
        tenant,
        approver,
        draft,
        forecast_version_id,
        small_solve_result,
    ):
        approve_plan(approver, draft.id, REASON, draft.row_version)
        second = add_draft(
            workbench, tenant.tenant_id, forecast_version_id, small_solve_result
        )

        approve_plan(approver, second.id, "re-solved after a holiday", 1)
        with workbench.session_factory() as session:
            in_force = plans.latest_approved_version(
                session, tenant.tenant_id, second.plan_id
            )
            entries = audit_log.list_entries(
                session, tenant.tenant_id, action=PLAN_APPROVED
            )

        assert in_force.id == second.id
        assert entries[-1].details["previous_approved_version_id"] == draft.id
        listed = list_plan_versions(approver)
        assert [view.status for view in listed] == ["approved", "approved"]
        assert [(view.plan_version_id, view.in_force) for view in listed] == [
            (second.id, True),
            (draft.id, False),
        ]


class TestApprovedVersionIsLocked:
    def test_raw_update_is_rejected(self, workbench, tenant, approver, draft):
        approve_plan(approver, draft.id, REASON, draft.row_version)

        with (
            current_engine().connect() as connection,
            pytest.raises(IntegrityError, match="approved and cannot be changed"),
        ):
            bind_tenant(connection, tenant.tenant_id)
            connection.execute(
                text("UPDATE plan_versions SET status = 'draft' WHERE id = :id"),
                {"id": draft.id},
            )
        view = get_plan_version(approver, draft.id)

        assert view.status == "approved"
        assert view.approval_reason == REASON

    def test_raw_assignment_change_is_refused(self, workbench, tenant, approver, draft):
        approve_plan(approver, draft.id, REASON, draft.row_version)

        with (
            current_engine().connect() as connection,
            pytest.raises(IntegrityError, match="approved and cannot be changed"),
        ):
            bind_tenant(connection, tenant.tenant_id)
            connection.execute(
                text(
                    "UPDATE assignments SET driver = 'D999' WHERE plan_version_id = :id"
                ),
                {"id": draft.id},
            )


class TestConcurrentApproval:
    def test_one_of_two_approvals_wins(
        self, workbench, tenant, forecast_version_id, small_solve_result
    ):
        first_approver = tenant.actor(Role.PLAN_APPROVER, mfa_verified=True)
        second_approver = tenant.actor(Role.TENANT_ADMIN, mfa_verified=True)

        for _ in range(CONCURRENT_ROUNDS):
            draft = add_draft(
                workbench, tenant.tenant_id, forecast_version_id, small_solve_result
            )
            start = threading.Barrier(2)

            def approve_as(actor, version=draft, start=start):
                start.wait(timeout=10)
                try:
                    return approve_plan(actor, version.id, REASON, version.row_version)
                except Conflict as conflict:
                    return conflict

            with ThreadPoolExecutor(max_workers=2) as pool:
                outcomes = list(
                    pool.map(approve_as, [first_approver, second_approver], timeout=60)
                )

            conflicts = [item for item in outcomes if isinstance(item, Conflict)]
            winners = [item for item in outcomes if not isinstance(item, Conflict)]
            stored = stored_version(workbench, tenant, draft.id)
            assert len(winners) == 1
            assert len(conflicts) == 1
            assert "reload it" in str(conflicts[0])
            assert stored.status.value == "approved"
            assert stored.approved_by == winners[0].approved_by


class TestDiffToApproved:
    def test_without_approved_version_fields_are_none(self, workbench, approver, draft):
        diff = diff_to_approved(approver, draft.id)

        assert diff == {
            "plan_version_id": draft.id,
            "approved_version_id": None,
            "drivers": None,
            "lower_bound": None,
            "assignment_changes": None,
            "changed_tours": None,
        }

    def test_renamed_drivers_are_no_change(
        self,
        workbench,
        tenant,
        approver,
        draft,
        forecast_version_id,
        small_solve_result,
    ):
        approve_plan(approver, draft.id, REASON, draft.row_version)
        rosters = small_solve_result.plan.rosters
        renamed = Plan(
            rosters=tuple(
                replace(roster, driver=f"R{index:03d}")
                for index, roster in enumerate(reversed(rosters))
            )
        )
        second = add_draft(
            workbench,
            tenant.tenant_id,
            forecast_version_id,
            replace(small_solve_result, plan=renamed),
        )

        diff = diff_to_approved(approver, second.id)

        assert diff["approved_version_id"] == draft.id
        driver_count = len(rosters)
        assert diff["drivers"] == {
            "approved": driver_count,
            "this": driver_count,
            "change": 0,
        }
        assert diff["assignment_changes"] == 0
        assert diff["changed_tours"] == []

    def test_dropped_roster_shows_its_tours(
        self,
        workbench,
        tenant,
        approver,
        draft,
        forecast_version_id,
        small_solve_result,
    ):
        approve_plan(approver, draft.id, REASON, draft.row_version)
        dropped, *kept = small_solve_result.plan.rosters
        second = add_draft(
            workbench,
            tenant.tenant_id,
            forecast_version_id,
            replace(small_solve_result, plan=Plan(rosters=tuple(kept))),
        )

        diff = diff_to_approved(approver, second.id)

        expected = [
            {"tour_id": tour.tour_id, "approved_driver": dropped.driver, "driver": ""}
            for tour in sorted(dropped.tours, key=lambda tour: tour.tour_id)
        ]
        assert diff["drivers"]["change"] == -1
        assert diff["lower_bound"]["change"] == 0
        assert diff["assignment_changes"] == len(dropped.tours)
        assert diff["changed_tours"] == expected
