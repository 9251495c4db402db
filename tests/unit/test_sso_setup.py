"""Single sign-on settings from secrets.toml, and the record of used ID tokens."""

from __future__ import annotations

import copy
import time
import tomllib
from pathlib import Path

import pytest

from app_pages._sso_setup import SsoConfigError, sso_setup_from_secrets
from app_pages._sso_tokens import SignInTokens

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_SECRETS = PROJECT_ROOT / ".streamlit" / "secrets.example.toml"
COOKIE_SECRET = "k" * 43


@pytest.fixture
def filled_example() -> dict:
    """The example secrets file with its two empty secrets filled in."""
    secrets = tomllib.loads(EXAMPLE_SECRETS.read_text(encoding="utf-8"))
    secrets["auth"]["cookie_secret"] = COOKIE_SECRET
    secrets["auth"]["keycloak"]["client_secret"] = "client-secret"
    return secrets


def without(secrets: dict, section: str) -> dict:
    changed = copy.deepcopy(secrets)
    del changed[section]
    return changed


class TestSsoSetup:
    def test_filled_example_names_provider(self, filled_example):
        setup = sso_setup_from_secrets(filled_example)

        assert setup is not None
        assert setup.provider == "keycloak"
        assert setup.provider_label == "Keycloak"
        assert setup.oidc.client_id == "solvereign-workbench"

    def test_example_as_shipped_is_rejected(self):
        secrets = tomllib.loads(EXAMPLE_SECRETS.read_text(encoding="utf-8"))

        with pytest.raises(SsoConfigError, match="auth.cookie_secret"):
            sso_setup_from_secrets(secrets)

    def test_no_sections_means_off(self):
        assert sso_setup_from_secrets({}) is None
        assert sso_setup_from_secrets({"database": {"url": "x"}}) is None

    @pytest.mark.parametrize("missing", ["auth", "oidc"])
    def test_one_section_alone_is_rejected(self, filled_example, missing):
        with pytest.raises(SsoConfigError, match=rf"\[{missing}\] is missing"):
            sso_setup_from_secrets(without(filled_example, missing))

    def test_invalid_oidc_section_names_key(self, filled_example):
        filled_example["oidc"]["algorithms"] = ["HS256"]

        with pytest.raises(SsoConfigError, match="oidc.algorithms"):
            sso_setup_from_secrets(filled_example)

    @pytest.mark.parametrize(
        ("key", "value", "named"),
        [
            ("redirect_uri", "https://planning.example.com/", "auth.redirect_uri"),
            ("cookie_secret", "short", "auth.cookie_secret"),
            ("expose_tokens", ["access"], "auth.expose_tokens"),
        ],
    )
    def test_invalid_auth_key_is_named(self, filled_example, key, value, named):
        filled_example["auth"][key] = value

        with pytest.raises(SsoConfigError, match=named):
            sso_setup_from_secrets(filled_example)

    def test_expose_tokens_as_string_is_accepted(self, filled_example):
        filled_example["auth"]["expose_tokens"] = "id"

        assert sso_setup_from_secrets(filled_example) is not None

    def test_second_provider_is_rejected(self, filled_example):
        filled_example["auth"]["okta"] = dict(filled_example["auth"]["keycloak"])

        with pytest.raises(SsoConfigError, match="found keycloak, okta"):
            sso_setup_from_secrets(filled_example)

    def test_provider_name_with_underscore_is_rejected(self, filled_example):
        auth = filled_example["auth"]
        auth["key_cloak"] = auth.pop("keycloak")

        with pytest.raises(SsoConfigError, match="no underscore"):
            sso_setup_from_secrets(filled_example)

    def test_provider_client_must_match_oidc(self, filled_example):
        filled_example["auth"]["keycloak"]["client_id"] = "another-client"

        with pytest.raises(SsoConfigError, match="auth.keycloak.client_id"):
            sso_setup_from_secrets(filled_example)

    def test_metadata_url_must_belong_to_issuer(self, filled_example):
        filled_example["auth"]["keycloak"]["server_metadata_url"] = (
            "https://elsewhere.example.com/.well-known/openid-configuration"
        )

        with pytest.raises(SsoConfigError, match="server_metadata_url"):
            sso_setup_from_secrets(filled_example)

    def test_missing_client_secret_is_named(self, filled_example):
        del filled_example["auth"]["keycloak"]["client_secret"]

        with pytest.raises(SsoConfigError, match="auth.keycloak.client_secret"):
            sso_setup_from_secrets(filled_example)


class TestSignInTokens:
    def test_token_is_claimed_once(self):
        tokens = SignInTokens()

        first = tokens.claim("id-token-a", time.time() + 600)
        second = tokens.claim("id-token-a", time.time() + 600)

        assert first is True
        assert second is False

    def test_unknown_token_has_no_use(self):
        assert SignInTokens().lookup("id-token-a") is None

    def test_attached_session_is_found_until_detached(self):
        tokens = SignInTokens()
        tokens.claim("id-token-a", time.time() + 600)

        tokens.attach("id-token-a", "session-1")
        attached = tokens.lookup("id-token-a")
        tokens.detach("id-token-a")
        detached = tokens.lookup("id-token-a")

        assert attached is not None
        assert attached.session_token == "session-1"
        assert detached is not None
        assert detached.session_token is None

    def test_expired_unattached_tokens_are_dropped(self):
        tokens = SignInTokens()
        tokens.claim("expired-free", time.time() - 1)
        tokens.claim("expired-attached", time.time() - 1)
        tokens.attach("expired-attached", "session-1")

        tokens.claim("fresh", time.time() + 600)

        assert tokens.lookup("expired-free") is None
        assert tokens.lookup("expired-attached") is not None
        assert len(tokens) == 2

    def test_oldest_token_goes_at_the_limit(self):
        tokens = SignInTokens(max_tokens=2)
        for name in ("first", "second", "third"):
            tokens.claim(name, time.time() + 600)

        assert tokens.lookup("first") is None
        assert tokens.lookup("third") is not None
        assert len(tokens) == 2

    def test_tokens_are_kept_by_digest_only(self):
        tokens = SignInTokens()
        tokens.claim("secret-id-token", time.time() + 600)

        assert "secret-id-token" not in repr(tokens._uses)
