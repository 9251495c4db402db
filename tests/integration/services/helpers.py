"""Building blocks for the service tests: forecast files, drafts and users."""

from __future__ import annotations

from datetime import date

from core.auth import hash_password
from core.forecasts import import_forecast
from core.permissions import Actor, Role
from core.views import ForecastVersionView
from db.models import PlanVersion
from db.repositories import plans, users
from solver.generate import format_tidy_csv, generate_forecast
from solver.rules import RuleSettings
from solver.solve import SolveResult
from solver.tours import Forecast
from tests.integration.databases import SMALL_FORECAST, WEEK_ANCHOR, Database

# A generated week small enough to solve to optimality in well under a second.
GENERATED_TOURS = 40
GENERATED_SEED = 7


def forecast_file(forecast: Forecast) -> bytes:
    """Write a forecast as the bytes of a tidy CSV upload."""
    return format_tidy_csv(forecast).encode("utf-8")


def generated_forecast(seed: int = GENERATED_SEED) -> Forecast:
    return generate_forecast(GENERATED_TOURS, seed=seed)


def import_week(
    actor: Actor,
    forecast: Forecast = SMALL_FORECAST,
    week_anchor: date = WEEK_ANCHOR,
    filename: str = "week.csv",
) -> ForecastVersionView:
    """Import a forecast through the service and return the version it stored."""
    result = import_forecast(actor, week_anchor, filename, forecast_file(forecast))
    assert result.version is not None, result.report.format_text()
    return result.version


def add_draft(
    database: Database,
    tenant_id: int,
    forecast_version_id: int,
    result: SolveResult,
    week_anchor: date = WEEK_ANCHOR,
) -> PlanVersion:
    """Store a solve result as the newest draft, superseding older ones."""
    with database.session_factory() as session, session.begin():
        plan = plans.get_or_add_plan(session, tenant_id, week_anchor)
        version = plans.add_version(
            session,
            tenant_id,
            plan.id,
            forecast_version_id,
            result,
            RuleSettings(),
            created_by=None,
        )
        plans.supersede_drafts(
            session, tenant_id, plan.id, newer_than=version.version_number
        )
    return version


def add_user(
    database: Database,
    tenant_id: int,
    username: str,
    password: str,
    role: Role,
    totp_secret: str | None = None,
) -> int:
    """Insert a user with a real Argon2id password hash and return its id."""
    with database.session_factory() as session, session.begin():
        user = users.add(
            session,
            tenant_id,
            username,
            hash_password(password),
            role.value,
            totp_secret=totp_secret,
        )
    return user.id
