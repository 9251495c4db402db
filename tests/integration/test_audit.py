"""Audit trail: the hash chain per tenant, its verifier and its triggers."""

from __future__ import annotations

import hashlib
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, ProgrammingError

from core.audit import (
    GENESIS_HASH,
    ChainBreak,
    SystemActor,
    append_entry,
    canonical_entry_json,
    hash_entry,
    record_security_event,
    verify_audit_chain,
)
from db.models import AuditEntry
from db.repositories import audit_log, tenants, users
from tests.integration.databases import add_tenant, bind_tenant

FIRST_TIME = datetime(2025, 12, 1, 9, 0, tzinfo=UTC)
ENTRY_COUNT = 4
APPENDING_THREADS = 4
APPENDS_PER_THREAD = 10


def append_entries(database, tenant, count: int = ENTRY_COUNT) -> list[AuditEntry]:
    """Append `count` entries, one minute apart, in one committed transaction."""
    actor = tenant.actor()
    with database.session_factory() as session, session.begin():
        return [
            append_entry(
                session,
                actor,
                "forecast.import",
                "forecast version",
                number,
                {"tours": number * 10, "format": "tidy"},
                occurred_at=FIRST_TIME + timedelta(minutes=number),
            )
            for number in range(1, count + 1)
        ]


def verify(database, tenant):
    with database.session_factory() as session:
        return verify_audit_chain(session, tenant.tenant_id)


class TestCanonicalForm:
    def test_golden_vector_gives_fixed_bytes_and_hash(self):
        canonical = canonical_entry_json(
            tenant_id=7,
            sequence=3,
            occurred_at=datetime(
                2025, 12, 1, 9, 30, 0, 250000, tzinfo=timezone(timedelta(hours=1))
            ),
            actor_user_id=42,
            action="plan.approve",
            object_type="plan version",
            object_id="19",
            details={"reason": "Woche geprüft", "drivers": 142, "checks": ["rest"]},
            prev_hash="ab" * 32,
        )

        assert (
            canonical
            == (
                '{"action":"plan.approve","actor_user_id":42,'
                '"details":{"checks":["rest"],"drivers":142,"reason":"Woche geprüft"},'
                '"object_id":"19","object_type":"plan version",'
                '"occurred_at":"2025-12-01T08:30:00.250000+00:00",'
                f'"prev_hash":"{"ab" * 32}","sequence":3,"tenant_id":7}}'
            ).encode()
        )
        assert (
            hashlib.sha256(canonical).hexdigest()
            == "996b02616ee30f8cde6cf2b7f221599da99c3022500ea3c7fa8e182e1c7c6ca6"
        )

    def test_detail_key_order_keeps_bytes(self):
        fields = {
            "tenant_id": 1,
            "sequence": 1,
            "occurred_at": FIRST_TIME,
            "actor_user_id": None,
            "action": "plan.solve",
            "object_type": "plan version",
            "object_id": "5",
            "prev_hash": GENESIS_HASH,
        }

        one_order = canonical_entry_json(**fields, details={"a": 1, "b": [1, 2]})
        other_order = canonical_entry_json(**fields, details={"b": [1, 2], "a": 1})

        assert one_order == other_order


class TestAppendAndVerify:
    def test_appended_entries_form_a_verified_chain(self, database, make_tenant):
        tenant = make_tenant()

        entries = append_entries(database, tenant)
        result = verify(database, tenant)

        assert [entry.sequence for entry in entries] == [1, 2, 3, 4]
        assert entries[0].prev_hash == GENESIS_HASH
        for previous, entry in itertools.pairwise(entries):
            assert entry.prev_hash == previous.entry_hash
        assert result.ok
        assert result.entry_count == ENTRY_COUNT
        assert result.last_hash == entries[-1].entry_hash
        assert result.broken_sequence is None

    def test_stored_entry_hashes_to_its_stored_hash(self, database, make_tenant):
        tenant = make_tenant()
        append_entries(database, tenant, count=1)

        with database.session_factory() as session:
            stored = audit_log.last_entry(session, tenant.tenant_id)

        assert stored.occurred_at == FIRST_TIME + timedelta(minutes=1)
        assert hash_entry(stored) == stored.entry_hash

    def test_tenants_have_separate_chains(self, database, make_tenant):
        first = make_tenant()
        second = make_tenant()

        append_entries(database, first, count=3)
        second_entries = append_entries(database, second, count=1)

        assert second_entries[0].sequence == 1
        assert second_entries[0].prev_hash == GENESIS_HASH
        assert verify(database, first).entry_count == 3
        assert verify(database, second).entry_count == 1

    def test_empty_chain_is_intact(self, database, make_tenant):
        tenant = make_tenant()

        result = verify(database, tenant)

        assert result.ok
        assert result.entry_count == 0
        assert result.last_hash == GENESIS_HASH

    def test_system_actor_entry_names_the_process(self, database, make_tenant):
        tenant = make_tenant()
        system = SystemActor(tenant_id=tenant.tenant_id, name="retention-job")

        with database.session_factory() as session, session.begin():
            entry = append_entry(
                session, system, "driver.erase", "driver", 12, {"reason": "retention"}
            )

        assert entry.actor_user_id is None
        assert entry.details == {"reason": "retention", "system_actor": "retention-job"}
        assert verify(database, tenant).ok

    @pytest.mark.parametrize(
        ("details", "error", "message"),
        [
            ({"email": "x@example.org"}, ValueError, "personal data"),
            ({"driver": {"last_name": "Muster"}}, ValueError, "personal data"),
            ({"gap": 0.02}, TypeError, "float"),
            ({"when": datetime(2025, 12, 1, tzinfo=UTC)}, TypeError, "datetime"),
            ({"note": "a\x00b"}, ValueError, "NUL"),
        ],
    )
    def test_invalid_details_are_rejected(
        self, database, make_tenant, details, error, message
    ):
        tenant = make_tenant()

        with (
            database.session_factory() as session,
            pytest.raises(error, match=message),
        ):
            append_entry(session, tenant.actor(), "test.action", "plan", 1, details)

    def test_rolled_back_entry_leaves_no_gap(self, database, make_tenant):
        tenant = make_tenant()
        append_entries(database, tenant, count=2)

        with database.session_factory() as session:
            append_entry(session, tenant.actor(), "plan.solve", "plan", 1, {})
            session.rollback()
        third = append_entries(database, tenant, count=1)[0]

        assert third.sequence == 3
        assert verify(database, tenant).ok


