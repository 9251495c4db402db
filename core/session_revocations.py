"""The revocation list of sessions, checked on every request of a signed-in user.

The database stays the source of truth: a revoked session has `revoked_at`
set in user_sessions, and a disabled user has `is_active` false. The list
repeats those decisions in a store that every server process shares, in two
kinds of entries:

- a revoked session, by the SHA-256 hex digest of its token (sign-out);
- a "revoked before" mark of a user: every session of that user opened at or
  before the mark is revoked (end all sessions, disabling the user).

The mark also ends a session whose sign-in transaction committed only after
the database update that ended the user's sessions. That update could not
see the session, so the database alone would let it live.

Both kinds of entry expire after the absolute session lifetime
(core.session_settings), because by then every session they name has
expired anyway. NOTE: after SOLVEREIGN_SESSION_ABSOLUTE_HOURS is raised and
the workbench restarted, the entries made before keep the shorter expiry.
The database check still refuses their sessions, except one whose sign-in
committed after its user's sessions were ended.

Checking a session is one read of the store: MGET of the session's key and
its user's key. When the store cannot be reached, the check raises
RevocationListUnavailable, and core.auth treats the session as ended (fail
closed).

Storage. With SOLVEREIGN_REDIS_URL set (the variable core.rate_limits reads,
for example redis://127.0.0.1:6379/0) the list lives in Redis under
"solvereign:revoked-session/<digest>" and
"solvereign:sessions-revoked-before/<tenant id>/<user id>", the mark being
microseconds since 1970-01-01 UTC. Without it the list lives in this
process's memory, which serves only the single-process embedded default:
another process does not read it, and a restart empties it, after which the
database check alone refuses revoked sessions.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis

from core.errors import SolvereignError
from core.rate_limits import (
    KEY_PREFIX,
    REDIS_SCHEMES,
    REDIS_TIMEOUT_SECONDS,
    REDIS_URL_VARIABLE,
)
from core.session_settings import session_limits

logger = logging.getLogger(__name__)

REVOKED_SESSION_NAMESPACE = "revoked-session"
REVOKED_BEFORE_NAMESPACE = "sessions-revoked-before"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# Keeps the later of the stored and the new mark, so two admins ending the same
# user's sessions at once never move the mark back. KEYS[1] is the mark's key;
# ARGV[1] is the new mark in microseconds and ARGV[2] the expiry in milliseconds.
_RAISE_MARK_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) > tonumber(ARGV[1]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return current
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
"""


class RevocationListUnavailable(SolvereignError):
    """The revocation list cannot be reached, so no session can be trusted."""

    def __init__(self) -> None:
        super().__init__(
            "the session revocation list cannot be reached; sign in again in a"
            " minute or tell your administrator"
        )


class RevocationList(Protocol):
    """The operations of a revocation list, whatever stores it."""

    def revoke_session(self, token_sha256: str, ttl: timedelta) -> None:
        """Add a session, by its token digest, for `ttl`."""

    def revoke_sessions_of_user(
        self, tenant_id: int, user_id: int, before: datetime, ttl: timedelta
    ) -> None:
        """Revoke every session of the user opened at or before `before`."""

    def is_revoked(
        self, token_sha256: str, tenant_id: int, user_id: int, created_at: datetime
    ) -> bool:
        """Tell whether the session opened at `created_at` is revoked."""


