"""OpenID Connect ID tokens: provider settings, validation and claim mapping.

Settings come from the `[oidc]` section of `.streamlit/secrets.toml`
(`load_oidc_settings`) or are built directly (`OidcSettings`). Sign-in with
a validated token is in core.oidc_sign_in.

Validation uses PyJWT and the keys of the provider's JWKS endpoint:

- only RS256 is accepted. `alg: none`, HS256 (also HS256 signed with the
  provider's public key as the secret) and every other algorithm are
  rejected before any key is looked up;
- the key is chosen by the token's `kid` and must be an RSA key for RS256
  of at least 2048 bits. An unknown `kid` makes the client fetch the JWKS
  once more, unless it fetched it less than `jwks_refresh_cooldown_seconds`
  ago, and the token is rejected if the key is still missing. The cooldown
  stops forged tokens from making the workbench flood the provider with
  requests;
- `iss` must equal the configured issuer and `aud` must contain the client
  id. An `azp` claim, if present, must be the client id too (OpenID Connect
  Core 1.0, section 3.1.3.7);
- `sub`, `exp`, `iat`, `iss` and `aud` are required. `exp`, `nbf` and `iat`
  are checked against the system clock with `leeway_seconds` of tolerance.

Claim mapping. The workbench role comes from the roles claim (by default
Keycloak's `realm_access.roles`) through `role_map`. Provider roles missing
from the map are ignored, because Keycloak adds its own, such as
`offline_access`. If no value maps, the token is rejected. If several values
map, the highest role on the ladder wins: roles are cumulative, and a
provider that nests roles (Keycloak's composite roles) sends the lower ones
as well. The tenant comes only from the tenant claim, through `tenant_map`
to a tenant slug, and an unmapped value is rejected. SUPER_ADMIN cannot be
mapped, so platform administrators sign in with password and TOTP.

Multi-factor. Roles from PLAN_APPROVER upwards need multi-factor sign-in
(core.permissions). A token counts as multi-factor only if its `amr` claim
(RFC 8176) contains a value of `mfa_amr_values` (by default `mfa`) or its
`acr` claim is one of `mfa_acr_values` (none by default). Otherwise the
session has DISPATCHER permissions at most, as after a password-only
sign-in.

Every rejection raises TokenRejected with one generic message, and its
`reason` names the claim, header field or key at fault.
"""

from __future__ import annotations

import functools
import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwt import PyJWKClient

from core.errors import SolvereignError
from core.permissions import Role

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECRETS_PATH = PROJECT_ROOT / ".streamlit" / "secrets.toml"

ALLOWED_ALGORITHMS = ("RS256",)
REQUIRED_CLAIMS = ("sub", "exp", "iat", "iss", "aud")
# A real ID token is a few KB, so longer input is rejected without parsing.
MAX_TOKEN_LENGTH = 16 * 1024
# OpenID Connect Core 1.0 limits `sub` to 255 ASCII characters.
MAX_SUBJECT_LENGTH = 255
# Issuer and JWKS URLs; users.oidc_issuer is a VARCHAR(255).
MAX_URL_LENGTH = 255
MAX_SETTING_TEXT_LENGTH = 255
MAX_USERNAME_LENGTH = 150
MAX_TENANT_SLUG_LENGTH = 64
MAX_LEEWAY_SECONDS = 300
MAX_JWKS_TIMEOUT_SECONDS = 60
LOOPBACK_HOSTS = ("localhost",)

ClaimPath = tuple[str, ...]


class OidcConfigError(ValueError):
    """Missing or invalid `[oidc]` settings. The message names the key at fault."""


class TokenRejected(SolvereignError):
    """Rejection of an ID token or of its user, with one message for every case.

    `reason` names what was wrong, for the audit trail and the log only.
    `token_verified` is true when the token's signature and standard claims
    were valid, so its other claims can be trusted.
    """

    def __init__(self, reason: str, token_verified: bool = False) -> None:
        self.reason = reason
        self.token_verified = token_verified
        super().__init__("single sign-on failed; sign in again or ask your admin")


