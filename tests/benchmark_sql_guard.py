"""Print what the SQL guard costs per statement, with and without its cache.

Run: .venv/bin/python tests/benchmark_sql_guard.py

The statements are SQLAlchemy statements of the kinds the services run,
compiled for PostgreSQL (psycopg placeholders) and for SQLite. A first check
parses the text; a repeated check of the same text is a cache hit.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from db.sql_guard import _cached_refusal, check_statement
from db.models import (
    Assignment,
    AuditEntry,
    PlanVersion,
    SolveJob,
    Tenant,
)

# Calls per measurement, few because a first check of 1000 rows takes ms.
REPEATS = 200


def service_statements() -> dict[str, object]:
    """Return SQLAlchemy statements shaped like the services' own."""
    return {
        "select with join": (
            select(Assignment, PlanVersion)
            .join(PlanVersion, Assignment.plan_version_id == PlanVersion.id)
            .where(PlanVersion.tenant_id == 7, PlanVersion.id == 3)
            .order_by(Assignment.id)
        ),
        "count": select(func.count()).where(AuditEntry.tenant_id == 7),
        "insert": insert(AuditEntry).values(
            tenant_id=7, sequence=1, action="plan.approved", details={}
        ),
        "update": update(Tenant).where(Tenant.id == 7).values(name=Tenant.name),
        "insert of 1000 rows": insert(AuditEntry).values(
            [
                {"tenant_id": 7, "sequence": number, "action": "plan.approved"}
                for number in range(1000)
            ]
        ),
        "claim with skip locked": (
            select(SolveJob.id)
            .where(SolveJob.status == "queued")
            .order_by(SolveJob.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ),
    }


def microseconds_per_call(call) -> float:
    start = time.perf_counter()
    for _ in range(REPEATS):
        call()
    return (time.perf_counter() - start) / REPEATS * 1e6


def main() -> None:
    dialects = {
        "postgresql": (postgresql.psycopg.dialect(), True),
        "sqlite": (sqlite.pysqlite.dialect(), False),
    }
    print(f"{'dialect':<11} {'statement':<24} {'first check µs':>15} {'cached µs':>10}")
    for dialect_name, (dialect, pyformat) in dialects.items():
        for label, statement in service_statements().items():
            sql = str(statement.compile(dialect=dialect))
            print(
                f"{dialect_name:<11} {label:<24}"
                f" {first_check(sql, dialect_name, pyformat):>15.1f}"
                f" {cached_check(sql, dialect_name, pyformat):>10.2f}"
            )


def first_check(sql: str, dialect: str, pyformat: bool) -> float:
    """Microseconds of a check that parses, bypassing the cache."""
    return microseconds_per_call(
        lambda: _cached_refusal.__wrapped__(sql, dialect, pyformat)
    )


def cached_check(sql: str, dialect: str, pyformat: bool) -> float:
    """Microseconds of a repeated check of the same text, a cache hit."""
    check_statement(sql, dialect, pyformat=pyformat)
    return microseconds_per_call(
        lambda: check_statement(sql, dialect, pyformat=pyformat)
    )


if __name__ == "__main__":
    main()
