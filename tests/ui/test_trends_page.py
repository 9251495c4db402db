"""Trends page: KPI charts and rollups of approved weeks, settings, comparison."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pyotp

from core.approvals import approve_plan
from core.auth import hash_password
from core.context import current_engine
from core.demo import DEMO_TENANT_SLUG
from db.models import KpiHistoryRow, TenantCostSetting
from db.repositories import kpi_history, tenants, users
from db.session import make_session_factory
from tests.ui.conftest import DemoUser, button, open_app, service_actor, sign_in_as

TRENDS_PAGE = "app_pages/trends.py"
SUPER_ADMIN_PASSWORD = "a long platform password 42"


def open_trends(user):
    app = sign_in_as(open_app(), user)
    return app.switch_page(TRENDS_PAGE).run()


def approve(demo_users, solved_plan) -> None:
    approve_plan(
        service_actor(demo_users["approver"]),
        solved_plan.plan_version_id,
        "Checked against the depot's staff list.",
        expected_row_version=solved_plan.row_version,
    )


def add_super_admin() -> DemoUser:
    """Add a SUPER_ADMIN with a TOTP secret to the demo tenant."""
    secret = pyotp.random_base32()
    session_factory = make_session_factory(current_engine())
    with session_factory() as session, session.begin():
        tenant = tenants.find_by_slug(session, DEMO_TENANT_SLUG)
        users.add(
            session,
            tenant.id,
            "platform",
            hash_password(SUPER_ADMIN_PASSWORD),
            "SUPER_ADMIN",
            totp_secret=secret,
        )
    return DemoUser("platform", SUPER_ADMIN_PASSWORD, secret)


def add_history_weeks(plan_version_id: int, count: int) -> None:
    """Give the demo tenant `count` more weeks of history before 2025."""
    session_factory = make_session_factory(current_engine())
    with session_factory() as session, session.begin():
        tenant = tenants.find_by_slug(session, DEMO_TENANT_SLUG)
        for index in range(count):
            session.add(
                KpiHistoryRow(
                    tenant_id=tenant.id,
                    week_anchor=date(2024, 1, 1) + timedelta(weeks=index),
                    plan_version_id=plan_version_id,
                    version_number=1,
                    approved_at=datetime(2024, 1, 1, tzinfo=UTC),
                    drivers=4,
                    part_time_rosters=1,
                    hours=150.0,
                    split_blocks=0,
                    single_blocks=1,
                    open_tours=0,
                    kpis={"drivers": 4},
                )
            )


def stored_cost_setting() -> TenantCostSetting | None:
    """Read the demo tenant's settings from the database.

    The admin's TOTP code was just used to sign in on the page, and a code
    is accepted once, so the test reads the row instead of the service.
    """
    session_factory = make_session_factory(current_engine())
    with session_factory() as session:
        tenant = tenants.find_by_slug(session, DEMO_TENANT_SLUG)
        return kpi_history.cost_setting(session, tenant.id)


def test_trends_without_history_shows_hint(demo_users):
    app = open_trends(demo_users["viewer"])

    assert not app.exception
    assert [title.value for title in app.title] == ["Trends"]
    assert app.info[0].value.startswith("No approved plan yet")


def test_viewer_sees_charts_and_rollup(demo_users, solved_plan):
    approve(demo_users, solved_plan)

    app = open_trends(demo_users["viewer"])

    assert not app.exception
    charts = app.get("plotly_chart")
    assert len(charts) == 3
    rollup = app.dataframe[0].value
    assert rollup["month"].tolist() == [solved_plan.week_anchor.strftime("%Y-%m")]
    assert rollup["weeks"].tolist() == [1]
    assert rollup["average drivers"].tolist() == [solved_plan.kpis["drivers"]]
    assert not any(widget.label == "Save settings" for widget in app.button)


def test_admin_saves_cost_and_retention(demo_users):
    app = open_trends(demo_users["admin"])
    cost = [field for field in app.text_input if field.label.startswith("Cost")][0]
    cost.set_value("1250.50")
    app.number_input[0].set_value(365)

    button(app, "Save settings").click().run()

    setting = stored_cost_setting()
    assert not app.exception
    assert app.success[0].value.startswith("Saved: cost 1,250.50")
    assert setting.cost_per_driver_week == Decimal("1250.50")
    assert setting.history_retention_days == 365


def test_invalid_cost_shows_service_error(demo_users):
    app = open_trends(demo_users["admin"])
    cost = [field for field in app.text_input if field.label.startswith("Cost")][0]
    cost.set_value("12,505")

    button(app, "Save settings").click().run()

    assert not app.exception
    assert app.error[0].value.startswith("Cost per driver and week: '12.505'")
    assert stored_cost_setting() is None


def test_super_admin_sees_anonymised_comparison(demo_users, solved_plan):
    approve(demo_users, solved_plan)
    add_history_weeks(solved_plan.plan_version_id, 7)
    platform = add_super_admin()

    app = open_trends(platform)

    assert not app.exception
    comparison = app.dataframe[-1].value
    assert comparison["label"].tolist() == ["Tenant A"]
    assert comparison["weeks"].tolist() == [8]
    assert DEMO_TENANT_SLUG not in comparison.to_string()
