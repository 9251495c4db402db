"""Tenant settings of the KPI history: cost per driver and week, and retention.

A tenant without settings records no cost and keeps its history for
DEFAULT_HISTORY_RETENTION_DAYS (730 days). Both settings live in one row of
tenant_cost_settings, and each change is recorded in the tenant's audit
trail.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from core.audit import append_entry
from core.context import authorize, lock_tenant, unit_of_work
from core.errors import InvalidInput
from core.permissions import Actor, Permission
from db.models import TenantCostSetting, utc_now
from db.repositories import kpi_history

DEFAULT_HISTORY_RETENTION_DAYS = 730
MIN_HISTORY_RETENTION_DAYS = 1
# A policy limit, so that a typing error cannot keep history for decades.
MAX_HISTORY_RETENTION_DAYS = 3650
# A policy limit well above any wage, so that a typing error is caught.
MAX_COST_PER_DRIVER_WEEK = Decimal("100000.00")
CENT = Decimal("0.01")

COST_CHANGED = "kpi_history.cost_changed"
RETENTION_CHANGED = "kpi_history.retention_changed"


def get_cost_per_driver(actor: Actor) -> Decimal | None:
    """Return the tenant's cost per driver and week, or None when none is set."""
    authorize(actor, Permission.TENANT_CONFIGURE)
    with unit_of_work(actor) as session:
        setting = kpi_history.cost_setting(session, actor.tenant_id)
        return None if setting is None else setting.cost_per_driver_week


def get_plan_cost_per_driver(actor: Actor) -> Decimal | None:
    """Return the tenant's cost per driver and week for readers of plans.

    Plan comparisons show head count times this cost, so every role that
    reads plans (PLAN_READ) may read it. Changing it still needs
    TENANT_CONFIGURE.
    """
    authorize(actor, Permission.PLAN_READ)
    with unit_of_work(actor) as session:
        setting = kpi_history.cost_setting(session, actor.tenant_id)
        return None if setting is None else setting.cost_per_driver_week


def set_cost_per_driver(
    actor: Actor, cost_per_driver_week: Decimal | int | str | None
) -> Decimal | None:
    """Set the tenant's cost per driver and week, or clear it with None; return it.

    The cost applies to plan versions approved from now on. Raises
    InvalidInput for a value that is not an amount from 0 to
    MAX_COST_PER_DRIVER_WEEK with at most 2 decimal places.
    """
    authorize(actor, Permission.TENANT_CONFIGURE)
    cost = _checked_cost(cost_per_driver_week)
    with unit_of_work(actor) as session:
        lock_tenant(session, actor.tenant_id)
        setting = kpi_history.cost_setting(session, actor.tenant_id)
        previous = None if setting is None else setting.cost_per_driver_week
        if previous == cost and setting is not None:
            return cost
        kpi_history.save_cost_setting(
            session,
            actor.tenant_id,
            cost_per_driver_week=cost,
            history_retention_days=history_retention_days(setting),
            updated_at=utc_now(),
            updated_by=actor.user_id,
        )
        append_entry(
            session,
            actor,
            COST_CHANGED,
            "tenant",
            actor.tenant_id,
            {
                "cost_per_driver_week": None if cost is None else str(cost),
                "previous_cost_per_driver_week": (
                    None if previous is None else str(previous)
                ),
            },
        )
    return cost


def get_history_retention_days(actor: Actor) -> int:
    """Return how many days the tenant keeps its KPI history."""
    authorize(actor, Permission.TENANT_CONFIGURE)
    with unit_of_work(actor) as session:
        return history_retention_days(
            kpi_history.cost_setting(session, actor.tenant_id)
        )


def set_history_retention_days(actor: Actor, retention_days: int) -> int:
    """Set how many days the tenant keeps its KPI history, and return it.

    A shorter period takes effect at the next retention run. Raises
    InvalidInput outside MIN_HISTORY_RETENTION_DAYS to
    MAX_HISTORY_RETENTION_DAYS.
    """
    authorize(actor, Permission.TENANT_CONFIGURE)
    if (
        isinstance(retention_days, bool)
        or not isinstance(retention_days, int)
        or not MIN_HISTORY_RETENTION_DAYS
        <= retention_days
        <= MAX_HISTORY_RETENTION_DAYS
    ):
        raise InvalidInput(
            "retention_days",
            f"{retention_days!r} is not a whole number of days from"
            f" {MIN_HISTORY_RETENTION_DAYS} to {MAX_HISTORY_RETENTION_DAYS}",
        )
    with unit_of_work(actor) as session:
        lock_tenant(session, actor.tenant_id)
        setting = kpi_history.cost_setting(session, actor.tenant_id)
        previous = history_retention_days(setting)
        if previous == retention_days:
            return retention_days
        kpi_history.save_cost_setting(
            session,
            actor.tenant_id,
            cost_per_driver_week=None
            if setting is None
            else setting.cost_per_driver_week,
            history_retention_days=retention_days,
            updated_at=utc_now(),
            updated_by=actor.user_id,
        )
        append_entry(
            session,
            actor,
            RETENTION_CHANGED,
            "tenant",
            actor.tenant_id,
            {"retention_days": retention_days, "previous_retention_days": previous},
        )
    return retention_days


def history_retention_days(setting: TenantCostSetting | None) -> int:
    """Return the retention period of these settings, or the default without any."""
    if setting is None:
        return DEFAULT_HISTORY_RETENTION_DAYS
    return setting.history_retention_days


def _checked_cost(value: Decimal | int | str | None) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise InvalidInput(
            "cost_per_driver_week",
            f"{value!r} is not an amount; enter a number such as 1250.00",
        )
    if isinstance(value, str):
        value = value.strip()
        # A decimal comma, as in "850,50", is read as a decimal point.
        if value.count(",") == 1 and "." not in value:
            value = value.replace(",", ".")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise InvalidInput(
            "cost_per_driver_week",
            f"{value!r} is not an amount; enter a number such as 1250.00",
        ) from None
    if not amount.is_finite() or not 0 <= amount <= MAX_COST_PER_DRIVER_WEEK:
        raise InvalidInput(
            "cost_per_driver_week",
            f"{value!r} is outside 0 to {MAX_COST_PER_DRIVER_WEEK}",
        )
    if amount != amount.quantize(CENT):
        raise InvalidInput(
            "cost_per_driver_week",
            f"{value!r} has more than 2 decimal places; round it to cents",
        )
    return amount.quantize(CENT)
