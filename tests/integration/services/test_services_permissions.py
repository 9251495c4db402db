"""Every role against every service action, called through the services.

The tables below are the expected matrix. A role from PLAN_APPROVER upwards
keeps only the DISPATCHER permissions until its sign-in passed the TOTP step,
so the matrix is written out twice: without and with MFA.
"""

from __future__ import annotations

from datetime import date

import pytest

from core import approvals, audit_log, exports, forecasts, plans
from core.context import PERMISSION_DENIED
from core.errors import PermissionDenied
from core.permissions import Role
from db.models import PlanVersionStatus
from db.repositories import audit_log as audit_rows
from db.repositories import plans as plan_rows
from tests.integration.databases import SMALL_FORECAST
from tests.integration.services.helpers import add_draft, forecast_file, import_week

ROLES = (
    Role.VIEWER,
    Role.DISPATCHER,
    Role.PLAN_APPROVER,
    Role.TENANT_ADMIN,
    Role.SUPER_ADMIN,
)
Y, N = True, False

# fmt: off
WITHOUT_MFA = {
    #                          VIEWER DISPATCHER APPROVER ADMIN SUPER
    "import_forecast":         (N,    Y,         Y,       Y,    Y),
    "list_forecast_versions":  (Y,    Y,         Y,       Y,    Y),
    "get_forecast_version":    (Y,    Y,         Y,       Y,    Y),
    "request_solve":           (N,    Y,         Y,       Y,    Y),
    "get_solve_job":           (Y,    Y,         Y,       Y,    Y),
    "list_solve_jobs":         (Y,    Y,         Y,       Y,    Y),
    "list_plan_versions":      (Y,    Y,         Y,       Y,    Y),
    "get_plan_version":        (Y,    Y,         Y,       Y,    Y),
    "coverage_by_time_of_day": (Y,    Y,         Y,       Y,    Y),
    "diff_to_approved":        (Y,    Y,         Y,       Y,    Y),
    "export_plan":             (Y,    Y,         Y,       Y,    Y),
    "list_audit_entries":      (N,    N,         N,       N,    N),
    "verify_audit_chain":      (N,    N,         N,       N,    N),
    "approve_plan":            (N,    N,         N,       N,    N),
}
WITH_MFA = {
    #                          VIEWER DISPATCHER APPROVER ADMIN SUPER
    "import_forecast":         (N,    Y,         Y,       Y,    Y),
    "list_forecast_versions":  (Y,    Y,         Y,       Y,    Y),
    "get_forecast_version":    (Y,    Y,         Y,       Y,    Y),
    "request_solve":           (N,    Y,         Y,       Y,    Y),
    "get_solve_job":           (Y,    Y,         Y,       Y,    Y),
    "list_solve_jobs":         (Y,    Y,         Y,       Y,    Y),
    "list_plan_versions":      (Y,    Y,         Y,       Y,    Y),
    "get_plan_version":        (Y,    Y,         Y,       Y,    Y),
    "coverage_by_time_of_day": (Y,    Y,         Y,       Y,    Y),
    "diff_to_approved":        (Y,    Y,         Y,       Y,    Y),
    "export_plan":             (Y,    Y,         Y,       Y,    Y),
    "list_audit_entries":      (N,    N,         N,       Y,    Y),
    "verify_audit_chain":      (N,    N,         N,       Y,    Y),
    "approve_plan":            (N,    N,         Y,       Y,    Y),
}
# fmt: on

OTHER_WEEK = date(2025, 12, 8)


