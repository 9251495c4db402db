"""Alerts for CRITICAL security events: a log record, e-mail and a webhook.

core.audit calls `raise_alert` once the transaction of a CRITICAL event has
committed. The alert is always logged at CRITICAL by the logger
"core.notify". It is then handed to the senders configured for the event's
tenant, which run on a background thread of their own, so a slow or failing
receiver never delays or breaks the service call. Each send has a timeout,
and a failed send is logged at ERROR with the tenant, the audit sequence
and the error. Failed sends are not retried.

Settings. The tenant table has no settings column, so the senders are
configured outside the database, per tenant slug. The first source that
exists wins:

1. The environment variable SOLVEREIGN_ALERTS, a JSON object.
2. The section [alerts] of .streamlit/secrets.toml.

Both have the same shape, here in TOML:

    [alerts.smtp]                    # needed when any tenant has email_to
    host = "smtp.example.com"
    port = 587
    sender = "solvereign@example.com"
    starttls = true                  # default true
    username = "solvereign"          # optional, with password
    password = "..."
    timeout_seconds = 10             # default 10

    [alerts.tenants.depot-nord]      # the tenant's slug
    email_to = ["security@depot-nord.example"]
    webhook_url = "https://hooks.example.com/solvereign"
    webhook_secret = "at least 32 characters, shared with the receiver"
    webhook_timeout_seconds = 5      # default 5

A webhook URL must use https, except for a loopback host (127.0.0.1, ::1,
localhost). The webhook receives an HTTP POST of the alert as JSON, with
the headers X-Solvereign-Timestamp (seconds since the epoch) and
X-Solvereign-Signature, "sha256=" followed by the hex HMAC-SHA256 of
"<timestamp>.<body>" under webhook_secret (`webhook_signature`). A receiver
should recompute it and reject a timestamp older than a few minutes.
Redirects are not followed.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import queue
import smtplib
import ssl
import threading
import time
import tomllib
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Protocol

from core.errors import SolvereignError

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECRETS_PATH = PROJECT_ROOT / ".streamlit" / "secrets.toml"
SETTINGS_VARIABLE = "SOLVEREIGN_ALERTS"
SECRETS_SECTION = "alerts"

DEFAULT_SMTP_PORT = 587
DEFAULT_SMTP_TIMEOUT_SECONDS = 10.0
DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 5.0
MIN_WEBHOOK_SECRET_LENGTH = 32
MAX_QUEUED_SENDS = 1000
# The worker thread ends after this long without alerts and restarts on demand.
IDLE_WORKER_SECONDS = 60.0
# How long the process waits at exit for queued alerts to be sent.
EXIT_DRAIN_SECONDS = 10.0
SIGNATURE_HEADER = "X-Solvereign-Signature"
TIMESTAMP_HEADER = "X-Solvereign-Timestamp"
LOOPBACK_NAMES = frozenset({"localhost"})

SMTP_FIELDS = frozenset(
    {"host", "port", "sender", "starttls", "username", "password", "timeout_seconds"}
)
TENANT_FIELDS = frozenset(
    {"email_to", "webhook_url", "webhook_secret", "webhook_timeout_seconds"}
)
SECTION_FIELDS = frozenset({"smtp", "tenants"})


class AlertConfigurationError(SolvereignError):
    """The alert settings are invalid; the message names the field and source."""


@dataclass(frozen=True)
class Alert:
    """A CRITICAL security event, as the alert senders receive it.

    The fields are those of the audit entry. `details` contains no personal
    data beyond what core.audit allows in details.
    """

    tenant_id: int
    tenant_slug: str
    sequence: int
    action: str
    category: str
    severity: str
    occurred_at: str
    actor_user_id: int | None
    object_type: str
    object_id: str
    details: dict[str, Any]
    entry_hash: str

    def to_json(self) -> bytes:
        """Serialise the alert as the UTF-8 JSON body of a webhook request."""
        body = {"alert": asdict(self)}
        return json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")

    def summary(self) -> str:
        """Describe the alert in one line, for the log and the e-mail subject."""
        return (
            f"{self.severity} security event {self.action} ({self.category}) in"
            f" tenant {self.tenant_slug}, audit entry {self.sequence}"
        )


# --- Senders -----------------------------------------------------------------


class AlertSender(Protocol):
    """Delivers an alert to one receiver; raises on failure."""

    description: str

    def send(self, alert: Alert) -> None: ...


@dataclass(frozen=True)
class SmtpSettings:
    """The mail server that sends alert e-mails."""

    host: str
    port: int
    sender: str
    starttls: bool = True
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_seconds: float = DEFAULT_SMTP_TIMEOUT_SECONDS


class EmailSender:
    """Sends an alert as a plain-text e-mail through the configured mail server."""

    def __init__(self, smtp: SmtpSettings, recipients: tuple[str, ...]) -> None:
        self.smtp = smtp
        self.recipients = recipients
        self.description = f"e-mail via {smtp.host}:{smtp.port}"

    def send(self, alert: Alert) -> None:
        message = EmailMessage()
        message["Subject"] = f"[SOLVEREIGN] {alert.summary()}"
        message["From"] = self.smtp.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(_email_body(alert))
        with smtplib.SMTP(
            self.smtp.host, self.smtp.port, timeout=self.smtp.timeout_seconds
        ) as client:
            if self.smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if self.smtp.username:
                client.login(self.smtp.username, self.smtp.password or "")
            client.send_message(message)


def _email_body(alert: Alert) -> str:
    details = json.dumps(alert.details, sort_keys=True, indent=2, ensure_ascii=False)
    return (
        f"{alert.summary()}\n\n"
        f"time (UTC):   {alert.occurred_at}\n"
        f"tenant:       {alert.tenant_slug} (id {alert.tenant_id})\n"
        f"user id:      {alert.actor_user_id}\n"
        f"object:       {alert.object_type} {alert.object_id}\n"
        f"entry hash:   {alert.entry_hash}\n"
        f"details:\n{details}\n"
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Treat a redirect as a failed delivery, so the alert goes nowhere else."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookSender:
    """POSTs an alert as signed JSON to the tenant's webhook URL."""

    def __init__(self, url: str, secret: str, timeout_seconds: float) -> None:
        self.url = url
        self.secret = secret
        self.timeout_seconds = timeout_seconds
        parts = urllib.parse.urlsplit(url)
        self.description = f"webhook {parts.scheme}://{parts.hostname}{parts.path}"
        self._opener = urllib.request.build_opener(_NoRedirect)

    def send(self, alert: Alert) -> None:
        body = alert.to_json()
        timestamp = str(int(time.time()))
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: webhook_signature(self.secret, timestamp, body),
            },
        )
        # urllib raises HTTPError for any status outside 200 to 299.
        with self._opener.open(request, timeout=self.timeout_seconds):
            pass


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return the signature header value of a webhook request."""
    signed = timestamp.encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


# --- Settings ----------------------------------------------------------------


@dataclass(frozen=True)
class AlertSettings:
    """The senders of every tenant that has any, by tenant slug."""

    senders_by_tenant: Mapping[str, tuple[AlertSender, ...]]

    def senders_for(self, tenant_slug: str) -> tuple[AlertSender, ...]:
        return self.senders_by_tenant.get(tenant_slug, ())


def load_alert_settings(
    environ: Mapping[str, str] | None = None,
    secrets_path: Path = DEFAULT_SECRETS_PATH,
) -> AlertSettings:
    """Read the settings from SOLVEREIGN_ALERTS, else the secrets file, else none.

    Raises AlertConfigurationError naming the source and field at fault.
    """
    environ = os.environ if environ is None else environ
    if environ.get(SETTINGS_VARIABLE):
        origin = f"environment variable {SETTINGS_VARIABLE}"
        try:
            section = json.loads(environ[SETTINGS_VARIABLE])
        except json.JSONDecodeError as error:
            raise AlertConfigurationError(
                f"{origin} is not JSON: {error.msg} at character {error.pos}"
            ) from None
        return parse_alert_settings(section, origin)
    try:
        with secrets_path.open("rb") as secrets_file:
            secrets = tomllib.load(secrets_file)
    except FileNotFoundError:
        return AlertSettings({})
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise AlertConfigurationError(
            f"secrets file {secrets_path} cannot be read: {error}"
        ) from error
    if SECRETS_SECTION not in secrets:
        return AlertSettings({})
    return parse_alert_settings(
        secrets[SECRETS_SECTION], f"section [{SECRETS_SECTION}] of {secrets_path}"
    )


def parse_alert_settings(section: object, origin: str) -> AlertSettings:
    """Check the settings and build the senders of each tenant."""
    section = _table(section, origin, SECTION_FIELDS)
    smtp = None
    if "smtp" in section:
        smtp = _smtp_settings(section["smtp"], f"{origin}, smtp")
    senders = {}
    for slug, tenant in _table(
        section.get("tenants", {}), f"{origin}, tenants"
    ).items():
        senders[slug] = _tenant_senders(tenant, smtp, f"{origin}, tenant {slug}")
    return AlertSettings(senders)


def _smtp_settings(value: object, origin: str) -> SmtpSettings:
    table = _table(value, origin, SMTP_FIELDS)
    for required in ("host", "sender"):
        if not isinstance(table.get(required), str) or not table[required]:
            raise AlertConfigurationError(f"{origin}: {required} is missing")
    if "@" not in parseaddr(table["sender"])[1]:
        raise AlertConfigurationError(
            f"{origin}: sender {table['sender']!r} is not an e-mail address"
        )
    username = table.get("username")
    if username is not None and not isinstance(table.get("password"), str):
        raise AlertConfigurationError(f"{origin}: username is set but password is not")
    starttls = table.get("starttls", True)
    if not isinstance(starttls, bool):
        raise AlertConfigurationError(f"{origin}: starttls must be true or false")
    return SmtpSettings(
        host=table["host"],
        port=_port(table.get("port", DEFAULT_SMTP_PORT), origin),
        sender=table["sender"],
        starttls=starttls,
        username=username,
        password=table.get("password"),
        timeout_seconds=_seconds(
            table.get("timeout_seconds", DEFAULT_SMTP_TIMEOUT_SECONDS), origin
        ),
    )


def _tenant_senders(
    value: object, smtp: SmtpSettings | None, origin: str
) -> tuple[AlertSender, ...]:
    table = _table(value, origin, TENANT_FIELDS)
    senders: list[AlertSender] = []
    recipients = table.get("email_to", [])
    if not isinstance(recipients, list) or not all(
        isinstance(address, str) and "@" in parseaddr(address)[1]
        for address in recipients
    ):
        raise AlertConfigurationError(
            f"{origin}: email_to must be a list of e-mail addresses"
        )
    if recipients:
        if smtp is None:
            raise AlertConfigurationError(
                f"{origin}: email_to is set, but there is no smtp section"
            )
        senders.append(EmailSender(smtp, tuple(recipients)))
    if "webhook_url" in table:
        senders.append(_webhook_sender(table, origin))
    elif "webhook_secret" in table:
        raise AlertConfigurationError(f"{origin}: webhook_secret without webhook_url")
    return tuple(senders)


def _webhook_sender(table: dict[str, Any], origin: str) -> WebhookSender:
    url = table["webhook_url"]
    parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    if parts is None or not parts.hostname:
        raise AlertConfigurationError(f"{origin}: webhook_url {url!r} is not a URL")
    if parts.scheme != "https" and not (
        parts.scheme == "http" and _is_loopback(parts.hostname)
    ):
        raise AlertConfigurationError(
            f"{origin}: webhook_url {url!r} must use https; plain http is accepted"
            " only for 127.0.0.1, ::1 and localhost"
        )
    secret = table.get("webhook_secret")
    if not isinstance(secret, str) or len(secret) < MIN_WEBHOOK_SECRET_LENGTH:
        raise AlertConfigurationError(
            f"{origin}: webhook_secret must be at least {MIN_WEBHOOK_SECRET_LENGTH}"
            " characters"
        )
    timeout = _seconds(
        table.get("webhook_timeout_seconds", DEFAULT_WEBHOOK_TIMEOUT_SECONDS), origin
    )
    return WebhookSender(url, secret, timeout)


def _table(
    value: object, origin: str, allowed: frozenset[str] | None = None
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AlertConfigurationError(f"{origin} must be a table of settings")
    unknown = set(value) - allowed if allowed is not None else set()
    if unknown:
        raise AlertConfigurationError(
            f"{origin} has the unknown settings {', '.join(sorted(unknown))};"
            f" allowed are {', '.join(sorted(allowed or ()))}"
        )
    return value


def _port(value: object, origin: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
        raise AlertConfigurationError(f"{origin}: port {value!r} is not 1 to 65535")
    return value


def _seconds(value: object, origin: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise AlertConfigurationError(
            f"{origin}: timeout {value!r} is not a positive number of seconds"
        )
    return float(value)


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- Dispatch ----------------------------------------------------------------


class Notifier:
    """Logs each alert and hands it to the tenant's senders on a worker thread.

    At most MAX_QUEUED_SENDS sends wait at once; beyond that a send is
    dropped and logged at ERROR, so a dead receiver cannot exhaust memory.
    """

    def __init__(self, settings: AlertSettings) -> None:
        self.settings = settings
        self._queue: queue.Queue[tuple[AlertSender, Alert]] = queue.Queue(
            MAX_QUEUED_SENDS
        )
        self._pending = 0
        self._idle = threading.Condition()
        self._worker: threading.Thread | None = None
        self._worker_lock = threading.Lock()

    def raise_alert(self, alert: Alert) -> None:
        """Log the alert at CRITICAL and queue it for each of the tenant's senders."""
        logger.critical(
            "ALERT %s: user %s, %s %s, details %s",
            alert.summary(),
            alert.actor_user_id,
            alert.object_type,
            alert.object_id,
            json.dumps(alert.details, sort_keys=True, ensure_ascii=False),
        )
        for sender in self.settings.senders_for(alert.tenant_slug):
            self._enqueue(sender, alert)

    def drain(self, timeout_seconds: float) -> bool:
        """Wait until every queued alert was sent or failed; False on timeout."""
        deadline = time.monotonic() + timeout_seconds
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def _enqueue(self, sender: AlertSender, alert: Alert) -> None:
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait((sender, alert))
        except queue.Full:
            self._finish_one()
            logger.error(
                "alert for tenant %s, audit entry %s, dropped for %s: %s sends"
                " are already waiting",
                alert.tenant_slug,
                alert.sequence,
                sender.description,
                MAX_QUEUED_SENDS,
            )
            return
        self._start_worker()

    def _start_worker(self) -> None:
        with self._worker_lock:
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._send_queued, name="security-alerts", daemon=True
                )
                self._worker.start()

    def _send_queued(self) -> None:
        while True:
            try:
                sender, alert = self._queue.get(timeout=IDLE_WORKER_SECONDS)
            except queue.Empty:
                # Decided under the lock that _start_worker takes after each put,
                # so an alert queued meanwhile either is seen here or starts a
                # new worker.
                with self._worker_lock:
                    if self._queue.empty():
                        self._worker = None
                        return
                continue
            try:
                sender.send(alert)
                logger.info(
                    "alert for tenant %s, audit entry %s, sent by %s",
                    alert.tenant_slug,
                    alert.sequence,
                    sender.description,
                )
            # Any failure of a receiver is logged; the worker must keep running.
            except Exception as error:  # noqa: BLE001
                logger.error(
                    "alert for tenant %s, audit entry %s, not sent by %s: %s: %s",
                    alert.tenant_slug,
                    alert.sequence,
                    sender.description,
                    type(error).__name__,
                    error,
                )
            finally:
                self._queue.task_done()
                self._finish_one()

    def _finish_one(self) -> None:
        with self._idle:
            self._pending -= 1
            if not self._pending:
                self._idle.notify_all()


_lock = threading.Lock()
_notifier: Notifier | None = None


def notifier() -> Notifier:
    """Return the notifier of this process, built from the settings at first use.

    Invalid settings are logged at ERROR, and alerts are then only logged.
    """
    global _notifier
    with _lock:
        if _notifier is None:
            try:
                settings = load_alert_settings()
            except AlertConfigurationError as error:
                logger.error("alerts are only logged: %s", error)
                settings = AlertSettings({})
            _notifier = Notifier(settings)
        return _notifier


def configure_notifier(configured: Notifier | None) -> None:
    """Make alerts go to this notifier; None rebuilds it from the settings."""
    global _notifier
    with _lock:
        _notifier = configured


def raise_alert(alert: Alert) -> None:
    """Log the alert at CRITICAL and send it to its tenant's receivers."""
    notifier().raise_alert(alert)


@atexit.register
def _drain_at_exit() -> None:
    if _notifier is not None and not _notifier.drain(EXIT_DRAIN_SECONDS):
        logger.error(
            "alerts still unsent after %s s at exit are lost", EXIT_DRAIN_SECONDS
        )
