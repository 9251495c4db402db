"""Key rotation over real driver rows: re-encrypt in batches, then retire."""

from datetime import UTC, datetime, timedelta

import pytest

from core.driver_records import configure_driver_keyring
from core.pii import KeyRetirementRejected, ciphertext_prefix, load_keyring
from core.pii_rotation import (
    PII_KEY_RETIRED,
    PII_REENCRYPTED,
    count_key_usage,
    reencrypt_drivers,
    retire,
)
from tests.integration.services.driver_helpers import (
    ANNA,
    BEN,
    add_driver,
    entries,
    raw_driver_row,
)

FIELDS = ("display_name", "phone", "email", "address", "licence_number")


@pytest.fixture
def file_keyring(tmp_path):
    keyring = load_keyring(
        environ={}, secrets_path=tmp_path / "none.toml", key_file=tmp_path / "keys.json"
    )
    configure_driver_keyring(keyring)
    yield keyring
    configure_driver_keyring(None)


def stored_values(database, driver_id):
    row = raw_driver_row(database, driver_id)
    return [row[f"{name}_ciphertext"] for name in FIELDS if row[f"{name}_ciphertext"]]


def test_rotation_reencrypts_and_retires(
    private_workbench, make_private_tenant, file_keyring
):
    database = private_workbench
    make_tenant = make_private_tenant
    tenant = make_tenant()
    other = make_tenant()
    anna = add_driver(tenant, ANNA)
    ben = add_driver(other, BEN)
    old_key = file_keyring.active_key_id

    new_key = file_keyring.rotate()
    assert count_key_usage(old_key) == 6
    with pytest.raises(KeyRetirementRejected):
        retire(old_key, file_keyring, now=datetime.now(UTC) + timedelta(hours=25))

    reports = reencrypt_drivers(file_keyring, batch_size=1)

    assert reports[tenant.tenant_id].reencrypted == 5
    assert reports[other.tenant_id].reencrypted == 1
    for driver in (anna, ben):
        values = stored_values(database, driver)
        assert values
        assert all(value.startswith(ciphertext_prefix(new_key)) for value in values)
    assert count_key_usage(old_key) == 0
    assert len(entries(database, tenant.tenant_id, PII_REENCRYPTED)) == 1

    with pytest.raises(KeyRetirementRejected):
        retire(old_key, file_keyring)
    retire(old_key, file_keyring, now=datetime.now(UTC) + timedelta(hours=25))

    assert [key.key_id for key in file_keyring.keys] == [new_key]
    assert len(entries(database, other.tenant_id, PII_KEY_RETIRED)) == 1


def test_second_reencryption_changes_nothing(
    private_workbench, make_private_tenant, file_keyring
):
    database = private_workbench
    make_tenant = make_private_tenant
    tenant = make_tenant()
    add_driver(tenant, ANNA)
    file_keyring.rotate()
    reencrypt_drivers(file_keyring)

    reports = reencrypt_drivers(file_keyring)

    assert reports[tenant.tenant_id].reencrypted == 0
    assert len(entries(database, tenant.tenant_id, PII_REENCRYPTED)) == 1
