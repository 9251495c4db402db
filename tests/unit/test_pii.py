"""Driver personal data encryption: format, tampering, key sources, rotation."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from core.pii import (
    PERSONAL_FIELDS,
    KeyConfigurationError,
    KeyRetirementRejected,
    Keyring,
    KeyUsageLimitReached,
    MalformedCiphertext,
    PersonalDataUnreadable,
    PiiKey,
    Reencrypted,
    StoredCiphertext,
    UnknownPersonalField,
    ciphertext_prefix,
    key_id_of,
    load_keyring,
    reencrypt,
)
from core.pii_keys import PROJECT_ROOT

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))
T0 = datetime(2025, 12, 1, 8, 0, tzinfo=UTC)
TENANT = 1
DRIVER = 10
PHONE = "+49 170 1234567"


def encoded(secret: bytes) -> str:
    return base64.b64encode(secret).decode("ascii")


def payload_of(ciphertext: str) -> bytes:
    payload = ciphertext.split(":")[2]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))


def with_payload(ciphertext: str, raw: bytes) -> str:
    version, key_id, _ = ciphertext.split(":")
    payload = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    return f"{version}:{key_id}:{payload}"


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.from_keys([PiiKey("k1", KEY_A)], "k1")


def load_from(tmp_path: Path, environ: dict[str, str] | None = None) -> Keyring:
    """Load keys with this environment, the test's secrets file and key file."""
    return load_keyring(
        environ=environ or {},
        secrets_path=tmp_path / ".streamlit" / "secrets.toml",
        key_file=tmp_path / "var" / "pii_keys.json",
        now=T0,
    )


