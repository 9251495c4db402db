"""Fixtures for the page tests: a seeded SQLite workbench and a signed-in app.

Each test gets a SQLite file of its own under tmp_path, named by
DATABASE_URL, so the app under test and the test's own service calls share
one database. The app runs in-process through Streamlit's AppTest.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyotp
import pytest
from streamlit.testing.v1 import AppTest

from core.auth import actor_for_session, sign_in
from core.context import open_workbench
from core.demo import DEMO_TENANT_SLUG, seed_demo_tenant
from core.forecasts import import_forecast
from core.permissions import Actor
from core.plans import get_plan_version, get_solve_job, request_solve
from core.views import PlanVersionView
from core.worker import run_one_job

APP_SCRIPT = Path(__file__).resolve().parents[2] / "app.py"
# The first run imports pandas, Plotly and the services, which takes seconds.
APP_TIMEOUT_SECONDS = 60

# A Monday, and a small week: two Monday tours that fit a double block, a
# later Monday tour, and two Tuesday tours that need the ADR qualification.
WEEK_ANCHOR = date(2026, 1, 5)
SMALL_FORECAST = (
    "day,start,end,count,depot,qualification\n"
    "1,06:00,10:30,2,Nord,\n"
    "1,11:30,16:00,1,Nord,\n"
    "2,06:00,10:30,2,,ADR\n"
)


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    totp_secret: str | None


@pytest.fixture(autouse=True)
def main_module_kept() -> Iterator[None]:
    """Put back the __main__ module that AppTest replaces with the app script.

    Streamlit's script runner installs the script as sys.modules["__main__"].
    A later test that starts processes with the "spawn" method (the sweep's
    worker processes) would then run app.py again in each child.
    """
    main_module = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main_module


@pytest.fixture
def demo_users(tmp_path, monkeypatch) -> Iterator[dict[str, DemoUser]]:
    """Migrate a fresh SQLite file, seed the demo tenant, return its users by name."""
    database_url = f"sqlite:///{tmp_path / 'workbench.db'}"
    monkeypatch.setenv("DATABASE_URL", database_url)
    engine = open_workbench(database_url)
    accounts = seed_demo_tenant()
    assert accounts is not None, "a fresh database must create the demo tenant"
    yield {
        account.username: DemoUser(
            account.username, account.password, account.totp_secret
        )
        for account in accounts
    }
    engine.dispose()


def open_app() -> AppTest:
    return AppTest.from_file(str(APP_SCRIPT), default_timeout=APP_TIMEOUT_SECONDS).run()


def text_input(app: AppTest, label: str):
    """Return the text input with this label, failing the test when there is none."""
    matches = [widget for widget in app.text_input if widget.label == label]
    assert matches, f"no text input labelled {label!r}"
    return matches[0]


def has_text_input(app: AppTest, label: str) -> bool:
    return any(widget.label == label for widget in app.text_input)


def button(app: AppTest, label: str):
    matches = [widget for widget in app.button if widget.label == label]
    assert matches, f"no button labelled {label!r}"
    return matches[0]


def submit_sign_in(app: AppTest, username: str, password: str) -> AppTest:
    text_input(app, "User name").set_value(username)
    text_input(app, "Password").set_value(password)
    return button(app, "Sign in").click().run()


def sign_in_as(app: AppTest, user: DemoUser) -> AppTest:
    """Sign in through the form, with a fresh TOTP code for users who have one."""
    if user.totp_secret:
        code = pyotp.TOTP(user.totp_secret).now()
        text_input(app, "Authenticator code").set_value(code)
    return submit_sign_in(app, user.username, user.password)


def service_actor(user: DemoUser) -> Actor:
    """Sign in through the service, as a second browser would, and return the actor."""
    code = pyotp.TOTP(user.totp_secret).now() if user.totp_secret else None
    signed_in = sign_in(DEMO_TENANT_SLUG, user.username, user.password, code)
    return actor_for_session(signed_in.session_token)


@pytest.fixture
def solved_plan(demo_users) -> PlanVersionView:
    """Import SMALL_FORECAST as the dispatcher, solve it in-process, return the plan."""
    dispatcher = service_actor(demo_users["dispatcher"])
    imported = import_forecast(
        dispatcher, WEEK_ANCHOR, "week.csv", SMALL_FORECAST.encode()
    )
    job = request_solve(
        dispatcher, imported.version.forecast_version_id, time_limit_seconds=30
    )
    assert run_one_job("page-test-worker"), "the queued solve job was not run"
    job = get_solve_job(dispatcher, job.job_id)
    assert job.plan_version_id is not None, f"solve failed: {job.error}"
    return get_plan_version(dispatcher, job.plan_version_id)
