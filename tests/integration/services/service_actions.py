"""The product's permission matrix and a table of every public service action.

`PERMISSION_MATRIX` is the matrix of the product brief, written out by hand:
each permission and the lowest role that has it. Every role above that role
has it too. Permissions granted from PLAN_APPROVER upwards also need the TOTP
step, so until it succeeds a user of those roles has only the DISPATCHER
permissions.

`ACTIONS` lists each public service function that takes the actor first,
with the permission it needs and a valid call of it in a fresh tenant. The
permission is None for an action on one's own account, which every
signed-in user may take. `actor_first_functions` finds those functions in `core`, so a
test can tell when a service has no row here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any

import pyotp
from sqlalchemy import Table, select

import core
from core import (
    approvals,
    audit_log,
    availability,
    availability_import,
    comparison,
    comparison_export,
    driver_export,
    driver_import,
    drivers,
    exports,
    forecasts,
    gdpr,
    kpi_history,
    kpi_settings,
    mfa,
    oidc_sign_in,
    plans,
    retention,
    scenarios,
    user_sessions,
)
from core.auth import TOTP_DIGITS
from core.driver_changes import DriverInput
from core.driver_records import DriverView
from core.oidc import OidcSettings
from core.permissions import Actor, Permission, Role
from db.models import AuditEntry, Base, PlanVersion, Tenant
from db.repositories import audit_log as audit_rows
from db.repositories import users
from solver.drivers import DriverPreferences
from solver.solve import SolveResult
from tests.integration.databases import SMALL_FORECAST, Database, TenantSetup
from tests.integration.services.helpers import add_draft, forecast_file, import_week

# fmt: off
PERMISSION_MATRIX: dict[str, Role] = {
    "forecast:read":      Role.VIEWER,
    "plan:read":          Role.VIEWER,
    "driver:read":        Role.VIEWER,
    "forecast:write":     Role.DISPATCHER,
    "plan:solve":         Role.DISPATCHER,
    "availability:write": Role.DISPATCHER,
    "scenario:run":       Role.DISPATCHER,
    "plan:approve":       Role.PLAN_APPROVER,
    "plan:lock":          Role.PLAN_APPROVER,
    "driver:write":       Role.TENANT_ADMIN,
    "user:manage":        Role.TENANT_ADMIN,
    "tenant:configure":   Role.TENANT_ADMIN,
    "audit:read":         Role.TENANT_ADMIN,
    "export:pii":         Role.TENANT_ADMIN,
    "system:admin":       Role.SUPER_ADMIN,
}
# fmt: on

# Permissions granted from this role upwards need multi-factor sign-in.
MFA_FROM = Role.PLAN_APPROVER

# Every way a user can be signed in: each role, and from PLAN_APPROVER upwards
# with a password only and with the TOTP step as well.
SIGN_INS: tuple[tuple[Role, bool], ...] = (
    (Role.VIEWER, False),
    (Role.DISPATCHER, False),
    (Role.PLAN_APPROVER, False),
    (Role.PLAN_APPROVER, True),
    (Role.TENANT_ADMIN, False),
    (Role.TENANT_ADMIN, True),
    (Role.SUPER_ADMIN, False),
    (Role.SUPER_ADMIN, True),
)

NEXT_WEEK = date(2025, 12, 8)
APPROVAL_REASON = "checked against the depot's staff list"
ENROLMENT_TIME = datetime(2025, 12, 1, 8, 0, tzinfo=UTC)
# A loopback provider that no test contacts: linking a user reads no keys.
OIDC_ISSUER = "http://127.0.0.1:8080/realms/solvereign"

# Public functions of core that take the actor first but are no action a user
# takes: the permission check itself, the unit of work around each service,
# and the personal-data export limit that an export service will call.
NOT_ACTIONS = frozenset(
    {
        "core.context.authorize",
        "core.context.record_dangerous_sql",
        "core.context.unit_of_work",
        "core.driver_records.may_read_personal_fields",
        "core.permissions.effective_permissions",
        "core.permissions.has_permission",
        "core.permissions.require",
        "core.rate_limits.check_personal_data_export",
    }
)


def sign_in_id(sign_in: tuple[Role, bool]) -> str:
    role, mfa_verified = sign_in
    if role < MFA_FROM:
        return role.value
    return f"{role.value}-{'mfa' if mfa_verified else 'password'}"


def matrix_allows(actor: Actor, permission: Permission | None) -> bool:
    """Tell whether the matrix lets the actor, as signed in, use the permission."""
    if permission is None:
        return True
    lowest = PERMISSION_MATRIX[permission.value]
    if actor.role < lowest:
        return False
    return actor.mfa_verified or lowest < MFA_FROM


def matrix_needs_mfa(actor: Actor, permission: Permission) -> bool:
    """Tell whether the actor's role has the permission but only after TOTP."""
    lowest = PERMISSION_MATRIX[permission.value]
    return lowest <= actor.role and MFA_FROM <= lowest and not actor.mfa_verified


