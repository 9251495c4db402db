"""Alert settings: where they are read from and what is rejected."""

from __future__ import annotations

import json

import pytest

from core.notify import (
    AlertConfigurationError,
    EmailSender,
    WebhookSender,
    load_alert_settings,
    parse_alert_settings,
    webhook_signature,
)

SECRET = "s" * 32
SMTP = {"host": "smtp.example.org", "sender": "solvereign@example.org"}


def parse(section: dict) -> object:
    return parse_alert_settings(section, "test settings")


class TestParse:
    def test_tenant_gets_email_and_webhook_senders(self):
        settings = parse(
            {
                "smtp": {**SMTP, "port": 2525},
                "tenants": {
                    "depot-nord": {
                        "email_to": ["security@depot-nord.example"],
                        "webhook_url": "https://hooks.example.org/alerts",
                        "webhook_secret": SECRET,
                    }
                },
            }
        )

        email_sender, webhook_sender = settings.senders_for("depot-nord")

        assert isinstance(email_sender, EmailSender)
        assert email_sender.smtp.port == 2525
        assert email_sender.smtp.starttls is True
        assert email_sender.recipients == ("security@depot-nord.example",)
        assert isinstance(webhook_sender, WebhookSender)
        assert webhook_sender.description == "webhook https://hooks.example.org/alerts"
        assert settings.senders_for("depot-sued") == ()

    @pytest.mark.parametrize(
        "url", ["http://127.0.0.1:8080/a", "http://[::1]/a", "http://localhost/a"]
    )
    def test_plain_http_is_accepted_for_loopback(self, url):
        settings = parse(
            {"tenants": {"t": {"webhook_url": url, "webhook_secret": SECRET}}}
        )

        assert len(settings.senders_for("t")) == 1

    @pytest.mark.parametrize(
        ("tenant", "message"),
        [
            (
                {"webhook_url": "http://hooks.example.org/a", "webhook_secret": SECRET},
                "must use https",
            ),
            (
                {"webhook_url": "https://hooks.example.org/a", "webhook_secret": "x"},
                "webhook_secret must be at least 32 characters",
            ),
            ({"webhook_secret": SECRET}, "webhook_secret without webhook_url"),
            ({"email_to": ["security@example.org"]}, "there is no smtp section"),
            ({"email_to": ["not an address"]}, "list of e-mail addresses"),
            ({"email": ["security@example.org"]}, "unknown settings email"),
            (
                {
                    "webhook_url": "https://hooks.example.org/a",
                    "webhook_secret": SECRET,
                    "webhook_timeout_seconds": 0,
                },
                "timeout 0 is not a positive number",
            ),
        ],
    )
    def test_invalid_tenant_settings_are_named(self, tenant, message):
        with pytest.raises(AlertConfigurationError, match=message) as error:
            parse({"tenants": {"depot-nord": tenant}})

        assert "test settings, tenant depot-nord" in str(error.value)

    @pytest.mark.parametrize(
        ("smtp", "message"),
        [
            ({"sender": "a@example.org"}, "host is missing"),
            ({**SMTP, "port": 70000}, "port 70000 is not 1 to 65535"),
            ({**SMTP, "sender": "nobody"}, "sender 'nobody' is not an e-mail"),
            ({**SMTP, "username": "u"}, "username is set but password is not"),
            ({**SMTP, "starttls": "yes"}, "starttls must be true or false"),
        ],
    )
    def test_invalid_smtp_settings_are_named(self, smtp, message):
        with pytest.raises(AlertConfigurationError, match=message):
            parse({"smtp": smtp})


class TestLoad:
    def test_environment_wins_over_secrets_file(self, tmp_path):
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(
            '[alerts.tenants.from-file]\nwebhook_url = "https://a.example.org"\n'
            f'webhook_secret = "{SECRET}"\n'
        )
        environ = {
            "SOLVEREIGN_ALERTS": json.dumps(
                {
                    "tenants": {
                        "from-env": {
                            "webhook_url": "https://b.example.org",
                            "webhook_secret": SECRET,
                        }
                    }
                }
            )
        }

        from_environment = load_alert_settings(environ, secrets)
        from_file = load_alert_settings({}, secrets)

        assert list(from_environment.senders_by_tenant) == ["from-env"]
        assert list(from_file.senders_by_tenant) == ["from-file"]

    def test_missing_sources_mean_no_senders(self, tmp_path):
        settings = load_alert_settings({}, tmp_path / "secrets.toml")

        assert settings.senders_by_tenant == {}

    def test_environment_that_is_no_json_is_named(self, tmp_path):
        with pytest.raises(AlertConfigurationError, match="SOLVEREIGN_ALERTS is not"):
            load_alert_settings({"SOLVEREIGN_ALERTS": "{"}, tmp_path / "none.toml")


def test_webhook_signature_covers_timestamp_and_body():
    signature = webhook_signature(SECRET, "1764576000", b'{"alert":{}}')

    assert signature.startswith("sha256=")
    assert len(signature) == len("sha256=") + 64
    assert signature != webhook_signature(SECRET, "1764576001", b'{"alert":{}}')
    assert signature != webhook_signature(SECRET, "1764576000", b'{"alert":[]}')