def call_every_action(actor, setup) -> dict[str, bool]:
    """Call each service action as `actor`; map it to True unless refused."""
    forecast_version_id, plan_version_id, job_id, row_version = setup
    actions = {
        "import_forecast": lambda: forecasts.import_forecast(
            actor, OTHER_WEEK, "next-week.csv", forecast_file(SMALL_FORECAST)
        ),
        "list_forecast_versions": lambda: forecasts.list_forecast_versions(actor),
        "get_forecast_version": lambda: forecasts.get_forecast_version(
            actor, forecast_version_id
        ),
        "request_solve": lambda: plans.request_solve(actor, forecast_version_id),
        "get_solve_job": lambda: plans.get_solve_job(actor, job_id),
        "list_solve_jobs": lambda: plans.list_solve_jobs(actor),
        "list_plan_versions": lambda: plans.list_plan_versions(actor),
        "get_plan_version": lambda: plans.get_plan_version(actor, plan_version_id),
        "coverage_by_time_of_day": lambda: plans.coverage_by_time_of_day(
            actor, plan_version_id
        ),
        "diff_to_approved": lambda: approvals.diff_to_approved(actor, plan_version_id),
        "export_plan": lambda: exports.export_plan(actor, plan_version_id, "csv"),
        "list_audit_entries": lambda: audit_log.list_audit_entries(actor),
        "verify_audit_chain": lambda: audit_log.verify_tenant_audit_chain(actor),
        # Last, because approving locks the draft.
        "approve_plan": lambda: approvals.approve_plan(
            actor, plan_version_id, "checked", row_version
        ),
    }
    outcomes = {}
    for name, action in actions.items():
        try:
            action()
        except PermissionDenied:
            outcomes[name] = False
        else:
            outcomes[name] = True
    return outcomes


def prepare_tenant(workbench, make_tenant, small_solve_result):
    tenant = make_tenant()
    dispatcher = tenant.actor(Role.DISPATCHER)
    forecast_version = import_week(dispatcher)
    draft = add_draft(
        workbench,
        tenant.tenant_id,
        forecast_version.forecast_version_id,
        small_solve_result,
    )
    job = plans.request_solve(dispatcher, forecast_version.forecast_version_id)
    setup = (
        forecast_version.forecast_version_id,
        draft.id,
        job.job_id,
        draft.row_version,
    )
    return tenant, setup


class TestPermissionMatrix:
    @pytest.mark.parametrize("mfa_verified", [False, True], ids=["password", "mfa"])
    @pytest.mark.parametrize("role", ROLES, ids=[role.value for role in ROLES])
    def test_role_matches_matrix(
        self, workbench, make_tenant, small_solve_result, role, mfa_verified
    ):
        tenant, setup = prepare_tenant(workbench, make_tenant, small_solve_result)
        actor = tenant.actor(role, mfa_verified=mfa_verified)
        table = WITH_MFA if mfa_verified else WITHOUT_MFA
        column = ROLES.index(role)
        expected = {action: allowed[column] for action, allowed in table.items()}

        outcomes = call_every_action(actor, setup)

        assert outcomes == expected

    @pytest.mark.parametrize("role", [Role.VIEWER, Role.DISPATCHER])
    def test_refused_approval_is_recorded(
        self, workbench, make_tenant, small_solve_result, role
    ):
        tenant, (_, plan_version_id, _, row_version) = prepare_tenant(
            workbench, make_tenant, small_solve_result
        )
        actor = tenant.actor(role, mfa_verified=True)

        with pytest.raises(PermissionDenied, match="plan:approve"):
            approvals.approve_plan(actor, plan_version_id, "looks fine", row_version)
        with workbench.session_factory() as session:
            stored = plan_rows.get_version(session, tenant.tenant_id, plan_version_id)
            refusals = audit_rows.list_entries(
                session, tenant.tenant_id, action=PERMISSION_DENIED
            )

        assert stored.status is PlanVersionStatus.DRAFT
        assert stored.approved_by is None
        assert len(refusals) == 1
        assert refusals[0].actor_user_id == actor.user_id
        assert refusals[0].object_id == "plan:approve"

    def test_approver_without_mfa_refused(
        self, workbench, make_tenant, small_solve_result
    ):
        tenant, (_, plan_version_id, _, row_version) = prepare_tenant(
            workbench, make_tenant, small_solve_result
        )
        approver = tenant.actor(Role.PLAN_APPROVER, mfa_verified=False)

        with pytest.raises(PermissionDenied) as refused:
            approvals.approve_plan(approver, plan_version_id, "looks fine", row_version)

        assert refused.value.mfa_required is True
        assert "multi-factor" in str(refused.value)


def test_matrix_tables_name_the_same_actions():
    assert WITHOUT_MFA.keys() == WITH_MFA.keys()
    assert all(len(row) == len(ROLES) for row in WITHOUT_MFA.values())
    assert all(len(row) == len(ROLES) for row in WITH_MFA.values())