class TenantObjects:
    """The objects of one fresh tenant that the actions need, made on first use.

    The approved plan version comes first and the draft is the week's next
    version. So one tenant can have both, and the draft is still approvable.
    """

    def __init__(
        self, database: Database, tenant: TenantSetup, solve_result: SolveResult
    ) -> None:
        self.database = database
        self.tenant = tenant
        self.solve_result = solve_result

    @property
    def dispatcher(self) -> Actor:
        return self.tenant.actor(Role.DISPATCHER, mfa_verified=False)

    @cached_property
    def forecast_version_id(self) -> int:
        return import_week(self.dispatcher).forecast_version_id

    @cached_property
    def approved_version_id(self) -> int:
        draft = self._add_draft()
        approver = self.tenant.actor(Role.PLAN_APPROVER, mfa_verified=True)
        approved = approvals.approve_plan(
            approver, draft.id, APPROVAL_REASON, draft.row_version
        )
        return approved.plan_version_id

    @cached_property
    def draft(self) -> PlanVersion:
        approved_version_id = self.approved_version_id
        draft = self._add_draft()
        assert draft.id != approved_version_id
        return draft

    @cached_property
    def driver(self) -> DriverView:
        admin = self.tenant.actor(Role.TENANT_ADMIN, mfa_verified=True)
        return drivers.create_driver(admin, DriverInput("D001", "Anna Schmidt"))

    @cached_property
    def job_id(self) -> int:
        return plans.request_solve(self.dispatcher, self.forecast_version_id).job_id

    @cached_property
    def scenario_id(self) -> int:
        return scenarios.create_scenario(
            self.dispatcher,
            "48 h week",
            self.forecast_version_id,
            {"rules": {"max_weekly_minutes": 2880}},
        ).scenario_id

    @cached_property
    def scenario_run_id(self) -> int:
        return scenarios.run_scenario(self.dispatcher, self.scenario_id).run_id

    def other_user_id(self, actor: Actor) -> int:
        """Return a user of the tenant other than the actor and not above them.

        A VIEWER gets the DISPATCHER, whom a VIEWER may not manage anyway.
        """
        target = Role.DISPATCHER if actor.role is Role.VIEWER else Role.VIEWER
        return self.tenant.actors[target].user_id

    def enrol_authenticator(self, actor: Actor) -> None:
        """Give the actor's user a TOTP secret, as a finished enrolment does."""
        with self.database.session_factory() as session, session.begin():
            user = users.get(session, actor.tenant_id, actor.user_id)
            user.totp_secret = pyotp.random_base32()

    def _add_draft(self) -> PlanVersion:
        return add_draft(
            self.database,
            self.tenant.tenant_id,
            self.forecast_version_id,
            self.solve_result,
        )


Arguments = Callable[[Actor, TenantObjects], dict[str, Any]]


def _no_domain_error(actor: Actor) -> type[Exception] | None:
    return None


