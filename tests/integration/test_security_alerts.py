"""CRITICAL security events raise alerts: a log record, a webhook and an e-mail.

The receivers run in the test on 127.0.0.1: an HTTP server for the webhook
and an SMTP server (aiosmtpd) for e-mail.
"""

from __future__ import annotations

import email
import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from core.audit import append_entry, record_security_event, verify_audit_chain
from core.audit_anchor import AuditAnchor, configure_audit_anchor
from core.audit_anchor_storage import AnchorKey, FileAnchorStore
from core.notify import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Notifier,
    configure_notifier,
    parse_alert_settings,
    webhook_signature,
)

WEBHOOK_SECRET = "webhook-secret-of-the-test-tenant-0123456789"
SENDER = "solvereign@example.org"
RECIPIENT = "security@depot.example.org"
DRAIN_SECONDS = 15
CROSS_TENANT = "security.cross_tenant_access"


@dataclass
class WebhookReceiver:
    """A local HTTP server that records each POST and responds with `status`."""

    status: int = 204
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def __post_init__(self) -> None:
        self.release.set()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver.release.wait(timeout=DRAIN_SECONDS)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.requests.append((dict(self.headers), body))
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.release.set()
    server.shutdown()
    server.server_close()


class MailHandler:
    """Records every message the local SMTP server receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@pytest.fixture
def mailbox() -> Iterator[tuple[MailHandler, int]]:
    handler = MailHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture(autouse=True)
def anchor(tmp_path) -> Iterator[None]:
    """Keep the checkpoints of CRITICAL events in the test's own directory."""
    configure_audit_anchor(
        AuditAnchor(
            FileAnchorStore(tmp_path / "anchors"),
            key=AnchorKey(bytes(range(32)), "test key"),
        )
    )
    yield
    configure_audit_anchor(None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def use_notifier(tenant_slug: str, **tenant_settings: object) -> Notifier:
    """Configure alerts as an operator would, for one tenant."""
    smtp_port = tenant_settings.pop("smtp_port", None)
    section: dict[str, object] = {"tenants": {tenant_slug: tenant_settings}}
    if smtp_port is not None:
        section["smtp"] = {
            "host": "127.0.0.1",
            "port": smtp_port,
            "sender": SENDER,
            "starttls": False,
            "timeout_seconds": 5,
        }
    notifier = Notifier(parse_alert_settings(section, "test settings"))
    configure_notifier(notifier)
    return notifier


@pytest.fixture(autouse=True)
def reset_notifier() -> Iterator[None]:
    yield
    configure_notifier(None)


def record_cross_tenant_attempt(database, tenant):
    return record_security_event(
        database.engine,
        tenant.actor(),
        CROSS_TENANT,
        {"role": "DISPATCHER", "outcome": "rejected as not found"},
        object_type="plan version",
        object_id=4711,
    )


class TestWebhook:
    def test_alert_arrives_with_valid_signature(self, database, make_tenant, webhook):
        tenant = make_tenant()
        notifier = use_notifier(
            tenant.slug, webhook_url=webhook.url, webhook_secret=WEBHOOK_SECRET
        )

        entry = record_cross_tenant_attempt(database, tenant)
        assert notifier.drain(DRAIN_SECONDS)

        assert len(webhook.requests) == 1
        headers, body = webhook.requests[0]
        timestamp = headers[TIMESTAMP_HEADER]
        assert headers[SIGNATURE_HEADER] == webhook_signature(
            WEBHOOK_SECRET, timestamp, body
        )
        assert headers["Content-Type"] == "application/json"
        alert = json.loads(body)["alert"]
        assert alert["action"] == CROSS_TENANT
        assert alert["category"] == "cross_tenant_attempt"
        assert alert["severity"] == "CRITICAL"
        assert alert["tenant_id"] == tenant.tenant_id
        assert alert["tenant_slug"] == tenant.slug
        assert alert["sequence"] == entry.sequence
        assert alert["entry_hash"] == entry.entry_hash
        assert alert["object_id"] == "4711"

    def test_signature_fails_for_another_secret(self, database, make_tenant, webhook):
        tenant = make_tenant()
        notifier = use_notifier(
            tenant.slug, webhook_url=webhook.url, webhook_secret=WEBHOOK_SECRET
        )

        record_cross_tenant_attempt(database, tenant)
        assert notifier.drain(DRAIN_SECONDS)
        headers, body = webhook.requests[0]

        assert headers[SIGNATURE_HEADER] != webhook_signature(
            "another secret of at least 32 characters", headers[TIMESTAMP_HEADER], body
        )

    def test_other_tenants_receiver_gets_nothing(self, database, make_tenant, webhook):
        tenant = make_tenant()
        other = make_tenant()
        notifier = use_notifier(
            other.slug, webhook_url=webhook.url, webhook_secret=WEBHOOK_SECRET
        )

        record_cross_tenant_attempt(database, tenant)
        assert notifier.drain(DRAIN_SECONDS)

        assert webhook.requests == []

    def test_warning_event_raises_no_alert(
        self, database, make_tenant, webhook, caplog
    ):
        tenant = make_tenant()
        notifier = use_notifier(
            tenant.slug, webhook_url=webhook.url, webhook_secret=WEBHOOK_SECRET
        )

        with caplog.at_level(logging.INFO):
            record_security_event(
                database.engine,
                tenant.actor(),
                "security.permission_denied",
                {"permission": "plan:approve", "role": "VIEWER"},
            )
        assert notifier.drain(DRAIN_SECONDS)

        assert webhook.requests == []
        assert [record.levelno for record in caplog.records] == [logging.WARNING]

    def test_slow_receiver_does_not_block_the_event(
        self, database, make_tenant, webhook
    ):
        tenant = make_tenant()
        notifier = use_notifier(
            tenant.slug, webhook_url=webhook.url, webhook_secret=WEBHOOK_SECRET
        )
        webhook.release.clear()

        entry = record_cross_tenant_attempt(database, tenant)
        delivered_before_return = len(webhook.requests)
        webhook.release.set()
        assert notifier.drain(DRAIN_SECONDS)

        assert entry.sequence == 1
        assert delivered_before_return == 0
        assert len(webhook.requests) == 1


class TestEmail:
    def test_alert_arrives_by_email(self, database, make_tenant, mailbox):
        handler, port = mailbox
        tenant = make_tenant()
        notifier = use_notifier(tenant.slug, smtp_port=port, email_to=[RECIPIENT])

        entry = record_cross_tenant_attempt(database, tenant)
        assert notifier.drain(DRAIN_SECONDS)

        assert len(handler.messages) == 1
        mail_from, recipients, message = handler.messages[0]
        assert mail_from == SENDER
        assert recipients == [RECIPIENT]
        assert message["Subject"] == (
            f"[SOLVEREIGN] CRITICAL security event {CROSS_TENANT}"
            f" (cross_tenant_attempt) in tenant {tenant.slug}, audit entry 1"
        )
        body = message.get_content()
        assert f"entry hash:   {entry.entry_hash}" in body
        assert "object:       plan version 4711" in body


class TestFailures:
    def test_failing_receivers_do_not_break_the_event(
        self, database, make_tenant, webhook, caplog
    ):
        tenant = make_tenant()
        webhook.status = 500
        notifier = use_notifier(
            tenant.slug,
            webhook_url=webhook.url,
            webhook_secret=WEBHOOK_SECRET,
            smtp_port=free_port(),
            email_to=[RECIPIENT],
        )

        with caplog.at_level(logging.ERROR, logger="core.notify"):
            entry = record_cross_tenant_attempt(database, tenant)
            assert notifier.drain(DRAIN_SECONDS)
        with database.session_factory() as session:
            chain = verify_audit_chain(session, tenant.tenant_id)

        assert entry.sequence == 1
        assert chain.ok, chain.message
        assert chain.entry_count == 1
        failures = sorted(
            record.getMessage()
            for record in caplog.records
            if record.levelno == logging.ERROR
        )
        assert len(failures) == 2
        assert failures[0].startswith(
            f"alert for tenant {tenant.slug}, audit entry 1, not sent by e-mail via"
            f" 127.0.0.1:"
        )
        assert "ConnectionRefusedError" in failures[0]
        assert failures[1].startswith(
            f"alert for tenant {tenant.slug}, audit entry 1, not sent by webhook"
            " http://127.0.0.1/alerts: HTTPError"
        )

    def test_critical_record_is_logged_without_receivers(
        self, database, make_tenant, caplog
    ):
        tenant = make_tenant()
        use_notifier("some-other-tenant")

        with caplog.at_level(logging.CRITICAL, logger="core.notify"):
            record_cross_tenant_attempt(database, tenant)

        critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
        assert len(critical) == 1
        assert (
            critical[0]
            .getMessage()
            .startswith(
                f"ALERT CRITICAL security event {CROSS_TENANT} (cross_tenant_attempt) in"
                f" tenant {tenant.slug}, audit entry 1: user {tenant.actor().user_id}"
            )
        )


class TestCommitOrder:
    def test_rolled_back_event_raises_no_alert(
        self, database, make_tenant, webhook, caplog
    ):
        tenant = make_tenant()
        notifier = use_notifier(
            tenant.slug, webhook_url=webhook.url, webhook_secret=WEBHOOK_SECRET
        )

        with (
            caplog.at_level(logging.CRITICAL, logger="core.notify"),
            database.session_factory() as session,
        ):
            append_entry(session, tenant.actor(), CROSS_TENANT, "plan", 1, {})
            session.rollback()
        assert notifier.drain(DRAIN_SECONDS)

        assert webhook.requests == []
        assert caplog.records == []

    def test_alert_follows_the_callers_commit(self, database, make_tenant, webhook):
        tenant = make_tenant()
        notifier = use_notifier(
            tenant.slug, webhook_url=webhook.url, webhook_secret=WEBHOOK_SECRET
        )

        with database.session_factory() as session:
            append_entry(session, tenant.actor(), CROSS_TENANT, "plan", 1, {})
            session.flush()
            assert notifier.drain(DRAIN_SECONDS)
            sent_before_commit = len(webhook.requests)
            session.commit()
        assert notifier.drain(DRAIN_SECONDS)

        assert sent_before_commit == 0
        assert len(webhook.requests) == 1