def write_secrets(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".streamlit" / "secrets.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


class TestEncryption:
    @pytest.mark.parametrize("field_name", PERSONAL_FIELDS)
    def test_round_trip(self, keyring, field_name):
        value = f"Jürgen Müller, {field_name} ✓"

        ciphertext = keyring.encrypt(TENANT, DRIVER, field_name, value)

        assert keyring.decrypt(TENANT, DRIVER, field_name, ciphertext) == value

    def test_empty_value_round_trip(self, keyring):
        ciphertext = keyring.encrypt(TENANT, DRIVER, "address", "")

        assert keyring.decrypt(TENANT, DRIVER, "address", ciphertext) == ""

    def test_header_names_version_and_key(self, keyring):
        ciphertext = keyring.encrypt(TENANT, DRIVER, "phone", PHONE)

        assert ciphertext.startswith("v1:k1:")
        assert ciphertext.startswith(ciphertext_prefix("k1"))
        assert key_id_of(ciphertext) == "k1"
        assert PHONE not in ciphertext

    def test_payload_is_nonce_ciphertext_and_tag(self, keyring):
        ciphertext = keyring.encrypt(TENANT, DRIVER, "phone", PHONE)

        assert len(payload_of(ciphertext)) == 12 + len(PHONE.encode()) + 16

    def test_nonce_differs_per_call(self, keyring):
        first = keyring.encrypt(TENANT, DRIVER, "phone", PHONE)
        second = keyring.encrypt(TENANT, DRIVER, "phone", PHONE)

        assert first != second
        assert payload_of(first)[:12] != payload_of(second)[:12]

    def test_100k_encryptions_have_distinct_nonces(self, keyring):
        nonces = {
            payload_of(keyring.encrypt(TENANT, DRIVER, "name", "x"))[:12]
            for _ in range(100_000)
        }

        assert len(nonces) == 100_000
        assert keyring.encryption_count("k1") == 100_000

    def test_encryption_limit_per_key(self):
        keyring = Keyring.from_keys([PiiKey("k1", KEY_A)], "k1", encryption_limit=2)
        keyring.encrypt(TENANT, DRIVER, "name", "a")
        keyring.encrypt(TENANT, DRIVER, "name", "b")

        with pytest.raises(KeyUsageLimitReached, match="key k1 has encrypted 2"):
            keyring.encrypt(TENANT, DRIVER, "name", "c")

    def test_unknown_field_rejected(self, keyring):
        with pytest.raises(UnknownPersonalField, match="'birth_date' is not a"):
            keyring.encrypt(TENANT, DRIVER, "birth_date", "1990-01-01")
        with pytest.raises(UnknownPersonalField, match="licence_number"):
            keyring.decrypt(TENANT, DRIVER, "license_number", "v1:k1:AAAA")

    @pytest.mark.parametrize(
        ("tenant_id", "driver_id", "wrong"),
        [("1", DRIVER, "tenant_id"), (TENANT, True, "driver_id")],
    )
    def test_ids_must_be_integers(self, keyring, tenant_id, driver_id, wrong):
        with pytest.raises(TypeError, match=f"{wrong} must be an int"):
            keyring.encrypt(tenant_id, driver_id, "name", "Anna")

    def test_repr_hides_secrets(self, keyring):
        text = repr(keyring) + repr(keyring.keys)

        assert encoded(KEY_A) not in text
        assert repr(KEY_A) not in text
        assert "k1" in text


class TestTampering:
    def test_every_changed_character_fails(self, keyring):
        ciphertext = keyring.encrypt(TENANT, DRIVER, "email", "anna@example.org")

        for index, character in enumerate(ciphertext):
            replacement = "B" if character == "A" else "A"
            tampered = ciphertext[:index] + replacement + ciphertext[index + 1 :]
            with pytest.raises(PersonalDataUnreadable):
                keyring.decrypt(TENANT, DRIVER, "email", tampered)

    def test_every_flipped_byte_fails_authentication(self, keyring):
        ciphertext = keyring.encrypt(TENANT, DRIVER, "email", "anna@example.org")
        raw = payload_of(ciphertext)

        for index in range(len(raw)):
            flipped = raw[:index] + bytes([raw[index] ^ 0x01]) + raw[index + 1 :]
            with pytest.raises(PersonalDataUnreadable) as caught:
                keyring.decrypt(
                    TENANT, DRIVER, "email", with_payload(ciphertext, flipped)
                )
            assert isinstance(caught.value.__cause__, InvalidTag)

    def test_noncanonical_last_character_fails(self, keyring):
        # 16 bytes of value make a 44-byte payload, whose last base64 character
        # carries 4 bits of data and 2 unused bits.
        ciphertext = keyring.encrypt(TENANT, DRIVER, "email", "anna@example.org")
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        sibling = alphabet[alphabet.index(ciphertext[-1]) ^ 1]
        tampered = ciphertext[:-1] + sibling
        assert payload_of(tampered) == payload_of(ciphertext)

        with pytest.raises(PersonalDataUnreadable, match="not canonical base64url"):
            keyring.decrypt(TENANT, DRIVER, "email", tampered)

    @pytest.mark.parametrize("change", ["drop last byte", "add a byte", "drop the tag"])
    def test_cut_or_extended_payload_fails(self, keyring, change):
        ciphertext = keyring.encrypt(TENANT, DRIVER, "name", "Anna")
        raw = payload_of(ciphertext)
        changed = {
            "drop last byte": raw[:-1],
            "add a byte": raw + b"\x00",
            "drop the tag": raw[:-16],
        }[change]

        with pytest.raises(PersonalDataUnreadable, match="key k1"):
            keyring.decrypt(TENANT, DRIVER, "name", with_payload(ciphertext, changed))

    @pytest.mark.parametrize(
        ("tenant_id", "driver_id", "field_name"),
        [(2, DRIVER, "phone"), (TENANT, 11, "phone"), (TENANT, DRIVER, "email")],
        ids=["other tenant", "other driver", "other field"],
    )
    def test_copied_ciphertext_fails(self, keyring, tenant_id, driver_id, field_name):
        ciphertext = keyring.encrypt(TENANT, DRIVER, "phone", PHONE)

        with pytest.raises(PersonalDataUnreadable) as caught:
            keyring.decrypt(tenant_id, driver_id, field_name, ciphertext)

        error = caught.value
        assert error.tenant_id == tenant_id
        assert error.driver_id == driver_id
        assert error.field_name == field_name
        assert error.key_id == "k1"
        assert isinstance(error.__cause__, InvalidTag)
        assert f"field {field_name} of driver {driver_id} in tenant {tenant_id}" in str(
            error
        )
        assert PHONE not in str(error)

    def test_unknown_key_id_fails(self, keyring):
        ciphertext = keyring.encrypt(TENANT, DRIVER, "phone", PHONE)
        other = Keyring.from_keys([PiiKey("k2", KEY_B)], "k2")

        with pytest.raises(PersonalDataUnreadable, match="key k1 is not in") as caught:
            other.decrypt(TENANT, DRIVER, "phone", ciphertext)

        assert caught.value.key_id == "k1"

    def test_same_key_id_with_other_secret_fails(self, keyring):
        ciphertext = keyring.encrypt(TENANT, DRIVER, "phone", PHONE)
        impostor = Keyring.from_keys([PiiKey("k1", KEY_B)], "k1")

        with pytest.raises(PersonalDataUnreadable, match="authentication failed"):
            impostor.decrypt(TENANT, DRIVER, "phone", ciphertext)

    @pytest.mark.parametrize(
        "text",
        [
            PHONE,
            "v2:k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "v1:k_1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "v1:k1:+49 170",
            "v1:k1:AAAA",
        ],
        ids=["plain value", "other version", "bad key id", "not base64", "too short"],
    )
    def test_malformed_text_not_quoted(self, keyring, text):
        with pytest.raises(PersonalDataUnreadable) as caught:
            keyring.decrypt(TENANT, DRIVER, "phone", text)

        assert "+49" not in str(caught.value)
        with pytest.raises(MalformedCiphertext):
            key_id_of(text)


class TestKeySources:
    def test_environment_json_keys(self, tmp_path):
        environ = {
            "SOLVEREIGN_PII_KEYS": json.dumps(
                {
                    "k1": {"key": encoded(KEY_A), "retire_after": "2025-12-02T08:00Z"},
                    "k2": encoded(KEY_B),
                }
            ),
            "SOLVEREIGN_PII_ACTIVE_KEY": "k2",
        }

        keyring = load_from(tmp_path, environ)

        assert keyring.active_key_id == "k2"
        assert "SOLVEREIGN_PII_KEYS" in keyring.origin
        assert keyring.keys[0].retire_after == T0 + timedelta(days=1)
        assert key_id_of(keyring.encrypt(TENANT, DRIVER, "name", "Anna")) == "k2"
        assert not (tmp_path / "var").exists()

    def test_environment_wins_over_secrets_file(self, tmp_path):
        write_secrets(
            tmp_path, f'[pii]\nactive_key = "s1"\n[pii.keys]\ns1 = "{encoded(KEY_B)}"\n'
        )
        environ = {
            "SOLVEREIGN_PII_KEYS": json.dumps({"e1": encoded(KEY_A)}),
            "SOLVEREIGN_PII_ACTIVE_KEY": "e1",
        }

        keyring = load_from(tmp_path, environ)

        assert keyring.active_key_id == "e1"

    def test_secrets_file_section(self, tmp_path):
        path = write_secrets(
            tmp_path,
            "[pii]\n"
            'active_key = "s1"\n'
            "[pii.keys]\n"
            f's1 = "{encoded(KEY_B)}"\n'
            f's0 = {{ key = "{encoded(KEY_A)}",'
            " retire_after = 2025-12-02T08:00:00Z }\n",
        )

        keyring = load_from(tmp_path)

        assert keyring.active_key_id == "s1"
        assert str(path) in keyring.origin
        retiring = next(key for key in keyring.keys if key.key_id == "s0")
        assert retiring.retire_after == T0 + timedelta(days=1)
        assert not (tmp_path / "var").exists()

    def test_secrets_file_without_section_falls_back(self, tmp_path):
        write_secrets(tmp_path, '[database]\nurl = "sqlite:///x.db"\n')

        keyring = load_from(tmp_path)

        assert keyring.origin.startswith("key file")

    def test_key_file_generated_owner_only(self, tmp_path):
        keyring = load_from(tmp_path)

        key_file = tmp_path / "var" / "pii_keys.json"
        assert os.stat(key_file).st_mode & 0o777 == 0o600
        document = json.loads(key_file.read_text())
        assert list(document["keys"]) == [keyring.active_key_id]
        assert document["active_key"] == keyring.active_key_id
        assert (
            len(base64.b64decode(document["keys"][keyring.active_key_id]["key"])) == 32
        )
        assert keyring.keys[0].created_at == T0

    def test_key_file_reused_on_next_load(self, tmp_path):
        first = load_from(tmp_path)
        ciphertext = first.encrypt(TENANT, DRIVER, "name", "Anna")
        contents = (tmp_path / "var" / "pii_keys.json").read_bytes()

        second = load_from(tmp_path)

        assert second.active_key_id == first.active_key_id
        assert second.decrypt(TENANT, DRIVER, "name", ciphertext) == "Anna"
        assert (tmp_path / "var" / "pii_keys.json").read_bytes() == contents

    def test_key_file_readable_by_others_rejected(self, tmp_path):
        load_from(tmp_path)
        (tmp_path / "var" / "pii_keys.json").chmod(0o644)

        with pytest.raises(KeyConfigurationError, match="mode 644.*chmod 600"):
            load_from(tmp_path)

    def test_key_file_used_with_sqlite_url(self, tmp_path):
        keyring = load_from(tmp_path, {"DATABASE_URL": "sqlite:///var/x.db"})

        assert keyring.origin.startswith("key file")

    def test_no_key_file_for_postgresql(self, tmp_path):
        environ = {"DATABASE_URL": "postgresql://app@db.internal/solvereign"}

        with pytest.raises(KeyConfigurationError, match="set SOLVEREIGN_PII_KEYS"):
            load_from(tmp_path, environ)

        assert not (tmp_path / "var" / "pii_keys.json").exists()

    def test_var_folder_is_ignored_by_git(self):
        result = subprocess.run(
            ["git", "check-ignore", "--quiet", "var/pii_keys.json"],
            cwd=PROJECT_ROOT,
            check=False,
        )

        assert result.returncode == 0, "var/ must stay in .gitignore"


def environment_with(keys: object, active: str | None = "k1") -> dict[str, str]:
    text = keys if isinstance(keys, str) else json.dumps(keys)
    environ = {"SOLVEREIGN_PII_KEYS": text}
    if active is not None:
        environ["SOLVEREIGN_PII_ACTIVE_KEY"] = active
    return environ


class TestConfigurationErrors:
    @pytest.mark.parametrize(
        ("environ", "message"),
        [
            (
                environment_with({"k1": encoded(KEY_A[:16])}),
                "key k1 in environment variable .* is 16 bytes .* is 32 bytes",
            ),
            (
                environment_with({"k1": "not*base64*at*all"}),
                "key k1 in .* is not valid base64",
            ),
            (
                environment_with({"k1": encoded(KEY_A)}, active="k3"),
                r"active key 'k3' is not one of the keys in .* \(k1\)",
            ),
            (
                environment_with({"k1": encoded(KEY_A)}, active=None),
                "SOLVEREIGN_PII_ACTIVE_KEY is missing; set it to one of k1",
            ),
            (
                {"SOLVEREIGN_PII_ACTIVE_KEY": "k1"},
                "SOLVEREIGN_PII_KEYS is missing",
            ),
            (
                environment_with(f"k1:{encoded(KEY_A)}"),
                "SOLVEREIGN_PII_KEYS is not valid JSON",
            ),
            (
                environment_with([encoded(KEY_A)]),
                "must be a JSON object that maps key ids to keys",
            ),
            (
                environment_with({"k_1": encoded(KEY_A)}, active="k_1"),
                "key id 'k_1' in .* letters, digits or hyphens",
            ),
            (
                environment_with(
                    {
                        "k0": {"key": encoded(KEY_B), "retire_after": "2025-12-02"},
                        "k1": encoded(KEY_A),
                    }
                ),
                "retire_after of key k0 in .* time zone",
            ),
            (
                environment_with({"k1": {"key": encoded(KEY_A), "expires": "x"}}),
                "key k1 in .* unknown fields expires",
            ),
            (
                environment_with(
                    {"k1": {"key": encoded(KEY_A), "retire_after": "2025-12-02T08Z"}}
                ),
                "active key k1 in .* has a retire_after time",
            ),
        ],
        ids=[
            "short key",
            "bad base64",
            "unknown active key",
            "missing active key",
            "missing keys",
            "not json",
            "not an object",
            "bad key id",
            "time without zone",
            "unknown record field",
            "active key retiring",
        ],
    )
    def test_environment_error_is_named(self, tmp_path, environ, message):
        with pytest.raises(KeyConfigurationError, match=message) as caught:
            load_from(tmp_path, environ)

        assert encoded(KEY_A) not in str(caught.value)
        assert not (tmp_path / "var").exists()

    def test_secrets_file_error_names_key_and_file(self, tmp_path):
        write_secrets(tmp_path, '[pii]\nactive_key = "s1"\n[pii.keys]\ns1 = "%%%"\n')

        with pytest.raises(
            KeyConfigurationError, match=r"key s1 in section \[pii\] of .*secrets.toml"
        ):
            load_from(tmp_path)

    def test_invalid_secrets_file_is_named(self, tmp_path):
        write_secrets(tmp_path, "[pii\n")

        with pytest.raises(
            KeyConfigurationError, match="secrets.toml is not valid TOML"
        ):
            load_from(tmp_path)


# --- Rotation ------------------------------------------------------------------

Store = dict[int, StoredCiphertext]


def read_in_batches(store: Store, size: int) -> Iterator[list[StoredCiphertext]]:
    """Page through the store by row id, as a SQL reader would."""
    last_row_id = 0
    while True:
        row_ids = sorted(row_id for row_id in store if row_id > last_row_id)[:size]
        if not row_ids:
            return
        yield [store[row_id] for row_id in row_ids]
        last_row_id = row_ids[-1]


def writer(store: Store, batch_sizes: list[int]) -> Callable[[list[Reencrypted]], None]:
    """Store new ciphertexts where the value is still the one that was read."""

    def write_batch(updates: list[Reencrypted]) -> None:
        batch_sizes.append(len(updates))
        for update in updates:
            stored = store[update.row_id]
            if stored.ciphertext == update.previous:
                store[update.row_id] = stored._replace(ciphertext=update.ciphertext)

    return write_batch


def usage_counter(store: Store) -> Callable[[str], int]:
    return lambda key_id: sum(
        key_id_of(stored.ciphertext) == key_id for stored in store.values()
    )


def add_value(
    store: Store, keyring: Keyring, tenant_id: int, driver_id: int, field_name: str
) -> str:
    value = f"{field_name} of driver {driver_id}"
    row_id = len(store) + 1
    ciphertext = keyring.encrypt(tenant_id, driver_id, field_name, value)
    store[row_id] = StoredCiphertext(
        row_id, tenant_id, driver_id, field_name, ciphertext
    )
    return value


def decrypt_stored(keyring: Keyring, stored: StoredCiphertext) -> str:
    return keyring.decrypt(
        stored.tenant_id, stored.driver_id, stored.field_name, stored.ciphertext
    )


@pytest.fixture
def file_keyring(tmp_path) -> Keyring:
    return load_from(tmp_path)


class TestRotation:
    def test_rotate_activates_new_key(self, file_keyring, tmp_path):
        old_key_id = file_keyring.active_key_id
        old_ciphertext = file_keyring.encrypt(TENANT, DRIVER, "phone", PHONE)

        new_key_id = file_keyring.rotate(now=T0)

        assert new_key_id != old_key_id
        assert file_keyring.active_key_id == new_key_id
        new_ciphertext = file_keyring.encrypt(TENANT, DRIVER, "phone", PHONE)
        assert key_id_of(new_ciphertext) == new_key_id
        assert file_keyring.decrypt(TENANT, DRIVER, "phone", old_ciphertext) == PHONE

    def test_rotate_stores_overlap_in_key_file(self, file_keyring, tmp_path):
        old_key_id = file_keyring.active_key_id

        new_key_id = file_keyring.rotate(now=T0)

        reloaded = Keyring.from_key_file(tmp_path / "var" / "pii_keys.json")
        keys = {key.key_id: key for key in reloaded.keys}
        assert reloaded.active_key_id == new_key_id
        assert keys[old_key_id].retire_after == T0 + timedelta(hours=24)
        assert keys[new_key_id].retire_after is None
        assert keys[new_key_id].created_at == T0

    def test_other_keyring_sees_rotation(self, file_keyring, tmp_path):
        other_process = Keyring.from_key_file(tmp_path / "var" / "pii_keys.json")

        new_key_id = file_keyring.rotate(now=T0)
        ciphertext = file_keyring.encrypt(TENANT, DRIVER, "name", "Anna")

        assert other_process.decrypt(TENANT, DRIVER, "name", ciphertext) == "Anna"
        assert key_id_of(other_process.encrypt(TENANT, DRIVER, "name", "B")) == (
            new_key_id
        )

    def test_configured_keys_cannot_rotate(self, tmp_path):
        keyring = load_from(tmp_path, environment_with({"k1": encoded(KEY_A)}))

        with pytest.raises(KeyConfigurationError, match="cannot be rotated here"):
            keyring.rotate(now=T0)


class TestReencryption:
    def test_moves_old_values_in_batches(self, file_keyring):
        store: Store = {}
        old_key_id = file_keyring.active_key_id
        values = [
            add_value(store, file_keyring, tenant_id, driver_id, field_name)
            for tenant_id, driver_id, field_name in [
                (1, 10, "name"),
                (1, 10, "phone"),
                (1, 11, "email"),
                (1, 11, "address"),
                (2, 20, "licence_number"),
                (2, 20, "name"),
                (2, 21, "phone"),
            ]
        ]
        new_key_id = file_keyring.rotate(now=T0)
        values.append(add_value(store, file_keyring, 2, 21, "email"))
        values.append(add_value(store, file_keyring, 2, 21, "address"))
        batch_sizes: list[int] = []

        report = reencrypt(
            file_keyring, read_in_batches(store, size=3), writer(store, batch_sizes)
        )

        assert report.batches == 3
        assert report.examined == 9
        assert report.reencrypted == 7
        assert report.already_active == 2
        assert report.reencrypted_by_key == {old_key_id: 7}
        assert report.unreadable == []
        assert batch_sizes == [3, 3, 1]
        assert {key_id_of(stored.ciphertext) for stored in store.values()} == {
            new_key_id
        }
        decrypted = [decrypt_stored(file_keyring, stored) for stored in store.values()]
        assert decrypted == values

    def test_second_run_changes_nothing(self, file_keyring):
        store: Store = {}
        add_value(store, file_keyring, 1, 10, "name")
        file_keyring.rotate(now=T0)
        reencrypt(file_keyring, read_in_batches(store, size=2), writer(store, []))
        batch_sizes: list[int] = []

        report = reencrypt(
            file_keyring, read_in_batches(store, size=2), writer(store, batch_sizes)
        )

        assert report.reencrypted == 0
        assert report.already_active == 1
        assert batch_sizes == []

    def test_unreadable_value_is_listed_and_kept(self, file_keyring):
        store: Store = {}
        add_value(store, file_keyring, 1, 10, "name")
        add_value(store, file_keyring, 1, 11, "name")
        moved = store[1]._replace(driver_id=12)
        store[1] = moved
        file_keyring.rotate(now=T0)

        report = reencrypt(
            file_keyring, read_in_batches(store, size=5), writer(store, [])
        )

        assert report.unreadable == [(1, "name")]
        assert report.reencrypted == 1
        assert store[1] == moved


class TestRetirement:
    @pytest.fixture
    def rotated(self, file_keyring) -> tuple[Keyring, Store, str]:
        """A keyring rotated at T0, with two values still under the old key."""
        store: Store = {}
        add_value(store, file_keyring, 1, 10, "name")
        add_value(store, file_keyring, 1, 10, "phone")
        old_key_id = file_keyring.active_key_id
        file_keyring.rotate(now=T0)
        return file_keyring, store, old_key_id

    def test_rejected_during_overlap(self, rotated):
        keyring, store, old_key_id = rotated
        reencrypt(keyring, read_in_batches(store, size=10), writer(store, []))

        with pytest.raises(
            KeyRetirementRejected, match="overlap lasts until 2025-12-02T08:00:00"
        ):
            keyring.retire_key(
                old_key_id,
                usage_counter(store),
                now=T0 + timedelta(hours=23, minutes=59),
            )

        assert old_key_id in {key.key_id for key in keyring.keys}

    def test_rejected_while_values_use_key(self, rotated):
        keyring, store, old_key_id = rotated

        with pytest.raises(
            KeyRetirementRejected, match="2 stored ciphertexts still use it"
        ):
            keyring.retire_key(
                old_key_id, usage_counter(store), now=T0 + timedelta(hours=25)
            )

        assert old_key_id in {key.key_id for key in keyring.keys}

    def test_rejected_for_active_key(self, rotated):
        keyring, store, _ = rotated

        with pytest.raises(KeyRetirementRejected, match="it is the active key"):
            keyring.retire_key(
                keyring.active_key_id, usage_counter(store), now=T0 + timedelta(days=2)
            )

    def test_accepted_after_overlap_and_reencryption(self, rotated, tmp_path):
        keyring, store, old_key_id = rotated
        old_ciphertext = store[1].ciphertext
        reencrypt(keyring, read_in_batches(store, size=10), writer(store, []))

        keyring.retire_key(
            old_key_id, usage_counter(store), now=T0 + timedelta(hours=24)
        )

        assert old_key_id not in {key.key_id for key in keyring.keys}
        document = json.loads((tmp_path / "var" / "pii_keys.json").read_text())
        assert old_key_id not in document["keys"]
        assert (
            keyring.decrypt(1, 10, "name", store[1].ciphertext) == "name of driver 10"
        )
        with pytest.raises(PersonalDataUnreadable, match=f"key {old_key_id} is not in"):
            keyring.decrypt(1, 10, "name", old_ciphertext)

    def test_configured_keys_checked_but_not_removed(self, tmp_path):
        environ = environment_with(
            {
                "k0": {"key": encoded(KEY_B), "retire_after": "2025-12-02T08:00Z"},
                "k1": encoded(KEY_A),
            }
        )
        keyring = load_from(tmp_path, environ)
        no_values: Store = {}

        keyring.check_retirement(
            "k0", usage_counter(no_values), now=T0 + timedelta(days=2)
        )
        with pytest.raises(KeyConfigurationError, match="cannot be retired here"):
            keyring.retire_key(
                "k0", usage_counter(no_values), now=T0 + timedelta(days=2)
            )

    def test_key_without_retire_time_rejected(self):
        keyring = Keyring.from_keys([PiiKey("k0", KEY_B), PiiKey("k1", KEY_A)], "k1")

        with pytest.raises(KeyRetirementRejected, match="no retire_after time"):
            keyring.check_retirement("k0", lambda key_id: 0, now=T0)
