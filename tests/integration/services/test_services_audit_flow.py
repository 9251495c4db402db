"""A whole week's flow through the services leaves a complete, verified audit chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from core import approvals, auth, exports, forecasts, plans, worker
from core.audit_log import list_audit_entries, verify_tenant_audit_chain
from core.errors import InvalidInput
from core.permissions import Role
from tests.integration.databases import WEEK_ANCHOR
from tests.integration.services.helpers import (
    add_user,
    forecast_file,
    generated_forecast,
)

PASSWORD = "a long and random enough passphrase"
START = datetime(2025, 11, 28, 9, 0, tzinfo=UTC)

EXPECTED_ACTIONS = [
    "auth.signed_in",
    "forecast.imported",
    "plan.solve_requested",
    "plan.solved",
    "auth.sign_in_failed",
    "auth.signed_in",
    "plan.approved",
    "plan.exported",
    "auth.signed_out",
    "auth.signed_in",
]


def sign_in_with_code(tenant, username: str, secret: str, moment: datetime):
    code = pyotp.TOTP(secret).at(moment)
    signed_in = auth.sign_in(tenant.slug, username, PASSWORD, code, now=moment)
    return auth.actor_for_session(signed_in.session_token, now=moment)


class TestAuditedFlow:
    def test_flow_leaves_a_verified_chain(self, private_workbench, make_private_tenant):
        tenant = make_private_tenant()
        approver_secret = pyotp.random_base32()
        admin_secret = pyotp.random_base32()
        add_user(private_workbench, tenant.tenant_id, "dana", PASSWORD, Role.DISPATCHER)
        add_user(
            private_workbench,
            tenant.tenant_id,
            "anton",
            PASSWORD,
            Role.PLAN_APPROVER,
            approver_secret,
        )
        add_user(
            private_workbench,
            tenant.tenant_id,
            "ada",
            PASSWORD,
            Role.TENANT_ADMIN,
            admin_secret,
        )

        # Dispatcher: import the week and solve it.
        signed_in = auth.sign_in(tenant.slug, "dana", PASSWORD, now=START)
        dispatcher = auth.actor_for_session(signed_in.session_token, now=START)
        imported = forecasts.import_forecast(
            dispatcher, WEEK_ANCHOR, "week49.csv", forecast_file(generated_forecast())
        )
        plans.request_solve(dispatcher, imported.version.forecast_version_id)
        worker.run_one_job("worker-a")
        draft = plans.list_plan_versions(dispatcher)[0]

        # Approver: a sign-in without the code fails, then one with it
        # succeeds; approve, export, sign out.
        with pytest.raises(auth.SignInFailed):
            auth.sign_in(tenant.slug, "anton", PASSWORD, now=START)
        approver_session = auth.sign_in(
            tenant.slug,
            "anton",
            PASSWORD,
            pyotp.TOTP(approver_secret).at(START),
            now=START,
        )
        approver = auth.actor_for_session(approver_session.session_token, now=START)
        approvals.approve_plan(
            approver, draft.plan_version_id, "staffing confirmed", draft.row_version
        )
        exports.export_plan(approver, draft.plan_version_id, "xlsx")
        auth.sign_out(approver_session.session_token, now=START + timedelta(minutes=5))

        # Admin: read and verify the trail.
        admin = sign_in_with_code(tenant, "ada", admin_secret, START)
        entries = list_audit_entries(admin)
        result = verify_tenant_audit_chain(admin)

        assert [entry.action for entry in reversed(entries)] == EXPECTED_ACTIONS
        assert [entry.sequence for entry in entries] == list(
            range(len(EXPECTED_ACTIONS), 0, -1)
        )
        assert result.ok, result.message
        assert result.entry_count == len(EXPECTED_ACTIONS)
        assert result.last_hash == entries[0].entry_hash

    def test_entries_filter_by_action_and_limit(
        self, private_workbench, make_private_tenant
    ):
        tenant = make_private_tenant()
        dispatcher = tenant.actor(Role.DISPATCHER)
        admin = tenant.actor(Role.TENANT_ADMIN, mfa_verified=True)
        for week in range(3):
            forecasts.import_forecast(
                dispatcher,
                WEEK_ANCHOR + timedelta(weeks=week),
                "week.csv",
                forecast_file(generated_forecast()),
            )

        imports = list_audit_entries(admin, action="forecast.imported")
        newest_two = list_audit_entries(admin, limit=2)

        assert len(imports) == 3
        assert [entry.details["week_anchor"] for entry in imports] == [
            "2025-12-15",
            "2025-12-08",
            "2025-12-01",
        ]
        assert [entry.sequence for entry in newest_two] == [3, 2]
        with pytest.raises(InvalidInput, match="limit"):
            list_audit_entries(admin, limit=0)
