"""Rate limits on sign-in attempts and personal-data exports.

The limits use the moving-window strategy of the `limits` package (5.8). A
request is accepted when fewer than the maximum were accepted in the window
that ends at this moment. So there is no fixed window boundary at which a
burst can double the rate.

- Sign-in: at most 10 attempts per 60 s per user, and at most 10 attempts per
  60 s per client address. The user key is the tenant slug and the username,
  both normalised (Unicode NFKC, trimmed, case-folded), so "Dana" and "dana "
  share one limit and a user of one tenant never shares a limit with a user
  of another tenant.
- Personal-data export: at most 5 per hour per user of a tenant.

Storage. The environment variable SOLVEREIGN_REDIS_URL (for example
redis://127.0.0.1:6379/0) selects Redis, so all processes of the workbench
share one count. Without it the limits live in this process's memory
(`limits.storage.MemoryStorage`). That storage is for the single-process
embedded default only, because every process counts on its own and a
restart loses every count. In Redis the keys start with "solvereign:",
for example "solvereign:sign-in-user/<digest>/10/1/minute". The sign-in
identifiers are SHA-256 digests, so usernames and addresses do not appear
in Redis as plain text and a "/" inside a username cannot make two keys
collide. When Redis cannot be reached, every check raises
RateLimitStoreUnavailable, so sign-in and exports are rejected rather than
left unlimited.

How sign-in attempts count. Every attempt is counted when it starts, before
the password is checked, whether it then succeeds or fails. Counting only
failed attempts would mean checking the limit first and counting after the
password check. Concurrent attempts would then all pass the check while
Argon2 runs, so a parallel attacker could try more than 10 passwords a
minute. It would also not protect the owner of the account, because the
attacker's attempts are failures too. An attempt that a limit rejects is
not counted against that limit, so hammering a locked account does not
prolong the lock. An attempt rejected by the user limit has already been
counted against the client address, because it was still an attempt from
that address.

Cool-down. A rejected user or address may try again as soon as the oldest
counted attempt of the window is more than 60 s old, so just over 60 s after
the attacker's last counted attempt at the latest. An attempt at exactly 60 s
after the oldest counted one is still rejected.
TooManyAttempts.retry_after_seconds gives the wait in whole seconds until
an attempt is accepted, so 61 when all ten attempts came at the same moment.

Known addresses keep the owner of an account in. An attacker who keeps
failing from other addresses would keep the user limit exhausted for as long
as the attack lasts, whatever the cool-down. So after a successful sign-in
the pair of user and client address is remembered for KNOWN_ADDRESS_DAYS.
An attempt from a remembered address is counted only against that address's
own limit and not against the user limit, so an attack from elsewhere does
not lock the owner out there. An attempt from a new address still waits for
the cool-down. This allows the user at most 10 attempts per minute plus
another 10 per remembered address. The caller must take the address from
the connection or from a proxy it trusts. An address read from a header that
the client controls would let an attacker pick a remembered one.

Client addresses. An IPv4 address counts on its own. An IPv6 address counts
with its whole /64 network, because one host commonly holds a whole /64 and
could otherwise rotate addresses to escape the limit. An empty address means
that the caller does not know the client's address. Streamlit 1.67 reports
None for a connection from localhost, which is also what every user looks
like behind a reverse proxy on the same machine. An empty address, or text
that is no IP address, therefore gets no address limit and is never
remembered, because one count shared by all such attempts would let one
attacker lock every such user out. The user limit still applies to them.

NOTE: `limits` takes its timestamps from the clock of the application
server, not from Redis, so servers that share one Redis need synchronised
clocks (NTP). A server whose clock runs ahead counts its attempts as newer.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import logging
import math
import os
import threading
import time
import unicodedata
import urllib.parse
from collections.abc import Callable
from datetime import timedelta

import redis
from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from core.errors import SolvereignError
from core.permissions import Actor

logger = logging.getLogger(__name__)

REDIS_URL_VARIABLE = "SOLVEREIGN_REDIS_URL"
REDIS_SCHEMES = ("redis", "rediss", "redis+unix")
KEY_PREFIX = "solvereign"
# A sign-in must not hang on an unreachable Redis; it fails after this.
REDIS_TIMEOUT_SECONDS = 2.0

MAX_SIGN_IN_ATTEMPTS_PER_MINUTE = 10
MAX_PERSONAL_DATA_EXPORTS_PER_HOUR = 5
# A policy choice, not taken from a standard: a month still covers users who
# sign in only now and then.
KNOWN_ADDRESS_DAYS = 30
# Rejected sign-ins are not limited themselves. Their audit entries are, per
# tenant and client address, because audit rows can never be deleted.
MAX_REJECTION_ENTRIES_PER_MINUTE = 10
IPV6_NETWORK_PREFIX = 64

SIGN_IN_PER_USER = RateLimitItemPerMinute(
    MAX_SIGN_IN_ATTEMPTS_PER_MINUTE, namespace="sign-in-user"
)
SIGN_IN_PER_ADDRESS = RateLimitItemPerMinute(
    MAX_SIGN_IN_ATTEMPTS_PER_MINUTE, namespace="sign-in-address"
)
PERSONAL_DATA_EXPORT_PER_USER = RateLimitItemPerHour(
    MAX_PERSONAL_DATA_EXPORTS_PER_HOUR, namespace="personal-data-export"
)
REJECTION_ENTRIES_PER_ADDRESS = RateLimitItemPerMinute(
    MAX_REJECTION_ENTRIES_PER_MINUTE, namespace="sign-in-rejection-entry"
)
KNOWN_ADDRESS_NAMESPACE = "sign-in-known-address"

# Errors of the storage: redis-py's own, and those `limits` wraps itself.
_STORAGE_ERRORS = (redis.RedisError, StorageError)


class TooManyAttempts(SolvereignError):
    """A rate limit rejected the request; `retry_after_seconds` gives the wait.

    `limit` names the limit that rejected: "user" or "address" for sign-in,
    "personal-data export" for exports.
    """

    def __init__(
        self, limit: str, action: str, allowance: str, retry_after_seconds: int
    ) -> None:
        self.limit = limit
        self.retry_after_seconds = retry_after_seconds
        super().__init__(
            f"too many {action}: at most {allowance} are allowed; try again in"
            f" {_format_wait(retry_after_seconds)}"
        )


class RateLimitStoreUnavailable(SolvereignError):
    """The rate limit storage cannot be reached, so the request is rejected."""

    def __init__(self, action: str) -> None:
        super().__init__(
            f"{action} is unavailable because the rate limit store cannot be"
            " reached; try again in a minute or tell your administrator"
        )


class RateLimits:
    """The sign-in and export limits of the workbench, on one storage.

    `clock` returns the current time in seconds since the epoch. It must be the
    clock that the storage uses, because it turns the storage's window start
    into a wait; tests pass a fake one.
    """

    def __init__(self, storage: Storage, clock: Callable[[], float] = time.time):
        self.storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        self._clock = clock

    @classmethod
    def from_url(
        cls,
        redis_url: str | None,
        key_prefix: str = KEY_PREFIX,
        clock: Callable[[], float] = time.time,
    ) -> RateLimits:
        """Build the limits on Redis at `redis_url`, or in memory when it is empty."""
        if not redis_url:
            logger.info("rate limits kept in process memory")
            return cls(MemoryStorage(), clock)
        scheme = urllib.parse.urlsplit(redis_url).scheme
        if scheme not in REDIS_SCHEMES:
            raise ValueError(
                f"{REDIS_URL_VARIABLE} has the scheme {scheme!r}; expected one of"
                f" {', '.join(REDIS_SCHEMES)}, such as redis://127.0.0.1:6379/0"
            )
        storage = storage_from_string(
            redis_url,
            key_prefix=key_prefix,
            wrap_exceptions=True,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        logger.info("rate limits kept in redis under key prefix %s", key_prefix)
        return cls(storage, clock)

    def check_sign_in(
        self, tenant_slug: str, username: str, client_address: str
    ) -> None:
        """Count a sign-in attempt, or raise TooManyAttempts when a limit is reached.

        Raises RateLimitStoreUnavailable when the storage cannot be reached.
        """
        address_key = _address_key(client_address)
        try:
            if address_key:
                self._hit(SIGN_IN_PER_ADDRESS, (address_key,), "address", "sign-ins")
            if address_key and self._is_known(tenant_slug, username, address_key):
                return
            user_key = _digest("user", tenant_slug, username)
            self._hit(SIGN_IN_PER_USER, (user_key,), "user", "sign-ins")
        except _STORAGE_ERRORS as error:
            raise _unavailable("sign-in", error) from error

    def remember_sign_in_address(
        self, tenant_slug: str, username: str, client_address: str
    ) -> None:
        """Remember the address of a successful sign-in for KNOWN_ADDRESS_DAYS.

        The sign-in has succeeded already, so a storage failure here is logged
        and the address is simply not remembered.
        """
        address_key = _address_key(client_address)
        if not address_key:
            return
        key = _known_address_key(tenant_slug, username, address_key)
        expiry_seconds = int(timedelta(days=KNOWN_ADDRESS_DAYS).total_seconds())
        try:
            # Clearing first restarts the expiry, which incr sets only on creation.
            self.storage.clear(key)
            self.storage.incr(key, expiry_seconds)
        except _STORAGE_ERRORS as error:
            logger.error("sign-in address not remembered: storage failed: %r", error)

    def allow_rejection_entry(self, tenant_id: int, client_address: str) -> bool:
        """Count an audit entry for a rejected sign-in; return False over the limit.

        Raises RateLimitStoreUnavailable when the storage cannot be reached.
        """
        address_key = _address_key(client_address) or "no-address"
        try:
            return self._limiter.hit(
                REJECTION_ENTRIES_PER_ADDRESS, str(tenant_id), address_key
            )
        except _STORAGE_ERRORS as error:
            raise _unavailable("sign-in", error) from error

    def check_personal_data_export(self, actor: Actor) -> None:
        """Count an export of personal data, or raise TooManyAttempts over 5 an hour.

        Raises RateLimitStoreUnavailable when the storage cannot be reached.
        """
        identifiers = (str(actor.tenant_id), str(actor.user_id))
        try:
            self._hit(
                PERSONAL_DATA_EXPORT_PER_USER,
                identifiers,
                "personal-data export",
                "personal-data exports",
            )
        except _STORAGE_ERRORS as error:
            raise _unavailable("the personal-data export", error) from error

    def _hit(
        self,
        item: RateLimitItem,
        identifiers: tuple[str, ...],
        limit: str,
        action: str,
    ) -> None:
        if self._limiter.hit(item, *identifiers):
            return
        reset_time, _ = self._limiter.get_window_stats(item, *identifiers)
        raise TooManyAttempts(
            limit, action, _allowance(item), self._seconds_until(reset_time)
        )

    def _seconds_until(self, reset_time: float) -> int:
        """Return the first whole second after `reset_time`, as a wait from now.

        An attempt at exactly the reset time is still inside the window, so the
        wait ends one second after it at the latest.
        """
        return max(1, math.floor(reset_time - self._clock()) + 1)

    def _is_known(self, tenant_slug: str, username: str, address_key: str) -> bool:
        key = _known_address_key(tenant_slug, username, address_key)
        return self.storage.get(key) > 0


def _allowance(item: RateLimitItem) -> str:
    """Describe the limit in words, such as "5 per hour"."""
    period = item.GRANULARITY.name
    if item.multiples != 1:
        period = f"{item.multiples} {period}s"
    return f"{item.amount} per {period}"


def _format_wait(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


def _unavailable(action: str, error: Exception) -> RateLimitStoreUnavailable:
    logger.error("rate limit storage failed during %s: %r", action, error)
    return RateLimitStoreUnavailable(action)


def _normalised(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _digest(*parts: str) -> str:
    """Hash the parts into one key identifier; JSON keeps their borders apart."""
    canonical = json.dumps([_normalised(part) for part in parts])
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def _address_key(client_address: str) -> str:
    """Return the text that the address limit counts under, or "" for no address.

    IPv4 addresses and IPv4-mapped IPv6 addresses count as the IPv4 address,
    other IPv6 addresses as their /64 network. Text that is no IP address
    counts as no address, because it cannot tell one client from another.
    """
    text = client_address.strip()
    if not text:
        return ""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        _warn_about_invalid_address()
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network(
            (int(address), IPV6_NETWORK_PREFIX), strict=False
        )
        return _digest("address", str(network))
    return _digest("address", str(address))


@functools.cache
def _warn_about_invalid_address() -> None:
    """Log once per process that a caller passes client addresses that are no IP."""
    logger.warning(
        "sign-in client address is no IP address; the address limit is skipped"
        " for such attempts until the caller passes the client's IP address"
    )


def _known_address_key(tenant_slug: str, username: str, address_key: str) -> str:
    identifier = _digest("known", tenant_slug, username, address_key)
    return f"{KNOWN_ADDRESS_NAMESPACE}/{identifier}"


_lock = threading.Lock()
_rate_limits: RateLimits | None = None


def rate_limits() -> RateLimits:
    """Return the limits of this process, built from SOLVEREIGN_REDIS_URL at first use."""
    global _rate_limits
    with _lock:
        if _rate_limits is None:
            _rate_limits = RateLimits.from_url(os.environ.get(REDIS_URL_VARIABLE))
        return _rate_limits


def configure_rate_limits(limits: RateLimits | None) -> None:
    """Make the services use these limits; None rebuilds them from the environment."""
    global _rate_limits
    with _lock:
        _rate_limits = limits


def check_sign_in(tenant_slug: str, username: str, client_address: str) -> None:
    """Count a sign-in attempt, or raise TooManyAttempts (see RateLimits)."""
    rate_limits().check_sign_in(tenant_slug, username, client_address)


def remember_sign_in_address(
    tenant_slug: str, username: str, client_address: str
) -> None:
    """Remember the client address of a successful sign-in (see RateLimits)."""
    rate_limits().remember_sign_in_address(tenant_slug, username, client_address)


def check_personal_data_export(actor: Actor) -> None:
    """Count an export of personal data by the actor, or raise TooManyAttempts."""
    rate_limits().check_personal_data_export(actor)
