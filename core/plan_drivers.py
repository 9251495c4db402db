"""Driver labels of a named plan, as the actor's role may see them.

A plan made for named drivers stores each roster under the driver's id.
Roles that read personal fields (core.driver_records) see the driver's name
with the external reference. Each such display appends one
`driver.personal_data_read` event. Other roles see the external reference
only. A name that
cannot be decrypted shows as the reference, and the caller records the
CRITICAL event once its unit of work has ended. Exports name drivers by
external reference only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import append_entry
from core.driver_records import (
    DriverFieldUnreadable,
    may_read_personal_fields,
    read_personal_field,
)
from core.permissions import Actor
from core.views import PlanVersionView
from db.models import Driver
from solver.plan import Plan

PERSONAL_DATA_READ = "driver.personal_data_read"


@dataclass
class DriverLabels:
    """Labels by stored driver id, and the drivers whose name failed to decrypt."""

    by_id: dict[str, str] = field(default_factory=dict)
    unreadable: list[int] = field(default_factory=list)


def is_named_plan(view: PlanVersionView) -> bool:
    """Tell whether the plan version's rosters belong to rows of the drivers table."""
    return bool(view.kpis.get("named_drivers"))


def driver_labels(
    session: Session, actor: Actor, driver_ids: Iterable[str], purpose: str
) -> DriverLabels:
    """Label each stored driver id with a name or external reference.

    `purpose` names what the names are read for in the PII read event.
    """
    ids = sorted({int(driver_id) for driver_id in driver_ids if driver_id.isdigit()})
    labels = DriverLabels()
    if not ids:
        return labels
    statement = select(Driver).where(
        Driver.tenant_id == actor.tenant_id, Driver.id.in_(ids)
    )
    with_names = may_read_personal_fields(actor)
    names_read = 0
    for driver in session.scalars(statement):
        label = driver.external_ref
        if with_names:
            try:
                name = read_personal_field(driver, "name")
            except DriverFieldUnreadable:
                labels.unreadable.append(driver.id)
                name = None
            if name:
                label = f"{name} ({driver.external_ref})"
                names_read += 1
        labels.by_id[str(driver.id)] = label
    if names_read:
        append_entry(
            session,
            actor,
            PERSONAL_DATA_READ,
            purpose,
            "list",
            {"fields": ["name"], "driver_count": names_read},
        )
    return labels


def external_refs(
    session: Session, tenant_id: int, driver_ids: Iterable[str]
) -> dict[str, str]:
    """Map stored driver ids to the drivers' external references."""
    ids = sorted({int(driver_id) for driver_id in driver_ids if driver_id.isdigit()})
    if not ids:
        return {}
    statement = select(Driver.id, Driver.external_ref).where(
        Driver.tenant_id == tenant_id, Driver.id.in_(ids)
    )
    return {str(driver_id): ref for driver_id, ref in session.execute(statement)}


def relabel_by_external_ref(session: Session, tenant_id: int, plan: Plan) -> Plan:
    """Name a named plan's rosters by the drivers' external references.

    Exports use this so that a file never carries names, which only a
    personal-data export may. Rosters keep their order.
    """
    refs = external_refs(session, tenant_id, (r.driver for r in plan.rosters))
    if not refs:
        return plan
    rosters = tuple(
        replace(roster, driver=refs.get(roster.driver, roster.driver))
        for roster in plan.rosters
    )
    return replace(plan, rosters=rosters)


def with_driver_labels(
    session: Session, actor: Actor, view: PlanVersionView
) -> tuple[PlanVersionView, list[int]]:
    """Show the plan's drivers by label; return the drivers with unreadable names.

    Checks name drivers by their stored id as well, so their violations get
    the same labels. A plan of anonymous rosters comes back unchanged.
    """
    if not is_named_plan(view):
        return view, []
    labels = driver_labels(
        session, actor, (row.driver for row in view.rosters), "plan drivers"
    )

    def label(driver_id: str) -> str:
        return labels.by_id.get(driver_id, driver_id)

    rosters = tuple(
        replace(row, driver=label(row.driver), driver_id=row.driver)
        for row in view.rosters
    )
    checks = tuple(
        replace(
            check,
            violations=tuple(
                replace(violation, driver=label(violation.driver))
                for violation in check.violations
            ),
        )
        for check in view.checks
    )
    return replace(view, rosters=rosters, checks=checks), labels.unreadable
