"""Fields that the server sets are never taken from what a caller sends.

The tenant, the status, the approver, the creator, the approval time,
version numbers, row versions and the audit fields come from the actor and
the server. These tests pass them in every way a caller could: as keyword
arguments of a service, as columns or lines of an uploaded forecast, as
names in the rule settings of a solve, and as ids of another tenant's
objects. Each attempt is either rejected with an error that names the field,
or ignored, and the stored rows carry the server's values.
"""

from __future__ import annotations

import inspect
import io
from collections.abc import Iterator
from datetime import date

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from core import approvals, exports, forecasts, plans, user_sessions, worker
from core.errors import Conflict, InvalidInput, NotFound
from core.forecasts import FORECAST_IMPORT_REJECTED, FORECAST_IMPORTED
from core.permissions import Actor, Role
from core.session_revocations import MemoryRevocationList, configure_revocation_list
from core.tenancy import CROSS_TENANT_ACCESS
from db.models import (
    ForecastStatus,
    ForecastVersion,
    PlanVersionStatus,
    SolveJobStatus,
    User,
    utc_now,
)
from db.repositories import jobs
from db.repositories import plans as plan_rows
from tests.integration.databases import SMALL_FORECAST
from tests.integration.services.helpers import forecast_file
from tests.integration.services.service_actions import (
    ACTIONS,
    APPROVAL_REASON,
    NOT_ACTIONS,
    TenantObjects,
    actor_first_functions,
    audit_records,
    tenant_rows,
)

# Names of fields that only the server sets. No service may take a parameter
# of that name, and each one is tried as input below.
SERVER_SET_FIELDS = frozenset(
    {
        "tenant",
        "tenant_id",
        "status",
        "approver",
        "approved_by",
        "approved_at",
        "created_by",
        "created_at",
        "version_number",
        "row_version",
        "actor_user_id",
        "occurred_at",
        "sequence",
        "entry_hash",
        "prev_hash",
        "worker_id",
    }
)
# The keyword arguments tried on every service that stores something.
INJECTED_KEYWORDS = ("tenant_id", "status", "approved_by", "created_by")
# The service actions that store or change rows from the caller's input.
WRITING_ACTIONS = (
    "import_forecast",
    "request_solve",
    "approve_plan",
    "export_plan",
    "end_all_sessions of another user",
    "set_user_active",
    "link_user_to_subject",
    "start_enrolment",
    "confirm_enrolment",
    "issue_new_recovery_codes",
)
# The writing actions that take the id of an object the actor names.
ACTIONS_ON_NAMED_OBJECTS = (
    "request_solve",
    "approve_plan",
    "export_plan",
    "end_all_sessions of another user",
    "set_user_active",
    "link_user_to_subject",
)
ACTIONS_BY_NAME = {action.name: action for action in ACTIONS}

NEXT_WEEK = date(2025, 12, 8)
# The server-set fields as columns of a tidy forecast, with values that would
# matter if they were read: another tenant, a status, a user, a version.
INJECTED_COLUMNS = (
    "tenant_id",
    "status",
    "created_by",
    "version_number",
    "approved_by",
)
TIDY_HEADER = ("day", "start", "end", "count", *INJECTED_COLUMNS)


@pytest.fixture(autouse=True)
def revocation_list_in_memory() -> Iterator[None]:
    """Keep the session revocation marks of these tests in process memory."""
    configure_revocation_list(MemoryRevocationList())
    yield
    configure_revocation_list(None)


@pytest.fixture
def objects(workbench, make_tenant, small_solve_result) -> TenantObjects:
    return TenantObjects(workbench, make_tenant(), small_solve_result)


@pytest.fixture
def admin(objects) -> Actor:
    """An actor with every permission that a tenant's services check."""
    return objects.tenant.actor(Role.TENANT_ADMIN, mfa_verified=True)


def service_functions():
    functions = actor_first_functions()
    return [
        pytest.param(function, id=name)
        for name, function in sorted(functions.items())
        if name not in NOT_ACTIONS
    ]


