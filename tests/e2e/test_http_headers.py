"""Security headers, cookies and browser storage of the real workbench server.

Each server is the real launcher (serve.py) on a free loopback port with a
fresh SQLite file: one speaks plain HTTP, the other HTTPS with a self-signed
certificate made for the test. A plain HTTP client reads the headers of the
page, a static asset, a missing media file and the 101 response of a raw
WebSocket handshake. Debian's Chromium, driven by Playwright, signs in and
reads what the browser stores. The browser tests need /usr/bin/chromium (or
SOLVEREIGN_CHROMIUM): without it they are skipped, and they fail when CI=true.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import ipaddress
import os
import re
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from playwright.sync_api import Page, expect, sync_playwright

from solver.generate import format_tidy_csv, generate_forecast
from tests.e2e.test_browser import (
    CHROMIUM_FLAGS,
    PAGE_TIMEOUT_MS,
    PROJECT_ROOT,
    SERVER_START_TIMEOUT_SECONDS,
    SOLVE_TIMEOUT_MS,
    Launcher,
    free_loopback_port,
    open_page,
    sign_in,
    stop_process_group,
)

CHROMIUM = Path(os.environ.get("SOLVEREIGN_CHROMIUM", "/usr/bin/chromium"))
# The launcher prints https:// when it serves TLS itself.
ADDRESS_LINE = re.compile(r"^workbench: (?P<url>https?://127\.0\.0\.1:\d+)\s*$")
HTTP_TIMEOUT_SECONDS = 30
# A small forecast solves in seconds, which is all the export test needs.
EXPORT_FORECAST_TOURS = 30
EXPORT_FORECAST_SEED = 11
# Headers that every response carries, with their exact values, except the
# content security policy, whose script hashes follow the installed Streamlit.
FIXED_SECURITY_HEADERS = {
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
REQUIRED_CSP_DIRECTIVES = (
    "default-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
)
DENIED_FEATURES = ("camera", "microphone", "geolocation", "payment", "usb")
HSTS_VALUE = "max-age=31536000; includeSubDomains"
XSRF_COOKIE = "_streamlit_xsrf"
# A sign-in session token is secrets.token_urlsafe(32): 43 URL-safe characters.
SESSION_TOKEN_LENGTH = 43
TOKEN_CHARACTER_RUN = re.compile(r"[A-Za-z0-9_-]{43,}")
MAIN_SCRIPT = re.compile(r'<script type="module"[^>]*\bsrc="\./(?P<path>[^"]+)"')
MISSING_MEDIA_PATH = "/media/00000000000000000000000000000000.csv"
# Chromium reports a blocked request as a console error naming the content
# security policy, and an unknown Permissions-Policy feature as a warning.
HEADER_PROBLEM_MARKERS = ("Content Security Policy", "Permissions-Policy")
REPORTED_CONSOLE_TYPES = ("error", "warning")


@dataclass(frozen=True)
class Reply:
    """Status and headers of one HTTP response; header names in lower case."""

    status: int
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


@dataclass(frozen=True)
class Server:
    """A running launcher and how a client reaches it."""

    launcher: Launcher
    url: str
    database: Path
    tls_context: ssl.SSLContext | None = None

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        assert parts.hostname is not None and parts.port is not None
        return parts.hostname, parts.port


def write_self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Write a certificate for 127.0.0.1 and its key; return both paths.

    The validity window must contain the real time, so it starts from the
    clock rather than a fixed date.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certificate_file = directory / "server.crt"
    key_file = directory / "server.key"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate_file, key_file


@contextmanager
def running_server(directory: Path, extra_arguments: list[str]) -> Iterator[Launcher]:
    """Run serve.py on a free port with a fresh database until the block ends."""
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{directory / 'workbench.db'}",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "serve.py", "--port", str(free_loopback_port())]
    process = subprocess.Popen(
        command + extra_arguments,
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    running = Launcher(process)
    reader = threading.Thread(target=running.read_output, daemon=True)
    reader.start()
    try:
        running.url = wait_for_address(running)
        yield running
    finally:
        stop_process_group(process)
        reader.join(timeout=5)
        (directory / "serve.log").write_text("\n".join(running.output) + "\n")


def wait_for_address(running: Launcher) -> str:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while True:
        for line in list(running.output):
            if address := ADDRESS_LINE.match(line):
                return address["url"]
        if running.process.poll() is not None:
            pytest.fail(
                f"serve.py exited with {running.process.returncode}:\n"
                f"{running.console()}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"serve.py printed no address in time:\n{running.console()}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def http_server(tmp_path_factory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("http_server")
    with running_server(directory, []) as launcher:
        assert launcher.url is not None
        assert launcher.url.startswith("http://")
        yield Server(launcher, launcher.url, directory / "workbench.db")


@pytest.fixture(scope="module")
def https_server(tmp_path_factory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("https_server")
    certificate_file, key_file = write_self_signed_certificate(directory)
    tls_arguments = ["--ssl-certfile", str(certificate_file)]
    tls_arguments += ["--ssl-keyfile", str(key_file)]
    # The client trusts exactly this certificate and checks the address.
    tls_context = ssl.create_default_context(cafile=str(certificate_file))
    with running_server(directory, tls_arguments) as launcher:
        assert launcher.url is not None
        assert launcher.url.startswith("https://")
        yield Server(launcher, launcher.url, directory / "workbench.db", tls_context)


@pytest.fixture
def chromium() -> Path:
    """Return the Chromium executable; skip without it, or fail when CI=true."""
    if CHROMIUM.exists():
        return CHROMIUM
    reason = f"{CHROMIUM} is missing; 'make browser' installs Debian's chromium"
    if os.environ.get("CI") == "true":
        pytest.fail(f"the browser test must run in CI, but {reason}")
    pytest.skip(reason)


def fetch(
    server: Server, path: str, headers: dict[str, str] | None = None
) -> tuple[Reply, bytes]:
    """GET a path with no cookie and return the reply and its body."""
    host, port = server.address
    if server.tls_context is None:
        connection: http.client.HTTPConnection = http.client.HTTPConnection(
            host, port, timeout=HTTP_TIMEOUT_SECONDS
        )
    else:
        connection = http.client.HTTPSConnection(
            host, port, timeout=HTTP_TIMEOUT_SECONDS, context=server.tls_context
        )
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        reply = Reply(
            response.status,
            [(name.lower(), value) for name, value in response.getheaders()],
        )
        return reply, body
    finally:
        connection.close()


def websocket_handshake(server: Server, origin: str) -> Reply:
    """Send a raw WebSocket upgrade for /_stcore/stream and read the response head.

    The connection is closed as soon as the head is read, so no Streamlit
    session stays open.
    """
    host, port = server.address
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    request = (
        "GET /_stcore/stream HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: streamlit\r\n"
        f"Origin: {origin}\r\n"
        "\r\n"
    )
    raw = socket.create_connection((host, port), timeout=HTTP_TIMEOUT_SECONDS)
    if server.tls_context is not None:
        raw = server.tls_context.wrap_socket(raw, server_hostname=host)
    with raw:
        raw.sendall(request.encode("ascii"))
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = raw.recv(4096)
            if not chunk:
                break
            received += chunk
    head = received.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    status_line, *header_lines = head.split("\r\n")
    headers = []
    for line in header_lines:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return Reply(int(status_line.split()[1]), headers)


def main_script_path(server: Server) -> str:
    """Return the path of the JavaScript bundle that Streamlit's page loads."""
    _, body = fetch(server, "/")
    script = MAIN_SCRIPT.search(body.decode("utf-8"))
    assert script is not None, "index.html names no module script"
    return "/" + script["path"]


