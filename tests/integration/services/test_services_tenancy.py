"""A valid actor of tenant B asking for tenant A's objects by id gets NotFound.

The error and its message are those of a missing id, so a guessed id reveals
nothing, and the attempt is recorded as a security event in B's audit chain.
"""

from __future__ import annotations

import pytest

from core import approvals, exports, forecasts, plans
from core.errors import NotFound
from core.permissions import Role
from core.tenancy import CROSS_TENANT_ACCESS
from db.repositories import audit_log, jobs
from db.repositories import plans as plan_rows
from tests.integration.services.helpers import add_draft, import_week

MISSING_ID = 987_654_321

# Each action: the kind of object whose id it takes, and a call(actor, id).
ACTIONS = {
    "get_forecast_version": (
        "forecast",
        lambda actor, object_id: forecasts.get_forecast_version(actor, object_id),
    ),
    "request_solve": (
        "forecast",
        lambda actor, object_id: plans.request_solve(actor, object_id),
    ),
    "get_solve_job": (
        "job",
        lambda actor, object_id: plans.get_solve_job(actor, object_id),
    ),
    "get_plan_version": (
        "plan",
        lambda actor, object_id: plans.get_plan_version(actor, object_id),
    ),
    "coverage_by_time_of_day": (
        "plan",
        lambda actor, object_id: plans.coverage_by_time_of_day(actor, object_id),
    ),
    "diff_to_approved": (
        "plan",
        lambda actor, object_id: approvals.diff_to_approved(actor, object_id),
    ),
    "export_plan": (
        "plan",
        lambda actor, object_id: exports.export_plan(actor, object_id, "xlsx"),
    ),
    "approve_plan": (
        "plan",
        lambda actor, object_id: approvals.approve_plan(actor, object_id, "ok", 1),
    ),
}


def owner_objects(workbench, owner, small_solve_result) -> dict[str, int]:
    dispatcher = owner.actor(Role.DISPATCHER)
    forecast_version = import_week(dispatcher)
    draft = add_draft(
        workbench,
        owner.tenant_id,
        forecast_version.forecast_version_id,
        small_solve_result,
    )
    job = plans.request_solve(dispatcher, forecast_version.forecast_version_id)
    return {
        "forecast": forecast_version.forecast_version_id,
        "plan": draft.id,
        "job": job.job_id,
    }


def security_events(workbench, tenant_id: int):
    with workbench.session_factory() as session:
        return audit_log.list_entries(session, tenant_id, action=CROSS_TENANT_ACCESS)


class TestCrossTenantAccess:
    @pytest.mark.parametrize("action", sorted(ACTIONS))
    def test_foreign_id_not_found(
        self, workbench, make_tenant, small_solve_result, action
    ):
        owner = make_tenant()
        intruder = make_tenant()
        object_kind, call = ACTIONS[action]
        foreign_id = owner_objects(workbench, owner, small_solve_result)[object_kind]
        actor = intruder.actor(Role.TENANT_ADMIN)

        with pytest.raises(NotFound) as foreign:
            call(actor, foreign_id)
        with pytest.raises(NotFound) as missing:
            call(actor, MISSING_ID)
        events = security_events(workbench, intruder.tenant_id)

        foreign_message = str(foreign.value).replace(str(foreign_id), "<id>")
        missing_message = str(missing.value).replace(str(MISSING_ID), "<id>")
        assert foreign_message == missing_message
        assert foreign.value.object_type == missing.value.object_type
        assert len(events) == 1
        assert events[0].object_id == str(foreign_id)
        assert events[0].actor_user_id == actor.user_id
        assert security_events(workbench, owner.tenant_id) == []

    def test_foreign_objects_stay_unchanged(
        self, workbench, make_tenant, small_solve_result
    ):
        owner = make_tenant()
        intruder = make_tenant()
        ids = owner_objects(workbench, owner, small_solve_result)
        actor = intruder.actor(Role.TENANT_ADMIN)

        for action in ("approve_plan", "request_solve"):
            object_kind, call = ACTIONS[action]
            with pytest.raises(NotFound):
                call(actor, ids[object_kind])
        with workbench.session_factory() as session:
            draft = plan_rows.get_version(session, owner.tenant_id, ids["plan"])
            owner_jobs = jobs.list_jobs(session, owner.tenant_id)
            intruder_jobs = jobs.list_jobs(session, intruder.tenant_id)

        assert draft.status.value == "draft"
        assert len(owner_jobs) == 1
        assert intruder_jobs == []

    def test_lists_show_only_own_tenant(
        self, workbench, make_tenant, small_solve_result
    ):
        owner = make_tenant()
        other = make_tenant()
        owner_objects(workbench, owner, small_solve_result)
        viewer = other.actor(Role.VIEWER)

        assert forecasts.list_forecast_versions(viewer) == []
        assert plans.list_plan_versions(viewer) == []
        assert plans.list_solve_jobs(viewer) == []