@dataclass(frozen=True)
class ServiceAction:
    """One public service action, the permission it needs and a valid call of it.

    `arguments` makes the objects the call needs and returns its arguments
    after the actor. It runs before the test takes its snapshot of the tenant.
    `domain_error` returns the error that a permitted call raises for a
    reason other than permissions, or None when the call must succeed.
    """

    name: str
    function: Callable[..., Any]
    permission: Permission | None
    arguments: Arguments
    domain_error: Callable[[Actor], type[Exception] | None] = _no_domain_error

    def call(self, actor: Actor, arguments: dict[str, Any]) -> Any:
        return self.function(actor, **arguments)


def qualified_name(function: Callable[..., Any]) -> str:
    return f"{function.__module__}.{function.__name__}"


def _no_arguments(actor: Actor, objects: TenantObjects) -> dict[str, Any]:
    return {}


def _with_forecast_version(actor: Actor, objects: TenantObjects) -> dict[str, Any]:
    """Import a forecast version first, so a list has something to list."""
    assert objects.forecast_version_id
    return {}


def _with_solve_job(actor: Actor, objects: TenantObjects) -> dict[str, Any]:
    assert objects.job_id
    return {}


def _with_scenario(actor: Actor, objects: TenantObjects) -> dict[str, Any]:
    """Create a scenario first, so the list has something to list."""
    assert objects.scenario_id
    return {}


def _with_driver(actor: Actor, objects: TenantObjects) -> dict[str, Any]:
    """Create a driver first, so a list or an export has something to show."""
    assert objects.driver.driver_id
    return {}


def _with_approved_version(actor: Actor, objects: TenantObjects) -> dict[str, Any]:
    """Approve a plan version first, so the KPI history has a week to show."""
    assert objects.approved_version_id
    return {}


def _with_draft(actor: Actor, objects: TenantObjects) -> dict[str, Any]:
    assert objects.draft.id
    return {}


def _two_plan_refs(objects: TenantObjects) -> list[comparison.ResultRef]:
    """Refer to the approved version and the draft after it, for a comparison."""
    return [
        comparison.ResultRef("plan", objects.approved_version_id),
        comparison.ResultRef("plan", objects.draft.id),
    ]


def _oidc_settings(tenant_slug: str) -> OidcSettings:
    return OidcSettings(
        issuer=OIDC_ISSUER,
        client_id="solvereign-workbench",
        jwks_url=f"{OIDC_ISSUER}/protocol/openid-connect/certs",
        role_map={"planning-dispatcher": Role.DISPATCHER},
        tenant_map={tenant_slug: tenant_slug},
    )


def _enrolment_arguments(actor: Actor, objects: TenantObjects) -> dict[str, Any]:
    """Start an enrolment where the role has one, and return the code it needs."""
    if actor.role < MFA_FROM:
        return {"code": "123456", "now": ENROLMENT_TIME}
    pending = mfa.start_enrolment(actor, now=ENROLMENT_TIME)
    code = pyotp.TOTP(pending.secret, digits=TOTP_DIGITS).at(ENROLMENT_TIME)
    return {"code": code, "now": ENROLMENT_TIME}


def _recovery_code_arguments(actor: Actor, objects: TenantObjects) -> dict[str, Any]:
    if actor.role >= MFA_FROM:
        objects.enrol_authenticator(actor)
    return {"now": ENROLMENT_TIME}


def _enrolment_error_below_mfa_roles(actor: Actor) -> type[Exception] | None:
    return mfa.EnrolmentRefused if actor.role < MFA_FROM else None


def _enrolment_error_without_authenticator(actor: Actor) -> type[Exception] | None:
    if actor.role < MFA_FROM or not actor.mfa_verified:
        return mfa.EnrolmentRefused
    return None


