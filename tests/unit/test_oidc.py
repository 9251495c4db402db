"""ID token validation and claim mapping against a JWKS endpoint on 127.0.0.1.

The RSA keys are generated here and served by tests/oidc_provider.py; token
times are relative to the system clock, which core.oidc checks them against.
"""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.warnings import InsecureKeyLengthWarning

from core.oidc import (
    OidcConfigError,
    TokenRejected,
    load_oidc_settings,
    settings_from_section,
    validate_token,
)
from core.permissions import Role
from tests.oidc_provider import (
    CLIENT_ID,
    base64url,
    new_rsa_key,
    running_provider,
    tampered,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_SECRETS = PROJECT_ROOT / ".streamlit" / "secrets.example.toml"
TENANT_CLAIM = "Depot Nord GmbH"
TENANT_SLUG = "depot-nord"
GENERIC_MESSAGE = "single sign-on failed; sign in again or ask your admin"


@pytest.fixture(scope="module")
def provider_key():
    return new_rsa_key()


@pytest.fixture(scope="module")
def attacker_key():
    return new_rsa_key()


@pytest.fixture
def provider(provider_key):
    with running_provider(provider_key) as running:
        yield running


@pytest.fixture
def settings(provider):
    return provider.settings({TENANT_CLAIM: TENANT_SLUG})


def rejection_of(token: str, settings) -> TokenRejected:
    with pytest.raises(TokenRejected) as caught:
        validate_token(token, settings)
    return caught.value


class TestValidToken:
    def test_token_is_accepted_with_role_and_tenant(self, provider, settings):
        claims = provider.claims(TENANT_CLAIM, ["planning-dispatcher"])

        identity = validate_token(provider.sign(claims), settings)

        assert identity.role is Role.DISPATCHER
        assert identity.tenant_slug == TENANT_SLUG
        assert identity.subject == claims["sub"]
        assert identity.issuer == provider.issuer
        assert identity.preferred_username == claims["preferred_username"]
        assert identity.mfa_verified is False

    def test_highest_mapped_role_wins(self, provider, settings):
        roles = ["planning-viewer", "planning-approver", "planning-dispatcher"]
        token = provider.sign(provider.claims(TENANT_CLAIM, roles))

        identity = validate_token(token, settings)

        assert identity.role is Role.PLAN_APPROVER

    def test_audience_list_with_client_id_accepted(self, provider, settings):
        claims = provider.claims(
            TENANT_CLAIM, ["planning-viewer"], aud=["account", CLIENT_ID]
        )

        identity = validate_token(provider.sign(claims), settings)

        assert identity.role is Role.VIEWER

    def test_expired_within_leeway_is_accepted(self, provider):
        settings = provider.settings({TENANT_CLAIM: TENANT_SLUG}, leeway_seconds=30)
        now = int(time.time())
        claims = provider.claims(
            TENANT_CLAIM, ["planning-viewer"], iat=now - 300, nbf=None, exp=now - 5
        )

        identity = validate_token(provider.sign(claims), settings)

        assert identity.tenant_slug == TENANT_SLUG

    def test_nested_and_top_level_claim_paths(self, provider):
        settings = provider.settings(
            {TENANT_CLAIM: TENANT_SLUG},
            roles_claim="https://solvereign.example/roles",
            tenant_claim=["org", "name"],
        )
        claims = provider.claims(
            "ignored",
            [],
            tenant=None,
            org={"name": TENANT_CLAIM},
            **{"https://solvereign.example/roles": "planning-admin"},
        )

        identity = validate_token(provider.sign(claims), settings)

        assert identity.role is Role.TENANT_ADMIN
        assert identity.tenant_slug == TENANT_SLUG


class TestMultiFactorClaims:
    def test_amr_mfa_counts_as_multi_factor(self, provider, settings):
        claims = provider.claims(TENANT_CLAIM, ["planning-approver"], amr=["mfa"])

        identity = validate_token(provider.sign(claims), settings)

        assert identity.mfa_verified is True

    def test_password_only_amr_is_not_multi_factor(self, provider, settings):
        claims = provider.claims(TENANT_CLAIM, ["planning-approver"], amr=["pwd"])

        identity = validate_token(provider.sign(claims), settings)

        assert identity.mfa_verified is False

    def test_configured_acr_counts_as_multi_factor(self, provider):
        settings = provider.settings(
            {TENANT_CLAIM: TENANT_SLUG}, mfa_acr_values=frozenset({"gold"})
        )
        gold = provider.claims(TENANT_CLAIM, ["planning-approver"], acr="gold")
        silver = provider.claims(TENANT_CLAIM, ["planning-approver"], acr="silver")

        assert validate_token(provider.sign(gold), settings).mfa_verified is True
        assert validate_token(provider.sign(silver), settings).mfa_verified is False


class TestAlgorithmAttacks:
    def test_alg_none_is_rejected(self, provider, settings):
        claims = provider.claims(TENANT_CLAIM, ["planning-admin"])

        rejection = rejection_of(provider.unsigned_token(claims), settings)

        assert "algorithm 'none' is not allowed" in rejection.reason
        assert rejection.token_verified is False

    def test_hs256_signed_with_public_key_is_rejected(self, provider, settings):
        claims = provider.claims(TENANT_CLAIM, ["planning-admin"])
        token = provider.hs256_token_with_public_key(claims)

        rejection = rejection_of(token, settings)

        assert "algorithm 'HS256' is not allowed" in rejection.reason

    def test_symmetric_jwks_key_is_rejected(self, provider, settings):
        secret = b"0123456789abcdef0123456789abcdef"
        provider.publish_raw(
            {"kty": "oct", "kid": "shared", "k": base64url(secret), "alg": "HS256"}
        )
        claims = provider.claims(TENANT_CLAIM, ["planning-admin"])
        token = provider.sign(claims, key_id="shared")

        rejection = rejection_of(token, settings)

        assert "only RSA keys for RS256 are accepted" in rejection.reason

    def test_rsa_key_below_2048_bits_is_rejected(self, provider, settings):
        short_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        provider.publish("short", short_key)
        claims = provider.claims(TENANT_CLAIM, ["planning-viewer"])
        with pytest.warns(InsecureKeyLengthWarning):
            token = provider.sign(claims, short_key, "short")

        rejection = rejection_of(token, settings)

        assert "token is invalid" in rejection.reason
        assert "1024 bits long" in rejection.reason


class TestKeyLookup:
    def test_unknown_kid_refreshes_once_then_is_rejected(
        self, provider, settings, attacker_key
    ):
        good = provider.sign(provider.claims(TENANT_CLAIM, ["planning-viewer"]))
        validate_token(good, settings)
        requests_before = provider.jwks_requests
        claims = provider.claims(TENANT_CLAIM, ["planning-admin"])
        forged = provider.sign(claims, attacker_key, key_id="attacker-key")

        rejection = rejection_of(forged, settings)

        assert requests_before == 1
        assert provider.jwks_requests == requests_before + 1
        assert "key id 'attacker-key' was not found in the provider's JWKS" in (
            rejection.reason
        )

    def test_unknown_kid_within_cooldown_not_fetched(self, provider, attacker_key):
        settings = provider.settings(
            {TENANT_CLAIM: TENANT_SLUG}, jwks_refresh_cooldown_seconds=30
        )
        good = provider.sign(provider.claims(TENANT_CLAIM, ["planning-viewer"]))
        validate_token(good, settings)
        claims = provider.claims(TENANT_CLAIM, ["planning-admin"])
        forged = provider.sign(claims, attacker_key, key_id="attacker-key")

        rejection = rejection_of(forged, settings)

        assert provider.jwks_requests == 1
        assert "was not found in the provider's JWKS" in rejection.reason

    def test_rotated_key_is_found_by_refresh(self, provider, settings):
        validate_token(
            provider.sign(provider.claims(TENANT_CLAIM, ["planning-viewer"])), settings
        )
        rotated_key = new_rsa_key()
        provider.publish("rotated", rotated_key)
        claims = provider.claims(TENANT_CLAIM, ["planning-dispatcher"])

        identity = validate_token(
            provider.sign(claims, rotated_key, "rotated"), settings
        )

        assert identity.role is Role.DISPATCHER
        assert provider.jwks_requests == 2

    def test_signature_of_another_key_is_rejected(
        self, provider, settings, attacker_key
    ):
        claims = provider.claims(TENANT_CLAIM, ["planning-admin"])
        forged = provider.sign(claims, attacker_key, key_id=provider.key_id)

        rejection = rejection_of(forged, settings)

        assert "signature does not verify" in rejection.reason
        assert rejection.token_verified is False

    def test_missing_kid_is_rejected(self, provider, settings, provider_key):
        claims = provider.claims(TENANT_CLAIM, ["planning-viewer"])
        token = jwt.encode(claims, provider_key, algorithm="RS256")

        rejection = rejection_of(token, settings)

        assert rejection.reason == "token header has no key id (kid)"

    def test_unreachable_jwks_endpoint_rejects(self, provider_key):
        with running_provider(provider_key) as stopped:
            settings = stopped.settings({TENANT_CLAIM: TENANT_SLUG})
            token = stopped.sign(stopped.claims(TENANT_CLAIM, ["planning-viewer"]))

        rejection = rejection_of(token, settings)

        assert "could not be fetched" in rejection.reason


class TestClaimAttacks:
    def test_expired_token_is_rejected(self, provider, settings):
        now = int(time.time())
        claims = provider.claims(
            TENANT_CLAIM, ["planning-viewer"], iat=now - 600, nbf=None, exp=now - 60
        )

        rejection = rejection_of(provider.sign(claims), settings)

        assert rejection.reason == "token has expired (exp)"

    def test_nbf_in_the_future_is_rejected(self, provider, settings):
        claims = provider.claims(
            TENANT_CLAIM, ["planning-viewer"], nbf=int(time.time()) + 120
        )

        rejection = rejection_of(provider.sign(claims), settings)

        assert "not valid yet" in rejection.reason
        assert "(nbf)" in rejection.reason

    def test_iat_in_the_future_is_rejected(self, provider, settings):
        claims = provider.claims(
            TENANT_CLAIM, ["planning-viewer"], iat=int(time.time()) + 120, nbf=None
        )

        rejection = rejection_of(provider.sign(claims), settings)

        assert "(iat)" in rejection.reason

    def test_wrong_issuer_is_rejected(self, provider, settings):
        claims = provider.claims(
            TENANT_CLAIM, ["planning-viewer"], iss="https://idp.example/realms/other"
        )

        rejection = rejection_of(provider.sign(claims), settings)

        assert rejection.reason == "claim iss is not the configured issuer"

    def test_wrong_audience_is_rejected(self, provider, settings):
        claims = provider.claims(
            TENANT_CLAIM, ["planning-viewer"], aud="other-client", azp="other-client"
        )

        rejection = rejection_of(provider.sign(claims), settings)

        assert rejection.reason == (
            "claim aud does not contain the configured client_id"
        )

    def test_azp_of_another_client_is_rejected(self, provider, settings):
        claims = provider.claims(
            TENANT_CLAIM,
            ["planning-viewer"],
            aud=[CLIENT_ID, "other-client"],
            azp="other-client",
        )

        rejection = rejection_of(provider.sign(claims), settings)

        assert rejection.reason == "claim azp is not the configured client_id"

    @pytest.mark.parametrize("claim", ["sub", "exp", "iat", "iss", "aud"])
    def test_missing_required_claim_is_rejected(self, provider, settings, claim):
        claims = provider.claims(TENANT_CLAIM, ["planning-viewer"], **{claim: None})

        rejection = rejection_of(provider.sign(claims), settings)

        assert rejection.reason == f"required claim {claim} is missing"

    def test_tampered_payload_is_rejected(self, provider, settings):
        claims = provider.claims(TENANT_CLAIM, ["planning-viewer"])
        token = provider.sign(claims)
        raised = tampered(token, realm_access={"roles": ["planning-admin"]})

        rejection = rejection_of(raised, settings)

        assert validate_token(token, settings).role is Role.VIEWER
        assert "signature does not verify" in rejection.reason

    def test_malformed_token_is_rejected(self, settings):
        rejection = rejection_of("not.a.jwt", settings)

        assert rejection.reason.startswith("token is not a well-formed JWT")

    def test_oversized_token_is_rejected(self, settings):
        rejection = rejection_of("a" * (16 * 1024 + 1), settings)

        assert "1 to 16384" in rejection.reason


class TestClaimMapping:
    def test_unmapped_role_is_rejected(self, provider, settings):
        claims = provider.claims(TENANT_CLAIM, ["uma_authorization"])

        rejection = rejection_of(provider.sign(claims), settings)

        assert rejection.reason.startswith(
            "no value of roles claim realm_access.roles is in role_map"
        )
        assert "'uma_authorization'" in rejection.reason
        assert rejection.token_verified is True

    def test_missing_roles_claim_is_rejected(self, provider, settings):
        claims = provider.claims(TENANT_CLAIM, [], realm_access=None)

        rejection = rejection_of(provider.sign(claims), settings)

        assert rejection.reason == (
            "roles claim realm_access.roles is missing or not a list of strings"
        )

    def test_unmapped_tenant_is_rejected(self, provider, settings):
        claims = provider.claims("Depot Süd GmbH", ["planning-viewer"])

        rejection = rejection_of(provider.sign(claims), settings)

        assert rejection.reason == (
            "tenant claim tenant value 'Depot Süd GmbH' is not in tenant_map"
        )

    def test_tenant_claim_list_is_rejected(self, provider, settings):
        claims = provider.claims([TENANT_CLAIM], ["planning-viewer"])

        rejection = rejection_of(provider.sign(claims), settings)

        assert rejection.reason == (
            "tenant claim tenant is missing or not a single string"
        )

    def test_every_rejection_shows_the_same_message(
        self, provider, settings, attacker_key
    ):
        claims = provider.claims(TENANT_CLAIM, ["planning-viewer"])
        tokens = [
            provider.unsigned_token(claims),
            provider.sign(claims, attacker_key),
            provider.sign(provider.claims("unknown", ["planning-viewer"])),
        ]

        messages = {str(rejection_of(token, settings)) for token in tokens}

        assert messages == {GENERIC_MESSAGE}


EXAMPLE_ISSUER = "https://sso.example.com/realms/solvereign"
MINIMAL_SECTION = {
    "issuer": EXAMPLE_ISSUER,
    "client_id": CLIENT_ID,
    "jwks_url": f"{EXAMPLE_ISSUER}/protocol/openid-connect/certs",
    "role_map": {"planning-dispatcher": "DISPATCHER"},
    "tenant_map": {TENANT_CLAIM: TENANT_SLUG},
}


class TestSettings:
    def test_example_secrets_file_loads(self):
        settings = load_oidc_settings(EXAMPLE_SECRETS)

        assert settings.algorithms == ("RS256",)
        assert settings.roles_claim == ("realm_access", "roles")
        assert settings.role_map
        assert settings.tenant_map

    def test_secrets_file_oidc_section_loads(self, tmp_path):
        path = tmp_path / "secrets.toml"
        path.write_text(
            "[oidc]\n"
            'issuer = "http://127.0.0.1:8080/realms/dev"\n'
            'client_id = "workbench"\n'
            'jwks_url = "http://127.0.0.1:8080/realms/dev/certs"\n'
            'roles_claim = "roles"\n'
            "provision_users = true\n"
            "[oidc.role_map]\n"
            '"planning-approver" = "PLAN_APPROVER"\n'
            "[oidc.tenant_map]\n"
            'acme = "acme-logistics"\n',
            encoding="utf-8",
        )

        settings = load_oidc_settings(path)

        assert settings.client_id == "workbench"
        assert settings.roles_claim == ("roles",)
        assert settings.provision_users is True
        assert settings.role_map["planning-approver"] is Role.PLAN_APPROVER
        assert settings.tenant_map == {"acme": "acme-logistics"}

    def test_missing_oidc_section_names_the_file(self, tmp_path):
        path = tmp_path / "secrets.toml"
        path.write_text('[auth]\nredirect_uri = "x"\n', encoding="utf-8")

        with pytest.raises(OidcConfigError) as caught:
            load_oidc_settings(path)

        assert str(caught.value) == f"{path} has no [oidc] section"

    def test_unknown_key_is_rejected(self):
        section = {**MINIMAL_SECTION, "audiance": CLIENT_ID}

        with pytest.raises(OidcConfigError, match="unknown key oidc.audiance"):
            settings_from_section(section)

    def test_algorithms_other_than_rs256_are_rejected(self):
        section = {**MINIMAL_SECTION, "algorithms": ["RS256", "HS256"]}

        with pytest.raises(OidcConfigError, match="oidc.algorithms"):
            settings_from_section(section)

    def test_plain_http_to_another_host_is_rejected(self):
        section = {**MINIMAL_SECTION, "jwks_url": "http://sso.example.com/certs"}

        with pytest.raises(OidcConfigError, match="oidc.jwks_url .* must use https"):
            settings_from_section(section)

    def test_super_admin_cannot_be_mapped(self):
        section = {**MINIMAL_SECTION, "role_map": {"root": "SUPER_ADMIN"}}

        with pytest.raises(OidcConfigError, match="oidc.role_map.root maps to"):
            settings_from_section(section)

    def test_unknown_workbench_role_is_rejected(self):
        section = {**MINIMAL_SECTION, "role_map": {"ops": "OPERATOR"}}

        with pytest.raises(OidcConfigError, match="oidc.role_map.ops is 'OPERATOR'"):
            settings_from_section(section)

    def test_boolean_for_an_integer_key_is_rejected(self):
        section = {**MINIMAL_SECTION, "leeway_seconds": True}

        with pytest.raises(OidcConfigError, match="oidc.leeway_seconds must be"):
            settings_from_section(section)

    def test_leeway_above_limit_is_rejected(self):
        section = {**MINIMAL_SECTION, "leeway_seconds": 3600}

        with pytest.raises(OidcConfigError, match="from 0 to 300"):
            settings_from_section(section)

    def test_missing_required_key_is_rejected(self):
        section = {k: v for k, v in MINIMAL_SECTION.items() if k != "tenant_map"}

        with pytest.raises(OidcConfigError, match="oidc.tenant_map is missing"):
            settings_from_section(section)
