"""Sources of the keys for driver personal data, and the key file.

core.pii describes the key sources and their order. This module reads and
checks them: the environment variables, the section [pii] of the secrets file,
and the key file of the embedded database. The key file is always replaced in
one step with mode 0600, and it is changed only under an exclusive lock that
all processes share, so that no process overwrites another's change.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import logging
import os
import re
import secrets
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from core.errors import SolvereignError

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECRETS_PATH = PROJECT_ROOT / ".streamlit" / "secrets.toml"
DEFAULT_KEY_FILE = PROJECT_ROOT / "var" / "pii_keys.json"
KEYS_VARIABLE = "SOLVEREIGN_PII_KEYS"
ACTIVE_KEY_VARIABLE = "SOLVEREIGN_PII_ACTIVE_KEY"

KEY_BYTES = 32
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9-]{1,64}")
KEY_FILE_FORMAT = 1
KEY_RECORD_FIELDS = frozenset({"key", "created_at", "retire_after"})
SECRETS_SECTION_FIELDS = frozenset({"active_key", "keys"})

FileSignature = tuple[int, int, int]


class KeyConfigurationError(SolvereignError):
    """The PII keys are missing, invalid, or cannot be changed where they live."""


@dataclass(frozen=True)
class PiiKey:
    """One AES-256 key: its id, its secret and, once replaced, its retire time."""

    key_id: str
    secret: bytes = field(repr=False)
    created_at: datetime | None = None
    retire_after: datetime | None = None


@dataclass(frozen=True)
class KeySet:
    """Checked keys by id, the active key id, and where they were read from.

    `key_file` is set for keys read from the key file, and `file_signature`
    then identifies the version of the file that was read.
    """

    keys: Mapping[str, PiiKey]
    active_key_id: str
    origin: str
    key_file: Path | None = None
    file_signature: FileSignature | None = None


def make_key_set(
    keys: Iterable[PiiKey],
    active_key_id: str,
    origin: str,
    key_file: Path | None = None,
    file_signature: FileSignature | None = None,
) -> KeySet:
    """Check the keys and the active key id, naming the key and `origin` on error."""
    by_id: dict[str, PiiKey] = {}
    for key in keys:
        _check_key(key, origin)
        if key.key_id in by_id:
            raise KeyConfigurationError(f"key {key.key_id} appears twice in {origin}")
        by_id[key.key_id] = key
    if not by_id:
        raise KeyConfigurationError(f"{origin} contains no keys")
    if active_key_id not in by_id:
        raise KeyConfigurationError(
            f"active key {active_key_id!r} is not one of the keys in {origin}"
            f" ({', '.join(sorted(by_id))})"
        )
    if by_id[active_key_id].retire_after is not None:
        raise KeyConfigurationError(
            f"active key {active_key_id} in {origin} has a retire_after time;"
            " an active key cannot be retired, so remove retire_after"
        )
    return KeySet(by_id, active_key_id, origin, key_file, file_signature)


def _check_key(key: PiiKey, origin: str) -> None:
    if not isinstance(key.key_id, str) or not KEY_ID_PATTERN.fullmatch(key.key_id):
        raise KeyConfigurationError(
            f"key id {key.key_id!r} in {origin} is not 1 to 64 letters, digits"
            " or hyphens"
        )
    if len(key.secret) != KEY_BYTES:
        raise KeyConfigurationError(
            f"key {key.key_id} in {origin} is {len(key.secret)} bytes; an AES-256"
            f" key is {KEY_BYTES} bytes"
        )


def new_key(now: datetime, existing: Sequence[str]) -> PiiKey:
    """Generate a key of 32 random bytes with an id unused in `existing`."""
    while True:
        key_id = f"k{now:%Y%m%d}-{secrets.token_hex(4)}"
        if key_id not in existing:
            return PiiKey(key_id, secrets.token_bytes(KEY_BYTES), created_at=now)


def uses_embedded_database(environ: Mapping[str, str]) -> bool:
    """Tell whether the database is SQLite, as db.session resolves DATABASE_URL."""
    url = environ.get("DATABASE_URL") or ""
    return url == "" or url.startswith("sqlite")


# --- Configured keys: the environment and the secrets file --------------------


def read_configured_keys(
    environ: Mapping[str, str], secrets_path: Path
) -> KeySet | None:
    """Read the keys from the environment, else from the secrets file.

    Returns None when neither configures any key.
    """
    key_set = _keys_from_environment(environ)
    if key_set is None:
        key_set = _keys_from_secrets(secrets_path)
    return key_set


def _keys_from_environment(environ: Mapping[str, str]) -> KeySet | None:
    keys_text = environ.get(KEYS_VARIABLE, "")
    active_key_id = environ.get(ACTIVE_KEY_VARIABLE, "")
    if not keys_text and not active_key_id:
        return None
    if not keys_text:
        raise KeyConfigurationError(
            f"{ACTIVE_KEY_VARIABLE} is set but {KEYS_VARIABLE} is missing; set both"
        )
    try:
        entries = json.loads(keys_text)
    except json.JSONDecodeError as error:
        # The message gives the position only: the text contains secrets.
        raise KeyConfigurationError(
            f"{KEYS_VARIABLE} is not valid JSON: {error.msg} at line"
            f" {error.lineno} column {error.colno}"
        ) from None
    if not isinstance(entries, dict):
        raise KeyConfigurationError(
            f"{KEYS_VARIABLE} must be a JSON object that maps key ids to keys"
        )
    origin = f"environment variable {KEYS_VARIABLE}"
    keys = parse_key_entries(entries, origin)
    if not active_key_id:
        raise KeyConfigurationError(
            f"{KEYS_VARIABLE} is set but {ACTIVE_KEY_VARIABLE} is missing; set it"
            f" to one of {', '.join(sorted(entries))}"
        )
    return make_key_set(keys, active_key_id, origin)


def _keys_from_secrets(path: Path) -> KeySet | None:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        return None
    except tomllib.TOMLDecodeError as error:
        raise KeyConfigurationError(f"{path} is not valid TOML: {error}") from None
    section = document.get("pii")
    if section is None:
        return None
    origin = f"section [pii] of {path}"
    if not isinstance(section, dict):
        raise KeyConfigurationError(f"{origin} must be a table")
    unknown = sorted(set(section) - SECRETS_SECTION_FIELDS)
    if unknown:
        raise KeyConfigurationError(
            f"{origin} has unknown entries {', '.join(unknown)};"
            " expected active_key and keys"
        )
    entries = section.get("keys")
    if not isinstance(entries, dict):
        raise KeyConfigurationError(f"{origin} needs a table [pii.keys]")
    active_key_id = section.get("active_key")
    if not isinstance(active_key_id, str):
        raise KeyConfigurationError(
            f"{origin} needs active_key, the id of the key that encrypts new values"
        )
    return make_key_set(parse_key_entries(entries, origin), active_key_id, origin)


def parse_key_entries(entries: Mapping[str, object], origin: str) -> list[PiiKey]:
    """Read keys given as {key id: base64 text or record with 'key'}."""
    return [
        _parse_key_entry(key_id, entry, origin) for key_id, entry in entries.items()
    ]


def _parse_key_entry(key_id: str, entry: object, origin: str) -> PiiKey:
    if isinstance(entry, str):
        return PiiKey(key_id, _decode_key(entry, key_id, origin))
    if not isinstance(entry, Mapping):
        raise KeyConfigurationError(
            f"key {key_id} in {origin} must be base64 text or a record with 'key'"
        )
    unknown = sorted(set(entry) - KEY_RECORD_FIELDS)
    if unknown:
        raise KeyConfigurationError(
            f"key {key_id} in {origin} has unknown fields {', '.join(unknown)};"
            f" expected {', '.join(sorted(KEY_RECORD_FIELDS))}"
        )
    encoded = entry.get("key")
    if not isinstance(encoded, str):
        raise KeyConfigurationError(f"key {key_id} in {origin} has no 'key' text")
    return PiiKey(
        key_id,
        _decode_key(encoded, key_id, origin),
        created_at=_parse_time(entry.get("created_at"), key_id, "created_at", origin),
        retire_after=_parse_time(
            entry.get("retire_after"), key_id, "retire_after", origin
        ),
    )


def _decode_key(encoded: str, key_id: str, origin: str) -> bytes:
    try:
        secret = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise KeyConfigurationError(
            f"key {key_id} in {origin} is not valid base64"
        ) from None
    if len(secret) != KEY_BYTES:
        raise KeyConfigurationError(
            f"key {key_id} in {origin} is {len(secret)} bytes after base64"
            f" decoding; an AES-256 key is {KEY_BYTES} bytes"
        )
    return secret


def _parse_time(value: object, key_id: str, name: str, origin: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise KeyConfigurationError(
                f"{name} of key {key_id} in {origin} is not an ISO 8601 time"
            ) from None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise KeyConfigurationError(
            f"{name} of key {key_id} in {origin} must be a time with a time zone,"
            " e.g. 2026-01-02T00:00:00+00:00"
        )
    return value.astimezone(UTC)


# --- The key file of the embedded database ------------------------------------


def key_file_signature(path: Path) -> FileSignature | None:
    """Return (inode, modification time, size) of the key file, or None if missing.

    Every write replaces the file, so a new inode marks a change even when
    the size and the modification time happen to match.
    """
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def create_key_file_if_missing(path: Path, now: datetime) -> None:
    """Generate the key file with one new active key unless it exists."""
    if path.exists():
        return
    with key_file_lock(path):
        # Another process may have created it while this one waited.
        if path.exists():
            return
        key = new_key(now, existing=[])
        write_key_file(path, [key], key.key_id)
    logger.info("generated PII key file %s with key %s", path, key.key_id)


def read_key_file(path: Path) -> KeySet:
    """Read and check the key file, which must be readable by its owner only."""
    origin = f"key file {path}"
    with path.open("rb") as handle:
        stat = os.fstat(handle.fileno())
        text = handle.read()
    if stat.st_mode & 0o077:
        raise KeyConfigurationError(
            f"{origin} has mode {stat.st_mode & 0o777:o}, readable by group or"
            f" others; run chmod 600 {path}"
        )
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise KeyConfigurationError(f"{origin} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") != KEY_FILE_FORMAT:
        raise KeyConfigurationError(
            f"{origin} is not a key file of format {KEY_FILE_FORMAT}"
        )
    entries = document.get("keys")
    active_key_id = document.get("active_key")
    if not isinstance(entries, dict) or not isinstance(active_key_id, str):
        raise KeyConfigurationError(f"{origin} needs 'keys' and 'active_key'")
    signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    keys = parse_key_entries(entries, origin)
    return make_key_set(keys, active_key_id, origin, path, signature)


def write_key_file(path: Path, keys: Sequence[PiiKey], active_key_id: str) -> None:
    """Replace the key file in one step, so readers never see half a file.

    Call it while holding `key_file_lock(path)`.
    """
    make_key_set(keys, active_key_id, f"new contents of key file {path}")
    document = {
        "format": KEY_FILE_FORMAT,
        "active_key": active_key_id,
        "keys": {key.key_id: _key_record(key) for key in keys},
    }
    text = json.dumps(document, indent=2) + "\n"
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _key_record(key: PiiKey) -> dict[str, str | None]:
    return {
        "key": base64.b64encode(key.secret).decode("ascii"),
        "created_at": key.created_at.isoformat() if key.created_at else None,
        "retire_after": key.retire_after.isoformat() if key.retire_after else None,
    }


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable: a lost key file makes its ciphertexts unreadable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def key_file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the lock file beside the key file.

    Creates the key file's folder (mode 0700) if it is missing.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock_path = path.with_name(f"{path.name}.lock")
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)
