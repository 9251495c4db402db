"""Retention of driver data: erase drivers inactive for longer than the tenant allows.

Each tenant keeps an inactive driver's personal data for its retention
period, DEFAULT_RETENTION_DAYS (730 days, two years) unless a tenant admin
sets another (`set_retention_days`). The period starts when the driver
last became inactive (`deactivated_at`). A driver inactive for longer than
the period is erased as core.gdpr erases on request, unless the driver is
on legal hold. A driver inactive for exactly the period is kept until the
next run.

`run_retention` goes through every tenant, each in a transaction of its own
that acts as the system actor "retention-job". For each erased driver it
appends a `gdpr.driver_erased` entry with reason "retention", and for the
run one `gdpr.retention_run` entry with the counts and the pseudonyms of
the erased drivers. A run that erases nothing in a tenant writes nothing
there, so running the job again is a no-op.

Run it daily, for example from cron:

    .venv/bin/python -m core.retention

It opens the database of DATABASE_URL (migrating it first, as the
workbench does), prints one line per tenant and exits with 0.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from core.audit import SystemActor, append_entry
from core.context import authorize, lock_tenant, open_workbench, unit_of_work
from core.errors import InvalidInput
from core.gdpr import erase_driver_row
from core.permissions import Actor, Permission
from db import cross_tenant
from db.models import utc_now, utc_or_now
from db.repositories import drivers

logger = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 730
MIN_RETENTION_DAYS = 1
# A policy limit, so that a typing error cannot keep data for decades.
MAX_RETENTION_DAYS = 3650
RETENTION_ACTOR = "retention-job"

RETENTION_RUN = "gdpr.retention_run"
RETENTION_CHANGED = "gdpr.retention_changed"


@dataclass(frozen=True)
class TenantRetention:
    """The outcome of one run in one tenant.

    `erased` lists the pseudonyms of the drivers erased now, `kept_on_hold`
    counts expired drivers left alone because of a legal hold.
    """

    tenant_id: int
    retention_days: int
    erased: tuple[str, ...]
    kept_on_hold: int


def run_retention(now: datetime | None = None) -> list[TenantRetention]:
    """Erase every tenant's drivers whose retention period has passed.

    `now` defaults to the current time; tests pass a fixed one.
    """
    now = utc_or_now(now)
    with unit_of_work() as session:
        tenant_ids = cross_tenant.all_tenant_ids(session)
    results = [erase_expired_drivers(tenant_id, now) for tenant_id in tenant_ids]
    logger.info(
        "retention run at %s: %d drivers erased, %d kept on legal hold, %d tenants",
        now.isoformat(),
        sum(len(result.erased) for result in results),
        sum(result.kept_on_hold for result in results),
        len(results),
    )
    return results


def erase_expired_drivers(tenant_id: int, now: datetime) -> TenantRetention:
    """Erase one tenant's drivers inactive for longer than its retention period."""
    system = SystemActor(tenant_id, RETENTION_ACTOR)
    with unit_of_work(system) as session:
        lock_tenant(session, tenant_id)
        retention_days = _retention_days(session, tenant_id)
        inactive_before = now - timedelta(days=retention_days)
        expired = drivers.list_expired(session, tenant_id, inactive_before)
        on_hold = [driver for driver in expired if driver.legal_hold]
        pseudonyms = tuple(
            erase_driver_row(session, system, driver, "retention", now)
            for driver in expired
            if not driver.legal_hold
        )
        if pseudonyms:
            append_entry(
                session,
                system,
                RETENTION_RUN,
                "tenant",
                tenant_id,
                {
                    "retention_days": retention_days,
                    "inactive_before": inactive_before.isoformat(),
                    "erased": len(pseudonyms),
                    "kept_on_hold": len(on_hold),
                    "erased_drivers": list(pseudonyms),
                },
            )
    return TenantRetention(tenant_id, retention_days, pseudonyms, len(on_hold))


def get_retention_days(actor: Actor) -> int:
    """Return how many days the actor's tenant keeps inactive drivers."""
    authorize(actor, Permission.DRIVER_READ)
    with unit_of_work(actor) as session:
        return _retention_days(session, actor.tenant_id)


def set_retention_days(actor: Actor, retention_days: int) -> int:
    """Set how many days the tenant keeps inactive drivers, and return it.

    A shorter period takes effect at the next retention run. Raises
    InvalidInput outside MIN_RETENTION_DAYS to MAX_RETENTION_DAYS.
    """
    authorize(actor, Permission.TENANT_CONFIGURE)
    if (
        isinstance(retention_days, bool)
        or not isinstance(retention_days, int)
        or not MIN_RETENTION_DAYS <= retention_days <= MAX_RETENTION_DAYS
    ):
        raise InvalidInput(
            "retention_days",
            f"{retention_days!r} is not a whole number of days from"
            f" {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS}",
        )
    with unit_of_work(actor) as session:
        lock_tenant(session, actor.tenant_id)
        previous = _retention_days(session, actor.tenant_id)
        if previous == retention_days:
            return retention_days
        drivers.set_retention_days(
            session,
            actor.tenant_id,
            retention_days,
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


def _retention_days(session: Session, tenant_id: int) -> int:
    setting = drivers.retention_setting(session, tenant_id)
    return DEFAULT_RETENTION_DAYS if setting is None else setting.retention_days


def main(argv: Sequence[str] | None = None) -> int:
    """Run the retention job once on the configured database and print what it did."""
    parser = argparse.ArgumentParser(
        description="Erase drivers inactive for longer than their tenant's"
        " retention period, unless on legal hold."
    )
    parser.add_argument(
        "--database-url",
        help="database to work on; default DATABASE_URL, else the SQLite file",
    )
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )

    engine = open_workbench(arguments.database_url)
    try:
        for result in run_retention():
            print(
                f"tenant {result.tenant_id}: {len(result.erased)} drivers erased,"
                f" {result.kept_on_hold} kept on legal hold (retention"
                f" {result.retention_days} days)"
            )
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
