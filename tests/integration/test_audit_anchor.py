"""Signed checkpoints detect cut-off entries, rewritten chains and forgeries.

The tests tamper with the audit table through the privileged connection,
which switches the triggers off as an attacker with those rights could. The
checkpoints go to a directory of the test's own or to the real Redis under
a key prefix of the test's own (SOLVEREIGN_TEST_REDIS_URL, by default
redis://127.0.0.1:6379/0). When Redis cannot be reached, its tests fail if
CI=true and are skipped with the reason otherwise.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.audit import (
    GENESIS_HASH,
    ChainBreak,
    ChainNotIntact,
    append_entry,
    checkpoint_audit_chain,
    hash_entry,
    record_security_event,
    verify_audit_chain,
)
from core.audit_anchor import (
    AuditAnchor,
    configure_audit_anchor,
    parse_checkpoint,
    sign_checkpoint,
)
from core.audit_anchor_storage import (
    AnchorKey,
    AnchorKeyError,
    AnchorStoreUnavailable,
    FileAnchorStore,
    RedisAnchorStore,
)
from db.models import AuditEntry
from db.repositories import audit_log
from tests.integration.databases import add_tenant, sqlite_database

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ANCHOR_KEY = AnchorKey(bytes(range(32)), "test key")
FORGER_KEY = AnchorKey(bytes(range(100, 132)), "a key the workbench never had")
INTERVAL = 3
FIRST_TIME = datetime(2025, 12, 1, 9, 0, tzinfo=UTC)
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# A loopback port with no server behind it, for the unreachable-store cases.
CLOSED_REDIS_URL = "redis://127.0.0.1:1/0"


@pytest.fixture
def anchor(tmp_path) -> Iterator[AuditAnchor]:
    """Checkpoints every INTERVAL entries, in files under the test's directory."""
    configured = AuditAnchor(
        FileAnchorStore(tmp_path / "anchors"), key=ANCHOR_KEY, interval=INTERVAL
    )
    configure_audit_anchor(configured)
    yield configured
    configure_audit_anchor(None)


@pytest.fixture
def redis_anchor() -> Iterator[AuditAnchor]:
    """Checkpoints every INTERVAL entries, in the test Redis under a fresh prefix."""
    url = os.environ.get("SOLVEREIGN_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        reason = f"Redis at {url} cannot be reached: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required in CI but {reason}")
        pytest.skip(reason)
    prefix = f"solvereign:test-{uuid.uuid4().hex[:12]}:audit-anchor"
    store = RedisAnchorStore(client, f"test redis {url}", key_prefix=prefix)
    configured = AuditAnchor(store, key=ANCHOR_KEY, interval=INTERVAL)
    configure_audit_anchor(configured)
    yield configured
    configure_audit_anchor(None)
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)
    client.close()


def append_entries(database, tenant, count: int) -> list[AuditEntry]:
    """Append `count` entries, one minute apart, in one committed transaction."""
    with database.session_factory() as session, session.begin():
        first = audit_log.count_entries(session, tenant.tenant_id) + 1
        return [
            append_entry(
                session,
                tenant.actor(),
                "forecast.imported",
                "forecast version",
                number,
                {"tours": number * 10},
                occurred_at=FIRST_TIME + timedelta(minutes=number),
            )
            for number in range(first, first + count)
        ]


def verify(database, tenant, anchor: AuditAnchor | None = None):
    with database.session_factory() as session:
        return verify_audit_chain(session, tenant.tenant_id, anchor)


def checkpoint(database, tenant):
    with database.session_factory() as session:
        return checkpoint_audit_chain(session, tenant.tenant_id)


def stored_sequences(anchor: AuditAnchor, database, tenant) -> list[int]:
    url = database.engine.url
    records = anchor.store_for(url).records(anchor.namespace_for(url), tenant.tenant_id)
    return sorted(parse_checkpoint(record).sequence for record in records)


def store_record(
    anchor: AuditAnchor, database, tenant_id: int, sequence: int, record: str
) -> None:
    """Put a record into the checkpoint store, as an attacker with access could."""
    url = database.engine.url
    anchor.store_for(url).add(anchor.namespace_for(url), tenant_id, sequence, record)


def delete_entries_from(database, tenant, first_sequence: int) -> None:
    with database.privileged_connection() as connection:
        connection.execute(
            text(
                "DELETE FROM audit_log"
                " WHERE tenant_id = :tenant_id AND sequence >= :first_sequence"
            ),
            {"tenant_id": tenant.tenant_id, "first_sequence": first_sequence},
        )