@dataclass(frozen=True)
class OidcSettings:
    """Trust settings for one OpenID Connect provider: its URLs and claim mapping.

    `client_id` is the expected audience (`aud`). A claim path is the list of
    keys that leads to a nested claim, such as ("realm_access", "roles"). A
    plain string names a top-level claim, even one containing dots. The
    `jwks_*` durations are in seconds.
    """

    issuer: str
    client_id: str
    jwks_url: str
    role_map: Mapping[str, Role]
    tenant_map: Mapping[str, str]
    roles_claim: ClaimPath = ("realm_access", "roles")
    tenant_claim: ClaimPath = ("tenant",)
    username_claim: str = "preferred_username"
    leeway_seconds: int = 30
    provision_users: bool = False
    mfa_amr_values: frozenset[str] = frozenset({"mfa"})
    mfa_acr_values: frozenset[str] = frozenset()
    jwks_cache_seconds: int = 300
    jwks_refresh_cooldown_seconds: int = 30
    jwks_timeout_seconds: int = 5
    algorithms: tuple[str, ...] = field(default=ALLOWED_ALGORITHMS, init=False)

    def __post_init__(self) -> None:
        _check_url("issuer", self.issuer)
        _check_url("jwks_url", self.jwks_url)
        _check_text("client_id", self.client_id, MAX_SETTING_TEXT_LENGTH)
        _check_text("username_claim", self.username_claim, MAX_SETTING_TEXT_LENGTH)
        for name in ("roles_claim", "tenant_claim"):
            object.__setattr__(self, name, _claim_path(name, getattr(self, name)))
        object.__setattr__(self, "role_map", _checked_role_map(self.role_map))
        object.__setattr__(self, "tenant_map", _checked_tenant_map(self.tenant_map))
        for name in ("mfa_amr_values", "mfa_acr_values"):
            object.__setattr__(self, name, _string_set(name, getattr(self, name)))
        _check_range("leeway_seconds", self.leeway_seconds, 0, MAX_LEEWAY_SECONDS)
        _check_range("jwks_cache_seconds", self.jwks_cache_seconds, 1, 86_400)
        _check_range(
            "jwks_refresh_cooldown_seconds", self.jwks_refresh_cooldown_seconds, 0, 3600
        )
        _check_range(
            "jwks_timeout_seconds",
            self.jwks_timeout_seconds,
            1,
            MAX_JWKS_TIMEOUT_SECONDS,
        )
        if not isinstance(self.provision_users, bool):
            raise OidcConfigError("oidc.provision_users must be true or false")


@dataclass(frozen=True)
class VerifiedIdentity:
    """The user of a validated ID token: identity, tenant, role and MFA state."""

    issuer: str
    subject: str
    tenant_slug: str
    role: Role
    mfa_verified: bool
    preferred_username: str | None


_REQUIRED_KEYS = ("issuer", "client_id", "jwks_url", "role_map", "tenant_map")
_KEY_TYPES: dict[str, tuple[type, ...]] = {
    "issuer": (str,),
    "client_id": (str,),
    "jwks_url": (str,),
    "role_map": (dict,),
    "tenant_map": (dict,),
    "roles_claim": (str, list),
    "tenant_claim": (str, list),
    "username_claim": (str,),
    "leeway_seconds": (int,),
    "provision_users": (bool,),
    "mfa_amr_values": (list,),
    "mfa_acr_values": (list,),
    "jwks_cache_seconds": (int,),
    "jwks_refresh_cooldown_seconds": (int,),
    "jwks_timeout_seconds": (int,),
    "algorithms": (list,),
}


