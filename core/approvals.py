"""Approval service: approve a plan version, and compare one with the approved one.

Approving locks a version: database triggers reject any later change to it,
its assignments and its checks. The approved version of a week is its newest
approved version. Older drafts of a week are superseded whenever a new
version is solved, so the draft being approved is always the week's newest
version, and approving it makes it the approved one of its week.

The audit entry of an approval records the length of the reason, not its
text. The reason is free text that may name people (a driver who called in
sick, say), and the audit trail can never be changed or erased. The text
itself is stored with the plan version (`approval_reason`).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core import kpi_history
from core.audit import append_entry
from core.context import authorize, lock_tenant, unit_of_work
from core.errors import Conflict, InvalidInput, PlanLocked
from core.permissions import Actor, Permission
from core.plan_drivers import driver_labels
from core.plans import plan_version_view
from core.tenancy import get_owned
from core.views import PlanVersionView
from db.models import PlanVersion, PlanVersionStatus
from db.repositories import plans

logger = logging.getLogger(__name__)

MAX_REASON_LENGTH = 2000

PLAN_APPROVED = "plan.approved"


def approve_plan(
    actor: Actor, plan_version_id: int, reason: str, expected_row_version: int
) -> PlanVersionView:
    """Approve a draft plan version, which locks it, and return the approved version.

    The approval also writes the week's KPI history row in the same
    transaction (core.kpi_history), replacing the row of an older approved
    version of the week. `expected_row_version` is the `row_version` of the
    view the approver looked at. Raises InvalidInput for an empty reason or
    a version whose checks failed, PlanLocked when the version is already
    approved, and Conflict when the version changed since it was read
    (including a concurrent approval) or is no longer a draft.
    """
    authorize(actor, Permission.PLAN_APPROVE)
    reason = _checked_reason(reason)
    if not isinstance(expected_row_version, int) or isinstance(
        expected_row_version, bool
    ):
        raise InvalidInput(
            "expected_row_version",
            f"expected the whole row_version of the plan version, got"
            f" {expected_row_version!r}",
        )

    with unit_of_work(actor) as session:
        version = get_owned(session, actor, PlanVersion, plan_version_id)
        lock_tenant(session, actor.tenant_id)
        _check_approvable(session, version, expected_row_version)
        previous = plans.latest_approved_version(
            session, actor.tenant_id, version.plan_id
        )

        version_id = version.id
        plans.approve_version(version, actor.user_id, reason)
        try:
            session.flush()
        except StaleDataError as error:
            # The failed flush expired `version`, so only the saved id is used.
            raise Conflict(
                "plan version",
                version_id,
                "someone else changed or approved it at the same time;"
                " reload it and check it again",
            ) from error
        kpi_history.record_approved_version(session, version)

        append_entry(
            session,
            actor,
            PLAN_APPROVED,
            "plan version",
            version.id,
            {
                "plan_id": version.plan_id,
                "version_number": version.version_number,
                "reason_length": len(reason),
                "previous_approved_version_id": previous.id if previous else None,
            },
        )
        view = plan_version_view(session, version, full=True)
    logger.info(
        "plan version %s approved by user %s", view.plan_version_id, actor.user_id
    )
    return view


def diff_to_approved(actor: Actor, plan_version_id: int) -> dict[str, Any]:
    """Compare a plan version with the approved version of its week.

    Returns a dictionary with:

    - approved_version_id: the week's approved version, or None;
    - drivers and lower_bound: each {"approved", "this", "change"};
    - assignment_changes: the number of tours whose driver changes;
    - changed_tours: one {"tour_id", "approved_driver", "driver"} per change,
      by tour id, where a driver is "" for a tour not covered in that version.

    Every field but plan_version_id is None when the week has no approved
    version. Driver ids of anonymous plans are slots that each solve numbers
    afresh. So drivers are first paired across the two versions by the most
    tours they share, and a tour counts as changed when its driver is not the
    pair of its approved driver. Named drivers keep their ids, so a tour of
    two named versions changed when its driver did, and named drivers are
    shown as core.plan_drivers labels them.
    """
    authorize(actor, Permission.PLAN_READ)
    with unit_of_work(actor) as session:
        version = get_owned(session, actor, PlanVersion, plan_version_id)
        approved = plans.latest_approved_version(
            session, actor.tenant_id, version.plan_id
        )
        if approved is None:
            return {
                "plan_version_id": version.id,
                "approved_version_id": None,
                "drivers": None,
                "lower_bound": None,
                "assignment_changes": None,
                "changed_tours": None,
            }
        approved_drivers = _driver_by_tour(session, approved)
        drivers = _driver_by_tour(session, version)
        approved_count = approved.kpis.get("drivers")
        this_count = version.kpis.get("drivers")
        named = bool(approved.kpis.get("named_drivers")) and bool(
            version.kpis.get("named_drivers")
        )
        changed_tours = _changed_tours(approved_drivers, drivers, named=named)
        if approved.kpis.get("named_drivers") or version.kpis.get("named_drivers"):
            changed_tours = _labelled(session, actor, changed_tours)

    return {
        "plan_version_id": version.id,
        "approved_version_id": approved.id,
        "drivers": _compare(approved_count, this_count),
        "lower_bound": _compare(approved.lower_bound, version.lower_bound),
        "assignment_changes": len(changed_tours),
        "changed_tours": changed_tours,
    }


def _checked_reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput(
            "reason", "enter why you approve this plan version; it must not be empty"
        )
    reason = reason.strip()
    if "\x00" in reason:
        raise InvalidInput("reason", "the reason contains a NUL character")
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput(
            "reason",
            f"the reason has {len(reason)} characters, more than"
            f" {MAX_REASON_LENGTH}; shorten it",
        )
    return reason


def _check_approvable(
    session: Session, version: PlanVersion, expected_row_version: int
) -> None:
    """Raise unless the draft is unchanged since it was read and passed its checks."""
    if version.row_version != expected_row_version:
        now_approved = version.status is PlanVersionStatus.APPROVED
        raise Conflict(
            "plan version",
            version.id,
            f"it changed since you read it (row version {expected_row_version},"
            f" now {version.row_version}"
            f"{', approved by someone else' if now_approved else ''});"
            " reload it and check it again",
        )
    if version.status is PlanVersionStatus.APPROVED:
        raise PlanLocked(version.id)
    if version.status is not PlanVersionStatus.DRAFT:
        raise Conflict(
            "plan version",
            version.id,
            f"it is {version.status.value}, and only a draft can be approved;"
            " approve the newest version of the week",
        )
    failed_rules = [
        check.rule
        for check in plans.list_checks(session, version.tenant_id, version.id)
        if not check.passed
    ]
    if failed_rules == ["coverage"] and version.uncovered:
        open_tours = len(version.uncovered)
        tours = "tour stays" if open_tours == 1 else "tours stay"
        raise InvalidInput(
            "plan_version_id",
            f"plan version {version.id} cannot be approved: {open_tours} {tours}"
            " open. Add drivers or availability, or change the forecast, then"
            " solve the week again",
        )
    if failed_rules:
        raise InvalidInput(
            "plan_version_id",
            f"plan version {version.id} breaks the rules {', '.join(failed_rules)};"
            " a plan that fails a check cannot be approved, so solve the week again",
        )


def _driver_by_tour(session: Session, version: PlanVersion) -> dict[str, str]:
    return {
        assignment.tour_id: assignment.driver
        for assignment in plans.list_assignments(session, version.tenant_id, version.id)
    }


def _labelled(
    session: Session, actor: Actor, changed_tours: list[dict[str, str]]
) -> list[dict[str, str]]:
    """Show the named drivers of changed tours by name or external reference."""
    ids = [
        entry[key]
        for entry in changed_tours
        for key in ("approved_driver", "driver")
        if entry[key]
    ]
    labels = driver_labels(session, actor, ids, "plan changes").by_id
    return [
        {
            "tour_id": entry["tour_id"],
            "approved_driver": labels.get(
                entry["approved_driver"], entry["approved_driver"]
            ),
            "driver": labels.get(entry["driver"], entry["driver"]),
        }
        for entry in changed_tours
    ]


def _changed_tours(
    approved_drivers: dict[str, str], drivers: dict[str, str], *, named: bool
) -> list[dict[str, str]]:
    if named:
        # Named drivers keep their ids across versions, so a tour changed when
        # its driver id did.
        return [
            {
                "tour_id": tour_id,
                "approved_driver": approved_drivers.get(tour_id, ""),
                "driver": drivers.get(tour_id, ""),
            }
            for tour_id in sorted(approved_drivers.keys() | drivers.keys())
            if approved_drivers.get(tour_id, "") != drivers.get(tour_id, "")
        ]
    # Pair each driver of this version with the approved driver sharing the
    # most tours, greedily from the largest overlap.
    shared = Counter(
        (approved_drivers[tour_id], driver)
        for tour_id, driver in drivers.items()
        if tour_id in approved_drivers
    )
    paired: dict[str, str] = {}
    taken: set[str] = set()
    for (approved_driver, driver), _ in sorted(
        shared.items(), key=lambda item: (-item[1], item[0])
    ):
        if driver not in paired and approved_driver not in taken:
            paired[driver] = approved_driver
            taken.add(approved_driver)

    changes = []
    for tour_id in sorted(approved_drivers.keys() | drivers.keys()):
        approved_driver = approved_drivers.get(tour_id, "")
        driver = drivers.get(tour_id, "")
        if driver and approved_driver and paired.get(driver) == approved_driver:
            continue
        changes.append(
            {"tour_id": tour_id, "approved_driver": approved_driver, "driver": driver}
        )
    return changes


def _compare(approved: int | None, this: int | None) -> dict[str, int | None]:
    change = None if approved is None or this is None else this - approved
    return {"approved": approved, "this": this, "change": change}