def rewrite_chain_from(database, tenant, first_sequence: int) -> None:
    """Replace the entries from `first_sequence` on with a valid, altered chain.

    Each replaced entry records 0 tours, and every hash from there on is
    computed afresh, so the chain alone verifies.
    """
    with database.privileged_connection() as connection:
        session = Session(bind=connection)
        entries = audit_log.list_entries(session, tenant.tenant_id)
        unchanged = [entry for entry in entries if entry.sequence < first_sequence]
        replaced = [entry for entry in entries if entry.sequence >= first_sequence]
        previous_hash = unchanged[-1].entry_hash if unchanged else GENESIS_HASH
        forged = []
        for entry in replaced:
            copy = AuditEntry(
                tenant_id=entry.tenant_id,
                sequence=entry.sequence,
                occurred_at=entry.occurred_at,
                actor_user_id=entry.actor_user_id,
                action=entry.action,
                object_type=entry.object_type,
                object_id=entry.object_id,
                details={**entry.details, "tours": 0},
                prev_hash=previous_hash,
            )
            copy.entry_hash = hash_entry(copy)
            previous_hash = copy.entry_hash
            forged.append(copy)
        for entry in replaced:
            session.delete(entry)
        session.flush()
        session.add_all(forged)
        session.flush()
        session.close()


class TestCheckpointsAreWritten:
    def test_checkpoint_every_interval(self, database, make_tenant, anchor):
        tenant = make_tenant()

        append_entries(database, tenant, 7)

        assert stored_sequences(anchor, database, tenant) == [3, 6]

    def test_checkpoint_records_the_entry_hash(self, database, make_tenant, anchor):
        tenant = make_tenant()

        entries = append_entries(database, tenant, 3)
        url = database.engine.url
        records = anchor.store_for(url).records(
            anchor.namespace_for(url), tenant.tenant_id
        )
        stored = parse_checkpoint(records[0])

        assert stored.tenant_id == tenant.tenant_id
        assert stored.sequence == 3
        assert stored.entry_hash == entries[2].entry_hash
        assert stored.key_id == ANCHOR_KEY.key_id

    def test_rolled_back_entries_leave_no_checkpoint(
        self, database, make_tenant, anchor
    ):
        tenant = make_tenant()

        with database.session_factory() as session:
            for number in range(INTERVAL):
                append_entry(session, tenant.actor(), "plan.solved", "plan", number)
            session.rollback()

        assert stored_sequences(anchor, database, tenant) == []

    def test_rolled_back_savepoint_drops_its_checkpoint(
        self, database, make_tenant, anchor
    ):
        tenant = make_tenant()

        with database.session_factory() as session, session.begin():
            for number in range(INTERVAL - 1):
                append_entry(session, tenant.actor(), "plan.solved", "plan", number)
            savepoint = session.begin_nested()
            append_entry(session, tenant.actor(), "plan.solved", "plan", INTERVAL)
            savepoint.rollback()

        assert verify(database, tenant).entry_count == INTERVAL - 1
        assert stored_sequences(anchor, database, tenant) == []

    def test_critical_event_is_checkpointed_at_once(
        self, database, make_tenant, anchor
    ):
        tenant = make_tenant()

        entry = record_security_event(
            database.engine,
            tenant.actor(),
            "security.cross_tenant_access",
            {"outcome": "rejected as not found"},
            object_type="plan version",
            object_id=99,
        )

        assert entry.sequence == 1
        assert stored_sequences(anchor, database, tenant) == [1]

    def test_on_demand_checkpoint_signs_the_head(self, database, make_tenant, anchor):
        tenant = make_tenant()
        entries = append_entries(database, tenant, 4)

        written = checkpoint(database, tenant)

        assert written.sequence == 4
        assert written.entry_hash == entries[-1].entry_hash
        assert stored_sequences(anchor, database, tenant) == [3, 4]

    def test_on_demand_checkpoint_of_empty_chain(self, database, make_tenant, anchor):
        tenant = make_tenant()

        assert checkpoint(database, tenant) is None
        assert stored_sequences(anchor, database, tenant) == []

    def test_broken_chain_is_not_checkpointed(self, database, make_tenant, anchor):
        tenant = make_tenant()
        append_entries(database, tenant, 2)

        with database.privileged_connection() as connection:
            connection.execute(
                text(
                    "UPDATE audit_log SET action = 'plan.deleted'"
                    " WHERE tenant_id = :tenant_id AND sequence = 1"
                ),
                {"tenant_id": tenant.tenant_id},
            )

        with pytest.raises(ChainNotIntact, match="entry 1 was changed"):
            checkpoint(database, tenant)
        assert stored_sequences(anchor, database, tenant) == []


