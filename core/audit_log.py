"""Audit service: list a tenant's audit entries and verify its hash chain."""

from __future__ import annotations

from core.audit import AuditChainResult, verify_audit_chain
from core.context import authorize, unit_of_work
from core.errors import InvalidInput
from core.permissions import Actor, Permission
from core.views import AuditEntryView
from db.repositories import audit_log

MAX_LIST_LIMIT = 10_000


def list_audit_entries(
    actor: Actor, action: str | None = None, limit: int = 500
) -> list[AuditEntryView]:
    """List the tenant's newest audit entries first, optionally of one action only."""
    authorize(actor, Permission.AUDIT_READ)
    if (
        not isinstance(limit, int)
        or isinstance(limit, bool)
        or not (1 <= limit <= MAX_LIST_LIMIT)
    ):
        raise InvalidInput(
            "limit", f"{limit!r} is not a whole number from 1 to {MAX_LIST_LIMIT}"
        )
    with unit_of_work(actor) as session:
        entries = audit_log.list_newest(session, actor.tenant_id, limit, action)
        return [
            AuditEntryView(
                sequence=entry.sequence,
                occurred_at=entry.occurred_at,
                actor_user_id=entry.actor_user_id,
                action=entry.action,
                object_type=entry.object_type,
                object_id=entry.object_id,
                details=dict(entry.details),
                entry_hash=entry.entry_hash,
            )
            for entry in entries
        ]


def verify_tenant_audit_chain(actor: Actor) -> AuditChainResult:
    """Verify every entry of the tenant's audit chain and name the first break."""
    authorize(actor, Permission.AUDIT_READ)
    with unit_of_work(actor) as session:
        return verify_audit_chain(session, actor.tenant_id)
