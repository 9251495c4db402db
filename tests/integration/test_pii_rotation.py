"""Key rotation over personal data stored in real SQLite and PostgreSQL tables.

Drivers are not stored by the product yet, so each test creates a table of
its own with one row per driver and one column per personal field. The table
lives in a database that no other test uses: a SQLite file, or an empty
PostgreSQL database that is created for the test and dropped after it. The
reader, writer and usage counter below show how a drivers table plugs into
core.pii.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    select,
    update,
)

from core.pii import (
    PERSONAL_FIELDS,
    KeyRetirementRejected,
    Keyring,
    Reencrypted,
    StoredCiphertext,
    ciphertext_prefix,
    key_id_of,
    load_keyring,
    reencrypt,
)
from db.session import make_engine
from tests.integration.databases import (
    PostgresUnavailable,
    created_postgres_database,
    unavailable,
)

T0 = datetime(2025, 12, 1, 8, 0, tzinfo=UTC)

metadata = MetaData()
drivers = Table(
    "pii_rotation_drivers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("tenant_id", Integer, nullable=False),
    *(Column(field_name, Text) for field_name in PERSONAL_FIELDS),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path) -> Iterator[Engine]:
    """An engine on a database of this test's own, with the drivers table."""
    if request.param == "sqlite":
        sqlite = make_engine(f"sqlite:///{tmp_path / 'pii.db'}")
        metadata.create_all(sqlite)
        yield sqlite
        sqlite.dispose()
        return
    try:
        with created_postgres_database() as url:
            postgres = make_engine(url)
            try:
                metadata.create_all(postgres)
                yield postgres
            finally:
                postgres.dispose()
    except PostgresUnavailable as error:
        unavailable(str(error))


@pytest.fixture
def keyring(tmp_path) -> Keyring:
    return load_keyring(
        environ={},
        secrets_path=tmp_path / "secrets.toml",
        key_file=tmp_path / "var" / "pii_keys.json",
        now=T0,
    )


def personal_data(driver_id: int) -> dict[str, str | None]:
    """Return the values of one driver, where every third driver has no address."""
    return {
        "name": f"Driver {driver_id} Müller",
        "phone": f"+49 170 {driver_id:07d}",
        "email": f"driver{driver_id}@example.org",
        "address": None if driver_id % 3 == 0 else f"Hauptstraße {driver_id}",
        "licence_number": f"B{driver_id:08d}",
    }


def insert_driver(
    engine: Engine, keyring: Keyring, tenant_id: int, driver_id: int
) -> None:
    values: dict[str, object] = {"id": driver_id, "tenant_id": tenant_id}
    for field_name, value in personal_data(driver_id).items():
        values[field_name] = (
            None
            if value is None
            else keyring.encrypt(tenant_id, driver_id, field_name, value)
        )
    with engine.begin() as connection:
        connection.execute(drivers.insert().values(values))


def read_batches(
    engine: Engine, rows_per_batch: int
) -> Iterator[list[StoredCiphertext]]:
    """Page through the drivers by id, one transaction per batch of rows."""
    last_id = 0
    while True:
        query = (
            select(drivers)
            .where(drivers.c.id > last_id)
            .order_by(drivers.c.id)
            .limit(rows_per_batch)
        )
        with engine.connect() as connection:
            rows = connection.execute(query).all()
        if not rows:
            return
        yield [
            StoredCiphertext(row.id, row.tenant_id, row.id, field_name, ciphertext)
            for row in rows
            for field_name in PERSONAL_FIELDS
            if (ciphertext := getattr(row, field_name)) is not None
        ]
        last_id = rows[-1].id


def write_batch_to(engine: Engine) -> Callable[[list[Reencrypted]], None]:
    def write_batch(updates: list[Reencrypted]) -> None:
        """Store one batch in one transaction, skipping values edited meanwhile."""
        with engine.begin() as connection:
            for row_id, field_name, previous, ciphertext in updates:
                column = drivers.c[field_name]
                connection.execute(
                    update(drivers)
                    .where(drivers.c.id == row_id, column == previous)
                    .values({field_name: ciphertext})
                )

    return write_batch