class TestConcurrentAppends:
    def test_parallel_appends_never_fork_the_chain(self, database, make_tenant):
        tenant = make_tenant()
        start = threading.Barrier(APPENDING_THREADS)

        def append_several(thread_number: int) -> None:
            start.wait(timeout=10)
            for number in range(APPENDS_PER_THREAD):
                with database.session_factory() as session, session.begin():
                    append_entry(
                        session,
                        tenant.actor(),
                        "plan.solve",
                        "plan",
                        thread_number,
                        {"attempt": number},
                    )

        with ThreadPoolExecutor(max_workers=APPENDING_THREADS) as pool:
            list(pool.map(append_several, range(APPENDING_THREADS), timeout=120))
        result = verify(database, tenant)

        assert result.ok
        assert result.entry_count == APPENDING_THREADS * APPENDS_PER_THREAD


class TestTamperDetection:
    def test_edited_entry_is_named(self, database, make_tenant):
        tenant = make_tenant()
        append_entries(database, tenant)

        with database.privileged_connection() as connection:
            connection.execute(
                text(
                    "UPDATE audit_log SET action = 'forecast.delete'"
                    " WHERE tenant_id = :tenant_id AND sequence = 2"
                ),
                {"tenant_id": tenant.tenant_id},
            )
        result = verify(database, tenant)

        assert not result.ok
        assert result.broken_sequence == 2
        assert result.reason is ChainBreak.HASH_MISMATCH
        assert result.entry_count == 1

    def test_edited_details_are_named(self, database, make_tenant):
        tenant = make_tenant()
        entries = append_entries(database, tenant)

        with database.privileged_connection() as connection:
            connection.execute(
                text("UPDATE audit_log SET details = :details WHERE id = :id"),
                {"details": '{"tours": 0, "format": "tidy"}', "id": entries[2].id},
            )
        result = verify(database, tenant)

        assert result.broken_sequence == 3
        assert result.reason is ChainBreak.HASH_MISMATCH

    def test_deleted_entry_is_named_as_missing(self, database, make_tenant):
        tenant = make_tenant()
        append_entries(database, tenant)

        with database.privileged_connection() as connection:
            connection.execute(
                text(
                    "DELETE FROM audit_log"
                    " WHERE tenant_id = :tenant_id AND sequence = 3"
                ),
                {"tenant_id": tenant.tenant_id},
            )
        result = verify(database, tenant)

        assert not result.ok
        assert result.broken_sequence == 3
        assert result.reason is ChainBreak.SEQUENCE_GAP
        assert "entry 3 is missing" in result.message

    def test_deleted_first_entry_is_named_as_missing(self, database, make_tenant):
        tenant = make_tenant()
        append_entries(database, tenant)

        with database.privileged_connection() as connection:
            connection.execute(
                text(
                    "DELETE FROM audit_log"
                    " WHERE tenant_id = :tenant_id AND sequence = 1"
                ),
                {"tenant_id": tenant.tenant_id},
            )
        result = verify(database, tenant)

        assert result.broken_sequence == 1
        assert result.reason is ChainBreak.SEQUENCE_GAP

    def test_swapped_entries_are_named(self, database, make_tenant):
        tenant = make_tenant()
        append_entries(database, tenant)
        swap = [(2, -2), (3, 2), (-2, 3)]

        with database.privileged_connection() as connection:
            for old_sequence, new_sequence in swap:
                connection.execute(
                    text(
                        "UPDATE audit_log SET sequence = :new_sequence"
                        " WHERE tenant_id = :tenant_id AND sequence = :old_sequence"
                    ),
                    {
                        "tenant_id": tenant.tenant_id,
                        "old_sequence": old_sequence,
                        "new_sequence": new_sequence,
                    },
                )
        result = verify(database, tenant)

        assert not result.ok
        assert result.broken_sequence == 2
        assert result.reason is ChainBreak.HASH_MISMATCH

    def test_rehashed_edit_is_named_at_the_next_entry(self, database, make_tenant):
        tenant = make_tenant()
        entries = append_entries(database, tenant)
        forged = entries[1]
        forged.action = "forecast.delete"
        forged_hash = hash_entry(forged)

        with database.privileged_connection() as connection:
            connection.execute(
                text(
                    "UPDATE audit_log SET action = :action, entry_hash = :entry_hash"
                    " WHERE id = :id"
                ),
                {"action": forged.action, "entry_hash": forged_hash, "id": forged.id},
            )
        result = verify(database, tenant)

        assert not result.ok
        assert result.broken_sequence == 3
        assert result.reason is ChainBreak.PREV_HASH_MISMATCH

    def test_other_tenant_chain_stays_intact(self, database, make_tenant):
        tampered = make_tenant()
        untouched = make_tenant()
        append_entries(database, tampered)
        append_entries(database, untouched)

        with database.privileged_connection() as connection:
            connection.execute(
                text(
                    "DELETE FROM audit_log"
                    " WHERE tenant_id = :tenant_id AND sequence = 2"
                ),
                {"tenant_id": tampered.tenant_id},
            )

        assert not verify(database, tampered).ok
        assert verify(database, untouched).ok


