"""The audit trail: a hash chain of entries per tenant, its verifier and anchors.

Each entry's `entry_hash` is SHA-256 over the canonical JSON (sorted keys, no
spaces, UTF-8) of tenant_id, sequence, occurred_at (ISO 8601 in UTC with
microseconds), actor_user_id, action, object_type, object_id, details and
prev_hash. `prev_hash` is the previous entry's hash, or 64 zeros for a
tenant's first entry, and sequences run 1, 2, 3, ... without gaps. Editing,
deleting or reordering an entry therefore breaks the chain at that entry, and
`verify_audit_chain` names it.

Database triggers reject UPDATE and DELETE on the table, so a break means
someone with the rights to switch triggers off changed it. Such a person
could also cut off the newest entries or rewrite the whole chain with fresh
hashes, which leaves a valid chain. Signed checkpoints of the chain head,
kept outside the database (core.audit_anchor), reveal both:
`verify_audit_chain` compares the chain with every stored checkpoint.

Security events. An entry whose action is listed in
core.security_events.SECURITY_EVENTS, or whose details carry both "category"
and "severity", is a security event, and its details get both keys. After
the transaction of a CRITICAL event commits, an alert goes out
(core.notify) and the chain head is checkpointed at once.

core.audit_commit does that work after the commit.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from core.audit_anchor import (
    AuditAnchor,
    Checkpoint,
    CheckpointReading,
    audit_anchor,
)
from core.audit_commit import follow_up_after_commit
from core.errors import SolvereignError
from core.permissions import Actor
from core.security_events import (
    CATEGORY_KEY,
    SEVERITY_KEY,
    SecurityCategory,
    Severity,
    classify,
    classify_entry,
)
from db.models import AuditEntry, utc_now
from db.repositories import audit_log, tenants
from db.session import set_transaction_tenant

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64

# Keys that name personal data or secrets; details carry ids instead.
FORBIDDEN_DETAIL_KEYS = frozenset(
    {
        "address",
        "birth_date",
        "date_of_birth",
        "email",
        "first_name",
        "full_name",
        "last_name",
        "password",
        "password_hash",
        "phone",
        "secret",
        "token",
        "totp_secret",
        "username",
    }
)

# How long a security event waits for the tenant's audit lock on PostgreSQL.
SECURITY_EVENT_LOCK_TIMEOUT = "5s"

_LOG_LEVELS = {
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.CRITICAL: logging.CRITICAL,
}


@dataclass(frozen=True)
class SystemActor:
    """A process of the workbench acting without a signed-in user.

    `name` identifies the process, such as "retention-job"; it is stored in
    the entry's details under "system_actor".
    """

    tenant_id: int
    name: str


class ChainBreak(enum.Enum):
    """The reason a chain failed verification.

    The first three are found in the chain itself, the last three by
    comparing it with its signed checkpoints.
    """

    HASH_MISMATCH = "hash mismatch"
    PREV_HASH_MISMATCH = "prev_hash mismatch"
    SEQUENCE_GAP = "gap in sequence"
    NEWEST_ENTRIES_MISSING = "newest entries missing"
    CHECKPOINT_MISMATCH = "entry differs from its checkpoint"
    FORGED_CHECKPOINT = "forged checkpoint"


class ChainNotIntact(SolvereignError):
    """A checkpoint was requested for a chain that fails verification."""

    def __init__(self, result: AuditChainResult) -> None:
        self.result = result
        super().__init__(
            f"audit chain of tenant {result.tenant_id} is broken, so its head is"
            f" not checkpointed: {result.message}"
        )


@dataclass(frozen=True)
class AuditChainResult:
    """Outcome of verifying one tenant's chain.

    When the chain is intact, `entry_count` is the number of entries,
    `last_hash` the newest entry's hash and `checkpoint_sequence` the newest
    signed checkpoint it matched (None when there is none). When it is
    broken, `broken_sequence` names the first entry at fault (for missing
    entries, the first missing sequence), `entry_count` counts the entries
    before it that verified, and `message` explains the break. A forged
    checkpoint names the sequence it claims, or None when it cannot be read.
    """

    tenant_id: int
    ok: bool
    entry_count: int
    last_hash: str
    broken_sequence: int | None = None
    reason: ChainBreak | None = None
    message: str = ""
    checkpoint_sequence: int | None = None


def canonical_entry_json(
    *,
    tenant_id: int,
    sequence: int,
    occurred_at: datetime,
    actor_user_id: int | None,
    action: str,
    object_type: str,
    object_id: str,
    details: dict[str, Any],
    prev_hash: str,
) -> bytes:
    """Serialise the hashed fields of an entry as canonical UTF-8 JSON."""
    payload = {
        "tenant_id": tenant_id,
        "sequence": sequence,
        "occurred_at": occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_user_id": actor_user_id,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "details": details,
        "prev_hash": prev_hash,
    }
    text_form = json.dumps(
        payload,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return text_form.encode("utf-8")


def hash_entry(entry: AuditEntry) -> str:
    """Compute the hash an entry should carry, from its stored fields."""
    canonical = canonical_entry_json(
        tenant_id=entry.tenant_id,
        sequence=entry.sequence,
        occurred_at=entry.occurred_at,
        actor_user_id=entry.actor_user_id,
        action=entry.action,
        object_type=entry.object_type,
        object_id=entry.object_id,
        details=entry.details,
        prev_hash=entry.prev_hash,
    )
    return hashlib.sha256(canonical).hexdigest()


def append_entry(
    session: Session,
    actor_or_system: Actor | SystemActor,
    action: str,
    object_type: str,
    object_id: object,
    details: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> AuditEntry:
    """Append an entry to the actor's tenant chain, inside the caller's transaction.

    The tenant row is locked until the transaction ends (FOR NO KEY UPDATE
    on PostgreSQL, the database write lock on SQLite), so two concurrent appends
    for one tenant take turns and never both link to the same previous entry.
    The unique (tenant_id, sequence) constraint backs this up.

    A security event (see the module docstring) gets "category" and
    "severity" in its details. Once the transaction commits, a CRITICAL
    event raises an alert, and the chain head is checkpointed when the
    event is CRITICAL or the sequence is a multiple of the checkpoint
    interval.

    Raises TypeError when the details hold a float, a non-string key or a
    value that is not JSON, and ValueError for a NUL character, a key that
    names personal data (FORBIDDEN_DETAIL_KEYS), or an invalid category or
    severity (core.security_events.InvalidSecurityEvent).
    """
    tenant_id = actor_or_system.tenant_id
    stored_details = _checked_details(details or {})
    classification = classify_entry(action, stored_details)
    if classification is not None:
        stored_details[CATEGORY_KEY] = classification.category.value
        stored_details[SEVERITY_KEY] = classification.severity.value
    if isinstance(actor_or_system, SystemActor):
        actor_user_id = None
        stored_details["system_actor"] = actor_or_system.name
    else:
        actor_user_id = actor_or_system.user_id

    tenant = tenants.lock(session, tenant_id)
    if tenant is None:
        raise ValueError(f"tenant {tenant_id} does not exist; no audit entry written")
    previous = audit_log.last_entry(session, tenant_id)

    entry = AuditEntry(
        tenant_id=tenant_id,
        sequence=1 if previous is None else previous.sequence + 1,
        occurred_at=(occurred_at or utc_now()).astimezone(UTC),
        actor_user_id=actor_user_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        details=stored_details,
        prev_hash=GENESIS_HASH if previous is None else previous.entry_hash,
    )
    entry.entry_hash = hash_entry(entry)
    audit_log.add(session, entry)
    follow_up_after_commit(session, entry, tenant.slug, classification)
    return entry


def verify_audit_chain(
    session: Session, tenant_id: int, anchor: AuditAnchor | None = None
) -> AuditChainResult:
    """Check every entry of the tenant's chain, then compare it with its checkpoints.

    The chain is checked first, so a break inside it is named before any
    checkpoint finding. `anchor` defaults to the configured one
    (core.audit_anchor.audit_anchor). The session is bound to the tenant,
    so it must not serve another tenant. Raises AnchorError when checkpoints
    exist but their store or key cannot be read, because the chain cannot
    then be fully verified.
    """
    set_transaction_tenant(session, tenant_id)
    anchor = anchor or audit_anchor()
    reading = anchor.read_checkpoints(_database_url(session), tenant_id)
    checkpointed = {checkpoint.sequence for checkpoint in reading.authentic}
    hashes: dict[int, str] = {}
    result = _walk_chain(session, tenant_id, checkpointed, hashes)
    if not result.ok:
        return result
    return _compare_with_checkpoints(result, reading, hashes)


def checkpoint_audit_chain(
    session: Session, tenant_id: int, anchor: AuditAnchor | None = None
) -> Checkpoint | None:
    """Verify the tenant's chain, then sign and store its head as a checkpoint.

    Returns None for a tenant without entries. Raises ChainNotIntact when the
    chain fails verification, because signing a tampered head would vouch
    for it, and AnchorError when the key or the store is unavailable.
    """
    anchor = anchor or audit_anchor()
    result = verify_audit_chain(session, tenant_id, anchor)
    if not result.ok:
        raise ChainNotIntact(result)
    if result.entry_count == 0:
        return None
    return anchor.write_checkpoint(
        _database_url(session), tenant_id, result.entry_count, result.last_hash
    )


def _walk_chain(
    session: Session,
    tenant_id: int,
    checkpointed_sequences: Collection[int],
    hashes: dict[int, str],
) -> AuditChainResult:
    """Check the chain itself; store in `hashes` those at `checkpointed_sequences`."""
    expected_sequence = 1
    previous_hash = GENESIS_HASH
    for entry in audit_log.iter_entries(session, tenant_id):
        intact = expected_sequence - 1
        if entry.sequence != expected_sequence:
            found = "the first entry" if intact == 0 else f"the entry after {intact}"
            return _broken(
                tenant_id,
                intact,
                previous_hash,
                expected_sequence,
                ChainBreak.SEQUENCE_GAP,
                f"entry {expected_sequence} is missing: {found} has sequence"
                f" {entry.sequence}",
            )
        if hash_entry(entry) != entry.entry_hash:
            return _broken(
                tenant_id,
                intact,
                previous_hash,
                entry.sequence,
                ChainBreak.HASH_MISMATCH,
                f"entry {entry.sequence} was changed: its content does not match"
                " its stored hash",
            )
        if entry.prev_hash != previous_hash:
            return _broken(
                tenant_id,
                intact,
                previous_hash,
                entry.sequence,
                ChainBreak.PREV_HASH_MISMATCH,
                f"entry {entry.sequence} does not link to entry {intact}: its"
                " prev_hash differs from that entry's hash",
            )
        previous_hash = entry.entry_hash
        if entry.sequence in checkpointed_sequences:
            hashes[entry.sequence] = entry.entry_hash
        expected_sequence += 1

    count = expected_sequence - 1
    return AuditChainResult(
        tenant_id=tenant_id,
        ok=True,
        entry_count=count,
        last_hash=previous_hash,
        message=f"audit chain intact: {count} entries",
    )


def record_security_event(
    engine_or_session_factory: Engine | Connection | sessionmaker[Session],
    actor: Actor,
    action: str,
    details: dict[str, Any],
    *,
    severity: Severity | str | None = None,
    category: SecurityCategory | str | None = None,
    object_type: str = "user",
    object_id: object = None,
) -> AuditEntry:
    """Append a security event in a transaction of its own and commit it.

    The event survives a rollback of the caller's transaction. It is appended
    to the actor's tenant chain; `object_id` defaults to the actor's user id.
    `severity` and `category` default to the keys of the same names in
    `details`, else to the action's row of
    core.security_events.SECURITY_EVENTS, and are stored in the details. A
    CRITICAL event raises an alert after the commit.

    Raises InvalidSecurityEvent (a ValueError) when the action is not listed
    and the category or severity is missing, or when a value is unknown.

    NOTE: the event's transaction waits for locks the caller's open
    transaction holds: on PostgreSQL an audit append or an update of the same
    tenant row, on SQLite any write. Call it before such writes. On
    PostgreSQL it gives up after SECURITY_EVENT_LOCK_TIMEOUT with an
    OperationalError; SQLite waits up to its busy timeout.
    """
    classification = classify(
        action,
        category if category is not None else details.get(CATEGORY_KEY),
        severity if severity is not None else details.get(SEVERITY_KEY),
    )
    classified_details = {
        **details,
        CATEGORY_KEY: classification.category.value,
        SEVERITY_KEY: classification.severity.value,
    }
    session_factory = _session_factory(engine_or_session_factory)
    with session_factory() as session, session.begin():
        set_transaction_tenant(session, actor.tenant_id)
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text(f"SET LOCAL lock_timeout = '{SECURITY_EVENT_LOCK_TIMEOUT}'")
            )
        entry = append_entry(
            session,
            actor,
            action,
            object_type,
            actor.user_id if object_id is None else object_id,
            classified_details,
        )
    # A CRITICAL event is logged at CRITICAL by its alert (core.notify).
    if classification.severity is not Severity.CRITICAL:
        logger.log(
            _LOG_LEVELS[classification.severity],
            "security event %s (%s, %s): user %s of tenant %s, %s %s,"
            " audit sequence %s",
            action,
            classification.category,
            classification.severity,
            actor.user_id,
            actor.tenant_id,
            entry.object_type,
            entry.object_id,
            entry.sequence,
        )
    return entry


def _compare_with_checkpoints(
    chain: AuditChainResult, reading: CheckpointReading, hashes: dict[int, str]
) -> AuditChainResult:
    """Compare an intact chain with its checkpoints, oldest checkpoint first."""
    tenant_id = chain.tenant_id
    count = chain.entry_count
    if reading.rejected:
        rejected = reading.rejected[0]
        return _broken(
            tenant_id,
            count,
            chain.last_hash,
            rejected.sequence,
            ChainBreak.FORGED_CHECKPOINT,
            rejected.reason,
        )
    matched_sequence = 0
    matched_hash = GENESIS_HASH
    for checkpoint in reading.authentic:
        signed = f"the checkpoint signed {checkpoint.created_at.isoformat()}"
        if checkpoint.sequence > count:
            missing = (
                f"entry {checkpoint.sequence} is"
                if checkpoint.sequence == count + 1
                else f"entries {count + 1} to {checkpoint.sequence} are"
            )
            return _broken(
                tenant_id,
                count,
                chain.last_hash,
                count + 1,
                ChainBreak.NEWEST_ENTRIES_MISSING,
                f"{missing} missing from the audit chain of tenant {tenant_id}:"
                f" {signed} records entry {checkpoint.sequence}, but the chain"
                f" ends at entry {count}",
            )
        if hashes[checkpoint.sequence] != checkpoint.entry_hash:
            return _broken(
                tenant_id,
                matched_sequence,
                matched_hash,
                matched_sequence + 1,
                ChainBreak.CHECKPOINT_MISMATCH,
                f"entry {checkpoint.sequence} of tenant {tenant_id} differs from"
                f" {signed}, so the chain was rewritten: at least one of entries"
                f" {matched_sequence + 1} to {checkpoint.sequence} was replaced"
                " and the hashes recomputed",
            )
        matched_sequence = checkpoint.sequence
        matched_hash = checkpoint.entry_hash
    if not reading.authentic:
        message = f"audit chain intact: {count} entries; no checkpoint yet"
        return _with_message(chain, message, None)
    message = (
        f"audit chain intact: {count} entries, matching the signed checkpoint"
        f" at entry {matched_sequence}"
    )
    return _with_message(chain, message, matched_sequence)


def _with_message(
    chain: AuditChainResult, message: str, checkpoint_sequence: int | None
) -> AuditChainResult:
    return AuditChainResult(
        tenant_id=chain.tenant_id,
        ok=True,
        entry_count=chain.entry_count,
        last_hash=chain.last_hash,
        message=message,
        checkpoint_sequence=checkpoint_sequence,
    )


def _database_url(session: Session) -> URL:
    return session.get_bind().engine.url


def _session_factory(
    target: Engine | Connection | sessionmaker[Session],
) -> sessionmaker[Session]:
    if isinstance(target, sessionmaker):
        return target
    engine = target.engine if isinstance(target, Connection) else target
    return sessionmaker(bind=engine, expire_on_commit=False)


def _broken(
    tenant_id: int,
    intact_count: int,
    last_intact_hash: str,
    sequence: int | None,
    reason: ChainBreak,
    message: str,
) -> AuditChainResult:
    logger.error(
        "audit chain of tenant %s broken at entry %s: %s", tenant_id, sequence, message
    )
    return AuditChainResult(
        tenant_id=tenant_id,
        ok=False,
        entry_count=intact_count,
        last_hash=last_intact_hash,
        broken_sequence=sequence,
        reason=reason,
        message=message,
    )


def _checked_details(details: dict[str, Any]) -> dict[str, Any]:
    """Validate the details and return a plain JSON copy of them.

    Floats are rejected because PostgreSQL's jsonb may give back another
    spelling of the same number (1e3 comes back as 1000), which would change
    the hash. Store such numbers as strings or integers.
    """
    _check_detail_value(details, "details")
    return json.loads(json.dumps(details))


def _check_detail_value(value: Any, path: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"audit {path} has the non-string key {key!r}")
            if key.lower() in FORBIDDEN_DETAIL_KEYS:
                raise ValueError(
                    f"audit {path} has the key {key!r}, which names personal data"
                    " or a secret; record the object's id instead"
                )
            _check_detail_value(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_detail_value(item, f"{path}[{index}]")
    elif isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"audit {path} contains a NUL character")
    elif isinstance(value, float):
        raise TypeError(
            f"audit {path} is the float {value!r}; store it as a string or an"
            " integer so the entry's hash is the same on every database"
        )
    elif value is not None and not isinstance(value, bool | int):
        raise TypeError(
            f"audit {path} has a value of type {type(value).__name__};"
            " use strings, integers, booleans, None, lists and dicts"
        )
