"""Driver records: encryption of personal fields, the keyring, and views.

Personal fields. A driver's name, phone, email, address and licence number
are personal data. Each is stored encrypted on its own through core.pii,
bound to the tenant, the driver's id and the field, and an empty value is
stored as NULL. The other fields (external reference, home depot,
qualifications, contract, weekly minutes, active, legal hold) are stored
in plain text.

Who reads personal fields. driver:read is granted from VIEWER, so a viewer
lists drivers and sees the plain fields only: external reference, depot,
qualifications, contract, weekly minutes, active and legal hold. A viewer
plans nothing and calls no driver, so it gets no name either. From
DISPATCHER upwards (PERSONAL_FIELDS_FROM), who staff tours and call drivers
who are sick, the list shows the name and one driver's page shows every
personal field. Each such read is recorded as a PII-read security event.
Exports of personal fields need export:pii (TENANT_ADMIN).

The keyring is loaded once per process from core.pii's configured sources
(`driver_keyring`); tests and tools may set their own
(`configure_driver_keyring`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from core.driver_checks import FIELD_LABELS
from core.errors import SolvereignError
from core.permissions import Actor, Role
from core.pii import PERSONAL_FIELDS, Keyring, PersonalDataUnreadable, load_keyring
from db.models import Driver, DriverConsent
from db.repositories.drivers import CIPHERTEXT_COLUMNS

# The lowest role that reads drivers' personal fields; see the module docstring.
PERSONAL_FIELDS_FROM = Role.DISPATCHER


class DriverFieldUnreadable(SolvereignError):
    """A stored personal field of a driver cannot be decrypted, so it is not shown."""

    def __init__(
        self, driver: Driver, field_name: str, error: PersonalDataUnreadable
    ) -> None:
        self.driver_id = driver.id
        self.external_ref = driver.external_ref
        self.field_name = field_name
        self.key_id = error.key_id
        super().__init__(
            f"the {FIELD_LABELS[field_name]} of driver {driver.id}"
            f" ({driver.external_ref}) cannot be decrypted, so it is not shown:"
            f" {error.reason}. Ask an administrator to restore the key"
            f" {error.key_id or 'named in the value'} or to enter the value again"
        )


# --- Views -------------------------------------------------------------------


@dataclass(frozen=True)
class DriverView:
    """One driver as a list shows it.

    `display_name` is None when the actor may not read personal fields, when
    the name is empty or erased, and when it cannot be decrypted. In the
    last case `unreadable_fields` lists "name".
    """

    driver_id: int
    external_ref: str
    display_name: str | None
    home_depot: str
    qualifications: tuple[str, ...]
    contract_kind: str
    min_weekly_minutes: int
    max_weekly_minutes: int
    is_active: bool
    legal_hold: bool
    row_version: int
    created_at: datetime
    updated_at: datetime
    deactivated_at: datetime | None
    erased_at: datetime | None
    unreadable_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConsentView:
    """One recorded consent decision of a driver."""

    consent_id: int
    purpose: str
    granted: bool
    text_version: str
    recorded_at: datetime
    recorded_by: int | None


@dataclass(frozen=True)
class DriverDetails:
    """One driver with every personal field, for actors who may read them.

    `personal_fields_shown` is False for a viewer, and then every personal
    field is None. `consents` lists the decisions oldest first.
    """

    driver: DriverView
    personal_fields_shown: bool
    phone: str | None
    email: str | None
    address: str | None
    licence_number: str | None
    consents: tuple[ConsentView, ...]


def may_read_personal_fields(actor: Actor) -> bool:
    """Tell whether the actor's role reads drivers' personal fields."""
    return actor.role >= PERSONAL_FIELDS_FROM


def driver_view(
    driver: Driver,
    display_name: str | None = None,
    unreadable_fields: Iterable[str] = (),
) -> DriverView:
    return DriverView(
        driver_id=driver.id,
        external_ref=driver.external_ref,
        display_name=display_name,
        home_depot=driver.home_depot,
        qualifications=tuple(driver.qualifications),
        contract_kind=driver.contract_kind.value,
        min_weekly_minutes=driver.min_weekly_minutes,
        max_weekly_minutes=driver.max_weekly_minutes,
        is_active=driver.is_active,
        legal_hold=driver.legal_hold,
        row_version=driver.row_version,
        created_at=driver.created_at,
        updated_at=driver.updated_at,
        deactivated_at=driver.deactivated_at,
        erased_at=driver.erased_at,
        unreadable_fields=tuple(unreadable_fields),
    )


def consent_view(consent: DriverConsent) -> ConsentView:
    return ConsentView(
        consent_id=consent.id,
        purpose=consent.purpose,
        granted=consent.granted,
        text_version=consent.text_version,
        recorded_at=consent.recorded_at,
        recorded_by=consent.recorded_by,
    )


# --- The keyring -------------------------------------------------------------

_keyring_lock = threading.Lock()
_keyring: Keyring | None = None


def driver_keyring() -> Keyring:
    """Return the keyring of this process, loaded from core.pii's sources at first use.

    Raises KeyConfigurationError when no key is configured for a database
    other than the embedded SQLite one.
    """
    global _keyring
    with _keyring_lock:
        if _keyring is None:
            _keyring = load_keyring()
        return _keyring


def configure_driver_keyring(keyring: Keyring | None) -> None:
    """Make the services use this keyring; None loads it again at next use."""
    global _keyring
    with _keyring_lock:
        _keyring = keyring


# --- Encryption of personal fields -------------------------------------------


def store_personal_fields(driver: Driver, values: Mapping[str, str]) -> None:
    """Encrypt each value into its column; an empty value stores NULL.

    The driver must have its id, because each ciphertext is bound to it.
    """
    keyring = driver_keyring()
    for field_name, value in values.items():
        ciphertext = None
        if value:
            ciphertext = keyring.encrypt(driver.tenant_id, driver.id, field_name, value)
        setattr(driver, CIPHERTEXT_COLUMNS[field_name], ciphertext)


def read_personal_field(driver: Driver, field_name: str) -> str | None:
    """Decrypt one personal field of the driver; None when it is empty.

    Raises DriverFieldUnreadable when the stored text cannot be decrypted
    for this tenant, driver and field.
    """
    ciphertext = getattr(driver, CIPHERTEXT_COLUMNS[field_name])
    if ciphertext is None:
        return None
    try:
        return driver_keyring().decrypt(
            driver.tenant_id, driver.id, field_name, ciphertext
        )
    except PersonalDataUnreadable as error:
        raise DriverFieldUnreadable(driver, field_name, error) from error


def read_personal_fields(
    driver: Driver, field_names: Iterable[str] = PERSONAL_FIELDS
) -> dict[str, str | None]:
    """Decrypt the named personal fields.

    Raises DriverFieldUnreadable for the first one that cannot be decrypted.
    """
    return {name: read_personal_field(driver, name) for name in field_names}


def stored_field_names(driver: Driver) -> list[str]:
    """Return the personal fields that hold a value, in PERSONAL_FIELDS order."""
    return [
        name
        for name in PERSONAL_FIELDS
        if getattr(driver, CIPHERTEXT_COLUMNS[name]) is not None
    ]
