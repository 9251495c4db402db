"""Signed checkpoints of each tenant's audit chain head, kept outside the database.

The hash chain (core.audit) shows an edit, a deletion or a reordering inside
the chain. It cannot show that the newest entries were cut off, or that the
whole table was replaced by a chain with freshly computed hashes, because
both leave a valid chain behind. A checkpoint records the head of a tenant's
chain (tenant id, sequence, entry hash, time) outside the database and signs
it with HMAC-SHA256, so that the verifier can compare the chain with it:

- the chain ends before the checkpoint's sequence: entries were deleted;
- the entry at the checkpoint's sequence has another hash: the chain was
  rewritten;
- a checkpoint whose signature does not match: it was forged or altered.

When checkpoints are written. core.audit writes one after the commit of
every entry whose sequence is a multiple of the interval
(SOLVEREIGN_AUDIT_CHECKPOINT_INTERVAL, default 100) and after the commit of
every CRITICAL security event, so the evidence of an attack is anchored at
once. `python -m core.audit_anchor checkpoint` writes one on demand. A
failed write never affects the entry, which is already committed: it is
logged at ERROR, and the next checkpoint carries the newer head.

NOTE: entries appended after the newest checkpoint are not covered. Cutting
them off is detected only once a later checkpoint exists, so the interval is
the number of entries that can go missing unnoticed.

Where checkpoints are kept. In Redis when SOLVEREIGN_REDIS_URL is set (a
sorted set per tenant, key "solvereign:audit-anchor:<namespace>:<tenant
id>"), else in files: one JSON line per checkpoint in
<directory>/<namespace>/tenant-<id>.jsonl. The directory is
SOLVEREIGN_AUDIT_ANCHOR_DIR, else audit_anchors beside a SQLite database
file (var/audit_anchors for the embedded default), else var/audit_anchors.
The namespace separates databases that share one store. It is
SOLVEREIGN_AUDIT_ANCHOR_NAMESPACE, or else "db-" and 16 hex digits of the
SHA-256 of the database's backend, host, port and name (for SQLite, of the
file's absolute path). Moving the database to another host or path
therefore needs the variable set to the old namespace. Files suit the
embedded SQLite default and a single server; several servers must share
Redis or a shared directory.

The key. SOLVEREIGN_AUDIT_ANCHOR_KEY contains standard base64 of at least 32
random bytes, for example the output of
    python -c "import base64,os; print(base64.b64encode(os.urandom(32)).decode())"
Without it, the key file audit_anchor.key is generated on the first
checkpoint, beside a SQLite database file (var/audit_anchor.key for the
embedded default) or else in var/. It is readable by its owner only (mode
0600) and never committed, because var/ is ignored by git. Several servers
must share the variable, because each would otherwise generate a key of its
own and reject the others' checkpoints as forged. Each checkpoint names its
key by `key_id`, the first 16 hex digits of the SHA-256 of the key.

NOTE: whoever can read the key can forge checkpoints, and whoever can delete
the checkpoints makes truncation and rewrites undetectable. Keep the key and
the store out of reach of the database's administrators.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from core.audit_anchor_storage import (
    AnchorError,
    AnchorKey,
    AnchorKeyError,
    AnchorStore,
    FileAnchorStore,
    RedisAnchorStore,
    create_key_file,
    decode_key,
    read_key_file,
)
from core.errors import SolvereignError
from core.rate_limits import REDIS_URL_VARIABLE
from db import cross_tenant
from db.models import Tenant
from db.session import make_engine, make_session_factory, set_transaction_tenant

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ANCHOR_DIRECTORY = PROJECT_ROOT / "var" / "audit_anchors"
DEFAULT_KEY_FILE = PROJECT_ROOT / "var" / "audit_anchor.key"

KEY_VARIABLE = "SOLVEREIGN_AUDIT_ANCHOR_KEY"
DIRECTORY_VARIABLE = "SOLVEREIGN_AUDIT_ANCHOR_DIR"
INTERVAL_VARIABLE = "SOLVEREIGN_AUDIT_CHECKPOINT_INTERVAL"
NAMESPACE_VARIABLE = "SOLVEREIGN_AUDIT_ANCHOR_NAMESPACE"

DEFAULT_INTERVAL = 100
CHECKPOINT_FORMAT = 1
NAMESPACE_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
SHA256_HEX_PATTERN = re.compile(r"[0-9a-f]{64}")
CHECKPOINT_FIELDS = frozenset(
    {
        "format",
        "namespace",
        "tenant_id",
        "sequence",
        "entry_hash",
        "created_at",
        "key_id",
        "signature",
    }
)


@dataclass(frozen=True)
class Checkpoint:
    """A signed record of one tenant's chain head at one moment."""

    namespace: str
    tenant_id: int
    sequence: int
    entry_hash: str
    created_at: datetime
    key_id: str
    signature: str

    def signed_bytes(self) -> bytes:
        """Serialise every field but the signature as canonical UTF-8 JSON."""
        return _canonical_json(self._signed_fields()).encode("utf-8")

    def to_json(self) -> str:
        """Serialise the checkpoint, signature included, as one line of JSON."""
        return _canonical_json({**self._signed_fields(), "signature": self.signature})

    def _signed_fields(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "namespace": self.namespace,
            "tenant_id": self.tenant_id,
            "sequence": self.sequence,
            "entry_hash": self.entry_hash,
            "created_at": self.created_at.astimezone(UTC).isoformat(
                timespec="microseconds"
            ),
            "key_id": self.key_id,
        }


