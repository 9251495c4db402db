"""The database the services work on, and the unit of work each service opens.

A process calls `open_workbench()` once (the Streamlit app behind
`st.cache_resource`, the worker at start), or `configure(engine)` with an
engine it made itself (tests). Every service then opens one `unit_of_work()`
per call.

Lock order: a service that writes loads the rows it checks with
`core.tenancy.get_owned` first, then calls `lock_tenant`, and only then
changes rows. Because every core service and the worker's result and failure
writes take the tenant row lock first, two such writers of one tenant do not
wait for each other in opposite order. Claiming a job and renewing its
heartbeat change only the job's row and take no other lock. A security
event from get_owned is written in a transaction of its own and would wait
for this tenant lock. So get_owned must come before it.

The engine checks every statement with the SQL guard (db.sql_guard). A
DangerousSQLRefused that escapes `unit_of_work(actor)` is recorded as the
CRITICAL security event `security.dangerous_sql` of the actor's tenant.

Tenant of a transaction. `unit_of_work(actor)` binds its transaction to the
actor's tenant, a signed-in user or a SystemActor such as the worker. On
PostgreSQL, row-level security then shows and accepts that tenant's rows
only, and a transaction with no tenant sees no rows at all. Steps that learn
the tenant only inside the transaction (sign-in, the session check, the
worker's claim) look it up through db.cross_tenant and then call
db.session.set_transaction_tenant. The services' own tenant filters and
checks stay in place as well.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.audit import SystemActor, record_security_event
from core.errors import PermissionDenied
from core.permissions import Actor, Permission, require
from db.repositories import tenants
from db.session import (
    make_engine,
    make_session_factory,
    migrate,
    resolve_migration_url,
    resolve_url,
    set_transaction_tenant,
)
from db.sql_guard import DangerousSQLRefused

logger = logging.getLogger(__name__)

PERMISSION_DENIED = "security.permission_denied"
DANGEROUS_SQL = "security.dangerous_sql"

_lock = threading.Lock()
_engines_by_url: dict[str, Engine] = {}
_engine: Engine | None = None
_session_factory: sessionmaker[Session] | None = None


def open_workbench(url: str | None = None) -> Engine:
    """Open the workbench database, migrate it and make the services use it.

    The URL is `url`, else DATABASE_URL, else the SQLite default of
    db.session. A second call with the same URL returns the same engine
    without migrating again. The returned engine is guarded. The migration
    runs on an unguarded engine of its own, disposed when it is done, which
    connects through MIGRATION_DATABASE_URL when that is set for this
    database (db.session.resolve_migration_url).
    """
    key = resolve_url(url).render_as_string(hide_password=False)
    with _lock:
        engine = _engines_by_url.get(key)
        if engine is None:
            migrating = make_engine(resolve_migration_url(url), sql_guard=False)
            try:
                migrate(migrating)
            finally:
                migrating.dispose()
            engine = make_engine(key)
            _engines_by_url[key] = engine
    configure(engine)
    return engine


def configure(engine: Engine) -> None:
    """Make the services use this engine, which must be migrated already."""
    global _engine, _session_factory
    with _lock:
        _engine = engine
        _session_factory = make_session_factory(engine)


_NOT_CONFIGURED = (
    "no workbench database is configured; call core.context.open_workbench()"
    " or core.context.configure(engine) first"
)


def current_engine() -> Engine:
    """Return the configured engine, or raise RuntimeError when there is none."""
    if _engine is None:
        raise RuntimeError(_NOT_CONFIGURED)
    return _engine


@contextmanager
def unit_of_work(actor: Actor | SystemActor | None = None) -> Iterator[Session]:
    """Open a session in a transaction: commit when the block ends, else roll back.

    Services pass their `actor`, a signed-in user or a SystemActor, and the
    transaction is bound to its tenant from its start. Without an actor the
    transaction has no tenant until the block binds one, and on PostgreSQL
    sees no rows before that.

    A statement the SQL guard refuses inside the block is recorded against
    a signed-in actor once the transaction has rolled back. For a
    SystemActor or no actor, the refusal is only logged, by the guard.
    """
    session_factory = _session_factory
    if session_factory is None:
        raise RuntimeError(_NOT_CONFIGURED)
    try:
        with session_factory() as session, session.begin():
            if actor is not None:
                set_transaction_tenant(session, actor.tenant_id)
            yield session
    except DangerousSQLRefused as error:
        if isinstance(actor, Actor):
            record_dangerous_sql(actor, error)
        raise


def record_dangerous_sql(actor: Actor, error: DangerousSQLRefused) -> None:
    """Record a refused statement as a CRITICAL security event of the actor.

    The audit table has no severity column, so the severity sits in the
    entry's details, which the hash chain covers. The statement is stored
    shortened, and its SHA-256 is the entry's object id. When the event
    cannot be written, the failure is logged and the caller still gets the
    refusal.
    """
    details = {
        "severity": "CRITICAL",
        "kind": str(error.kind),
        "reason": error.reason,
        "statement": error.statement_excerpt,
    }
    try:
        record_security_event(
            current_engine(),
            actor,
            DANGEROUS_SQL,
            details,
            object_type="sql_statement",
            object_id=error.statement_sha256,
        )
    except SQLAlchemyError:
        logger.exception(
            "failed to record refused SQL %s of user %s in tenant %s",
            error.statement_sha256,
            actor.user_id,
            actor.tenant_id,
        )


def authorize(actor: Actor, permission: Permission) -> None:
    """Raise PermissionDenied unless the actor may use the permission now.

    A refusal is also recorded as a security event in the actor's tenant
    audit chain, in a transaction of its own, so a caller that tries actions
    outside its role leaves a trace.
    """
    try:
        require(actor, permission)
    except PermissionDenied as error:
        record_security_event(
            current_engine(),
            actor,
            PERMISSION_DENIED,
            {
                "permission": permission.value,
                "role": actor.role.value,
                "mfa_required": error.mfa_required,
            },
            object_type="permission",
            object_id=permission.value,
        )
        raise


def lock_tenant(session: Session, tenant_id: int) -> None:
    """Take the tenant row lock that orders every writer of the tenant.

    Raises LookupError when the tenant does not exist.
    """
    if tenants.lock(session, tenant_id) is None:
        raise LookupError(f"tenant {tenant_id} does not exist")
