"""Storage of audit checkpoints and of their key: key file, files and Redis.

core.audit_anchor describes the checkpoints and which store and key are
configured. A store keeps each checkpoint as one JSON text per tenant and
namespace, and never interprets it, so a store cannot vouch for a
checkpoint: only its signature does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
import stat
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import redis

from core.errors import SolvereignError
from core.rate_limits import REDIS_TIMEOUT_SECONDS

logger = logging.getLogger(__name__)

MIN_KEY_BYTES = 32
KEY_ID_LENGTH = 16
REDIS_KEY_PREFIX = "solvereign:audit-anchor"


class AnchorError(SolvereignError):
    """Checkpoints cannot be written or read: configuration, key or store."""


class AnchorKeyError(AnchorError):
    """The checkpoint key is missing, invalid or readable by other users."""


class AnchorStoreUnavailable(AnchorError):
    """The checkpoint store cannot be reached, read or written."""


@dataclass(frozen=True)
class AnchorKey:
    """The HMAC-SHA256 key that signs checkpoints, and where it was read from."""

    secret: bytes = field(repr=False)
    origin: str

    @property
    def key_id(self) -> str:
        """First 16 hex digits of the key's SHA-256, which name it in checkpoints."""
        return hashlib.sha256(self.secret).hexdigest()[:KEY_ID_LENGTH]


def decode_key(encoded: str, origin: str) -> AnchorKey:
    """Decode a base64 key of at least 32 bytes, naming `origin` on error."""
    try:
        secret = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise AnchorKeyError(
            f"{origin} is not standard base64; generate a key with"
            ' python -c "import base64,os;'
            ' print(base64.b64encode(os.urandom(32)).decode())"'
        ) from None
    if len(secret) < MIN_KEY_BYTES:
        raise AnchorKeyError(
            f"{origin} contains {len(secret)} bytes; the key needs at least"
            f" {MIN_KEY_BYTES} random bytes"
        )
    return AnchorKey(secret, origin)


def read_key_file(path: Path) -> AnchorKey | None:
    """Read the key file, or return None when it does not exist.

    Raises AnchorKeyError when other users may read the file, because any of
    them could then forge checkpoints.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise AnchorKeyError(
            f"audit anchor key file {path} cannot be read: {error}"
        ) from error
    with os.fdopen(descriptor, "r", encoding="ascii") as key_file:
        mode = stat.S_IMODE(os.fstat(key_file.fileno()).st_mode)
        if mode & 0o077:
            raise AnchorKeyError(
                f"audit anchor key file {path} has mode {mode:04o}, so other users"
                f" may read it; run chmod 600 {path}"
            )
        encoded = key_file.read()
    return decode_key(encoded, f"audit anchor key file {path}")


def create_key_file(path: Path) -> AnchorKey:
    """Write a new random key to `path` with mode 0600, unless one exists already.

    The key is written to a temporary file and then linked to `path`, so no
    process ever reads a half-written key. When two processes race, the
    first link wins and both return the key in the file. Raises
    AnchorKeyError when the file cannot be written.
    """
    try:
        _link_new_key(path)
    except OSError as error:
        raise AnchorKeyError(
            f"audit anchor key file {path} cannot be created: {error}"
        ) from error
    key = read_key_file(path)
    if key is None:
        raise AnchorKeyError(f"audit anchor key file {path} vanished after writing")
    return key


def _link_new_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    encoded = base64.b64encode(secrets.token_bytes(MIN_KEY_BYTES)).decode("ascii")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as key_file:
            key_file.write(encoded + "\n")
            key_file.flush()
            os.fsync(key_file.fileno())
        try:
            os.link(temporary, path)
            logger.warning("generated the audit anchor key file %s", path)
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)


class AnchorStore(Protocol):
    """A place that keeps checkpoints; `description` names it in messages."""

    description: str

    def add(self, namespace: str, tenant_id: int, sequence: int, text: str) -> None:
        """Store a checkpoint's JSON text; raise AnchorStoreUnavailable on failure."""
        ...

    def records(self, namespace: str, tenant_id: int) -> list[str]:
        """Return the stored checkpoints of a tenant as JSON texts."""
        ...


class FileAnchorStore:
    """Checkpoints as JSON lines, one file per tenant under a directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.description = f"directory {directory}"

    def add(self, namespace: str, tenant_id: int, sequence: int, text: str) -> None:
        path = self._path(namespace, tenant_id)
        line = (text + "\n").encode("utf-8")
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # One write call per line with O_APPEND: on a local Linux file
            # system, concurrent writers then never interleave within a line.
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                written = os.write(descriptor, line)
                if written != len(line):
                    raise OSError(f"wrote {written} of {len(line)} bytes")
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        except OSError as error:
            raise AnchorStoreUnavailable(
                f"audit checkpoint file {path} cannot be written: {error}"
            ) from error

    def records(self, namespace: str, tenant_id: int) -> list[str]:
        path = self._path(namespace, tenant_id)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as error:
            raise AnchorStoreUnavailable(
                f"audit checkpoint file {path} cannot be read: {error}"
            ) from error
        return [line for line in text.splitlines() if line.strip()]

    def _path(self, namespace: str, tenant_id: int) -> Path:
        return self.directory / namespace / f"tenant-{tenant_id}.jsonl"


class RedisAnchorStore:
    """Checkpoints in Redis: one sorted set per tenant, scored by sequence."""

    def __init__(
        self, client: redis.Redis, description: str, key_prefix: str = REDIS_KEY_PREFIX
    ) -> None:
        self.client = client
        self.description = description
        self.key_prefix = key_prefix

    @classmethod
    def from_url(cls, url: str, key_prefix: str = REDIS_KEY_PREFIX) -> RedisAnchorStore:
        """Connect lazily to Redis at `url`, failing after REDIS_TIMEOUT_SECONDS."""
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        return cls(client, f"redis {_without_credentials(url)}", key_prefix)

    def add(self, namespace: str, tenant_id: int, sequence: int, text: str) -> None:
        key = self._key(namespace, tenant_id)
        try:
            self.client.zadd(key, {text: sequence})
        except redis.RedisError as error:
            raise AnchorStoreUnavailable(
                f"audit checkpoint store {self.description} cannot be written: {error}"
            ) from error

    def records(self, namespace: str, tenant_id: int) -> list[str]:
        key = self._key(namespace, tenant_id)
        try:
            members = self.client.zrange(key, 0, -1)
        except redis.RedisError as error:
            raise AnchorStoreUnavailable(
                f"audit checkpoint store {self.description} cannot be read: {error}"
            ) from error
        return [member.decode("utf-8", "replace") for member in members]

    def _key(self, namespace: str, tenant_id: int) -> str:
        return f"{self.key_prefix}:{namespace}:{tenant_id}"


def _without_credentials(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
