"""Work that waits for the commit of an audit entry: its alert and checkpoint.

core.audit calls `follow_up_after_commit` for every entry it appends. After
the transaction commits, a CRITICAL security event raises an alert
(core.notify), and the chain head is checkpointed (core.audit_anchor) when
the event is CRITICAL or the sequence is a multiple of the interval.

The work runs in the committing thread from SQLAlchemy's after_commit
event. It never raises into the caller, because the entry is already
committed: failures are logged at ERROR. It is dropped when the
transaction, or the savepoint that appended the entry, rolls back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, SessionTransaction

from core import notify
from core.audit_anchor import DEFAULT_INTERVAL, audit_anchor
from core.audit_anchor_storage import AnchorError
from core.security_events import Classification, Severity
from db.models import AuditEntry

logger = logging.getLogger(__name__)

# Key in Session.info of the work that waits for the transaction's commit.
FOLLOW_UPS_KEY = "core.audit_commit.follow_ups"


@dataclass(frozen=True)
class _ChainHead:
    """The fields of a committed entry that its checkpoint needs, as plain values."""

    database_url: URL
    tenant_id: int
    sequence: int
    entry_hash: str


def follow_up_after_commit(
    session: Session,
    entry: AuditEntry,
    tenant_slug: str,
    classification: Classification | None,
) -> None:
    """Arrange the alert and checkpoint of a new entry for after the commit.

    Values are copied now, because the session may expire the entry at
    commit and must not query from the after_commit event.
    """
    head = _ChainHead(
        session.get_bind().engine.url,
        entry.tenant_id,
        entry.sequence,
        entry.entry_hash,
    )
    alert = None
    if classification is not None and classification.severity is Severity.CRITICAL:
        alert = _alert(entry, tenant_slug, classification)

    def follow_up() -> None:
        if alert is not None:
            notify.raise_alert(alert)
        _checkpoint_if_due(head, immediately=alert is not None)

    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(FOLLOW_UPS_KEY, []).append((transaction, follow_up))


def _alert(
    entry: AuditEntry, tenant_slug: str, classification: Classification
) -> notify.Alert:
    return notify.Alert(
        tenant_id=entry.tenant_id,
        tenant_slug=tenant_slug,
        sequence=entry.sequence,
        action=entry.action,
        category=classification.category.value,
        severity=classification.severity.value,
        occurred_at=entry.occurred_at.astimezone(UTC).isoformat(),
        actor_user_id=entry.actor_user_id,
        object_type=entry.object_type,
        object_id=entry.object_id,
        details=dict(entry.details),
        entry_hash=entry.entry_hash,
    )


def _checkpoint_if_due(head: _ChainHead, *, immediately: bool) -> None:
    """Write a checkpoint when due; log a failure, which the next one makes good."""
    try:
        anchor = audit_anchor()
    except AnchorError as error:
        # Reported as often as a checkpoint would be due by default, not per entry.
        if immediately or head.sequence % DEFAULT_INTERVAL == 0:
            logger.error(
                "audit checkpoint of tenant %s at entry %s not written: %s",
                head.tenant_id,
                head.sequence,
                error,
            )
        return
    if not (immediately or anchor.is_due(head.sequence)):
        return
    try:
        anchor.write_checkpoint(
            head.database_url,
            head.tenant_id,
            head.sequence,
            head.entry_hash,
        )
    except AnchorError as error:
        logger.error(
            "audit checkpoint of tenant %s at entry %s not written, the next"
            " checkpoint will cover it: %s",
            head.tenant_id,
            head.sequence,
            error,
        )


@event.listens_for(Session, "after_commit")
def _run_follow_ups(session: Session) -> None:
    # Releasing a savepoint fires after_commit too; only the real commit counts.
    if session.in_nested_transaction():
        return
    for _, follow_up in session.info.pop(FOLLOW_UPS_KEY, []):
        try:
            follow_up()
        # The entry is committed; nothing may fail the caller's call from here.
        except Exception:
            logger.exception("work after an audit entry's commit failed")


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back_follow_ups(
    session: Session, previous_transaction: SessionTransaction
) -> None:
    pending = session.info.get(FOLLOW_UPS_KEY)
    if pending:
        session.info[FOLLOW_UPS_KEY] = [
            (transaction, follow_up)
            for transaction, follow_up in pending
            if not _is_within(transaction, previous_transaction)
        ]


@event.listens_for(Session, "after_transaction_end")
def _drop_uncommitted_follow_ups(
    session: Session, transaction: SessionTransaction
) -> None:
    # Reached after after_commit, so whatever is left here was never committed.
    if transaction.parent is None:
        session.info.pop(FOLLOW_UPS_KEY, None)


def _is_within(
    transaction: SessionTransaction | None, ancestor: SessionTransaction
) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False
