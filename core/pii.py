"""Encryption of driver personal data: AES-256-GCM with key ids and rotation.

Fields
    A driver's personal fields are name, phone, email, address and
    licence_number. Each value is encrypted on its own. Any other field name
    raises UnknownPersonalField.

Ciphertext format
    ``v1:<key id>:<payload>``, plain text that fits a TEXT column. The payload
    is base64url without padding of the 12-byte random nonce, the AES-256-GCM
    ciphertext and its 16-byte tag, so a value of n UTF-8 bytes takes about
    4 + len(key id) + (28 + n) * 4 / 3 characters. The associated data, which
    GCM authenticates but does not store, is the format version, the key id,
    the tenant id, the driver id and the field name. A ciphertext copied onto
    another driver, tenant or field, or with any character changed, therefore
    fails authentication and raises PersonalDataUnreadable. That error names
    the tenant, driver, field and key id, never the value, and callers report
    it and display nothing of the value.

Key sources, the first one configured wins
    1. The environment. SOLVEREIGN_PII_KEYS is a JSON object that maps each
       key id to its key, e.g. ``{"k2025a": "<base64>"}``, or to a record
       ``{"key": "<base64>", "retire_after": "2026-01-02T00:00:00+00:00"}``.
       SOLVEREIGN_PII_ACTIVE_KEY names the key that encrypts new values.
    2. The section ``[pii]`` of .streamlit/secrets.toml in the project:
       ``active_key = "<key id>"`` and a table ``[pii.keys]`` whose entries
       have the same two shapes (TOML dates are accepted for retire_after).
    3. Only for the embedded SQLite database (DATABASE_URL unset or a
       ``sqlite`` URL): the key file var/pii_keys.json, generated with one new
       key on first start and readable by its owner only (mode 0600). With
       PostgreSQL the keys must be configured, because each app server would
       otherwise generate a key of its own.
    A key is standard base64 of 32 random bytes, for example the output of
        python -c "import base64,os; print(base64.b64encode(os.urandom(32)).decode())"
    Key ids are 1 to 64 letters, digits and hyphens. They contain no SQL LIKE
    wildcard, so ``LIKE ciphertext_prefix(key_id) || '%'`` counts exactly.
    core.pii_keys reads and checks these sources and writes the key file.

Rotation
    ``Keyring.rotate`` adds a new key, makes it active and sets retire_after
    of the previously active key to 24 hours later. During that overlap,
    processes that loaded the keyring earlier may still encrypt with the old
    key, and every key stays readable. ``reencrypt`` then decrypts, in the
    caller's batches, every ciphertext of a key that is not active and
    encrypts it again with the active key. ``Keyring.retire_key`` removes a key
    from the key file once its overlap has passed and the caller's usage
    counter finds no ciphertext under it. A keyring loaded from the key file
    re-reads the file whenever the file changes, so a rotation made by one
    process takes effect in the others at their next encryption or
    decryption. Keys from the environment or the secrets file are rotated in
    that configuration: add a key, switch the active key, set retire_after on
    the old key, restart, and remove the old key once
    ``Keyring.check_retirement`` passes.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import SolvereignError
from core.pii_keys import (
    ACTIVE_KEY_VARIABLE,
    DEFAULT_KEY_FILE,
    DEFAULT_SECRETS_PATH,
    KEY_ID_PATTERN,
    KEYS_VARIABLE,
    KeyConfigurationError,
    KeySet,
    PiiKey,
    create_key_file_if_missing,
    key_file_lock,
    key_file_signature,
    make_key_set,
    new_key,
    read_configured_keys,
    read_key_file,
    uses_embedded_database,
    write_key_file,
)

__all__ = [
    "PERSONAL_FIELDS",
    "ROTATION_OVERLAP",
    "KeyConfigurationError",
    "KeyRetirementRejected",
    "KeySet",
    "KeyUsageLimitReached",
    "Keyring",
    "MalformedCiphertext",
    "PersonalDataUnreadable",
    "PiiKey",
    "Reencrypted",
    "ReencryptionReport",
    "StoredCiphertext",
    "UnknownPersonalField",
    "ciphertext_prefix",
    "key_id_of",
    "load_keyring",
    "reencrypt",
]

logger = logging.getLogger(__name__)

PERSONAL_FIELDS = ("name", "phone", "email", "address", "licence_number")
# Personal data stored outside the drivers table, bound to a driver like the
# fields above: the note of an availability exception (core.availability).
OTHER_BOUND_FIELDS = ("availability_note",)
FORMAT_VERSION = "v1"
NONCE_BYTES = 12
TAG_BYTES = 16
ROTATION_OVERLAP = timedelta(hours=24)
# NIST SP 800-38D, section 8.3: with random 96-bit nonces, one key may encrypt
# at most 2^32 values.
MAX_ENCRYPTIONS_PER_KEY = 2**32
PAYLOAD_PATTERN = re.compile(r"[A-Za-z0-9_-]+")


class UnknownPersonalField(SolvereignError, ValueError):
    """A field name that is not one of the personal fields of a driver."""

    def __init__(self, field_name: object) -> None:
        self.field_name = field_name
        super().__init__(
            f"{field_name!r} is not a personal data field;"
            f" expected one of {', '.join(PERSONAL_FIELDS)}"
        )


class MalformedCiphertext(SolvereignError, ValueError):
    """Text that is not a ciphertext of the v1 format.

    `key_id` is set when the header was valid up to the key id. The message
    never quotes the text, which may be a value stored without encryption.
    """

    def __init__(self, reason: str, key_id: str | None = None) -> None:
        self.reason = reason
        self.key_id = key_id
        super().__init__(f"invalid personal data ciphertext: {reason}")


class PersonalDataUnreadable(SolvereignError):
    """A stored ciphertext cannot be decrypted for its tenant, driver and field.

    The message names where the value is stored and which key encrypted it,
    never the value, so callers can report it and display nothing else.
    """

    def __init__(
        self,
        tenant_id: int,
        driver_id: int,
        field_name: str,
        key_id: str | None,
        reason: str,
    ) -> None:
        self.tenant_id = tenant_id
        self.driver_id = driver_id
        self.field_name = field_name
        self.key_id = key_id
        self.reason = reason
        super().__init__(
            f"personal data field {field_name} of driver {driver_id} in tenant"
            f" {tenant_id} (key {key_id or 'unknown'}) cannot be decrypted: {reason}"
        )


class KeyRetirementRejected(SolvereignError):
    """A key cannot be retired yet, and `reason` names what must happen first."""

    def __init__(self, key_id: str, reason: str) -> None:
        self.key_id = key_id
        self.reason = reason
        super().__init__(f"key {key_id} cannot be retired: {reason}")


class KeyUsageLimitReached(SolvereignError):
    """The active key has encrypted as many values as random nonces allow."""

    def __init__(self, key_id: str, limit: int) -> None:
        self.key_id = key_id
        self.limit = limit
        super().__init__(
            f"key {key_id} has encrypted {limit} values in this process, the"
            " limit for random 96-bit nonces; rotate the key"
        )


# --- Ciphertext format -------------------------------------------------------


@dataclass(frozen=True)
class _Envelope:
    key_id: str
    nonce: bytes
    sealed: bytes


def key_id_of(ciphertext: str) -> str:
    """Return the id of the key that made this ciphertext.

    Raises MalformedCiphertext if the text is not in the v1 format.
    """
    return _parse_ciphertext(ciphertext).key_id


def ciphertext_prefix(key_id: str) -> str:
    """Return the text that every ciphertext made by this key starts with."""
    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise ValueError(f"key id {key_id!r} is not 1 to 64 letters, digits or hyphens")
    return f"{FORMAT_VERSION}:{key_id}:"


def _format_ciphertext(key_id: str, nonce: bytes, sealed: bytes) -> str:
    payload = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")
    return f"{FORMAT_VERSION}:{key_id}:{payload}"


def _parse_ciphertext(ciphertext: str) -> _Envelope:
    if not isinstance(ciphertext, str):
        raise MalformedCiphertext(f"expected text, got {type(ciphertext).__name__}")
    parts = ciphertext.split(":")
    if len(parts) != 3:
        raise MalformedCiphertext(
            "expected 'v1:<key id>:<payload>', three parts separated by ':'"
        )
    version, key_id, payload = parts
    if version != FORMAT_VERSION:
        raise MalformedCiphertext(f"the format version is not {FORMAT_VERSION}")
    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise MalformedCiphertext(
            "the key id is not 1 to 64 letters, digits or hyphens"
        )
    raw = _decode_payload(payload, key_id)
    return _Envelope(key_id, raw[:NONCE_BYTES], raw[NONCE_BYTES:])


def _decode_payload(payload: str, key_id: str) -> bytes:
    """Decode base64url without padding, accepting only its canonical form.

    The last character of unpadded base64 may carry unused bits, so a decoder
    that ignored them would accept an edited character as the same bytes.
    """
    if not PAYLOAD_PATTERN.fullmatch(payload) or len(payload) % 4 == 1:
        raise MalformedCiphertext("the payload is not base64url text", key_id)
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    canonical = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    if canonical != payload:
        raise MalformedCiphertext("the payload is not canonical base64url", key_id)
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        raise MalformedCiphertext(
            "the payload is shorter than a nonce and a tag", key_id
        )
    return raw


def _associated_data(
    key_id: str, tenant_id: int, driver_id: int, field_name: str
) -> bytes:
    """Encode what a ciphertext is bound to, as JSON so the parts stay distinct."""
    parts = ["solvereign-pii", FORMAT_VERSION, key_id, tenant_id, driver_id, field_name]
    return json.dumps(parts, separators=(",", ":")).encode("utf-8")


def _check_location(tenant_id: int, driver_id: int, field_name: str) -> None:
    for name, value in (("tenant_id", tenant_id), ("driver_id", driver_id)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if field_name not in PERSONAL_FIELDS and field_name not in OTHER_BOUND_FIELDS:
        raise UnknownPersonalField(field_name)


# --- The keyring -------------------------------------------------------------


@dataclass(frozen=True)
class _KeyringState:
    key_set: KeySet
    ciphers: Mapping[str, AESGCM]


class Keyring:
    """The PII keys by id and the active key, as loaded from one source.

    Encrypts with the active key and decrypts with whichever key a ciphertext
    names. A keyring read from the key file writes rotations and retirements
    to that file, and re-reads it whenever another process changed it.
    Safe to share between threads.
    """

    def __init__(
        self, key_set: KeySet, *, encryption_limit: int = MAX_ENCRYPTIONS_PER_KEY
    ) -> None:
        self._encryption_limit = encryption_limit
        self._encryption_counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._adopt(key_set)

    @classmethod
    def from_keys(
        cls,
        keys: Iterable[PiiKey],
        active_key_id: str,
        *,
        origin: str = "keys passed in code",
        encryption_limit: int = MAX_ENCRYPTIONS_PER_KEY,
    ) -> Keyring:
        """Build a keyring from keys in memory, which cannot rotate or retire keys."""
        key_set = make_key_set(keys, active_key_id, origin)
        return cls(key_set, encryption_limit=encryption_limit)

    @classmethod
    def from_key_file(
        cls, path: Path, *, encryption_limit: int = MAX_ENCRYPTIONS_PER_KEY
    ) -> Keyring:
        """Load the keyring stored in a key file, which must exist."""
        return cls(read_key_file(path), encryption_limit=encryption_limit)

    def __repr__(self) -> str:
        key_set = self._state.key_set
        return (
            f"Keyring(origin={key_set.origin!r}, active={key_set.active_key_id!r},"
            f" keys={sorted(key_set.keys)!r})"
        )

    @property
    def origin(self) -> str:
        return self._state.key_set.origin

    @property
    def active_key_id(self) -> str:
        return self._current_state().key_set.active_key_id

    @property
    def keys(self) -> tuple[PiiKey, ...]:
        return tuple(self._current_state().key_set.keys.values())

    def encryption_count(self, key_id: str) -> int:
        """Return how many values this keyring encrypted with the key."""
        with self._lock:
            return self._encryption_counts[key_id]

    def encrypt(
        self, tenant_id: int, driver_id: int, field_name: str, plaintext: str
    ) -> str:
        """Encrypt one personal field of a driver with the active key."""
        _check_location(tenant_id, driver_id, field_name)
        if not isinstance(plaintext, str):
            raise TypeError(
                f"value of personal data field {field_name} must be str,"
                f" got {type(plaintext).__name__}"
            )
        state = self._current_state()
        key_id = state.key_set.active_key_id
        self._count_encryption(key_id)
        nonce = os.urandom(NONCE_BYTES)
        associated_data = _associated_data(key_id, tenant_id, driver_id, field_name)
        sealed = state.ciphers[key_id].encrypt(
            nonce, plaintext.encode("utf-8"), associated_data
        )
        return _format_ciphertext(key_id, nonce, sealed)

    def decrypt(
        self, tenant_id: int, driver_id: int, field_name: str, ciphertext: str
    ) -> str:
        """Decrypt one personal field stored for this tenant, driver and field.

        Raises PersonalDataUnreadable when the text is malformed, names a key
        that is not in the keyring, or fails authentication.
        """
        _check_location(tenant_id, driver_id, field_name)
        try:
            envelope = _parse_ciphertext(ciphertext)
        except MalformedCiphertext as error:
            raise PersonalDataUnreadable(
                tenant_id, driver_id, field_name, error.key_id, error.reason
            ) from error
        key_id = envelope.key_id
        state = self._current_state()
        cipher = state.ciphers.get(key_id)
        if cipher is None:
            raise PersonalDataUnreadable(
                tenant_id,
                driver_id,
                field_name,
                key_id,
                f"key {key_id} is not in the keyring from {state.key_set.origin};"
                " it was retired or is configured elsewhere",
            )
        associated_data = _associated_data(key_id, tenant_id, driver_id, field_name)
        try:
            plaintext = cipher.decrypt(envelope.nonce, envelope.sealed, associated_data)
        except InvalidTag as error:
            raise PersonalDataUnreadable(
                tenant_id,
                driver_id,
                field_name,
                key_id,
                "authentication failed: the ciphertext was altered or belongs to"
                " another tenant, driver or field",
            ) from error
        return plaintext.decode("utf-8")

    def rotate(self, now: datetime | None = None) -> str:
        """Add a new active key to the key file and return its id.

        The previously active key stays readable and gets retire_after set to
        `now` plus the 24 h overlap.
        """
        key_file = self._writable_key_file("rotated")
        now = _utc(now)
        retire_after = now + ROTATION_OVERLAP
        with key_file_lock(key_file):
            current = read_key_file(key_file)
            key = new_key(now, existing=list(current.keys))
            keys = [
                replace(old, retire_after=retire_after)
                if old.key_id == current.active_key_id
                else old
                for old in current.keys.values()
            ]
            write_key_file(key_file, [*keys, key], key.key_id)
            self._adopt(read_key_file(key_file))
        logger.info(
            "rotated PII keys in %s: key %s is active, key %s retires after %s",
            key_file,
            key.key_id,
            current.active_key_id,
            retire_after.isoformat(),
        )
        return key.key_id

    def check_retirement(
        self,
        key_id: str,
        usage_counter: Callable[[str], int],
        now: datetime | None = None,
    ) -> None:
        """Raise KeyRetirementRejected unless the key may be removed now.

        `usage_counter(key_id)` returns how many stored ciphertexts use the
        key, for example by counting values that start with
        ``ciphertext_prefix(key_id)``.
        """
        key_set = self._current_state().key_set
        _check_retirement(key_set, key_id, usage_counter, _utc(now))

    def retire_key(
        self,
        key_id: str,
        usage_counter: Callable[[str], int],
        now: datetime | None = None,
    ) -> None:
        """Remove a key from the key file after its overlap, once nothing uses it.

        Raises KeyRetirementRejected while the overlap lasts or while
        `usage_counter(key_id)` finds ciphertexts that use the key.
        """
        key_file = self._writable_key_file("retired")
        now = _utc(now)
        with key_file_lock(key_file):
            current = read_key_file(key_file)
            _check_retirement(current, key_id, usage_counter, now)
            keys = [key for key in current.keys.values() if key.key_id != key_id]
            write_key_file(key_file, keys, current.active_key_id)
            self._adopt(read_key_file(key_file))
        logger.info("retired PII key %s from %s", key_id, key_file)

    def _count_encryption(self, key_id: str) -> None:
        with self._lock:
            if self._encryption_counts[key_id] >= self._encryption_limit:
                raise KeyUsageLimitReached(key_id, self._encryption_limit)
            self._encryption_counts[key_id] += 1

    def _current_state(self) -> _KeyringState:
        """Return the keys, re-reading the key file if it changed since loading."""
        state = self._state
        key_file = state.key_set.key_file
        if key_file is None:
            return state
        signature = key_file_signature(key_file)
        # NOTE: a deleted key file leaves the keys already loaded in use.
        if signature is None or signature == state.key_set.file_signature:
            return state
        self._adopt(read_key_file(key_file))
        return self._state

    def _adopt(self, key_set: KeySet) -> None:
        ciphers = {key_id: AESGCM(key.secret) for key_id, key in key_set.keys.items()}
        self._state = _KeyringState(key_set, ciphers)

    def _writable_key_file(self, action: str) -> Path:
        key_set = self._state.key_set
        if key_set.key_file is None:
            raise KeyConfigurationError(
                f"keys from {key_set.origin} cannot be {action} here; change that"
                " configuration (add a key, switch the active key, set"
                " retire_after on the old key) and restart"
            )
        return key_set.key_file


def _check_retirement(
    key_set: KeySet,
    key_id: str,
    usage_counter: Callable[[str], int],
    now: datetime,
) -> None:
    key = key_set.keys.get(key_id)
    if key is None:
        raise KeyRetirementRejected(key_id, f"it is not in {key_set.origin}")
    if key_id == key_set.active_key_id:
        raise KeyRetirementRejected(key_id, "it is the active key; rotate first")
    if key.retire_after is None:
        raise KeyRetirementRejected(
            key_id,
            "it has no retire_after time; set one at least 24 h after the key"
            " that replaced it became active",
        )
    if now < key.retire_after:
        raise KeyRetirementRejected(
            key_id,
            f"its overlap lasts until {key.retire_after.isoformat()}, and"
            " processes that loaded the keyring earlier may still encrypt with it",
        )
    in_use = usage_counter(key_id)
    if in_use > 0:
        raise KeyRetirementRejected(
            key_id, f"{in_use} stored ciphertexts still use it; run reencrypt first"
        )


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError(
            f"time {now.isoformat()} has no time zone; pass an aware datetime"
        )
    return now.astimezone(UTC)


def load_keyring(
    *,
    environ: Mapping[str, str] | None = None,
    secrets_path: Path = DEFAULT_SECRETS_PATH,
    key_file: Path = DEFAULT_KEY_FILE,
    now: datetime | None = None,
) -> Keyring:
    """Load the keys from the first configured source (see the module docstring).

    `environ` defaults to os.environ, and `now` dates a generated key. Raises
    KeyConfigurationError for invalid configuration, and when no key is
    configured while the database is not the embedded SQLite one.
    """
    environ = os.environ if environ is None else environ
    key_set = read_configured_keys(environ, secrets_path)
    if key_set is None:
        if not uses_embedded_database(environ):
            raise KeyConfigurationError(
                f"no PII keys are configured; set {KEYS_VARIABLE} and"
                f" {ACTIVE_KEY_VARIABLE}, or a [pii] section in {secrets_path},"
                " because a generated key file serves only the embedded SQLite"
                " database"
            )
        create_key_file_if_missing(key_file, _utc(now))
        key_set = read_key_file(key_file)
    logger.info(
        "loaded %d PII keys from %s; active key %s",
        len(key_set.keys),
        key_set.origin,
        key_set.active_key_id,
    )
    return Keyring(key_set)


# --- Re-encryption after a rotation ------------------------------------------


class StoredCiphertext(NamedTuple):
    """One stored personal data value; a plain 5-tuple in this order works too."""

    row_id: object
    tenant_id: int
    driver_id: int
    field_name: str
    ciphertext: str


class Reencrypted(NamedTuple):
    """A new ciphertext for a stored value.

    `previous` is the ciphertext that was read, so the writer can update only
    where the stored value is still `previous` and keep a concurrent edit.
    """

    row_id: object
    field_name: str
    previous: str
    ciphertext: str


@dataclass
class ReencryptionReport:
    """Counts of one re-encryption run."""

    batches: int = 0
    examined: int = 0
    reencrypted: int = 0
    already_active: int = 0
    reencrypted_by_key: Counter[str] = field(default_factory=Counter)
    # (row id, field name) of values that failed to decrypt and were left unchanged.
    unreadable: list[tuple[object, str]] = field(default_factory=list)


def reencrypt(
    keyring: Keyring,
    batches: Iterable[Iterable[tuple[object, int, int, str, str]]],
    write_batch: Callable[[list[Reencrypted]], None],
) -> ReencryptionReport:
    """Encrypt again with the active key every value that another key made.

    `batches` yields batches of (row id, tenant id, driver id, field name,
    ciphertext). `write_batch` receives the new ciphertexts of one batch,
    once for each batch that has any, and should store them in one
    transaction. A reader that pages by row id (``WHERE id > last ORDER BY
    id``) stays correct while earlier batches are rewritten. Values that
    cannot be decrypted are left unchanged and listed in the report, so their
    key cannot be retired until someone deals with them.
    """
    report = ReencryptionReport()
    for batch in batches:
        report.batches += 1
        updates = _reencrypt_batch(keyring, batch, report)
        if updates:
            write_batch(updates)
            report.reencrypted += len(updates)
    if report.unreadable:
        logger.warning(
            "re-encryption left %d unreadable PII values unchanged; first"
            " (row id, field): %s",
            len(report.unreadable),
            report.unreadable[:10],
        )
    logger.info(
        "re-encrypted %d of %d PII values in %d batches with key %s",
        report.reencrypted,
        report.examined,
        report.batches,
        keyring.active_key_id,
    )
    return report


def _reencrypt_batch(
    keyring: Keyring,
    batch: Iterable[tuple[object, int, int, str, str]],
    report: ReencryptionReport,
) -> list[Reencrypted]:
    """Return the new ciphertexts of one batch and count what it examined."""
    updates: list[Reencrypted] = []
    for row_id, tenant_id, driver_id, field_name, ciphertext in batch:
        report.examined += 1
        _check_location(tenant_id, driver_id, field_name)
        try:
            key_id = key_id_of(ciphertext)
            if key_id == keyring.active_key_id:
                report.already_active += 1
                continue
            plaintext = keyring.decrypt(tenant_id, driver_id, field_name, ciphertext)
        except (MalformedCiphertext, PersonalDataUnreadable):
            report.unreadable.append((row_id, field_name))
            continue
        new_ciphertext = keyring.encrypt(tenant_id, driver_id, field_name, plaintext)
        updates.append(Reencrypted(row_id, field_name, ciphertext, new_ciphertext))
        report.reencrypted_by_key[key_id] += 1
    return updates