def stored_forecast_version(workbench, forecast_version_id: int) -> ForecastVersion:
    with workbench.session_factory() as session:
        return session.get(ForecastVersion, forecast_version_id)


def tidy_rows(other_tenant_id: int, other_user_id: int) -> list[tuple]:
    """Return the rows of SMALL_FORECAST's first template with server-set columns."""
    injected = (other_tenant_id, "approved", other_user_id, 7, other_user_id)
    return [TIDY_HEADER, (1, "06:00", "10:30", 2, *injected)]


def tidy_csv(rows: list[tuple]) -> bytes:
    return "\n".join(",".join(str(cell) for cell in row) for row in rows).encode()


def tidy_workbook(rows: list[tuple]) -> bytes:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


class TestServiceSignatures:
    @pytest.mark.parametrize("function", service_functions())
    def test_no_parameter_names_a_server_set_field(self, function):
        parameters = inspect.signature(function).parameters

        assert set(parameters) & SERVER_SET_FIELDS == set()

    @pytest.mark.parametrize("function", service_functions())
    def test_no_service_accepts_arbitrary_arguments(self, function):
        kinds = {
            parameter.kind
            for parameter in inspect.signature(function).parameters.values()
        }

        assert inspect.Parameter.VAR_KEYWORD not in kinds
        assert inspect.Parameter.VAR_POSITIONAL not in kinds


@pytest.mark.parametrize("keyword", INJECTED_KEYWORDS)
@pytest.mark.parametrize("action_name", WRITING_ACTIONS)
def test_server_set_keyword_is_rejected(
    workbench, make_tenant, objects, admin, action_name, keyword
):
    action = ACTIONS_BY_NAME[action_name]
    other_tenant = make_tenant()
    arguments = action.arguments(admin, objects)
    rows_before = tenant_rows(workbench, admin.tenant_id)
    audit_before = audit_records(workbench, admin.tenant_id)

    with pytest.raises(TypeError, match=f"unexpected keyword argument '{keyword}'"):
        action.call(admin, {**arguments, keyword: other_tenant.tenant_id})

    assert tenant_rows(workbench, admin.tenant_id) == rows_before
    assert audit_records(workbench, admin.tenant_id) == audit_before


class TestForecastUpload:
    @pytest.mark.parametrize(
        ("filename", "write_file"),
        [("week.csv", tidy_csv), ("week.xlsx", tidy_workbook)],
        ids=["csv", "xlsx"],
    )
    def test_server_set_columns_are_ignored(
        self, workbench, make_tenant, objects, filename, write_file
    ):
        dispatcher = objects.dispatcher
        other_tenant = make_tenant()
        other_user_id = other_tenant.actors[Role.TENANT_ADMIN].user_id
        plain = forecasts.import_forecast(
            other_tenant.actor(Role.DISPATCHER),
            NEXT_WEEK,
            "plain.csv",
            tidy_csv([TIDY_HEADER[:4], (1, "06:00", "10:30", 2)]),
        )
        other_rows_before = tenant_rows(workbench, other_tenant.tenant_id)
        content = write_file(tidy_rows(other_tenant.tenant_id, other_user_id))

        result = forecasts.import_forecast(dispatcher, NEXT_WEEK, filename, content)

        stored = stored_forecast_version(workbench, result.version.forecast_version_id)
        imported = [
            record
            for record in audit_records(workbench, dispatcher.tenant_id)
            if record.action == FORECAST_IMPORTED
        ]
        header_reason = result.report.lines[0].reason
        assert result.created is True
        assert result.version.sha256 == plain.version.sha256
        assert stored.tenant_id == dispatcher.tenant_id
        assert stored.created_by == dispatcher.user_id
        assert stored.status is ForecastStatus.ACCEPTED
        assert stored.version_number == 1
        for column in INJECTED_COLUMNS:
            assert f"has the column '{column}', which is not used" in header_reason
        assert tenant_rows(workbench, other_tenant.tenant_id) == other_rows_before
        assert len(imported) == 1
        assert imported[0].actor_user_id == dispatcher.user_id
        assert imported[0].object_id == str(stored.id)

    def test_server_set_lines_fail_by_line(self, workbench, objects):
        dispatcher = objects.dispatcher
        content = b"Montag;Anzahl\n05:30-10:00;2\nstatus;approved\ntenant_id;1\n"

        result = forecasts.import_forecast(dispatcher, NEXT_WEEK, "week.csv", content)

        failures = {line.line_number: line.reason for line in result.report.failures}
        rejected = [
            record
            for record in audit_records(workbench, dispatcher.tenant_id)
            if record.action == FORECAST_IMPORT_REJECTED
        ]
        stored = stored_forecast_version(workbench, int(rejected[0].object_id))
        assert result.version is None
        assert set(failures) == {3, 4}
        assert "'status', which is neither a weekday nor a time range" in failures[3]
        assert "'tenant_id', which is neither a weekday nor" in failures[4]
        assert stored.status is ForecastStatus.REJECTED
        assert stored.tenant_id == dispatcher.tenant_id
        assert stored.created_by == dispatcher.user_id

    def test_version_number_counts_per_tenant(self, workbench, make_tenant, objects):
        other_tenant = make_tenant()
        for count in (1, 2, 3):
            forecasts.import_forecast(
                other_tenant.actor(Role.DISPATCHER),
                NEXT_WEEK,
                "week.csv",
                tidy_csv([TIDY_HEADER[:4], (1, "06:00", "10:30", count)]),
            )

        result = forecasts.import_forecast(
            objects.dispatcher,
            NEXT_WEEK,
            "week.csv",
            tidy_csv(tidy_rows(other_tenant.tenant_id, objects.dispatcher.user_id)),
        )

        assert result.version.version_number == 1