class TestTriggers:
    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE audit_log SET action = 'x' WHERE tenant_id = :tenant_id",
            "UPDATE audit_log SET details = '{}' WHERE tenant_id = :tenant_id",
            "DELETE FROM audit_log WHERE tenant_id = :tenant_id",
        ],
    )
    def test_audit_log_rejects_update_and_delete(
        self, database, make_tenant, statement
    ):
        tenant = make_tenant()
        append_entries(database, tenant, count=2)
        # The PostgreSQL application role has no UPDATE or DELETE privilege on
        # audit_log, so the server refuses before the triggers run. The
        # triggers themselves are tested in test_audit_protection.py.
        if database.is_postgresql:
            refusal = pytest.raises(ProgrammingError, match="permission denied")
        else:
            refusal = pytest.raises(
                IntegrityError, match="cannot be updated or deleted"
            )

        with database.engine.connect() as connection, refusal:
            bind_tenant(connection, tenant.tenant_id)
            connection.execute(text(statement), {"tenant_id": tenant.tenant_id})
        result = verify(database, tenant)

        assert result.ok
        assert result.entry_count == 2

    def test_audit_log_rejects_update_through_the_orm(self, database, make_tenant):
        tenant = make_tenant()
        append_entries(database, tenant, count=1)

        with database.session_factory() as session:
            entry = session.scalars(
                select(AuditEntry).where(AuditEntry.tenant_id == tenant.tenant_id)
            ).one()
            entry.details = {"tours": 0}
            with pytest.raises(IntegrityError):
                session.flush()

    def test_audit_log_rejects_truncate(self, postgres):
        tenant = add_tenant(postgres.session_factory)
        append_entries(postgres, tenant, count=1)

        with (
            postgres.unguarded_connection() as connection,
            pytest.raises(IntegrityError, match="cannot be updated or deleted"),
        ):
            connection.execute(text("TRUNCATE audit_log"))

        assert verify(postgres, tenant).entry_count == 1


class TestSecurityEvents:
    def test_event_survives_the_callers_rollback(self, database, make_tenant):
        tenant = make_tenant()
        actor = tenant.actor()

        with database.session_factory() as session:
            tenants.get(session, tenant.tenant_id)
            record_security_event(
                database.engine,
                actor,
                "security.sign_in_rate_limited",
                {"attempt": 11, "limit": 10},
            )
            session.rollback()
        with database.session_factory() as session:
            events = audit_log.list_entries(
                session, tenant.tenant_id, action="security.sign_in_rate_limited"
            )

        assert len(events) == 1
        assert events[0].actor_user_id == actor.user_id
        assert events[0].object_id == str(actor.user_id)
        assert events[0].details == {
            "attempt": 11,
            "limit": 10,
            "category": "sign_in_failure",
            "severity": "WARNING",
        }
        assert verify(database, tenant).ok

    def test_event_through_a_session_factory(self, database, make_tenant):
        tenant = make_tenant()

        entry = record_security_event(
            database.session_factory,
            tenant.actor(),
            "security.session_revoked",
            {"sessions": 2},
            category="sign_in",
            severity="INFO",
        )

        assert entry.sequence == 1
        assert verify(database, tenant).entry_count == 1

    def test_event_ignores_callers_inserts(self, postgres):
        tenant = add_tenant(postgres.session_factory)

        with postgres.session_factory() as session:
            users.add(session, tenant.tenant_id, "new-user", "hash", "VIEWER")
            record_security_event(
                postgres.engine,
                tenant.actor(),
                "security.export_limited",
                {},
                category="export",
                severity="WARNING",
            )
            session.rollback()

        assert verify(postgres, tenant).entry_count == 1