ACTIONS: tuple[ServiceAction, ...] = (
    ServiceAction(
        "import_forecast",
        forecasts.import_forecast,
        Permission.FORECAST_WRITE,
        lambda actor, objects: {
            "week_anchor": NEXT_WEEK,
            "filename": "next-week.csv",
            "content": forecast_file(SMALL_FORECAST),
        },
    ),
    ServiceAction(
        "list_forecast_versions",
        forecasts.list_forecast_versions,
        Permission.FORECAST_READ,
        _with_forecast_version,
    ),
    ServiceAction(
        "get_forecast_version",
        forecasts.get_forecast_version,
        Permission.FORECAST_READ,
        lambda actor, objects: {"forecast_version_id": objects.forecast_version_id},
    ),
    ServiceAction(
        "request_solve",
        plans.request_solve,
        Permission.PLAN_SOLVE,
        lambda actor, objects: {"forecast_version_id": objects.forecast_version_id},
    ),
    ServiceAction(
        "create_scenario",
        scenarios.create_scenario,
        Permission.SCENARIO_RUN,
        lambda actor, objects: {
            "name": f"peak of {actor.role.value}",
            "base_forecast_version_id": objects.forecast_version_id,
            "variation": {"demand": {"scale": [{"weekdays": [1], "percent": 150}]}},
        },
    ),
    ServiceAction(
        "list_scenarios",
        scenarios.list_scenarios,
        Permission.PLAN_READ,
        _with_scenario,
    ),
    ServiceAction(
        "run_scenario",
        scenarios.run_scenario,
        Permission.SCENARIO_RUN,
        lambda actor, objects: {"scenario_id": objects.scenario_id},
    ),
    ServiceAction(
        "get_scenario_run",
        scenarios.get_scenario_run,
        Permission.PLAN_READ,
        lambda actor, objects: {"run_id": objects.scenario_run_id},
    ),
    ServiceAction(
        "sweep_setting",
        scenarios.sweep_setting,
        Permission.SCENARIO_RUN,
        lambda actor, objects: {
            "base_forecast_version_id": objects.forecast_version_id,
            "setting": "max_weekly_minutes",
            "values": [2880, 3300],
        },
    ),
    ServiceAction(
        "get_solve_job",
        plans.get_solve_job,
        Permission.PLAN_READ,
        lambda actor, objects: {"job_id": objects.job_id},
    ),
    ServiceAction(
        "list_solve_jobs",
        plans.list_solve_jobs,
        Permission.PLAN_READ,
        _with_solve_job,
    ),
    ServiceAction(
        "list_plan_versions",
        plans.list_plan_versions,
        Permission.PLAN_READ,
        _with_draft,
    ),
    ServiceAction(
        "get_plan_version",
        plans.get_plan_version,
        Permission.PLAN_READ,
        lambda actor, objects: {"plan_version_id": objects.draft.id},
    ),
    ServiceAction(
        "coverage_by_time_of_day",
        plans.coverage_by_time_of_day,
        Permission.PLAN_READ,
        lambda actor, objects: {
            "plan_version_id": objects.approved_version_id,
            "step_minutes": 60,
        },
    ),
    ServiceAction(
        "approve_plan",
        approvals.approve_plan,
        Permission.PLAN_APPROVE,
        lambda actor, objects: {
            "plan_version_id": objects.draft.id,
            "reason": APPROVAL_REASON,
            "expected_row_version": objects.draft.row_version,
        },
    ),
    ServiceAction(
        "diff_to_approved",
        approvals.diff_to_approved,
        Permission.PLAN_READ,
        lambda actor, objects: {"plan_version_id": objects.draft.id},
    ),
    ServiceAction(
        "export_plan",
        exports.export_plan,
        Permission.PLAN_READ,
        lambda actor, objects: {
            "plan_version_id": objects.approved_version_id,
            "file_format": "csv",
        },
    ),
    ServiceAction(
        "compare",
        comparison.compare,
        Permission.PLAN_READ,
        lambda actor, objects: {"refs": _two_plan_refs(objects)},
    ),
    ServiceAction(
        "build_comparison",
        comparison.build_comparison,
        Permission.PLAN_READ,
        lambda actor, objects: {
            "refs": _two_plan_refs(objects),
            "with_names": False,
        },
    ),
    ServiceAction(
        "export_comparison",
        comparison_export.export_comparison,
        Permission.PLAN_READ,
        lambda actor, objects: {
            "refs": _two_plan_refs(objects),
            "file_format": "csv",
        },
    ),
    ServiceAction(
        "list_audit_entries",
        audit_log.list_audit_entries,
        Permission.AUDIT_READ,
        _no_arguments,
    ),
    ServiceAction(
        "verify_tenant_audit_chain",
        audit_log.verify_tenant_audit_chain,
        Permission.AUDIT_READ,
        _no_arguments,
    ),
    ServiceAction(
        "list_user_accounts",
        user_sessions.list_user_accounts,
        Permission.USER_MANAGE,
        _no_arguments,
    ),
    ServiceAction(
        "end_all_sessions of oneself",
        user_sessions.end_all_sessions,
        None,
        lambda actor, objects: {"user_id": actor.user_id},
    ),
    ServiceAction(
        "end_all_sessions of another user",
        user_sessions.end_all_sessions,
        Permission.USER_MANAGE,
        lambda actor, objects: {"user_id": objects.other_user_id(actor)},
    ),
    ServiceAction(
        "set_user_active",
        user_sessions.set_user_active,
        Permission.USER_MANAGE,
        lambda actor, objects: {
            "user_id": objects.other_user_id(actor),
            "active": False,
        },
    ),
    ServiceAction(
        "link_user_to_subject",
        oidc_sign_in.link_user_to_subject,
        Permission.USER_MANAGE,
        lambda actor, objects: {
            "user_id": objects.other_user_id(actor),
            "subject": f"subject-{uuid.uuid4().hex}",
            "settings": _oidc_settings(objects.tenant.slug),
        },
    ),
    ServiceAction(
        "list_drivers",
        drivers.list_drivers,
        Permission.DRIVER_READ,
        _with_driver,
    ),
    ServiceAction(
        "get_driver",
        drivers.get_driver,
        Permission.DRIVER_READ,
        lambda actor, objects: {"driver_id": objects.driver.driver_id},
    ),
    ServiceAction(
        "create_driver",
        drivers.create_driver,
        Permission.DRIVER_WRITE,
        lambda actor, objects: {"new_driver": DriverInput("D002", "Ben Öztürk")},
    ),
    ServiceAction(
        "edit_driver",
        drivers.edit_driver,
        Permission.DRIVER_WRITE,
        lambda actor, objects: {
            "driver_id": objects.driver.driver_id,
            "expected_row_version": objects.driver.row_version,
            "changes": {"home_depot": "Nord"},
        },
    ),
    ServiceAction(
        "deactivate_driver",
        drivers.deactivate_driver,
        Permission.DRIVER_WRITE,
        lambda actor, objects: {
            "driver_id": objects.driver.driver_id,
            "expected_row_version": objects.driver.row_version,
        },
    ),
    ServiceAction(
        "record_consent",
        drivers.record_consent,
        Permission.DRIVER_WRITE,
        lambda actor, objects: {
            "driver_id": objects.driver.driver_id,
            "purpose": "sms_notifications",
            "granted": True,
            "text_version": "2025-1",
        },
    ),
    ServiceAction(
        "import_drivers",
        driver_import.import_drivers,
        Permission.DRIVER_WRITE,
        lambda actor, objects: {
            "content": b"external_ref,display_name\nD003,Cem Demir\n"
        },
    ),
    ServiceAction(
        "export_drivers",
        driver_export.export_drivers,
        Permission.DRIVER_READ,
        _with_driver,
    ),
    ServiceAction(
        "export_drivers with personal fields",
        driver_export.export_drivers,
        Permission.EXPORT_PII,
        lambda actor, objects: {
            **_with_driver(actor, objects),
            "include_personal_fields": True,
        },
    ),
    ServiceAction(
        "export_driver_data",
        gdpr.export_driver_data,
        Permission.EXPORT_PII,
        lambda actor, objects: {"driver_id": objects.driver.driver_id},
    ),
    ServiceAction(
        "erase_driver",
        gdpr.erase_driver,
        Permission.DRIVER_WRITE,
        lambda actor, objects: {"driver_id": objects.driver.driver_id},
    ),
    ServiceAction(
        "set_legal_hold",
        gdpr.set_legal_hold,
        Permission.DRIVER_WRITE,
        lambda actor, objects: {
            "driver_id": objects.driver.driver_id,
            "on_hold": True,
        },
    ),
    ServiceAction(
        "get_retention_days",
        retention.get_retention_days,
        Permission.DRIVER_READ,
        _no_arguments,
    ),
    ServiceAction(
        "set_retention_days",
        retention.set_retention_days,
        Permission.TENANT_CONFIGURE,
        lambda actor, objects: {"retention_days": 365},
    ),
    ServiceAction(
        "list_weekly_kpis",
        kpi_history.list_weekly_kpis,
        Permission.PLAN_READ,
        _with_approved_version,
    ),
    ServiceAction(
        "list_monthly_rollups",
        kpi_history.list_monthly_rollups,
        Permission.PLAN_READ,
        _with_approved_version,
    ),
    ServiceAction(
        "get_cost_per_driver",
        kpi_settings.get_cost_per_driver,
        Permission.TENANT_CONFIGURE,
        _no_arguments,
    ),
    ServiceAction(
        "get_plan_cost_per_driver",
        kpi_settings.get_plan_cost_per_driver,
        Permission.PLAN_READ,
        _no_arguments,
    ),
    ServiceAction(
        "set_cost_per_driver",
        kpi_settings.set_cost_per_driver,
        Permission.TENANT_CONFIGURE,
        lambda actor, objects: {"cost_per_driver_week": "1250.00"},
    ),
    ServiceAction(
        "get_history_retention_days",
        kpi_settings.get_history_retention_days,
        Permission.TENANT_CONFIGURE,
        _no_arguments,
    ),
    ServiceAction(
        "set_history_retention_days",
        kpi_settings.set_history_retention_days,
        Permission.TENANT_CONFIGURE,
        lambda actor, objects: {"retention_days": 365},
    ),
    ServiceAction(
        "compare_tenants",
        kpi_history.compare_tenants,
        Permission.SYSTEM_ADMIN,
        _with_approved_version,
    ),
    ServiceAction(
        "get_week_grid",
        availability.get_week_grid,
        Permission.DRIVER_READ,
        lambda actor, objects: {
            **_with_driver(actor, objects),
            "week_anchor": NEXT_WEEK,
        },
    ),
    ServiceAction(
        "save_driver_week",
        availability.save_driver_week,
        Permission.AVAILABILITY_WRITE,
        lambda actor, objects: {
            "driver_id": objects.driver.driver_id,
            "week_anchor": NEXT_WEEK,
            "expected_version": 0,
            "cells": {NEXT_WEEK: availability.ExceptionInput("SICK", note="Grippe")},
        },
    ),
    ServiceAction(
        "get_weekly_pattern",
        availability.get_weekly_pattern,
        Permission.DRIVER_READ,
        lambda actor, objects: {"driver_id": objects.driver.driver_id},
    ),
    ServiceAction(
        "set_weekly_pattern",
        availability.set_weekly_pattern,
        Permission.AVAILABILITY_WRITE,
        lambda actor, objects: {
            "driver_id": objects.driver.driver_id,
            "windows": {1: (6 * 60, 18 * 60)},
        },
    ),
    ServiceAction(
        "get_preferences",
        availability.get_preferences,
        Permission.DRIVER_READ,
        lambda actor, objects: {"driver_id": objects.driver.driver_id},
    ),
    ServiceAction(
        "set_preferences",
        availability.set_preferences,
        Permission.AVAILABILITY_WRITE,
        lambda actor, objects: {
            "driver_id": objects.driver.driver_id,
            "preferences": DriverPreferences(start="early", start_weight=2),
        },
    ),
    ServiceAction(
        "get_planning_settings",
        availability.get_planning_settings,
        Permission.PLAN_READ,
        _no_arguments,
    ),
    ServiceAction(
        "set_planning_settings",
        availability.set_planning_settings,
        Permission.TENANT_CONFIGURE,
        lambda actor, objects: {"stay_at_home_depot": True},
    ),
    ServiceAction(
        "import_exceptions",
        availability_import.import_exceptions,
        Permission.AVAILABILITY_WRITE,
        lambda actor, objects: {
            **_with_driver(actor, objects),
            "filename": "absences.csv",
            "content": b"driver_external_ref,date,status\nD001,2025-12-09,SICK\n",
        },
    ),
    ServiceAction("mfa_status", mfa.mfa_status, None, _no_arguments),
    ServiceAction(
        "start_enrolment",
        mfa.start_enrolment,
        None,
        lambda actor, objects: {"now": ENROLMENT_TIME},
        _enrolment_error_below_mfa_roles,
    ),
    ServiceAction(
        "confirm_enrolment",
        mfa.confirm_enrolment,
        None,
        _enrolment_arguments,
        _enrolment_error_below_mfa_roles,
    ),
    ServiceAction(
        "issue_new_recovery_codes",
        mfa.issue_new_recovery_codes,
        None,
        _recovery_code_arguments,
        _enrolment_error_without_authenticator,
    ),
)