class TestSolveRequest:
    @pytest.mark.parametrize(
        "name", ["tenant_id", "status", "created_by", "plan_version_id", "worker_id"]
    )
    def test_server_set_setting_is_rejected(self, workbench, objects, name):
        dispatcher = objects.dispatcher
        forecast_version_id = objects.forecast_version_id
        rows_before = tenant_rows(workbench, dispatcher.tenant_id)

        with pytest.raises(
            InvalidInput, match=f"unknown rule setting {name}"
        ) as rejected:
            plans.request_solve(dispatcher, forecast_version_id, {name: 1})

        assert rejected.value.field == "settings"
        assert tenant_rows(workbench, dispatcher.tenant_id) == rows_before

    def test_stored_job_has_server_values(self, workbench, objects):
        dispatcher = objects.dispatcher

        view = plans.request_solve(
            dispatcher, objects.forecast_version_id, {"max_weekly_minutes": 50 * 60}
        )

        with workbench.session_factory() as session:
            job = jobs.get(session, dispatcher.tenant_id, view.job_id)
        assert job.tenant_id == dispatcher.tenant_id
        assert job.created_by == dispatcher.user_id
        assert job.status is SolveJobStatus.QUEUED
        assert job.worker_id is None
        assert job.plan_version_id is None
        assert set(job.settings) == {"rules", "time_limit_seconds"}
        assert job.settings["rules"]["max_weekly_minutes"] == 50 * 60


def test_worker_stores_requesters_draft(private_workbench, make_private_tenant):
    tenant = make_private_tenant()
    dispatcher = tenant.actor(Role.DISPATCHER)
    forecast_version = forecasts.import_forecast(
        dispatcher, NEXT_WEEK, "week.csv", forecast_file(SMALL_FORECAST)
    ).version
    job = plans.request_solve(dispatcher, forecast_version.forecast_version_id)

    ran = worker.run_one_job("worker-protected-fields")

    finished = plans.get_solve_job(dispatcher, job.job_id)
    with private_workbench.session_factory() as session:
        stored = plan_rows.get_version(
            session, tenant.tenant_id, finished.plan_version_id
        )
    assert ran is True
    assert stored.tenant_id == tenant.tenant_id
    assert stored.created_by == dispatcher.user_id
    assert stored.status is PlanVersionStatus.DRAFT
    assert stored.approved_by is None
    assert stored.approved_at is None


