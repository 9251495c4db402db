"""A stand-in OpenID Connect provider for tests: RSA keys, a JWKS endpoint, tokens.

The keys are generated in the test process and the JWKS is served by an
`http.server` thread bound to 127.0.0.1 on a free port, so core.oidc fetches
real keys over HTTP without any outside service. Each provider has its own
realm in its URLs, so the JWKS clients that core.oidc caches per URL never
mix two providers, even when a port is reused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from core.oidc import OidcSettings
from core.permissions import Role

CLIENT_ID = "solvereign-workbench"
TOKEN_LIFETIME_SECONDS = 300
# How often the server thread checks for shutdown; stopping waits up to this.
SERVER_POLL_SECONDS = 0.02
ROLE_MAP = {
    "planning-viewer": Role.VIEWER,
    "planning-dispatcher": Role.DISPATCHER,
    "planning-approver": Role.PLAN_APPROVER,
    "planning-admin": Role.TENANT_ADMIN,
}


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_pem(private_key: rsa.RSAPrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class LocalIdentityProvider:
    """Signs ID tokens and publishes its public keys as a JWKS on loopback."""

    def __init__(self, signing_key: rsa.RSAPrivateKey, key_id: str = "") -> None:
        self.signing_key = signing_key
        self.key_id = key_id or f"key-{uuid.uuid4().hex[:8]}"
        self.realm = f"realm-{uuid.uuid4().hex[:8]}"
        self.jwks_requests = 0
        self._published: dict[str, rsa.RSAPrivateKey] = {self.key_id: signing_key}
        self._extra_jwks: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SERVER_POLL_SECONDS},
            daemon=True,
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/realms/{self.realm}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/certs"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def publish(self, key_id: str, private_key: rsa.RSAPrivateKey) -> None:
        """Add a key to the JWKS, as a provider does when it rotates keys."""
        with self._lock:
            self._published[key_id] = private_key

    def publish_raw(self, jwk: dict[str, Any]) -> None:
        """Add a JWK exactly as given, such as a symmetric key."""
        with self._lock:
            self._extra_jwks.append(jwk)

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            keys = [
                {
                    **RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True),
                    "kid": key_id,
                    "use": "sig",
                    "alg": "RS256",
                }
                for key_id, private_key in self._published.items()
            ]
            return {"keys": keys + self._extra_jwks}

    def settings(self, tenant_map: dict[str, str], **overrides: Any) -> OidcSettings:
        """Settings that trust this provider; `overrides` replace any field."""
        values: dict[str, Any] = {
            "issuer": self.issuer,
            "client_id": CLIENT_ID,
            "jwks_url": self.jwks_url,
            "role_map": ROLE_MAP,
            "tenant_map": tenant_map,
            "leeway_seconds": 0,
            "jwks_refresh_cooldown_seconds": 0,
        }
        values.update(overrides)
        return OidcSettings(**values)

    def claims(
        self, tenant_value: Any, roles: list[str], /, **overrides: Any
    ) -> dict[str, Any]:
        """ID token claims as Keycloak sends them, valid from now for 5 minutes.

        `tenant_value` goes to the claim `tenant`. An override replaces a
        claim, and an override of None removes it.
        """
        issued_at = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "azp": CLIENT_ID,
            "sub": str(uuid.uuid4()),
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + TOKEN_LIFETIME_SECONDS,
            "preferred_username": f"user-{uuid.uuid4().hex[:8]}",
            "tenant": tenant_value,
            "realm_access": {"roles": ["offline_access", *roles]},
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(
        self,
        claims: dict[str, Any],
        private_key: rsa.RSAPrivateKey | None = None,
        key_id: str | None = None,
    ) -> str:
        """Sign the claims with RS256, by default with the provider's own key."""
        return jwt.encode(
            claims,
            private_key or self.signing_key,
            algorithm="RS256",
            headers={"kid": key_id or self.key_id},
        )

    def unsigned_token(self, claims: dict[str, Any]) -> str:
        """Build a token with `alg: none` and an empty signature."""
        header = {"alg": "none", "typ": "JWT", "kid": self.key_id}
        return f"{_encoded_part(header)}.{_encoded_part(claims)}."

    def hs256_token_with_public_key(self, claims: dict[str, Any]) -> str:
        """Sign with HMAC-SHA256, using the public key's PEM as the shared secret.

        A verifier that lets the token's header choose the algorithm would
        check this against the public key and accept it.
        """
        header = {"alg": "HS256", "typ": "JWT", "kid": self.key_id}
        signing_input = f"{_encoded_part(header)}.{_encoded_part(claims)}"
        secret = public_pem(self.signing_key)
        digest = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256)
        return f"{signing_input}.{base64url(digest.digest())}"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class JwksHandler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if (
                    self.path
                    != f"/realms/{provider.realm}/protocol/openid-connect/certs"
                ):
                    self.send_error(404)
                    return
                with provider._lock:
                    provider.jwks_requests += 1
                body = json.dumps(provider.jwks()).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return JwksHandler


def _encoded_part(value: dict[str, Any]) -> str:
    return base64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def tampered(token: str, **changes: Any) -> str:
    """Change payload claims of a signed token and keep its old signature."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{_encoded_part(claims)}.{signature}"


@contextmanager
def running_provider(signing_key: rsa.RSAPrivateKey) -> Iterator[LocalIdentityProvider]:
    provider = LocalIdentityProvider(signing_key)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()
