"""Checkpoint signatures, the anchor key and where checkpoints are kept."""

from __future__ import annotations

import base64
import json
import re
import stat
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import make_url

from core.audit_anchor import (
    DIRECTORY_VARIABLE,
    INTERVAL_VARIABLE,
    KEY_VARIABLE,
    NAMESPACE_VARIABLE,
    AuditAnchor,
    database_namespace,
    default_anchor_directory,
    default_key_file,
    parse_checkpoint,
    sign_checkpoint,
    signature_matches,
)
from core.audit_anchor_storage import (
    AnchorError,
    AnchorKey,
    AnchorKeyError,
    FileAnchorStore,
    RedisAnchorStore,
    create_key_file,
    decode_key,
    read_key_file,
)

KEY = AnchorKey(bytes(range(32)), "test key")
OTHER_KEY = AnchorKey(bytes(range(1, 33)), "another key")
SIGNED_AT = datetime(2025, 12, 1, 9, 30, tzinfo=UTC)
ENTRY_HASH = "ab" * 32


def signed(key: AnchorKey = KEY, sequence: int = 100):
    return sign_checkpoint(key, "db-test", 7, sequence, ENTRY_HASH, SIGNED_AT)


class TestSignature:
    def test_signed_checkpoint_matches_its_key(self):
        checkpoint = signed()

        assert signature_matches(checkpoint, KEY)
        assert checkpoint.key_id == KEY.key_id

    def test_other_key_does_not_match(self):
        assert not signature_matches(signed(), OTHER_KEY)

    @pytest.mark.parametrize(
        "change",
        [
            {"sequence": 99},
            {"entry_hash": "cd" * 32},
            {"tenant_id": 8},
            {"namespace": "db-other"},
            {"created_at": datetime(2025, 12, 2, 9, 30, tzinfo=UTC)},
        ],
    )
    def test_changed_field_breaks_the_signature(self, change):
        assert not signature_matches(replace(signed(), **change), KEY)

    def test_json_round_trip_keeps_the_signature(self):
        checkpoint = signed()

        parsed = parse_checkpoint(checkpoint.to_json())

        assert parsed == checkpoint
        assert signature_matches(parsed, KEY)

    def test_signed_bytes_are_fixed(self):
        assert signed().signed_bytes() == (
            b'{"created_at":"2025-12-01T09:30:00.000000+00:00","entry_hash":"'
            + b"ab" * 32
            + b'","format":1,"key_id":"'
            + KEY.key_id.encode()
            + b'","namespace":"db-test","sequence":100,"tenant_id":7}'
        )


class TestParseCheckpoint:
    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"sequence": 0}, "sequence 0 is not a positive integer"),
            ({"sequence": True}, "sequence True is not a positive integer"),
            ({"entry_hash": "xyz"}, "entry_hash 'xyz' is no SHA-256"),
            ({"created_at": "yesterday"}, "created_at 'yesterday' is no ISO 8601"),
            ({"created_at": "2025-12-01T09:30:00"}, "has no time zone"),
            ({"format": 2}, "format 2 is not 1"),
            ({"extra": 1}, "unexpected fields extra"),
        ],
    )
    def test_invalid_field_is_named(self, change, message):
        record = {**json.loads(signed().to_json()), **change}

        with pytest.raises(ValueError, match=re.escape(message)):
            parse_checkpoint(json.dumps(record))

    def test_text_that_is_no_json_is_rejected(self):
        with pytest.raises(ValueError, match="not JSON"):
            parse_checkpoint("sequence=100")

    def test_missing_field_is_named(self):
        record = json.loads(signed().to_json())
        del record["signature"]

        with pytest.raises(ValueError, match="lacks the fields signature"):
            parse_checkpoint(json.dumps(record))

    def test_value_of_wrong_type_is_named(self):
        record = {**json.loads(signed().to_json()), "key_id": 5}

        with pytest.raises(TypeError, match="key_id 5 is not text"):
            parse_checkpoint(json.dumps(record))