class RedisRevocationList:
    """The revocation list in Redis, shared by every process of the workbench.

    Raises RevocationListUnavailable from every method when Redis fails.
    """

    def __init__(self, client: redis.Redis, key_prefix: str = KEY_PREFIX) -> None:
        self._client = client
        self._key_prefix = key_prefix
        self._raise_mark = client.register_script(_RAISE_MARK_SCRIPT)

    @classmethod
    def from_url(
        cls, redis_url: str, key_prefix: str = KEY_PREFIX
    ) -> RedisRevocationList:
        """Connect to Redis at `redis_url`; raise ValueError for another scheme."""
        client = redis.Redis.from_url(
            _redis_py_url(redis_url),
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        logger.info("session revocation list kept in redis under %s", key_prefix)
        return cls(client, key_prefix)

    def revoke_session(self, token_sha256: str, ttl: timedelta) -> None:
        try:
            self._client.set(self._session_key(token_sha256), b"1", px=_millis(ttl))
        except redis.RedisError as error:
            raise _unavailable("revoking a session", error) from error

    def revoke_sessions_of_user(
        self, tenant_id: int, user_id: int, before: datetime, ttl: timedelta
    ) -> None:
        key = self._user_key(tenant_id, user_id)
        try:
            self._raise_mark(keys=[key], args=[_micros(before), _millis(ttl)])
        except redis.RedisError as error:
            raise _unavailable("revoking a user's sessions", error) from error

    def is_revoked(
        self, token_sha256: str, tenant_id: int, user_id: int, created_at: datetime
    ) -> bool:
        keys = [self._session_key(token_sha256), self._user_key(tenant_id, user_id)]
        try:
            session_entry, user_mark = self._client.mget(keys)
        except redis.RedisError as error:
            raise _unavailable("checking a session", error) from error
        if session_entry is not None:
            return True
        return user_mark is not None and _micros(created_at) <= int(user_mark)

    def _session_key(self, token_sha256: str) -> str:
        return f"{self._key_prefix}:{REVOKED_SESSION_NAMESPACE}/{token_sha256}"

    def _user_key(self, tenant_id: int, user_id: int) -> str:
        return f"{self._key_prefix}:{REVOKED_BEFORE_NAMESPACE}/{tenant_id}/{user_id}"


class MemoryRevocationList:
    """The revocation list in this process's memory, for the embedded default.

    Entries expire by the monotonic clock, as Redis entries expire by the
    server's clock, whatever `now` the services were given.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, float] = {}
        self._marks: dict[tuple[int, int], tuple[int, float]] = {}

    def revoke_session(self, token_sha256: str, ttl: timedelta) -> None:
        with self._lock:
            self._drop_expired()
            self._sessions[token_sha256] = time.monotonic() + ttl.total_seconds()

    def revoke_sessions_of_user(
        self, tenant_id: int, user_id: int, before: datetime, ttl: timedelta
    ) -> None:
        expires = time.monotonic() + ttl.total_seconds()
        with self._lock:
            self._drop_expired()
            stored = self._marks.get((tenant_id, user_id))
            mark = _micros(before)
            if stored is not None:
                mark = max(mark, stored[0])
            self._marks[(tenant_id, user_id)] = (mark, expires)

    def is_revoked(
        self, token_sha256: str, tenant_id: int, user_id: int, created_at: datetime
    ) -> bool:
        with self._lock:
            self._drop_expired()
            if token_sha256 in self._sessions:
                return True
            stored = self._marks.get((tenant_id, user_id))
        return stored is not None and _micros(created_at) <= stored[0]

    def _drop_expired(self) -> None:
        now = time.monotonic()
        self._sessions = {
            digest: expires
            for digest, expires in self._sessions.items()
            if expires > now
        }
        self._marks = {
            user: (mark, expires)
            for user, (mark, expires) in self._marks.items()
            if expires > now
        }


def _redis_py_url(redis_url: str) -> str:
    """Check the scheme and spell `limits`' redis+unix:// as redis-py's unix://."""
    scheme = urllib.parse.urlsplit(redis_url).scheme
    if scheme not in REDIS_SCHEMES:
        raise ValueError(
            f"{REDIS_URL_VARIABLE} has the scheme {scheme!r}; expected one of"
            f" {', '.join(REDIS_SCHEMES)}, such as redis://127.0.0.1:6379/0"
        )
    if scheme == "redis+unix":
        return "unix" + redis_url[len(scheme) :]
    return redis_url


def _micros(moment: datetime) -> int:
    """Return the moment as whole microseconds since 1970-01-01 UTC."""
    return (moment - _EPOCH) // _MICROSECOND


def _millis(ttl: timedelta) -> int:
    return max(1, int(ttl.total_seconds() * 1000))


def _unavailable(action: str, error: redis.RedisError) -> RevocationListUnavailable:
    logger.error("session revocation list failed while %s: %r", action, error)
    return RevocationListUnavailable()


_lock = threading.Lock()
_revocation_list: RevocationList | None = None


def revocation_list() -> RevocationList:
    """Return the list of this process, built from SOLVEREIGN_REDIS_URL at first use."""
    global _revocation_list
    with _lock:
        if _revocation_list is None:
            redis_url = os.environ.get(REDIS_URL_VARIABLE)
            if redis_url:
                _revocation_list = RedisRevocationList.from_url(redis_url)
            else:
                logger.info("session revocation list kept in process memory")
                _revocation_list = MemoryRevocationList()
        return _revocation_list


def configure_revocation_list(revocations: RevocationList | None) -> None:
    """Make the services use this list; None rebuilds it from the environment."""
    global _revocation_list
    with _lock:
        _revocation_list = revocations


def add_revoked_session(token_sha256: str) -> None:
    """Add a session that the database has revoked already to the list.

    The database decides, so a failing store is logged and not raised: the
    database check refuses the session as well.
    """
    ttl = session_limits().absolute_timeout
    try:
        revocation_list().revoke_session(token_sha256, ttl)
    except RevocationListUnavailable:
        logger.error("revoked session not added to the revocation list")


def add_revoked_user(tenant_id: int, user_id: int, before: datetime) -> None:
    """Mark every session of the user opened at or before `before` as revoked.

    As with add_revoked_session, a failing store is logged and not raised.
    """
    ttl = session_limits().absolute_timeout
    try:
        revocation_list().revoke_sessions_of_user(tenant_id, user_id, before, ttl)
    except RevocationListUnavailable:
        logger.error(
            "sessions of user %s of tenant %s not marked in the revocation list",
            user_id,
            tenant_id,
        )