class TestVerifyAgainstCheckpoints:
    def test_intact_chain_matches_its_checkpoints(self, database, make_tenant, anchor):
        tenant = make_tenant()
        append_entries(database, tenant, 5)
        checkpoint(database, tenant)

        result = verify(database, tenant)

        assert result.ok, result.message
        assert result.entry_count == 5
        assert result.checkpoint_sequence == 5
        assert result.message == (
            "audit chain intact: 5 entries, matching the signed checkpoint at entry 5"
        )

    def test_chain_without_checkpoint_says_so(self, database, make_tenant, anchor):
        tenant = make_tenant()
        append_entries(database, tenant, 2)

        result = verify(database, tenant)

        assert result.ok
        assert result.checkpoint_sequence is None
        assert result.message == "audit chain intact: 2 entries; no checkpoint yet"

    def test_deleted_newest_entries_are_named(self, database, make_tenant, anchor):
        tenant = make_tenant()
        append_entries(database, tenant, 5)
        checkpoint(database, tenant)

        delete_entries_from(database, tenant, 4)
        result = verify(database, tenant)

        assert not result.ok
        assert result.reason is ChainBreak.NEWEST_ENTRIES_MISSING
        assert result.broken_sequence == 4
        assert result.entry_count == 3
        assert result.message.startswith(
            f"entries 4 to 5 are missing from the audit chain of tenant"
            f" {tenant.tenant_id}:"
        )
        assert "records entry 5, but the chain ends at entry 3" in result.message

    def test_deleted_newest_entries_pass_without_checkpoints(
        self, database, make_tenant, anchor, tmp_path
    ):
        tenant = make_tenant()
        append_entries(database, tenant, 5)
        checkpoint(database, tenant)
        without_checkpoints = AuditAnchor(
            FileAnchorStore(tmp_path / "empty"), key=ANCHOR_KEY
        )

        delete_entries_from(database, tenant, 4)

        assert verify(database, tenant, without_checkpoints).ok
        assert not verify(database, tenant).ok

    def test_deleting_every_entry_is_named(self, database, make_tenant, anchor):
        tenant = make_tenant()
        append_entries(database, tenant, 3)

        delete_entries_from(database, tenant, 1)
        result = verify(database, tenant)

        assert result.reason is ChainBreak.NEWEST_ENTRIES_MISSING
        assert result.broken_sequence == 1
        assert result.message.startswith(
            f"entries 1 to 3 are missing from the audit chain of tenant"
            f" {tenant.tenant_id}"
        )

    def test_rewritten_chain_is_named(self, database, make_tenant, anchor, tmp_path):
        tenant = make_tenant()
        append_entries(database, tenant, 4)
        checkpoint(database, tenant)
        without_checkpoints = AuditAnchor(
            FileAnchorStore(tmp_path / "empty"), key=ANCHOR_KEY
        )

        rewrite_chain_from(database, tenant, 1)
        result = verify(database, tenant)

        assert verify(database, tenant, without_checkpoints).ok
        assert not result.ok
        assert result.reason is ChainBreak.CHECKPOINT_MISMATCH
        assert result.broken_sequence == 1
        assert result.entry_count == 0
        assert result.message.startswith(
            f"entry 3 of tenant {tenant.tenant_id} differs from the checkpoint"
        )
        assert "at least one of entries 1 to 3 was replaced" in result.message

    def test_rewrite_after_a_matching_checkpoint(self, database, make_tenant, anchor):
        tenant = make_tenant()
        entries = append_entries(database, tenant, 6)

        rewrite_chain_from(database, tenant, 5)
        result = verify(database, tenant)

        assert result.reason is ChainBreak.CHECKPOINT_MISMATCH
        assert result.broken_sequence == 4
        assert result.entry_count == 3
        assert result.last_hash == entries[2].entry_hash
        assert "at least one of entries 4 to 6 was replaced" in result.message

    def test_checkpoint_signed_with_another_key_is_forged(
        self, database, make_tenant, anchor
    ):
        tenant = make_tenant()
        append_entries(database, tenant, 5)
        checkpoint(database, tenant)
        delete_entries_from(database, tenant, 4)
        with database.session_factory() as session:
            head = audit_log.last_entry(session, tenant.tenant_id)
        forged = sign_checkpoint(
            FORGER_KEY,
            anchor.namespace_for(database.engine.url),
            tenant.tenant_id,
            head.sequence,
            head.entry_hash,
            datetime.now(UTC),
        )

        store_record(anchor, database, tenant.tenant_id, 3, forged.to_json())
        result = verify(database, tenant)

        assert not result.ok
        assert result.reason is ChainBreak.FORGED_CHECKPOINT
        assert result.broken_sequence == 3
        assert result.message == (
            f"checkpoint of tenant {tenant.tenant_id} at entry 3 names the key"
            f" {FORGER_KEY.key_id}, not the configured anchor key"
            f" {ANCHOR_KEY.key_id}; it was forged, or the key was replaced"
        )

    def test_altered_checkpoint_is_forged(self, database, make_tenant, anchor):
        tenant = make_tenant()
        entries = append_entries(database, tenant, 4)
        genuine = checkpoint(database, tenant)
        altered = replace(genuine, sequence=2, entry_hash=entries[1].entry_hash)

        store_record(anchor, database, tenant.tenant_id, 2, altered.to_json())
        result = verify(database, tenant)

        assert result.reason is ChainBreak.FORGED_CHECKPOINT
        assert result.broken_sequence == 2
        assert result.message == (
            f"checkpoint of tenant {tenant.tenant_id} at entry 2 has an invalid"
            " signature; it was forged or altered"
        )

    def test_checkpoint_of_another_tenant_is_forged(
        self, database, make_tenant, anchor
    ):
        victim = make_tenant()
        other = make_tenant()
        append_entries(database, victim, 1)
        append_entries(database, other, 1)
        copied = checkpoint(database, other)

        store_record(anchor, database, victim.tenant_id, 1, copied.to_json())
        result = verify(database, victim)

        assert result.reason is ChainBreak.FORGED_CHECKPOINT
        assert f"signed for tenant {other.tenant_id}" in result.message

    def test_unreadable_checkpoint_is_forged(self, database, make_tenant, anchor):
        tenant = make_tenant()
        append_entries(database, tenant, 1)

        store_record(anchor, database, tenant.tenant_id, 1, "sequence=1")
        result = verify(database, tenant)

        assert result.reason is ChainBreak.FORGED_CHECKPOINT
        assert result.broken_sequence is None
        assert result.message.startswith(
            f"stored checkpoint 1 of tenant {tenant.tenant_id} cannot be read"
        )

    def test_break_inside_the_chain_is_named_first(self, database, make_tenant, anchor):
        tenant = make_tenant()
        append_entries(database, tenant, 3)

        with database.privileged_connection() as connection:
            connection.execute(
                text(
                    "DELETE FROM audit_log"
                    " WHERE tenant_id = :tenant_id AND sequence = 2"
                ),
                {"tenant_id": tenant.tenant_id},
            )
        result = verify(database, tenant)

        assert result.reason is ChainBreak.SEQUENCE_GAP
        assert result.broken_sequence == 2