def sign_checkpoint(
    key: AnchorKey,
    namespace: str,
    tenant_id: int,
    sequence: int,
    entry_hash: str,
    created_at: datetime,
) -> Checkpoint:
    """Build the checkpoint of a chain head and sign it with `key`."""
    unsigned = Checkpoint(
        namespace=namespace,
        tenant_id=tenant_id,
        sequence=sequence,
        entry_hash=entry_hash,
        created_at=created_at,
        key_id=key.key_id,
        signature="",
    )
    return replace(unsigned, signature=_signature(key, unsigned))


def signature_matches(checkpoint: Checkpoint, key: AnchorKey) -> bool:
    """Tell whether `key` signed exactly these checkpoint fields."""
    return hmac.compare_digest(_signature(key, checkpoint), checkpoint.signature)


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse one stored checkpoint; raise ValueError or TypeError naming the fault."""
    record = _checkpoint_record(text)
    _check_field_types(record)
    created_at = _aware_time(record["created_at"])
    return Checkpoint(
        namespace=record["namespace"],
        tenant_id=record["tenant_id"],
        sequence=record["sequence"],
        entry_hash=record["entry_hash"],
        created_at=created_at,
        key_id=record["key_id"],
        signature=record["signature"],
    )


def _checkpoint_record(text: str) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"it is not JSON ({error.msg})") from None
    if not isinstance(record, dict):
        raise TypeError("it is not a JSON object")

    missing = CHECKPOINT_FIELDS - record.keys()
    if missing:
        raise ValueError(f"it lacks the fields {', '.join(sorted(missing))}")
    extra = record.keys() - CHECKPOINT_FIELDS
    if extra:
        raise ValueError(f"it has the unexpected fields {', '.join(sorted(extra))}")
    if record["format"] != CHECKPOINT_FORMAT:
        raise ValueError(f"its format {record['format']!r} is not {CHECKPOINT_FORMAT}")
    return record


def _check_field_types(record: dict[str, Any]) -> None:
    for name in ("tenant_id", "sequence"):
        value = record[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"its {name} {value!r} is not a positive integer")

    for name in ("namespace", "entry_hash", "created_at", "key_id", "signature"):
        if not isinstance(record[name], str):
            raise TypeError(f"its {name} {record[name]!r} is not text")

    if not SHA256_HEX_PATTERN.fullmatch(record["entry_hash"]):
        raise ValueError(f"its entry_hash {record['entry_hash']!r} is no SHA-256")


def _aware_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"its created_at {text!r} is no ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"its created_at {text!r} has no time zone")
    return moment


def _signature(key: AnchorKey, checkpoint: Checkpoint) -> str:
    return hmac.new(key.secret, checkpoint.signed_bytes(), hashlib.sha256).hexdigest()


def _canonical_json(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class RejectedCheckpoint:
    """A stored checkpoint that failed its checks.

    `sequence` is the sequence it claims, or None when it cannot be read.
    """

    sequence: int | None
    reason: str


@dataclass(frozen=True)
class CheckpointReading:
    """A tenant's stored checkpoints: the authentic ones in sequence order, the rest."""

    authentic: list[Checkpoint]
    rejected: list[RejectedCheckpoint]