class TestApproval:
    def test_approver_and_time_are_server_set(self, workbench, objects):
        approver = objects.tenant.actor(Role.PLAN_APPROVER, mfa_verified=True)
        draft = objects.draft
        before = utc_now()

        approvals.approve_plan(approver, draft.id, APPROVAL_REASON, draft.row_version)

        after = utc_now()
        with workbench.session_factory() as session:
            stored = plan_rows.get_version(session, approver.tenant_id, draft.id)
        assert stored.status is PlanVersionStatus.APPROVED
        assert stored.approved_by == approver.user_id
        assert before <= stored.approved_at <= after
        assert stored.row_version == draft.row_version + 1
        assert stored.tenant_id == approver.tenant_id

    def test_input_row_version_is_only_compared(self, workbench, objects):
        approver = objects.tenant.actor(Role.PLAN_APPROVER, mfa_verified=True)
        draft = objects.draft
        claimed_row_version = draft.row_version + 5

        with pytest.raises(Conflict, match=f"row version {claimed_row_version}"):
            approvals.approve_plan(
                approver, draft.id, APPROVAL_REASON, claimed_row_version
            )

        with workbench.session_factory() as session:
            stored = plan_rows.get_version(session, approver.tenant_id, draft.id)
        assert stored.row_version == draft.row_version
        assert stored.status is PlanVersionStatus.DRAFT
        assert stored.approved_by is None


def test_export_is_recorded_for_actor(workbench, objects, admin):
    plan_version_id = objects.approved_version_id

    exports.export_plan(admin, plan_version_id, "csv")

    exported = [
        record
        for record in audit_records(workbench, admin.tenant_id)
        if record.action == exports.PLAN_EXPORTED
    ]
    assert len(exported) == 1
    assert exported[0].actor_user_id == admin.user_id
    assert exported[0].object_id == str(plan_version_id)


@pytest.mark.parametrize("action_name", ACTIONS_ON_NAMED_OBJECTS)
def test_foreign_object_is_not_found(workbench, make_tenant, objects, action_name):
    action = ACTIONS_BY_NAME[action_name]
    intruder_tenant = make_tenant()
    intruder = intruder_tenant.actor(Role.TENANT_ADMIN, mfa_verified=True)
    # The arguments name objects and users of the owner's tenant.
    arguments = action.arguments(intruder, objects)
    owner_rows = tenant_rows(workbench, objects.tenant.tenant_id)
    owner_audit = audit_records(workbench, objects.tenant.tenant_id)
    intruder_rows = tenant_rows(workbench, intruder.tenant_id)

    with pytest.raises(NotFound):
        action.call(intruder, arguments)

    intruder_audit = audit_records(workbench, intruder.tenant_id)
    assert tenant_rows(workbench, objects.tenant.tenant_id) == owner_rows
    assert audit_records(workbench, objects.tenant.tenant_id) == owner_audit
    assert tenant_rows(workbench, intruder.tenant_id) == intruder_rows
    assert [record.action for record in intruder_audit] == [CROSS_TENANT_ACCESS]
    assert intruder_audit[0].actor_user_id == intruder.user_id


def users_by_id(workbench, tenant_id: int) -> dict[int, dict]:
    """Read every column of the tenant's users, by user id."""
    table = User.__table__
    statement = select(table).where(table.c.tenant_id == tenant_id)
    with workbench.session_factory() as session:
        return {row.id: row._asdict() for row in session.execute(statement)}


def test_disabling_user_changes_only_is_active(workbench, objects, admin):
    viewer_id = objects.tenant.actors[Role.VIEWER].user_id
    before = users_by_id(workbench, admin.tenant_id)

    user_sessions.set_user_active(admin, viewer_id, False)

    after = users_by_id(workbench, admin.tenant_id)
    changed = {user_id for user_id in before if before[user_id] != after[user_id]}
    assert changed == {viewer_id}
    assert after[viewer_id]["is_active"] is False
    assert {**after[viewer_id], "is_active": True} == before[viewer_id]
