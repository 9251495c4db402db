"""A small OpenID Connect provider on loopback, for sign-in tests in a browser.

It extends tests.oidc_provider.LocalIdentityProvider (keys, JWKS, claims)
with what Streamlit's st.login needs, in Keycloak's URL layout under the
issuer:

- `/.well-known/openid-configuration`: the discovery document;
- `protocol/openid-connect/auth`: the authorization endpoint. It consents at
  once and redirects back with a one-time code and the request's state;
- `protocol/openid-connect/token`: exchanges the code for an access token and
  an RS256 ID token of the user that the test chose, carrying the nonce of
  the authorization request. It checks the client's secret (HTTP Basic), the
  redirect URI and the PKCE code verifier (S256);
- `protocol/openid-connect/certs`: the JWKS that the workbench trusts;
- `protocol/openid-connect/logout`: the end-session endpoint, which sends
  the browser back to the registered redirect URI.

It serves 127.0.0.1 only, on a free port, and records every request to the
authorization, token and logout endpoints for the test to check.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from tests.oidc_provider import (
    CLIENT_ID,
    TOKEN_LIFETIME_SECONDS,
    LocalIdentityProvider,
    base64url,
    new_rsa_key,
)

CLIENT_SECRET = "loopback-client-secret"
ENDPOINTS_PATH = "/protocol/openid-connect"
DISCOVERY_PATH = "/.well-known/openid-configuration"
# A JWKS that only the discovery document names, holding a key that the
# workbench does not trust.
DISCOVERY_ONLY_JWKS_PATH = f"{ENDPOINTS_PATH}/discovery-certs"


@dataclass(frozen=True)
class ProviderUser:
    """The person the provider signs in: claims of the ID tokens it issues."""

    subject: str
    username: str
    tenant: str
    roles: list[str]
    methods: list[str] = field(default_factory=lambda: ["pwd"])


@dataclass(frozen=True)
class PendingCode:
    """An authorization code issued and not yet exchanged."""

    user: ProviderUser
    nonce: str
    redirect_uri: str
    code_challenge: str | None


class LoopbackOidcProvider(LocalIdentityProvider):
    """An OpenID Connect provider that signs in one chosen user, without asking."""

    def __init__(self, signing_key: rsa.RSAPrivateKey, redirect_uri: str) -> None:
        self.redirect_uri = redirect_uri
        self.user: ProviderUser | None = None
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.logout_requests: list[dict[str, str]] = []
        self._codes: dict[str, PendingCode] = {}
        self._token_key: rsa.RSAPrivateKey | None = None
        self._token_key_id = ""
        self._state_lock = threading.Lock()
        super().__init__(signing_key)

    def sign_in_as(self, user: ProviderUser) -> None:
        """Make the provider issue ID tokens for this user, signed with its own key."""
        with self._state_lock:
            self.user = user
            self._token_key = None

    def sign_with_impostor_key(self) -> None:
        """Sign ID tokens with a new key under the key id of the trusted key.

        Only the discovery document names a JWKS with the new key. Streamlit
        fetches that JWKS and accepts the token, while the signature does not
        verify with the key of that id in the JWKS configured in `[oidc]`.
        """
        with self._state_lock:
            self._token_key = new_rsa_key()
            self._token_key_id = self.key_id

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}{DISCOVERY_PATH}"

    def discovery_document(self) -> dict[str, Any]:
        endpoints = f"{self.issuer}{ENDPOINTS_PATH}"
        with self._state_lock:
            jwks_uri = self.jwks_url
            if self._token_key is not None:
                jwks_uri = f"{self.issuer}{DISCOVERY_ONLY_JWKS_PATH}"
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{endpoints}/auth",
            "token_endpoint": f"{endpoints}/token",
            "jwks_uri": jwks_uri,
            "end_session_endpoint": f"{endpoints}/logout",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "scopes_supported": ["openid", "profile", "email"],
        }

    def discovery_only_jwks(self) -> dict[str, Any]:
        with self._state_lock:
            key, key_id = self._token_key, self._token_key_id
        if key is None:
            return {"keys": []}
        signer = LocalIdentityProvider(key, key_id)
        return signer.jwks()

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        """Check an authorization request and return status, headers and body."""
        with self._state_lock:
            self.authorize_requests.append(query)
            user = self.user
        problem = self._authorization_problem(query)
        if problem:
            return 400, {}, problem
        if user is None:
            return 400, {}, "the test chose no user (sign_in_as)"
        code = secrets.token_urlsafe(24)
        with self._state_lock:
            self._codes[code] = PendingCode(
                user,
                query["nonce"],
                query["redirect_uri"],
                query.get("code_challenge"),
            )
        location = f"{query['redirect_uri']}?" + urlencode(
            {"code": code, "state": query["state"]}
        )
        return 302, {"Location": location}, ""

    def _authorization_problem(self, query: dict[str, str]) -> str:
        if query.get("response_type") != "code":
            return f"response_type {query.get('response_type')!r} is not 'code'"
        if query.get("client_id") != CLIENT_ID:
            return f"unknown client_id {query.get('client_id')!r}"
        if query.get("redirect_uri") != self.redirect_uri:
            return f"redirect_uri {query.get('redirect_uri')!r} is not registered"
        if "openid" not in query.get("scope", "").split():
            return "scope lacks openid"
        for name in ("state", "nonce"):
            if not query.get(name):
                return f"{name} is missing"
        challenge_method = query.get("code_challenge_method")
        if query.get("code_challenge") and challenge_method != "S256":
            return f"code_challenge_method {challenge_method!r} is not S256"
        return ""

    def exchange(
        self, form: dict[str, str], authorization: str | None
    ) -> tuple[int, dict[str, Any]]:
        """Exchange an authorization code and return the status and JSON body."""
        with self._state_lock:
            self.token_requests.append(form)
            pending = self._codes.pop(form.get("code", ""), None)
        if not _client_authenticated(authorization):
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code" or pending is None:
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != pending.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        if pending.code_challenge is not None and (
            _s256(form.get("code_verifier", "")) != pending.code_challenge
        ):
            return 400, {"error": "invalid_grant", "error_description": "PKCE"}
        return 200, {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECONDS,
            "scope": "openid profile email",
            "id_token": self._id_token(pending),
        }

    def _id_token(self, pending: PendingCode) -> str:
        user = pending.user
        claims = self.claims(
            user.tenant,
            user.roles,
            sub=user.subject,
            preferred_username=user.username,
            nonce=pending.nonce,
            amr=user.methods,
        )
        with self._state_lock:
            key, key_id = self._token_key, self._token_key_id
        if key is None:
            return self.sign(claims)
        return self.sign(claims, key, key_id)

    def end_session(self, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        with self._state_lock:
            self.logout_requests.append(query)
        if query.get("post_logout_redirect_uri") != self.redirect_uri:
            return 400, {}, "post_logout_redirect_uri is not registered"
        return 302, {"Location": self.redirect_uri}, ""

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class ProviderHandler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {
                    name: values[0] for name, values in parse_qs(parts.query).items()
                }
                route = parts.path.removeprefix(f"/realms/{provider.realm}")
                if route == DISCOVERY_PATH:
                    self._send_json(200, provider.discovery_document())
                elif route == f"{ENDPOINTS_PATH}/certs":
                    self._send_json(200, provider.jwks())
                elif route == DISCOVERY_ONLY_JWKS_PATH:
                    self._send_json(200, provider.discovery_only_jwks())
                elif route == f"{ENDPOINTS_PATH}/auth":
                    self._send_text(*provider.authorize(query))
                elif route == f"{ENDPOINTS_PATH}/logout":
                    self._send_text(*provider.end_session(query))
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                route = urlsplit(self.path).path
                if route != f"/realms/{provider.realm}{ENDPOINTS_PATH}/token":
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode("utf-8")
                form = {name: values[0] for name, values in parse_qs(body).items()}
                status, reply = provider.exchange(
                    form, self.headers.get("Authorization")
                )
                self._send_json(status, reply)

            def _send_json(self, status: int, document: dict[str, Any]) -> None:
                body = json.dumps(document).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _send_text(self, status: int, headers: dict[str, str], text: str):
                body = text.encode("utf-8")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return ProviderHandler


def _client_authenticated(authorization: str | None) -> bool:
    """Check HTTP Basic client authentication (RFC 6749, section 2.3.1)."""
    if not authorization or not authorization.startswith("Basic "):
        return False
    try:
        decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode()
    except ValueError:
        return False
    client_id, _, client_secret = decoded.partition(":")
    return (unquote(client_id), unquote(client_secret)) == (CLIENT_ID, CLIENT_SECRET)


def _s256(code_verifier: str) -> str:
    """Return the S256 code challenge of a PKCE code verifier (RFC 7636)."""
    return base64url(hashlib.sha256(code_verifier.encode("ascii")).digest())


@contextmanager
def running_oidc_provider(redirect_uri: str) -> Iterator[LoopbackOidcProvider]:
    """Run a provider that redirects to `redirect_uri` until the block ends."""
    provider = LoopbackOidcProvider(new_rsa_key(), redirect_uri)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()