class TestUnavailableAnchor:
    def test_unwritable_store_does_not_block_entries(
        self, database, make_tenant, tmp_path, caplog
    ):
        tenant = make_tenant()
        blocked = tmp_path / "anchors"
        blocked.write_text("a file where the directory should be")
        configure_audit_anchor(
            AuditAnchor(FileAnchorStore(blocked), key=ANCHOR_KEY, interval=INTERVAL)
        )
        try:
            with caplog.at_level(logging.ERROR, logger="core.audit_commit"):
                append_entries(database, tenant, INTERVAL)
            blocked.unlink()
            append_entries(database, tenant, INTERVAL)
            result = verify(database, tenant)
        finally:
            configure_audit_anchor(None)

        assert result.ok, result.message
        assert result.entry_count == 2 * INTERVAL
        assert result.checkpoint_sequence == 2 * INTERVAL
        assert [record.levelno for record in caplog.records] == [logging.ERROR]
        assert (
            caplog.records[0]
            .getMessage()
            .startswith(
                f"audit checkpoint of tenant {tenant.tenant_id} at entry {INTERVAL} not"
                " written, the next checkpoint will cover it: audit checkpoint file"
            )
        )

    def test_unreachable_redis_does_not_block_entries(
        self, database, make_tenant, caplog
    ):
        tenant = make_tenant()
        configure_audit_anchor(
            AuditAnchor(
                RedisAnchorStore.from_url(CLOSED_REDIS_URL),
                key=ANCHOR_KEY,
                interval=INTERVAL,
            )
        )
        try:
            with caplog.at_level(logging.ERROR, logger="core.audit_commit"):
                entries = append_entries(database, tenant, INTERVAL)
        finally:
            configure_audit_anchor(None)

        assert [entry.sequence for entry in entries] == [1, 2, 3]
        assert "cannot be written" in caplog.text
        with database.session_factory() as session:
            assert audit_log.count_entries(session, tenant.tenant_id) == INTERVAL

    def test_unreachable_redis_fails_verification(self, database, make_tenant):
        tenant = make_tenant()
        anchor = AuditAnchor(
            RedisAnchorStore.from_url(CLOSED_REDIS_URL), key=ANCHOR_KEY
        )

        with pytest.raises(AnchorStoreUnavailable, match="redis://127.0.0.1:1/0"):
            verify(database, tenant, anchor)

    def test_checkpoints_without_a_key_fail_verification(
        self, database, make_tenant, tmp_path
    ):
        tenant = make_tenant()
        key_file = tmp_path / "keys" / "audit_anchor.key"
        store = FileAnchorStore(tmp_path / "anchors")
        configure_audit_anchor(AuditAnchor(store, key_file=key_file, interval=1))
        try:
            append_entries(database, tenant, 1)
        finally:
            configure_audit_anchor(None)
        key_file.unlink()

        with pytest.raises(AnchorKeyError, match=f"restore the key file {key_file}"):
            verify(database, tenant, AuditAnchor(store, key_file=key_file))


