"""Single sign-on settings: Streamlit's `[auth]` and the workbench's `[oidc]`.

Both sections come from Streamlit's secrets (st.secrets), so Streamlit and
the workbench read the same files. Streamlit 1.67 reads
`~/.streamlit/secrets.toml`, then `.streamlit/secrets.toml` in the working
directory, then the one beside app.py (option secrets.files). A section in a
later file replaces the whole section of an earlier one.

`[auth]` is Streamlit's own section for st.login. It must name exactly one
provider in a table of its own (`[auth.keycloak]`), whose name is passed to
st.login and shown on the button. `[oidc]` is what the workbench trusts
(core.oidc). The two must describe the same provider and client: the
provider's `server_metadata_url` must be the discovery document of
`oidc.issuer` (OpenID Connect Discovery 1.0, section 4), and its
`client_id` must be `oidc.client_id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.oidc import OidcConfigError, OidcSettings, settings_from_section

AUTH_SECTION = "auth"
OIDC_SECTION = "oidc"
# Streamlit serves its OAuth callback at this path and nowhere else.
CALLBACK_PATH = "/oauth2callback"
DISCOVERY_PATH = "/.well-known/openid-configuration"
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
# Tables of [auth] that configure Streamlit's unnamed default provider and
# are not providers themselves.
NON_PROVIDER_TABLES = frozenset({"client_kwargs"})
# Streamlit signs its identity cookie with cookie_secret (HMAC). 32 characters
# of secrets.token_urlsafe carry 192 bits.
MIN_COOKIE_SECRET_LENGTH = 32


class SsoConfigError(ValueError):
    """Invalid single sign-on settings. The message names the key at fault."""


@dataclass(frozen=True)
class SsoSetup:
    """One configured provider: its name in `[auth]` and the workbench's trust settings."""

    provider: str
    oidc: OidcSettings

    @property
    def provider_label(self) -> str:
        """The provider's name as the sign-in button shows it, capitalised."""
        return self.provider[:1].upper() + self.provider[1:]


def sso_setup_from_secrets(secrets: Mapping[str, Any]) -> SsoSetup | None:
    """Build the single sign-on setup from parsed secrets, or None when it is off.

    Single sign-on is off when neither `[auth]` nor `[oidc]` is present.
    Raises SsoConfigError, naming the key at fault, when only one of them is
    present or either is invalid.
    """
    auth = secrets.get(AUTH_SECTION)
    oidc = secrets.get(OIDC_SECTION)
    if auth is None and oidc is None:
        return None
    for name, section in ((AUTH_SECTION, auth), (OIDC_SECTION, oidc)):
        if not isinstance(section, Mapping):
            raise SsoConfigError(
                f"[{name}] is missing or not a table; single sign-on needs both"
                f" [{AUTH_SECTION}] and [{OIDC_SECTION}]"
            )
    try:
        settings = settings_from_section(oidc)
    except OidcConfigError as error:
        raise SsoConfigError(str(error)) from None
    _check_shared_auth_keys(auth)
    provider = _provider_name(auth)
    _check_provider(provider, auth[provider], settings)
    return SsoSetup(provider, settings)


def _check_shared_auth_keys(auth: Mapping[str, Any]) -> None:
    redirect_uri = auth.get("redirect_uri")
    if not isinstance(redirect_uri, str) or not redirect_uri.endswith(CALLBACK_PATH):
        raise SsoConfigError(
            f"auth.redirect_uri must be the workbench's URL ending in {CALLBACK_PATH},"
            f" such as http://localhost:8501{CALLBACK_PATH}, not {redirect_uri!r}"
        )
    cookie_secret = auth.get("cookie_secret")
    if (
        not isinstance(cookie_secret, str)
        or len(cookie_secret) < MIN_COOKIE_SECRET_LENGTH
    ):
        raise SsoConfigError(
            f"auth.cookie_secret must be a random string of at least"
            f" {MIN_COOKIE_SECRET_LENGTH} characters; generate one with"
            " python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    exposed = auth.get("expose_tokens")
    exposed_list = [exposed] if isinstance(exposed, str) else exposed
    if not isinstance(exposed_list, list) or "id" not in exposed_list:
        raise SsoConfigError(
            'auth.expose_tokens must contain "id", because the workbench validates'
            f" the ID token itself; it is {exposed!r}"
        )


def _provider_name(auth: Mapping[str, Any]) -> str:
    """Return the name of the one provider table in `[auth]`."""
    names = [
        name
        for name, value in auth.items()
        if isinstance(value, Mapping) and name not in NON_PROVIDER_TABLES
    ]
    if len(names) != 1:
        listed = ", ".join(names) or "none"
        raise SsoConfigError(
            "[auth] must contain exactly one provider table, such as"
            f" [auth.keycloak], for the provider that [oidc] trusts; found {listed}"
        )
    name = names[0]
    # Streamlit 1.67 rejects provider names with an underscore (auth_util).
    if "_" in name or not name.strip():
        raise SsoConfigError(
            f"[auth.{name}]: a provider name must be non-empty and contain no"
            " underscore"
        )
    return name


def _check_provider(name: str, provider: Mapping[str, Any], oidc: OidcSettings) -> None:
    for key in PROVIDER_KEYS:
        value = provider.get(key)
        if not isinstance(value, str) or not value.strip():
            raise SsoConfigError(f"auth.{name}.{key} must be a non-empty string")
    if provider["client_id"] != oidc.client_id:
        raise SsoConfigError(
            f"auth.{name}.client_id {provider['client_id']!r} differs from"
            f" oidc.client_id {oidc.client_id!r}; both name the workbench's client"
        )
    discovery_url = oidc.issuer.rstrip("/") + DISCOVERY_PATH
    if provider["server_metadata_url"] != discovery_url:
        raise SsoConfigError(
            f"auth.{name}.server_metadata_url must be the discovery document of"
            f" oidc.issuer, {discovery_url}, not {provider['server_metadata_url']!r}"
        )