class TestKeyFile:
    def test_new_key_file_is_private(self, tmp_path):
        path = tmp_path / "var" / "audit_anchor.key"

        key = create_key_file(path)

        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(key.secret) == 32
        assert read_key_file(path) == key

    def test_existing_key_file_is_kept(self, tmp_path):
        path = tmp_path / "audit_anchor.key"
        first = create_key_file(path)

        second = create_key_file(path)

        assert second == first
        assert [entry.name for entry in tmp_path.iterdir()] == ["audit_anchor.key"]

    def test_unwritable_key_file_is_named(self, tmp_path):
        blocked = tmp_path / "var"
        blocked.write_text("a file where the directory should be")

        with pytest.raises(AnchorKeyError, match="var/audit_anchor.key cannot be"):
            create_key_file(blocked / "audit_anchor.key")

    def test_missing_key_file_reads_as_none(self, tmp_path):
        assert read_key_file(tmp_path / "audit_anchor.key") is None

    def test_key_file_readable_by_others_is_rejected(self, tmp_path):
        path = tmp_path / "audit_anchor.key"
        create_key_file(path)
        path.chmod(0o644)

        with pytest.raises(AnchorKeyError, match="mode 0644.*chmod 600"):
            read_key_file(path)

    def test_short_key_is_rejected(self):
        encoded = base64.b64encode(b"x" * 16).decode()

        with pytest.raises(AnchorKeyError, match="16 bytes; .* at least 32"):
            decode_key(encoded, "environment variable SOLVEREIGN_AUDIT_ANCHOR_KEY")

    def test_key_that_is_no_base64_is_rejected(self):
        with pytest.raises(AnchorKeyError, match="not standard base64"):
            decode_key("not base64!", "environment variable X")


class TestConfiguration:
    def test_environment_selects_key_directory_and_interval(self, tmp_path):
        encoded = base64.b64encode(KEY.secret).decode()
        environ = {
            KEY_VARIABLE: encoded,
            DIRECTORY_VARIABLE: str(tmp_path / "anchors"),
            INTERVAL_VARIABLE: "50",
            NAMESPACE_VARIABLE: "production",
        }
        url = make_url("postgresql://app@db.example/solvereign")

        anchor = AuditAnchor.from_environment(environ)
        store = anchor.store_for(url)

        assert anchor.signing_key(url).key_id == KEY.key_id
        assert isinstance(store, FileAnchorStore)
        assert store.directory == tmp_path / "anchors"
        assert anchor.interval == 50
        assert anchor.is_due(100)
        assert not anchor.is_due(101)
        assert anchor.namespace_for(url) == "production"

    def test_redis_url_selects_redis(self):
        environ = {"SOLVEREIGN_REDIS_URL": "redis://:secret@127.0.0.1:6379/2"}

        store = AuditAnchor.from_environment(environ).store_for(make_url("sqlite://"))

        assert isinstance(store, RedisAnchorStore)
        assert store.description == "redis redis://127.0.0.1:6379/2"

    @pytest.mark.parametrize("interval", ["0", "-5", "ten"])
    def test_invalid_interval_is_rejected(self, interval):
        with pytest.raises(AnchorError, match=f"is {interval!r}; set a positive"):
            AuditAnchor.from_environment({INTERVAL_VARIABLE: interval})

    def test_invalid_namespace_is_rejected(self):
        with pytest.raises(AnchorError, match="namespace 'a/b'"):
            AuditAnchor.from_environment({NAMESPACE_VARIABLE: "a/b"})

    def test_sqlite_files_keep_anchors_beside_them(self, tmp_path):
        url = make_url(f"sqlite:///{tmp_path}/solvereign.db")

        assert default_anchor_directory(url) == tmp_path / "audit_anchors"
        assert default_key_file(url) == tmp_path / "audit_anchor.key"

    def test_server_databases_keep_anchors_in_var(self):
        url = make_url("postgresql://app@db.example/solvereign")

        assert default_anchor_directory(url).parts[-2:] == ("var", "audit_anchors")
        assert default_key_file(url).parts[-2:] == ("var", "audit_anchor.key")

    def test_namespace_separates_databases(self, tmp_path):
        first = database_namespace(make_url("postgresql://a@db.example/one"))
        second = database_namespace(make_url("postgresql://a@db.example/two"))
        other_user = database_namespace(make_url("postgresql://b@db.example/one"))

        assert first != second
        assert first == other_user
        assert first.startswith("db-")
        assert len(first) == 19

    def test_verifying_without_key_names_the_key_file(self, tmp_path):
        url = make_url(f"sqlite:///{tmp_path}/solvereign.db")
        anchor = AuditAnchor(FileAnchorStore(tmp_path / "anchors"))

        with pytest.raises(AnchorKeyError, match="audit_anchor.key"):
            anchor.verifying_key(url)
