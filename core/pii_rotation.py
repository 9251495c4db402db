"""Key rotation over the drivers table: re-encrypt old values, then retire the key.

    python -m core.pii_rotation status
    python -m core.pii_rotation rotate
    python -m core.pii_rotation reencrypt [--batch-size N]
    python -m core.pii_rotation retire KEY_ID

`rotate` makes a new key active (core.pii: the old key stays readable for a
24 h overlap). `reencrypt` walks every tenant's drivers in batches of
`--batch-size` rows, in one transaction per batch and tenant. It encrypts
again with the active key each personal field another key made, and a
value edited meanwhile is left as the edit stored it. `retire` removes a key once
the overlap has passed and a count over all tenants proves that no stored
value uses it. Each tenant touched gets a `security.pii_reencrypted` audit
entry with the counts, and each retirement a `security.pii_key_retired`
entry in every tenant.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import func, select, update

from core.audit import SystemActor, append_entry
from core.context import lock_tenant, open_workbench, unit_of_work
from core.driver_records import driver_keyring
from core.pii import (
    Keyring,
    Reencrypted,
    ReencryptionReport,
    StoredCiphertext,
    ciphertext_prefix,
    reencrypt,
)
from db import cross_tenant
from db.models import Driver

logger = logging.getLogger(__name__)

ROTATION_ACTOR = "key-rotation"
PII_REENCRYPTED = "security.pii_reencrypted"
PII_KEY_RETIRED = "security.pii_key_retired"
DEFAULT_BATCH_SIZE = 200
# Personal data field names of core.pii, and the driver column of each.
COLUMNS = {
    "name": "display_name_ciphertext",
    "phone": "phone_ciphertext",
    "email": "email_ciphertext",
    "address": "address_ciphertext",
    "licence_number": "licence_number_ciphertext",
}


def _column(field_name: str):
    return getattr(Driver, COLUMNS[field_name])


def tenant_ids() -> list[int]:
    with unit_of_work() as session:
        return cross_tenant.all_tenant_ids(session)


def reencrypt_drivers(
    keyring: Keyring | None = None, batch_size: int = DEFAULT_BATCH_SIZE
) -> dict[int, ReencryptionReport]:
    """Encrypt again with the active key every driver field another key made.

    Returns the report of each tenant.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    keyring = keyring or driver_keyring()
    reports = {}
    for tenant_id in tenant_ids():
        system = SystemActor(tenant_id, ROTATION_ACTOR)
        report = reencrypt(
            keyring,
            _batches(system, batch_size),
            lambda updates, system=system: _write(system, updates),
        )
        reports[tenant_id] = report
        if report.reencrypted or report.unreadable:
            with unit_of_work(system) as session:
                lock_tenant(session, tenant_id)
                append_entry(
                    session,
                    system,
                    PII_REENCRYPTED,
                    "tenant",
                    tenant_id,
                    {
                        "reencrypted": report.reencrypted,
                        "examined": report.examined,
                        "unreadable": len(report.unreadable),
                        "by_key": dict(report.reencrypted_by_key),
                    },
                )
    return reports


def _batches(system: SystemActor, batch_size: int) -> Iterator[list[StoredCiphertext]]:
    """Yield one tenant's stored values, paging the drivers by id."""
    last_id = 0
    while True:
        with unit_of_work(system) as session:
            drivers = session.scalars(
                select(Driver)
                .where(Driver.tenant_id == system.tenant_id, Driver.id > last_id)
                .order_by(Driver.id)
                .limit(batch_size)
            ).all()
            batch = [
                StoredCiphertext(driver.id, driver.tenant_id, driver.id, name, value)
                for driver in drivers
                for name, column in COLUMNS.items()
                if (value := getattr(driver, column))
            ]
        if not drivers:
            return
        last_id = drivers[-1].id
        yield batch


def _write(system: SystemActor, updates: list[Reencrypted]) -> None:
    """Store new ciphertexts where the stored value is still the one read."""
    with unit_of_work(system) as session:
        for item in updates:
            column = _column(item.field_name)
            session.execute(
                update(Driver)
                .where(
                    Driver.tenant_id == system.tenant_id,
                    Driver.id == item.row_id,
                    column == item.previous,
                )
                .values({column.key: item.ciphertext})
            )


def count_key_usage(key_id: str) -> int:
    """Count the driver fields of all tenants whose ciphertext uses this key."""
    prefix = ciphertext_prefix(key_id)
    total = 0
    for tenant_id in tenant_ids():
        with unit_of_work(SystemActor(tenant_id, ROTATION_ACTOR)) as session:
            for name in COLUMNS:
                column = _column(name)
                total += session.scalar(
                    select(func.count())
                    .select_from(Driver)
                    .where(Driver.tenant_id == tenant_id, column.startswith(prefix))
                )
    return total


def retire(
    key_id: str, keyring: Keyring | None = None, now: datetime | None = None
) -> None:
    """Retire a key once its overlap has passed and no stored value uses it.

    Raises core.pii.KeyRetirementRejected otherwise; `now` is for tests.
    """
    keyring = keyring or driver_keyring()
    keyring.retire_key(key_id, count_key_usage, now)
    for tenant_id in tenant_ids():
        system = SystemActor(tenant_id, ROTATION_ACTOR)
        with unit_of_work(system) as session:
            lock_tenant(session, tenant_id)
            append_entry(
                session, system, PII_KEY_RETIRED, "pii_key", key_id, {"key_id": key_id}
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.pii_rotation",
        description="Rotate the key of drivers' personal data.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="show the keys and what uses them")
    commands.add_parser("rotate", help="make a new key active")
    again = commands.add_parser("reencrypt", help="move old values to the active key")
    again.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    retiring = commands.add_parser("retire", help="remove a key no value uses")
    retiring.add_argument("key_id")
    arguments = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO)
    open_workbench()
    keyring = driver_keyring()
    if arguments.command == "rotate":
        print(f"active key: {keyring.rotate()}")
    elif arguments.command == "reencrypt":
        reports = reencrypt_drivers(keyring, arguments.batch_size)
        for tenant_id, report in reports.items():
            print(
                f"tenant {tenant_id}: {report.reencrypted} of {report.examined}"
                f" values re-encrypted, {len(report.unreadable)} unreadable"
            )
    elif arguments.command == "retire":
        retire(arguments.key_id, keyring)
        print(f"retired key {arguments.key_id}")
    else:
        for key in keyring.keys:
            active = " (active)" if key.key_id == keyring.active_key_id else ""
            print(
                f"key {key.key_id}{active}: {count_key_usage(key.key_id)} stored values"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