def assert_security_headers(reply: Reply, response_label: str) -> None:
    """Assert the headers that every response of the workbench carries."""
    for name, expected in FIXED_SECURITY_HEADERS.items():
        assert reply.header(name) == expected, f"{response_label}: {name}"
    policy = reply.header("content-security-policy")
    assert policy is not None, f"{response_label}: content-security-policy"
    directives = [directive.strip() for directive in policy.split(";")]
    for directive in REQUIRED_CSP_DIRECTIVES:
        assert directive in directives, f"{response_label}: CSP lacks {directive}"
    permissions = reply.header("permissions-policy")
    assert permissions is not None, f"{response_label}: permissions-policy"
    for feature in DENIED_FEATURES:
        assert f"{feature}=()" in permissions, f"{response_label}: {feature} not denied"
    assert reply.header("server") is None, f"{response_label}: server header"


def xsrf_cookie(reply: Reply) -> list[str]:
    """Return the attributes of the XSRF cookie that the reply sets, lower-cased."""
    for value in reply.all("set-cookie"):
        if value.startswith(f"{XSRF_COOKIE}="):
            return [part.strip().lower() for part in value.split(";")[1:]]
    raise AssertionError(f"no {XSRF_COOKIE} cookie in {reply.all('set-cookie')}")


class TestPlainHttp:
    def test_page_headers(self, http_server):
        reply, _ = fetch(http_server, "/")

        assert reply.status == 200
        assert_security_headers(reply, "page")
        assert reply.header("strict-transport-security") is None

    def test_static_asset_headers(self, http_server):
        path = main_script_path(http_server)

        reply, body = fetch(http_server, path)

        assert reply.status == 200, path
        assert reply.header("content-type") == "application/javascript"
        assert len(body) > 0
        assert_security_headers(reply, path)
        assert reply.header("strict-transport-security") is None

    def test_missing_media_headers(self, http_server):
        reply, _ = fetch(http_server, MISSING_MEDIA_PATH)

        assert reply.status == 404
        assert_security_headers(reply, "404")
        assert reply.header("cache-control") == "no-store"
        assert reply.header("strict-transport-security") is None

    def test_websocket_upgrade_headers(self, http_server):
        reply = websocket_handshake(http_server, origin=http_server.url)

        assert reply.status == 101
        assert reply.header("sec-websocket-protocol") == "streamlit"
        assert_security_headers(reply, "101")
        assert reply.header("strict-transport-security") is None

    def test_websocket_from_other_port_rejected(self, http_server):
        # Streamlit itself accepts any origin on 127.0.0.1, whatever the port.
        reply = websocket_handshake(http_server, origin="http://127.0.0.1:1")

        assert reply.status == 403
        assert_security_headers(reply, "403")

    def test_xsrf_cookie_is_strict_not_secure(self, http_server):
        reply, _ = fetch(http_server, "/_stcore/health")

        attributes = xsrf_cookie(reply)
        assert "samesite=strict" in attributes
        assert "secure" not in attributes
        assert "path=/" in attributes

    def test_trusted_proxy_https_gets_hsts(self, http_server):
        # Uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (FORWARDED_ALLOW_IPS).
        reply, _ = fetch(
            http_server, "/_stcore/health", headers={"X-Forwarded-Proto": "https"}
        )

        assert reply.header("strict-transport-security") == HSTS_VALUE
        assert "secure" in xsrf_cookie(reply)