def load_oidc_settings(path: Path = DEFAULT_SECRETS_PATH) -> OidcSettings:
    """Read the `[oidc]` section of a Streamlit secrets file.

    Raises OidcConfigError naming the file and the key at fault.
    """
    try:
        with path.open("rb") as secrets_file:
            document = tomllib.load(secrets_file)
    except FileNotFoundError:
        raise OidcConfigError(
            f"{path} not found; copy .streamlit/secrets.example.toml there and"
            " fill in the [oidc] section"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise OidcConfigError(f"{path} is not valid TOML: {error}") from None
    section = document.get("oidc")
    if not isinstance(section, dict):
        raise OidcConfigError(f"{path} has no [oidc] section")
    try:
        return settings_from_section(section)
    except OidcConfigError as error:
        raise OidcConfigError(f"{path}: {error}") from None


def settings_from_section(section: Mapping[str, Any]) -> OidcSettings:
    """Build settings from the parsed `[oidc]` table, checking every key's type."""
    _check_keys(section)

    values = dict(section)
    algorithms = values.pop("algorithms", list(ALLOWED_ALGORITHMS))
    if algorithms != list(ALLOWED_ALGORITHMS):
        raise OidcConfigError(
            f'oidc.algorithms is {algorithms!r}; only ["RS256"] is accepted'
        )
    # OidcSettings turns arrays into claim paths and sets, and checks the values.
    return OidcSettings(**values)


def _check_keys(section: Mapping[str, Any]) -> None:
    unknown = sorted(set(section) - set(_KEY_TYPES))
    if unknown:
        raise OidcConfigError(
            f"unknown key oidc.{unknown[0]}; known keys are {', '.join(_KEY_TYPES)}"
        )
    missing = [key for key in _REQUIRED_KEYS if key not in section]
    if missing:
        raise OidcConfigError(f"oidc.{missing[0]} is missing")

    for key, value in section.items():
        expected = _KEY_TYPES[key]
        # bool is a subclass of int in Python, but `leeway_seconds = true` is a typo.
        if not isinstance(value, expected) or (
            isinstance(value, bool) and bool not in expected
        ):
            names = " or ".join(_toml_type_name(kind) for kind in expected)
            raise OidcConfigError(f"oidc.{key} must be {names}, not {value!r}")


def _toml_type_name(kind: type) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false"}
    names |= {list: "an array", dict: "a table"}
    return names[kind]


def _check_url(name: str, url: object) -> None:
    """Require https, or http on a loopback address for a provider on this machine."""
    _check_text(name, url, MAX_URL_LENGTH)
    parts = urlsplit(str(url))
    if parts.query or parts.fragment or not parts.hostname:
        raise OidcConfigError(
            f"oidc.{name} {url!r} must be an absolute URL without query or fragment"
        )
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return
    raise OidcConfigError(
        f"oidc.{name} {url!r} must use https (http only for 127.0.0.1, ::1 or"
        " localhost)"
    )


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _check_text(name: str, value: object, max_length: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise OidcConfigError(f"oidc.{name} must be a non-empty string")
    if len(value) > max_length:
        raise OidcConfigError(f"oidc.{name} is longer than {max_length} characters")


def _check_range(name: str, value: object, low: int, high: int) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not low <= value <= high
    ):
        raise OidcConfigError(
            f"oidc.{name} must be an integer from {low} to {high}, not {value!r}"
        )


def _claim_path(name: str, value: object) -> ClaimPath:
    path = (value,) if isinstance(value, str) else value
    if (
        not isinstance(path, list | tuple)
        or not path
        or not all(isinstance(key, str) and key for key in path)
    ):
        raise OidcConfigError(
            f"oidc.{name} must be a claim name or a non-empty array of claim names,"
            f" not {value!r}"
        )
    return tuple(path)


def _string_set(name: str, values: object) -> frozenset[str]:
    if isinstance(values, str) or not all(isinstance(item, str) for item in values):
        raise OidcConfigError(f"oidc.{name} must be an array of strings")
    return frozenset(values)


def _checked_role_map(role_map: Mapping[str, object]) -> Mapping[str, Role]:
    if not role_map:
        raise OidcConfigError("oidc.role_map must map at least one provider role")
    mappable = ", ".join(role.value for role in Role if role is not Role.SUPER_ADMIN)
    checked = {}
    for provider_role, value in role_map.items():
        try:
            role = value if isinstance(value, Role) else Role(value)
        except ValueError:
            raise OidcConfigError(
                f"oidc.role_map.{provider_role} is {value!r}; expected one of"
                f" {mappable}"
            ) from None
        if role is Role.SUPER_ADMIN:
            raise OidcConfigError(
                f"oidc.role_map.{provider_role} maps to SUPER_ADMIN, which single"
                " sign-on does not grant; platform admins sign in with password"
                " and TOTP"
            )
        checked[provider_role] = role
    return MappingProxyType(checked)


def _checked_tenant_map(tenant_map: Mapping[str, object]) -> Mapping[str, str]:
    if not tenant_map:
        raise OidcConfigError("oidc.tenant_map must map at least one tenant")
    for claim_value, slug in tenant_map.items():
        if not isinstance(slug, str) or not slug or len(slug) > MAX_TENANT_SLUG_LENGTH:
            raise OidcConfigError(
                f"oidc.tenant_map.{claim_value} must be a tenant slug of 1 to"
                f" {MAX_TENANT_SLUG_LENGTH} characters, not {slug!r}"
            )
    return MappingProxyType(dict(tenant_map))


def validate_token(id_token: str, settings: OidcSettings) -> VerifiedIdentity:
    """Validate an ID token and map its claims to a tenant, a role and MFA.

    Raises TokenRejected with the reason for anything invalid or unmapped.
    Fetches the JWKS from `settings.jwks_url` when it is not cached.
    """
    claims = _verified_claims(id_token, settings)
    subject = claims["sub"]
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_LENGTH:
        raise TokenRejected(
            f"claim sub must be a string of 1 to {MAX_SUBJECT_LENGTH} characters",
            token_verified=True,
        )
    if "azp" in claims and claims["azp"] != settings.client_id:
        raise TokenRejected(
            "claim azp is not the configured client_id", token_verified=True
        )
    return VerifiedIdentity(
        issuer=settings.issuer,
        subject=subject,
        tenant_slug=_mapped_tenant_slug(claims, settings),
        role=_mapped_role(claims, settings),
        mfa_verified=_mfa_verified(claims, settings),
        preferred_username=_username(claims, settings),
    )


def _verified_claims(id_token: str, settings: OidcSettings) -> dict[str, Any]:
    """Check the header, find the key, verify the signature and standard claims."""
    if not isinstance(id_token, str) or not 0 < len(id_token) <= MAX_TOKEN_LENGTH:
        raise TokenRejected(
            f"token is not a string of 1 to {MAX_TOKEN_LENGTH} characters"
        )
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError as error:
        raise TokenRejected(
            f"token is not a well-formed JWT: {_error_text(error)}"
        ) from None
    algorithm = header.get("alg")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise TokenRejected(
            f"algorithm {_printable(algorithm)} is not allowed; only RS256 is accepted"
        )
    key_id = header.get("kid")
    if not isinstance(key_id, str) or not key_id:
        raise TokenRejected("token header has no key id (kid)")
    signing_key = _signing_key(key_id, settings)
    try:
        return jwt.decode(
            id_token,
            signing_key,
            algorithms=list(ALLOWED_ALGORITHMS),
            audience=settings.client_id,
            issuer=settings.issuer,
            leeway=settings.leeway_seconds,
            options={
                "require": list(REQUIRED_CLAIMS),
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.PyJWTError as error:
        raise TokenRejected(_decode_failure_reason(error, key_id)) from None


def _signing_key(key_id: str, settings: OidcSettings) -> jwt.PyJWK:
    """Return the provider's RSA key with this key id, fetching the JWKS if needed."""
    client = _jwks_client(
        settings.jwks_url,
        settings.jwks_cache_seconds,
        settings.jwks_timeout_seconds,
        settings.jwks_refresh_cooldown_seconds,
    )
    try:
        signing_key = client.get_signing_key(key_id)
    except jwt.PyJWKClientConnectionError as error:
        logger.error("JWKS endpoint %s failed: %s", settings.jwks_url, error)
        raise TokenRejected(
            f"JWKS endpoint {settings.jwks_url} could not be fetched"
        ) from None
    except jwt.PyJWKClientError as error:
        raise TokenRejected(
            f"key id {_printable(key_id)} was not found in the provider's JWKS"
            f" ({_error_text(error)})"
        ) from None
    except jwt.PyJWTError as error:
        raise TokenRejected(
            f"JWKS of {settings.jwks_url} is invalid: {_error_text(error)}"
        ) from None
    if signing_key.key_type != "RSA" or signing_key.algorithm_name != "RS256":
        raise TokenRejected(
            f"key {_printable(key_id)} of the JWKS is a {signing_key.key_type} key"
            f" for {signing_key.algorithm_name}; only RSA keys for RS256 are accepted"
        )
    return signing_key


@functools.lru_cache(maxsize=8)
def _jwks_client(
    jwks_url: str, cache_seconds: int, timeout_seconds: int, cooldown_seconds: int
) -> PyJWKClient:
    """Return the process's client for one JWKS endpoint, so its cache is shared.

    The whole key set is cached for `cache_seconds`. PyJWT's per-key cache
    stays off (cache_keys=False) because it never expires, so a key the
    provider withdrew would stay trusted until the process restarts.
    """
    return PyJWKClient(
        jwks_url,
        cache_keys=False,
        cache_jwk_set=True,
        lifespan=cache_seconds,
        timeout=timeout_seconds,
        cooldown_duration=cooldown_seconds,
    )


def _decode_failure_reason(error: jwt.PyJWTError, key_id: str) -> str:
    if isinstance(error, jwt.ExpiredSignatureError):
        return "token has expired (exp)"
    if isinstance(error, jwt.ImmatureSignatureError):
        # PyJWT's message names the claim: "... not yet valid (nbf)" or "(iat)".
        return f"token is not valid yet: {_error_text(error)}"
    if isinstance(error, jwt.InvalidIssuerError):
        return "claim iss is not the configured issuer"
    if isinstance(error, jwt.InvalidAudienceError):
        return "claim aud does not contain the configured client_id"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"required claim {error.claim} is missing"
    if isinstance(error, jwt.InvalidSignatureError):
        return f"signature does not verify with key {_printable(key_id)}"
    return f"token is invalid: {_error_text(error)}"


def _claim_at(claims: Mapping[str, Any], path: ClaimPath) -> Any:
    value: Any = claims
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _mapped_role(claims: Mapping[str, Any], settings: OidcSettings) -> Role:
    """Return the highest workbench role among the mapped values of the roles claim."""
    name = ".".join(settings.roles_claim)
    values = _claim_at(claims, settings.roles_claim)
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise TokenRejected(
            f"roles claim {name} is missing or not a list of strings",
            token_verified=True,
        )
    mapped = [
        settings.role_map[value] for value in values if value in settings.role_map
    ]
    if not mapped:
        listed_values = ", ".join(_printable(value) for value in values[:5])
        raise TokenRejected(
            f"no value of roles claim {name} is in role_map"
            f" (values: {listed_values or 'none'})",
            token_verified=True,
        )
    return max(mapped)


def _mapped_tenant_slug(claims: Mapping[str, Any], settings: OidcSettings) -> str:
    name = ".".join(settings.tenant_claim)
    value = _claim_at(claims, settings.tenant_claim)
    if not isinstance(value, str):
        raise TokenRejected(
            f"tenant claim {name} is missing or not a single string",
            token_verified=True,
        )
    slug = settings.tenant_map.get(value)
    if slug is None:
        raise TokenRejected(
            f"tenant claim {name} value {_printable(value)} is not in tenant_map",
            token_verified=True,
        )
    return slug


def _mfa_verified(claims: Mapping[str, Any], settings: OidcSettings) -> bool:
    """Tell whether the provider states a multi-factor sign-in (amr or acr claim)."""
    methods = claims.get("amr")
    if isinstance(methods, list) and any(
        isinstance(method, str) and method in settings.mfa_amr_values
        for method in methods
    ):
        return True
    context_class = claims.get("acr")
    return isinstance(context_class, str) and context_class in settings.mfa_acr_values


def _username(claims: Mapping[str, Any], settings: OidcSettings) -> str | None:
    value = claims.get(settings.username_claim)
    if not isinstance(value, str) or not value.isprintable():
        return None
    value = value.strip()
    if not 0 < len(value) <= MAX_USERNAME_LENGTH:
        return None
    return value


def _error_text(error: Exception) -> str:
    """Quote a PyJWT error message, which is longer than a claim value."""
    return _printable(error, max_length=160)


def _printable(value: object, max_length: int = 40) -> str:
    """Quote a value from a token for a log or audit reason: printable and short."""
    text = "".join(char for char in str(value) if char.isprintable())
    if len(text) > max_length:
        text = text[:max_length] + "..."
    return repr(text)


def claimed_tenant_slug(id_token: str, settings: OidcSettings) -> str | None:
    """Return the tenant slug that the token's tenant claim maps to, unverified.

    The signature is not checked, so the result must only choose where a
    rejection is recorded, and never grant access. Returns None when the
    token cannot be decoded or its claim maps to no tenant.
    """
    if not isinstance(id_token, str) or len(id_token) > MAX_TOKEN_LENGTH:
        return None
    try:
        claims = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    value = _claim_at(claims, settings.tenant_claim)
    if not isinstance(value, str):
        return None
    return settings.tenant_map.get(value)