# --- Configuration -----------------------------------------------------------


class AuditAnchor:
    """The checkpoint store, key, interval and namespace of this process.

    `store` is the configured store; None means the default files of
    each database (`default_anchor_directory`). `key` is the configured key;
    None means the key file, `key_file` or else `default_key_file` of
    each database, created on the first checkpoint. `namespace` overrides
    the one derived from the database URL.
    """

    def __init__(
        self,
        store: AnchorStore | None = None,
        *,
        key: AnchorKey | None = None,
        key_file: Path | None = None,
        interval: int = DEFAULT_INTERVAL,
        namespace: str | None = None,
    ) -> None:
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            raise AnchorError(
                f"audit checkpoint interval {interval!r} is not a positive integer"
            )
        if namespace is not None and not NAMESPACE_PATTERN.fullmatch(namespace):
            raise AnchorError(
                f"audit anchor namespace {namespace!r} is not 1 to 64 letters,"
                " digits, hyphens or underscores"
            )
        self.interval = interval
        self._store = store
        self._key = key
        self._key_file = key_file
        self._namespace = namespace
        self._keys_by_file: dict[Path, AnchorKey] = {}
        self._key_lock = threading.Lock()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> AuditAnchor:
        """Build the anchor from the SOLVEREIGN_* variables described above."""
        environ = os.environ if environ is None else environ
        key = None
        if environ.get(KEY_VARIABLE):
            key = decode_key(
                environ[KEY_VARIABLE], f"environment variable {KEY_VARIABLE}"
            )
        store: AnchorStore | None = None
        if environ.get(REDIS_URL_VARIABLE):
            store = RedisAnchorStore.from_url(environ[REDIS_URL_VARIABLE])
        elif environ.get(DIRECTORY_VARIABLE):
            store = FileAnchorStore(Path(environ[DIRECTORY_VARIABLE]))
        return cls(
            store,
            key=key,
            interval=_interval_from(environ),
            namespace=environ.get(NAMESPACE_VARIABLE) or None,
        )

    def is_due(self, sequence: int) -> bool:
        """Tell whether the entry with this sequence gets a checkpoint by interval."""
        return sequence % self.interval == 0

    def namespace_for(self, database_url: URL) -> str:
        """Return the namespace of the database's checkpoints."""
        if self._namespace is not None:
            return self._namespace
        return database_namespace(database_url)

    def store_for(self, database_url: URL) -> AnchorStore:
        """Return the store of the database's checkpoints."""
        if self._store is not None:
            return self._store
        return FileAnchorStore(default_anchor_directory(database_url))

    def signing_key(self, database_url: URL) -> AnchorKey:
        """Return the key, reading or creating the key file at first use."""
        if self._key is not None:
            return self._key
        path = self._key_file or default_key_file(database_url)
        with self._key_lock:
            if path not in self._keys_by_file:
                key = read_key_file(path) or create_key_file(path)
                self._keys_by_file[path] = key
            return self._keys_by_file[path]

    def verifying_key(self, database_url: URL) -> AnchorKey:
        """Return the key without creating one; raise AnchorKeyError if there is none."""
        if self._key is not None:
            return self._key
        path = self._key_file or default_key_file(database_url)
        with self._key_lock:
            if path not in self._keys_by_file:
                key = read_key_file(path)
                if key is None:
                    raise AnchorKeyError(
                        "audit checkpoints exist but there is no key to check them:"
                        f" set {KEY_VARIABLE} or restore the key file {path}"
                    )
                self._keys_by_file[path] = key
            return self._keys_by_file[path]

    def write_checkpoint(
        self,
        database_url: URL,
        tenant_id: int,
        sequence: int,
        entry_hash: str,
        created_at: datetime | None = None,
    ) -> Checkpoint:
        """Sign the chain head and store it; raise AnchorError when that fails."""
        store = self.store_for(database_url)
        checkpoint = sign_checkpoint(
            self.signing_key(database_url),
            self.namespace_for(database_url),
            tenant_id,
            sequence,
            entry_hash,
            created_at or datetime.now(UTC),
        )
        store.add(checkpoint.namespace, tenant_id, sequence, checkpoint.to_json())
        logger.info(
            "audit checkpoint of tenant %s at entry %s written to %s",
            tenant_id,
            sequence,
            store.description,
        )
        return checkpoint

    def read_checkpoints(self, database_url: URL, tenant_id: int) -> CheckpointReading:
        """Read a tenant's checkpoints and sort them into authentic and rejected.

        A checkpoint is rejected when it cannot be parsed, names another key,
        its signature does not match, or it names another namespace or
        tenant. Raises AnchorError when the store or the key is unavailable.
        """
        namespace = self.namespace_for(database_url)
        records = self.store_for(database_url).records(namespace, tenant_id)
        if not records:
            return CheckpointReading([], [])
        key = self.verifying_key(database_url)
        authentic = []
        rejected = []
        for number, text in enumerate(records, start=1):
            try:
                checkpoint = parse_checkpoint(text)
            except (ValueError, TypeError) as error:
                rejected.append(
                    RejectedCheckpoint(
                        None,
                        f"stored checkpoint {number} of tenant {tenant_id} cannot"
                        f" be read: {error}",
                    )
                )
                continue
            problem = _authenticity_problem(checkpoint, key, namespace, tenant_id)
            if problem:
                rejected.append(RejectedCheckpoint(checkpoint.sequence, problem))
            else:
                authentic.append(checkpoint)
        authentic.sort(key=lambda checkpoint: checkpoint.sequence)
        return CheckpointReading(authentic, rejected)


