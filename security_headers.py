"""HTTP security headers and the WebSocket origin check of the workbench server.

serve.py wraps Streamlit's ASGI app in SecurityHeaders. Every HTTP response,
and the 101 response of the WebSocket handshake, carries a content security
policy, Referrer-Policy: no-referrer, X-Content-Type-Options: nosniff, a
Permissions-Policy, Cross-Origin-Opener-Policy and Cross-Origin-Resource-Policy
and, over TLS, HSTS. Files under /media/ (downloads) are marked no-store, and
a WebSocket handshake from a foreign origin is rejected.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import streamlit as st

logger = logging.getLogger(__name__)

STREAMLIT_INDEX_HTML = Path(st.__file__).resolve().parent / "static" / "index.html"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL)


def inline_script_sources(index_html: str) -> list[str]:
    """Return a CSP hash source for each inline script of Streamlit's index.html.

    Streamlit 1.67's page has one, which sets window.prerenderReady. Hashing
    the installed file keeps the policy right when Streamlit is upgraded.
    """
    sources = []
    for script in INLINE_SCRIPT.findall(index_html):
        digest = hashlib.sha256(script.encode("utf-8")).digest()
        sources.append(f"'sha256-{base64.b64encode(digest).decode('ascii')}'")
    return sources


# Streamlit's front end loads its scripts and styles from this server, opens a
# WebSocket back to it, draws charts into canvases and sets inline styles.
# Under CSP Level 3, 'self' in connect-src also matches ws: and wss: on the
# page's own host and port, so the WebSocket may connect to the workbench and
# nowhere else. tests/e2e/test_http_headers.py checks this with Chromium.
# NOTE: a browser that implements only CSP Level 2 blocks the WebSocket.
CONTENT_SECURITY_POLICY_DIRECTIVES = (
    "default-src 'self'",
    " ".join(
        [
            "script-src 'self'",
            *inline_script_sources(STREAMLIT_INDEX_HTML.read_text(encoding="utf-8")),
        ]
    ),
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "frame-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
CONTENT_SECURITY_POLICY = "; ".join(CONTENT_SECURITY_POLICY_DIRECTIVES)
# Browser features the workbench never uses, denied to the page and to every
# frame in it. Each name is one that Chromium recognises, because Chromium
# logs a console warning for an unknown name on every page load.
DENIED_BROWSER_FEATURES = (
    "accelerometer",
    "camera",
    "display-capture",
    "geolocation",
    "gyroscope",
    "hid",
    "magnetometer",
    "microphone",
    "midi",
    "payment",
    "serial",
    "usb",
)
PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in DENIED_BROWSER_FEATURES)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", PERMISSIONS_POLICY.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
)
# One year, and for subdomains too. It is sent only on responses that went out
# over TLS, because browsers ignore it on plain HTTP.
STRICT_TRANSPORT_SECURITY = (
    b"strict-transport-security",
    b"max-age=31536000; includeSubDomains",
)
# ASGI scope schemes of a request that reached the server over TLS. Uvicorn
# sets them when it terminates TLS itself, or when a proxy at an address in
# FORWARDED_ALLOW_IPS (uvicorn's default: 127.0.0.1 and ::1) sends
# X-Forwarded-Proto: https.
TLS_SCHEMES = frozenset({"https", "wss"})
# The ASGI message that starts the response, per scope type: the 101 response
# of a WebSocket handshake is sent by websocket.accept.
RESPONSE_START_MESSAGES = {
    "http": "http.response.start",
    "websocket": "websocket.accept",
}
WEBSOCKET_ORIGIN_REJECTED = (
    b"WebSocket connection rejected: the Origin header is not the workbench's"
    b" own origin or in server.corsAllowedOrigins."
)
# WebSocket close code 1008, policy violation (RFC 6455, section 7.4.1).
WEBSOCKET_POLICY_VIOLATION = 1008
# Streamlit serves the files of st.download_button and st.image under /media/.
# A download may contain plan data, so no cache may keep a copy.
MEDIA_PATH_PREFIX = "/media/"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


def with_secure_flag(set_cookie: bytes) -> bytes:
    """Return a Set-Cookie value with the Secure attribute, adding it if missing."""
    attributes = [part.strip().lower() for part in set_cookie.split(b";")[1:]]
    if b"secure" in attributes:
        return set_cookie
    return set_cookie + b"; Secure"


def secured_headers(headers: Headers, *, over_tls: bool, no_store: bool) -> Headers:
    """Return the response headers with SECURITY_HEADERS added.

    A security header that the response already carries is left as it is.
    Over TLS, HSTS is added and every cookie gets the Secure attribute, which
    Streamlit sets only when it terminates TLS itself. With no_store, the
    response's Cache-Control becomes no-store.
    """
    secured = []
    for name, value in headers:
        lowered = name.lower()
        if no_store and lowered == b"cache-control":
            continue
        if over_tls and lowered == b"set-cookie":
            value = with_secure_flag(value)
        secured.append((name, value))
    present = {name.lower() for name, _ in secured}
    extra = list(SECURITY_HEADERS)
    if over_tls:
        extra.append(STRICT_TRANSPORT_SECURITY)
    if no_store:
        extra.append((b"cache-control", b"no-store"))
    secured.extend((name, value) for name, value in extra if name not in present)
    return secured


def is_allowed_websocket_origin(scope: Scope) -> bool:
    """Return whether a WebSocket handshake comes from the workbench's own origin.

    The Origin header must name the host and port of the Host header, or be
    listed in Streamlit's server.corsAllowedOrigins. A reverse proxy must
    therefore pass the Host header through. A handshake without Origin comes
    from a client other than a browser and is let through, as Streamlit does.
    """
    origin = origin_header(scope)
    if origin is None:
        return True
    allowed_origins = {
        allowed.strip().rstrip("/")
        for allowed in st.get_option("server.corsAllowedOrigins")
    }
    if origin.rstrip("/") in allowed_origins:
        return True
    host = request_header(scope, b"host") or ""
    return urlsplit(origin).netloc.lower() == host.lower()


def request_header(scope: Scope, name: bytes) -> str | None:
    """Return the first value of a request header, or None when it is missing."""
    for header_name, value in scope["headers"]:
        if header_name.lower() == name:
            return value.decode("latin-1")
    return None


def origin_header(scope: Scope) -> str | None:
    return request_header(scope, b"origin")


class SecurityHeaders:
    """ASGI middleware that adds the security headers to every response.

    It wraps the whole st.App, so it also covers the error responses that
    Starlette sends itself and the 101 response of the WebSocket handshake.

    It also rejects a WebSocket handshake from a foreign origin with 403
    before Streamlit sees it. Streamlit 1.67 would accept any origin on
    localhost or 127.0.0.1, whatever the port. For other origins it looks up
    the machine's external address at checkip.amazonaws.com with blocking
    requests on the event loop (1 s timeout each), again for every handshake
    while the lookup fails.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start_message = RESPONSE_START_MESSAGES.get(scope["type"])
        if start_message is None:
            await self.app(scope, receive, send)
            return
        over_tls = scope.get("scheme") in TLS_SCHEMES
        if scope["type"] == "websocket" and not is_allowed_websocket_origin(scope):
            await reject_websocket(scope, send, over_tls=over_tls)
            return
        no_store = scope["type"] == "http" and scope["path"].startswith(
            MEDIA_PATH_PREFIX
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == start_message:
                message["headers"] = secured_headers(
                    list(message.get("headers", [])),
                    over_tls=over_tls,
                    no_store=no_store,
                )
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def reject_websocket(scope: Scope, send: Send, *, over_tls: bool) -> None:
    """Reject a WebSocket handshake with 403 and the security headers.

    Without the ASGI WebSocket denial response extension, the server responds
    to websocket.close with a bare 403 of its own.
    """
    logger.warning(
        "rejected a WebSocket handshake from origin %r, client %s",
        origin_header(scope),
        scope.get("client"),
    )
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": WEBSOCKET_POLICY_VIOLATION})
        return
    headers = secured_headers(
        [(b"content-type", b"text/plain; charset=utf-8")],
        over_tls=over_tls,
        no_store=False,
    )
    await send(
        {"type": "websocket.http.response.start", "status": 403, "headers": headers}
    )
    await send(
        {"type": "websocket.http.response.body", "body": WEBSOCKET_ORIGIN_REJECTED}
    )