def actor_first_functions() -> dict[str, Callable[..., Any]]:
    """Find every public function of the core package whose first parameter is
    the actor, by qualified name."""
    found: dict[str, Callable[..., Any]] = {}
    for module_info in pkgutil.iter_modules(core.__path__):
        module = importlib.import_module(f"{core.__name__}.{module_info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or function.__module__ != module.__name__:
                continue
            parameters = list(inspect.signature(function).parameters.values())
            if parameters and _is_actor(parameters[0]):
                found[qualified_name(function)] = function
    return found


def _is_actor(parameter: inspect.Parameter) -> bool:
    return parameter.name == "actor" or parameter.annotation in (Actor, "Actor")


def tenant_rows(database: Database, tenant_id: int) -> dict[str, list[tuple]]:
    """Read every row of the tenant outside its audit trail, table by table."""
    rows: dict[str, list[tuple]] = {}
    with database.session_factory() as session:
        for table in Base.metadata.sorted_tables:
            if table.name == AuditEntry.__tablename__:
                continue
            statement = (
                select(table)
                .where(_tenant_column(table) == tenant_id)
                .order_by(*table.primary_key.columns)
            )
            rows[table.name] = [tuple(row) for row in session.execute(statement)]
    return rows


def _tenant_column(table: Table):
    if table.name == Tenant.__tablename__:
        return table.c.id
    if "tenant_id" not in table.c:
        raise AssertionError(
            f"table {table.name} has no tenant_id column; say in tenant_rows how"
            " its rows belong to a tenant"
        )
    return table.c.tenant_id


@dataclass(frozen=True)
class AuditRecord:
    """The fields of an audit entry that the tests compare."""

    sequence: int
    action: str
    actor_user_id: int | None
    object_type: str
    object_id: str
    details: dict[str, Any]


def audit_records(database: Database, tenant_id: int) -> list[AuditRecord]:
    """Read the tenant's audit entries in sequence order."""
    with database.session_factory() as session:
        return [
            AuditRecord(
                sequence=entry.sequence,
                action=entry.action,
                actor_user_id=entry.actor_user_id,
                object_type=entry.object_type,
                object_id=entry.object_id,
                details=dict(entry.details),
            )
            for entry in audit_rows.list_entries(session, tenant_id)
        ]