class TestHttps:
    def test_page_headers(self, https_server):
        reply, _ = fetch(https_server, "/")

        assert reply.status == 200
        assert_security_headers(reply, "page")
        assert reply.header("strict-transport-security") == HSTS_VALUE

    def test_static_asset_headers(self, https_server):
        path = main_script_path(https_server)

        reply, _ = fetch(https_server, path)

        assert reply.status == 200, path
        assert_security_headers(reply, path)
        assert reply.header("strict-transport-security") == HSTS_VALUE

    def test_missing_media_headers(self, https_server):
        reply, _ = fetch(https_server, MISSING_MEDIA_PATH)

        assert reply.status == 404
        assert_security_headers(reply, "404")
        assert reply.header("strict-transport-security") == HSTS_VALUE

    def test_websocket_upgrade_headers(self, https_server):
        reply = websocket_handshake(https_server, origin=https_server.url)

        assert reply.status == 101
        assert_security_headers(reply, "101")
        assert reply.header("strict-transport-security") == HSTS_VALUE

    def test_xsrf_cookie_is_strict_and_secure(self, https_server):
        reply, _ = fetch(https_server, "/_stcore/health")

        attributes = xsrf_cookie(reply)
        assert "samesite=strict" in attributes
        assert "secure" in attributes


def session_token_digests(database: Path) -> set[str]:
    """Return the SHA-256 digests of the sign-in sessions stored so far."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    with closing(connection):
        rows = connection.execute("SELECT token_sha256 FROM user_sessions").fetchall()
    return {row[0] for row in rows}


def token_candidates(text: str) -> Iterator[str]:
    """Yield every token-long window of every run of URL-safe characters."""
    for run in TOKEN_CHARACTER_RUN.findall(text):
        for start in range(len(run) - SESSION_TOKEN_LENGTH + 1):
            yield run[start : start + SESSION_TOKEN_LENGTH]


def browser_storage(page: Page) -> dict[str, object]:
    """Read what the page can see of localStorage, sessionStorage and cookies."""
    return page.evaluate(
        """() => ({
            localStorage: Object.fromEntries(Object.entries(localStorage)),
            sessionStorage: Object.fromEntries(Object.entries(sessionStorage)),
            cookie: document.cookie,
        })"""
    )


def assert_no_secret_stored(
    page: Page, database: Path, secrets: list[str], who: str
) -> None:
    """Assert that no session token, password or TOTP secret is in the browser.

    A token is found by its digest: every token-long string in the storage is
    hashed and looked up among the sessions in the database.
    """
    storage = str(browser_storage(page))
    cookies = str(page.context.cookies())
    stored = storage + cookies
    digests = session_token_digests(database)
    assert digests, f"{who}: no sign-in session in the database"
    for candidate in token_candidates(stored):
        digest = hashlib.sha256(candidate.encode("utf-8")).hexdigest()
        assert digest not in digests, f"{who}: a session token is in the browser"
    for secret in secrets:
        assert secret not in stored, f"{who}: a password or TOTP secret is stored"
    print(f"browser storage of {who}: {storage}")


def upload_and_solve(page: Page, forecast_file: Path) -> None:
    open_page(page, "Forecast")
    page.locator("input[type=file]").set_input_files(forecast_file)
    expect(page.get_by_text(forecast_file.name)).to_be_visible()
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("Imported as version 1")).to_be_visible()
    open_page(page, "Plan")
    page.get_by_role("button", name="Start solve").click()
    checks_passed = page.get_by_text(re.compile(r"All \d+ checks passed\."))
    checks_passed.wait_for(timeout=SOLVE_TIMEOUT_MS)


def test_browser_session_and_downloads(chromium, http_server, tmp_path):
    launcher = http_server.launcher
    forecast_file = tmp_path / "forecast.csv"
    forecast = generate_forecast(EXPORT_FORECAST_TOURS, seed=EXPORT_FORECAST_SEED)
    forecast_file.write_text(format_tidy_csv(forecast), encoding="utf-8")
    console_messages: list[str] = []
    websocket_urls: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.on(
                "console",
                lambda message: (
                    console_messages.append(message.text)
                    if message.type in REPORTED_CONSOLE_TYPES
                    else None
                ),
            )
            page.on("websocket", lambda websocket: websocket_urls.append(websocket.url))

            # The sign-in page renders only over the WebSocket, which the
            # policy's connect-src 'self' must let through.
            page.goto(launcher.url)
            page.get_by_role("heading", name="Sign in to SOLVEREIGN").wait_for()
            sign_in(page, "dispatcher", launcher.passwords["dispatcher"])
            assert_no_secret_stored(
                page,
                http_server.database,
                [launcher.passwords["dispatcher"]],
                "dispatcher",
            )

            upload_and_solve(page, forecast_file)
            open_page(page, "Exports")
            page.get_by_role("button", name="Prepare CSV files (zip)").click()
            with page.expect_download() as download_info:
                page.get_by_role("button", name=re.compile(r"^Download ")).click()
            download_path = urlsplit(download_info.value.url).path
            # NOTE: the media URL is served to any client that has it, with
            # no cookie, while the session that made it still refers to it.
            # Streamlit 1.67 ties no media file to a session.
            download, body = fetch(http_server, download_path)

            page.get_by_role("button", name="Sign out").click()
            page.get_by_role("heading", name="Sign in to SOLVEREIGN").wait_for()
            sign_in(
                page,
                "approver",
                launcher.passwords["approver"],
                launcher.totp_secrets["approver"],
            )
            assert_no_secret_stored(
                page,
                http_server.database,
                [launcher.passwords["approver"], launcher.totp_secrets["approver"]],
                "approver",
            )
            browser_cookies = page.context.cookies()
        finally:
            browser.close()

    stream_url = f"ws://{urlsplit(launcher.url).netloc}/_stcore/stream"
    assert stream_url in websocket_urls
    header_problems = [
        text
        for text in console_messages
        if any(marker in text for marker in HEADER_PROBLEM_MARKERS)
    ]
    assert header_problems == [], "\n".join(header_problems)
    # The app keeps its session on the server; the only cookie is Streamlit's.
    assert [cookie["name"] for cookie in browser_cookies] == [XSRF_COOKIE]
    assert browser_cookies[0]["sameSite"] == "Strict"
    assert download_path.startswith("/media/")
    assert download.status == 200
    assert body.startswith(b"PK"), "the export is no zip file"
    assert download.header("cache-control") == "no-store"
    disposition = download.header("content-disposition")
    assert disposition is not None and disposition.startswith("attachment;")
    assert_security_headers(download, "download")