def default_anchor_directory(database_url: URL) -> Path:
    """Return audit_anchors beside a SQLite database file, else var/audit_anchors."""
    database_file = _sqlite_file(database_url)
    if database_file is None:
        return DEFAULT_ANCHOR_DIRECTORY
    return database_file.parent / DEFAULT_ANCHOR_DIRECTORY.name


def default_key_file(database_url: URL) -> Path:
    """Return audit_anchor.key beside a SQLite database file, else in var/."""
    database_file = _sqlite_file(database_url)
    if database_file is None:
        return DEFAULT_KEY_FILE
    return database_file.parent / DEFAULT_KEY_FILE.name


def _sqlite_file(database_url: URL) -> Path | None:
    database = database_url.database or ""
    if database_url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        return None
    return Path(database).resolve()


def _authenticity_problem(
    checkpoint: Checkpoint, key: AnchorKey, namespace: str, tenant_id: int
) -> str:
    """Say why a parsed checkpoint cannot be trusted, or return ""."""
    at = f"checkpoint of tenant {tenant_id} at entry {checkpoint.sequence}"
    if checkpoint.key_id != key.key_id:
        return (
            f"{at} names the key {checkpoint.key_id}, not the configured anchor"
            f" key {key.key_id}; it was forged, or the key was replaced"
        )
    if not signature_matches(checkpoint, key):
        return f"{at} has an invalid signature; it was forged or altered"
    if checkpoint.tenant_id != tenant_id or checkpoint.namespace != namespace:
        return (
            f"{at} was signed for tenant {checkpoint.tenant_id} in namespace"
            f" {checkpoint.namespace}, not for namespace {namespace}; it was"
            " copied from elsewhere"
        )
    return ""