def usage_counter_for(engine: Engine) -> Callable[[str], int]:
    def count_values(key_id: str) -> int:
        """Count stored values whose ciphertext names this key, in SQL."""
        prefix = ciphertext_prefix(key_id)
        total = 0
        with engine.connect() as connection:
            for field_name in PERSONAL_FIELDS:
                column = drivers.c[field_name]
                query = select(func.count()).where(
                    column.startswith(prefix, autoescape=True)
                )
                total += connection.scalar(query)
        return total

    return count_values


def decrypted_table(
    engine: Engine, keyring: Keyring
) -> dict[int, dict[str, str | None]]:
    """Decrypt every stored value, by driver id and field name."""
    with engine.connect() as connection:
        rows = connection.execute(select(drivers).order_by(drivers.c.id)).all()
    table: dict[int, dict[str, str | None]] = {}
    for row in rows:
        values: dict[str, str | None] = {}
        for field_name in PERSONAL_FIELDS:
            ciphertext = getattr(row, field_name)
            if ciphertext is None:
                values[field_name] = None
            else:
                values[field_name] = keyring.decrypt(
                    row.tenant_id, row.id, field_name, ciphertext
                )
        table[row.id] = values
    return table


def test_rotation_moves_values_to_new_key(engine, keyring, tmp_path):
    old_key_id = keyring.active_key_id
    for driver_id in range(1, 13):
        insert_driver(engine, keyring, tenant_id=1 + driver_id % 2, driver_id=driver_id)
    count_values = usage_counter_for(engine)
    rotated_at = T0 + timedelta(hours=1)
    expected = {driver_id: personal_data(driver_id) for driver_id in range(1, 14)}
    # 12 drivers with 5 fields each, but drivers 3, 6, 9 and 12 have no address.
    old_values = 56

    # During the overlap, old values stay readable and new values use the new key.
    new_key_id = keyring.rotate(now=rotated_at)
    insert_driver(engine, keyring, tenant_id=1, driver_id=13)

    assert decrypted_table(engine, keyring) == expected
    assert count_values(old_key_id) == old_values
    assert count_values(new_key_id) == 5
    with pytest.raises(KeyRetirementRejected, match="overlap lasts until"):
        keyring.retire_key(
            old_key_id, count_values, now=rotated_at + timedelta(hours=2)
        )

    # After the overlap, the old key is kept while values still use it.
    with pytest.raises(KeyRetirementRejected, match=f"{old_values} stored ciphertexts"):
        keyring.retire_key(
            old_key_id, count_values, now=rotated_at + timedelta(hours=25)
        )

    # Re-encryption in batches of 5 rows moves every old value to the new key.
    report = reencrypt(
        keyring, read_batches(engine, rows_per_batch=5), write_batch_to(engine)
    )

    assert report.batches == 3
    assert report.reencrypted == old_values
    assert report.already_active == 5
    assert report.unreadable == []
    assert count_values(old_key_id) == 0
    assert count_values(new_key_id) == old_values + 5

    # Then the old key can be retired, and every value is still readable.
    keyring.retire_key(old_key_id, count_values, now=rotated_at + timedelta(hours=25))

    reloaded = Keyring.from_key_file(tmp_path / "var" / "pii_keys.json")
    assert [key.key_id for key in reloaded.keys] == [new_key_id]
    assert decrypted_table(engine, reloaded) == expected


def test_reencryption_keeps_value_edited_meanwhile(engine, keyring):
    insert_driver(engine, keyring, tenant_id=1, driver_id=1)
    keyring.rotate(now=T0)
    edited = keyring.encrypt(1, 1, "phone", "+49 171 7654321")
    write_batch = write_batch_to(engine)

    def edit_then_write(updates: list[Reencrypted]) -> None:
        with engine.begin() as connection:
            connection.execute(update(drivers).values(phone=edited))
        write_batch(updates)

    report = reencrypt(keyring, read_batches(engine, rows_per_batch=5), edit_then_write)

    assert report.reencrypted == 5
    assert decrypted_table(engine, keyring)[1]["phone"] == "+49 171 7654321"
    with engine.connect() as connection:
        stored = connection.execute(select(drivers)).one()
    assert stored.phone == edited
    assert key_id_of(stored.name) == keyring.active_key_id