class TestRedisStore:
    def test_checkpoints_in_redis_detect_deleted_entries(
        self, database, make_tenant, redis_anchor
    ):
        tenant = make_tenant()
        append_entries(database, tenant, 4)
        checkpoint(database, tenant)

        intact = verify(database, tenant)
        delete_entries_from(database, tenant, 4)
        result = verify(database, tenant)

        assert stored_sequences(redis_anchor, database, tenant) == [3, 4]
        assert intact.ok
        assert intact.checkpoint_sequence == 4
        assert result.reason is ChainBreak.NEWEST_ENTRIES_MISSING
        assert result.broken_sequence == 4


class TestDefaultLocation:
    def test_sqlite_file_keeps_anchors_beside_it(self, tmp_path):
        configure_audit_anchor(AuditAnchor(interval=1))
        try:
            with sqlite_database(tmp_path / "solvereign.db") as sqlite:
                tenant = add_tenant(sqlite.session_factory)
                append_entries(sqlite, tenant, 2)
                result = verify(sqlite, tenant)
        finally:
            configure_audit_anchor(None)

        key_file = tmp_path / "audit_anchor.key"
        assert result.checkpoint_sequence == 2
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        assert len(list((tmp_path / "audit_anchors").glob("db-*/tenant-*.jsonl"))) == 1


class TestCommandLine:
    def run(self, database, tenant, tmp_path, command: str):
        environ = {
            **os.environ,
            "DATABASE_URL": database.engine.url.render_as_string(hide_password=False),
            "SOLVEREIGN_AUDIT_ANCHOR_DIR": str(tmp_path / "cli-anchors"),
            "SOLVEREIGN_AUDIT_ANCHOR_KEY": base64.b64encode(ANCHOR_KEY.secret).decode(),
        }
        environ.pop("SOLVEREIGN_REDIS_URL", None)
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "core.audit_anchor",
                command,
                "--tenant",
                tenant.slug,
            ],
            cwd=PROJECT_ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def test_checkpoint_then_verify(self, database, make_tenant, tmp_path):
        tenant = make_tenant()
        append_entries(database, tenant, 2)
        name = f"tenant {tenant.slug} (id {tenant.tenant_id})"

        written = self.run(database, tenant, tmp_path, "checkpoint")
        verified = self.run(database, tenant, tmp_path, "verify")

        assert written.returncode == 0, written.stderr
        assert written.stdout == f"{name}: checkpoint at entry 2 written\n"
        assert verified.returncode == 0, verified.stderr
        assert verified.stdout == (
            f"{name}: audit chain intact: 2 entries, matching the signed"
            " checkpoint at entry 2\n"
        )

    def test_verify_names_deleted_entries(self, database, make_tenant, tmp_path):
        tenant = make_tenant()
        append_entries(database, tenant, 2)
        self.run(database, tenant, tmp_path, "checkpoint")

        delete_entries_from(database, tenant, 2)
        verified = self.run(database, tenant, tmp_path, "verify")

        assert verified.returncode == 1
        assert verified.stdout.startswith(
            f"tenant {tenant.slug} (id {tenant.tenant_id}): entry 2 is missing from"
            f" the audit chain of tenant {tenant.tenant_id}"
        )

    def test_unknown_tenant_is_named(self, database, make_tenant, tmp_path):
        tenant = make_tenant()
        unknown = replace(tenant, slug="no-such-tenant")

        result = self.run(database, unknown, tmp_path, "verify")

        assert result.returncode == 1
        assert "unknown tenant slug: no-such-tenant" in result.stderr