def database_namespace(url: URL) -> str:
    """Derive the namespace of a database from its backend, host, port and name."""
    database_file = _sqlite_file(url)
    if database_file is not None:
        identity = f"sqlite:{database_file}"
    else:
        backend = url.get_backend_name()
        identity = f"{backend}://{url.host or ''}:{url.port or ''}/{url.database or ''}"
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()
    return f"db-{digest[:16]}"


def _interval_from(environ: Mapping[str, str]) -> int:
    text = environ.get(INTERVAL_VARIABLE, "").strip()
    if not text:
        return DEFAULT_INTERVAL
    if not text.isdigit() or int(text) < 1:
        raise AnchorError(
            f"environment variable {INTERVAL_VARIABLE} is {text!r}; set a positive"
            " whole number of entries, such as 100"
        )
    return int(text)


_lock = threading.Lock()
_audit_anchor: AuditAnchor | None = None


def audit_anchor() -> AuditAnchor:
    """Return the anchor of this process, built from the environment at first use."""
    global _audit_anchor
    with _lock:
        if _audit_anchor is None:
            _audit_anchor = AuditAnchor.from_environment()
        return _audit_anchor


def configure_audit_anchor(anchor: AuditAnchor | None) -> None:
    """Make the audit trail use this anchor; None rebuilds it from the environment."""
    global _audit_anchor
    with _lock:
        _audit_anchor = anchor


# --- Command line ------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Write or verify checkpoints of every tenant, or of the tenants named.

    Returns 0 when every tenant succeeded, 1 otherwise.
    """
    # core.audit imports this module, so it is imported here, at run time.
    from core.audit import checkpoint_audit_chain, verify_audit_chain

    arguments = _argument_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    engine = make_engine(arguments.database_url)
    session_factory = make_session_factory(engine)
    failures = 0
    try:
        for tenant_id, slug in _tenants(session_factory, arguments.tenant):
            name = f"tenant {slug} (id {tenant_id})"
            with session_factory() as session:
                try:
                    if arguments.command == "checkpoint":
                        checkpoint = checkpoint_audit_chain(session, tenant_id)
                        line = (
                            "no entries, nothing to checkpoint"
                            if checkpoint is None
                            else f"checkpoint at entry {checkpoint.sequence} written"
                        )
                    else:
                        result = verify_audit_chain(session, tenant_id)
                        line = result.message
                        failures += not result.ok
                except SolvereignError as error:
                    line = f"failed: {error}"
                    failures += 1
            print(f"{name}: {line}")
    finally:
        engine.dispose()
    return 1 if failures else 0


def _argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core.audit_anchor",
        description="Write or verify signed checkpoints of the audit chains.",
    )
    parser.add_argument(
        "command",
        choices=["checkpoint", "verify"],
        help="checkpoint: verify each chain, then sign and store its head;"
        " verify: check each chain and compare it with its checkpoints",
    )
    parser.add_argument(
        "--tenant",
        action="append",
        metavar="SLUG",
        help="only this tenant (repeat for several); all tenants by default",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="database URL; default DATABASE_URL, else the embedded SQLite file",
    )
    return parser


def _tenants(
    session_factory: sessionmaker[Session], slugs: list[str] | None
) -> list[tuple[int, str]]:
    """Return the id and slug of the tenants named, or of every tenant.

    Row-level security shows a transaction one tenant's row at most, so the
    ids come from db.cross_tenant and each slug is read in a transaction
    bound to its tenant.
    """
    with session_factory() as session:
        if slugs:
            ids_by_slug = {
                slug: cross_tenant.tenant_id_for_slug(session, slug) for slug in slugs
            }
            unknown = [slug for slug, tenant_id in ids_by_slug.items() if not tenant_id]
            if unknown:
                raise SystemExit(f"unknown tenant slug: {', '.join(sorted(unknown))}")
            tenant_ids = sorted(set(ids_by_slug.values()))
        else:
            tenant_ids = cross_tenant.all_tenant_ids(session)
    found = []
    for tenant_id in tenant_ids:
        with session_factory() as session:
            set_transaction_tenant(session, tenant_id)
            found.append((tenant_id, session.get(Tenant, tenant_id).slug))
    return found


if __name__ == "__main__":
    sys.exit(main())
