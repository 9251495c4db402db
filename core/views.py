"""Plain result objects that services return to pages and scripts.

Pages render these and never see ORM rows, so a page cannot reach the
database through a lazy relationship.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from core.forecast_diff import ForecastDiff
from core.forecast_report import ImportReport
from solver.checks import CheckResult

# ForecastStatus.ACCEPTED's value; the views do not import the database layer.
ACCEPTED_STATUS = "accepted"


@dataclass(frozen=True)
class ForecastVersionView:
    """One imported version of a week's forecast."""

    forecast_version_id: int
    week_anchor: date
    version_number: int
    source_filename: str
    source_format: str
    sha256: str
    status: str
    tour_count: int
    created_at: datetime
    line_report: tuple[dict[str, Any], ...]
    diff: dict[str, Any] | None

    @property
    def can_be_solved(self) -> bool:
        """Tell whether the version was accepted at import, so a plan can use it."""
        return self.status == ACCEPTED_STATUS


@dataclass(frozen=True)
class ForecastImportResult:
    """Outcome of an upload: the line report, and the version it made or found.

    `created` is false when the same content was already imported for the
    week, in which case `version` is that existing version. `version` is
    None only when the import failed and was stored as rejected.
    """

    report: ImportReport
    version: ForecastVersionView | None
    created: bool
    diff: ForecastDiff | None = None


@dataclass(frozen=True)
class SolveJobView:
    """A queued or finished solve, with the progress the worker last wrote.

    `progress` has the keys phase, lower_bound, best_drivers, gap (a fraction)
    and elapsed_seconds, or is None before the first report. `rules` are the
    rule settings the job solves with.
    """

    job_id: int
    forecast_version_id: int
    status: str
    progress: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    plan_version_id: int | None
    rules: dict[str, Any] = field(default_factory=dict)
    time_limit_seconds: float | None = None


@dataclass(frozen=True)
class RosterRow:
    """One block of one driver, as the plan page and exports show it.

    `driver` is the label shown. In a plan of named drivers, `driver_id` is
    the stored id of the driver's row, and `driver` is the name or the
    external reference, by what the reader's role may see.
    """

    driver: str
    day: int
    block_kind: str
    tour_ids: tuple[str, ...]
    start: str
    end: str
    minutes: int
    driver_id: str = ""


@dataclass(frozen=True)
class PlanVersionView:
    """A stored plan version with its proof of quality and its checks.

    `in_force` is true for the newest approved version of its week, the one
    that drivers work by; older approved versions stay approved and locked.
    Only list_plan_versions fills it in.
    """

    plan_version_id: int
    plan_id: int
    week_anchor: date
    version_number: int
    forecast_version_id: int
    status: str
    solve_status: str
    lower_bound: int | None
    lp_bound: float | None
    gap: float | None
    kpis: dict[str, Any]
    solver_seconds: float | None
    created_at: datetime
    approved_by: int | None
    approved_at: datetime | None
    approval_reason: str | None
    row_version: int
    in_force: bool = False
    checks: tuple[CheckResult, ...] = field(default=())
    rosters: tuple[RosterRow, ...] = field(default=())
    uncovered: tuple[dict[str, Any], ...] = field(default=())


@dataclass(frozen=True)
class AuditEntryView:
    """One audit entry as the audit page lists it."""

    sequence: int
    occurred_at: datetime
    actor_user_id: int | None
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    entry_hash: str


@dataclass(frozen=True)
class SignedIn:
    """A server-side session opened by a successful sign-in.

    `mfa_verified` is true when the sign-in passed the TOTP step; without it
    roles from PLAN_APPROVER upwards have DISPATCHER permissions only.
    """

    session_token: str
    username: str
    tenant_name: str
    role: str
    mfa_verified: bool = False
    tenant_slug: str = ""
    user_id: int | None = None
