"""Single sign-on in a real browser, against an OpenID Connect provider on loopback.

The workbench is the real launcher (serve.py) with a fresh SQLite file. Its
working directory is a temporary folder holding the test's own
.streamlit/secrets.toml, with Streamlit's `[auth]` and the workbench's
`[oidc]`. Streamlit reads the secrets files of the home folder, of the
working directory and of the folder of app.py (in that order, later files
replacing whole sections), and it still reads the repository's
.streamlit/config.toml beside app.py. So the test never touches the
repository's .streamlit/. The provider (tests.oidc_test_provider) consents
at once and issues tokens for the user each test chooses. Debian's Chromium
is driven by Playwright; without it the tests are skipped, and they fail
when CI=true.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, expect, sync_playwright

from tests.e2e.test_browser import (
    CHROMIUM_FLAGS,
    PAGE_TIMEOUT_MS,
    PROJECT_ROOT,
    SERVER_START_TIMEOUT_SECONDS,
    Launcher,
    free_loopback_port,
    stop_process_group,
)
from tests.oidc_provider import CLIENT_ID
from tests.oidc_test_provider import (
    CLIENT_SECRET,
    LoopbackOidcProvider,
    ProviderUser,
    running_oidc_provider,
)

CHROMIUM = Path(os.environ.get("SOLVEREIGN_CHROMIUM", "/usr/bin/chromium"))
PROVIDER_NAME = "keycloak"
SSO_BUTTON = "Sign in with Keycloak"
SIGN_IN_HEADING = "Sign in to SOLVEREIGN"
GENERIC_FAILURE = "single sign-on failed; sign in again or ask your admin"
DEMO_TENANT_VALUE = "Demo Operator"
IDENTITY_COOKIES = ("_streamlit_user", "_streamlit_user_tokens")
DISPATCHER_PAGES = ("Forecast", "Plan", "Drivers", "Exports", "Security")
PAGES_ABOVE_DISPATCHER = ("Approve", "Audit")
TOKEN_CHARACTER_RUN = re.compile(r"[A-Za-z0-9_-]{43,}")
PROVIDER_WAIT_SECONDS = 30

expect.set_options(timeout=PAGE_TIMEOUT_MS)


@dataclass
class Workbench:
    """The running launcher, the provider it trusts and its database file."""

    launcher: Launcher
    url: str
    provider: LoopbackOidcProvider
    database: Path


@dataclass
class BrowserRecord:
    """What one browser context did: console problems and requests to the provider."""

    csp_violations: list[str] = field(default_factory=list)
    provider_requests: list[Request] = field(default_factory=list)


def secrets_toml(port: int, provider: LoopbackOidcProvider) -> str:
    """Return a secrets.toml with Streamlit's [auth] and the workbench's [oidc]."""
    document = f"""
[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "{secrets.token_urlsafe(32)}"
expose_tokens = ["id"]

[auth.{PROVIDER_NAME}]
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
server_metadata_url = "{provider.discovery_url}"

[oidc]
issuer = "{provider.issuer}"
client_id = "{CLIENT_ID}"
jwks_url = "{provider.jwks_url}"
provision_users = true
jwks_refresh_cooldown_seconds = 0

[oidc.role_map]
"planning-viewer" = "VIEWER"
"planning-dispatcher" = "DISPATCHER"

[oidc.tenant_map]
"{DEMO_TENANT_VALUE}" = "demo"
"""
    tomllib.loads(document)
    return document


def check_repository_secrets() -> None:
    """Stop when the repository's own secrets.toml would replace the test's sections.

    Streamlit reads the file beside app.py after the working directory's.
    """
    repository_secrets = PROJECT_ROOT / ".streamlit" / "secrets.toml"
    if not repository_secrets.is_file():
        return
    sections = tomllib.loads(repository_secrets.read_text(encoding="utf-8"))
    clashing = sorted({"auth", "oidc"} & set(sections))
    if not clashing:
        return
    reason = (
        f"{repository_secrets} has the sections {clashing}, which Streamlit reads"
        " after the test's own file and which would replace its settings"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Return the Chromium executable; skip without it, or fail when CI=true."""
    if CHROMIUM.exists():
        return CHROMIUM
    reason = f"{CHROMIUM} is missing; 'make browser' installs Debian's chromium"
    if os.environ.get("CI") == "true":
        pytest.fail(f"the browser test must run in CI, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def workbench(tmp_path_factory) -> Iterator[Workbench]:
    """Run serve.py with single sign-on against a loopback provider."""
    check_repository_secrets()
    directory = tmp_path_factory.mktemp("sso-workbench")
    port = free_loopback_port()
    redirect_uri = f"http://127.0.0.1:{port}/oauth2callback"
    with running_oidc_provider(redirect_uri) as provider:
        (directory / ".streamlit").mkdir()
        (directory / ".streamlit" / "secrets.toml").write_text(
            secrets_toml(port, provider), encoding="utf-8"
        )
        database = directory / "workbench.db"
        launcher = start_launcher(directory, database, port)
        try:
            yield Workbench(launcher, launcher.url or "", provider, database)
        finally:
            stop_process_group(launcher.process)
            (directory / "serve.log").write_text("\n".join(launcher.output) + "\n")


def start_launcher(directory: Path, database: Path, port: int) -> Launcher:
    """Start serve.py in `directory` and wait until it prints its address."""
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "serve.py"), "--port", str(port)],
        cwd=directory,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    launcher = Launcher(process)
    threading.Thread(target=launcher.read_output, daemon=True).start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while launcher.url is None:
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process_group(process)
            pytest.fail(f"serve.py did not start:\n{launcher.console()}")
        time.sleep(0.2)
    return launcher


@pytest.fixture(scope="module")
def browser(chromium) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page_and_record(browser, workbench) -> Iterator[tuple[Page, BrowserRecord]]:
    """Open a page in a fresh browser context, recording CSP errors and provider calls."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    record = BrowserRecord()

    def note_console(message) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            record.csp_violations.append(message.text)

    def note_request(request: Request) -> None:
        if request.url.startswith(workbench.provider.base_url):
            record.provider_requests.append(request)

    page.on("console", note_console)
    page.on("request", note_request)
    try:
        yield page, record
    finally:
        context.close()


def new_user(tenant: str = DEMO_TENANT_VALUE) -> ProviderUser:
    suffix = uuid.uuid4().hex[:8]
    return ProviderUser(
        subject=f"subject-{suffix}",
        username=f"sso-{suffix}",
        tenant=tenant,
        roles=["planning-dispatcher"],
    )


def wait_for(condition, description: str) -> None:
    deadline = time.monotonic() + PROVIDER_WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {description}")
        time.sleep(0.1)


def query_database(database: Path, sql: str, *parameters) -> list[tuple]:
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute(sql, parameters).fetchall()


def user_row(database: Path, username: str) -> list[tuple]:
    return query_database(
        database,
        "SELECT t.slug, u.role, u.oidc_subject FROM users u"
        " JOIN tenants t ON t.id = u.tenant_id WHERE u.username = ?",
        username,
    )


def sessions_of(database: Path, username: str) -> list[tuple]:
    """Return (token_sha256, revoked_at) of every session of the user."""
    return query_database(
        database,
        "SELECT s.token_sha256, s.revoked_at FROM user_sessions s"
        " JOIN users u ON u.id = s.user_id WHERE u.username = ?",
        username,
    )


def cookie_names(page: Page) -> set[str]:
    return {cookie["name"] for cookie in page.context.cookies()}


def stored_token_digests(page: Page) -> set[str]:
    """Return the SHA-256 digests of token-like strings that the page can read."""
    readable = page.evaluate(
        "() => JSON.stringify([document.cookie, {...localStorage},"
        " {...sessionStorage}])"
    )
    stored = readable + json.dumps(page.context.cookies())
    return {
        hashlib.sha256(run.encode()).hexdigest()
        for run in TOKEN_CHARACTER_RUN.findall(stored)
    }


def click_single_sign_on(page: Page, workbench: Workbench) -> None:
    response = page.goto(workbench.url)
    assert response is not None
    assert "form-action 'self'" in response.headers["content-security-policy"]
    page.get_by_role("button", name=SSO_BUTTON).click()


def test_sign_in_reload_and_sign_out(workbench, page_and_record, tmp_path):
    page, record = page_and_record
    provider = workbench.provider
    user = new_user()
    provider.sign_in_as(user)
    logouts_before = len(provider.logout_requests)

    click_single_sign_on(page, workbench)
    page.get_by_role("button", name="Sign out").wait_for()
    page.get_by_role("heading", name="Forecast", exact=True).wait_for()

    expect(
        page.get_by_text(f"Signed in as {user.username} (DISPATCHER)")
    ).to_be_visible()
    for title in DISPATCHER_PAGES:
        expect(page.get_by_role("link", name=title)).to_be_visible()
    for title in PAGES_ABOVE_DISPATCHER:
        expect(page.get_by_role("link", name=title)).to_have_count(0)
    assert user_row(workbench.database, user.username) == [
        ("demo", "DISPATCHER", user.subject)
    ]
    sessions = sessions_of(workbench.database, user.username)
    assert len(sessions) == 1
    assert sessions[0][1] is None
    authorize = provider.authorize_requests[-1]
    assert authorize["code_challenge_method"] == "S256"
    assert authorize["nonce"]
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    for name in IDENTITY_COOKIES:
        assert cookies[name]["httpOnly"] is True
        assert cookies[name]["sameSite"] == "Lax"
    assert sessions[0][0] not in stored_token_digests(page)
    page.screenshot(path=tmp_path / "signed-in.png")

    # A reload starts a new Streamlit session; the identity cookie finds the
    # workbench session again instead of signing in once more.
    authorizations = len(provider.authorize_requests)
    page.reload()
    page.get_by_role("button", name="Sign out").wait_for()
    page.get_by_role("heading", name="Forecast", exact=True).wait_for()

    expect(
        page.get_by_text(f"Signed in as {user.username} (DISPATCHER)")
    ).to_be_visible()
    assert len(provider.authorize_requests) == authorizations
    assert sessions_of(workbench.database, user.username) == sessions

    page.get_by_role("button", name="Sign out").click()
    wait_for(
        lambda: len(provider.logout_requests) > logouts_before,
        "the provider's end-session request",
    )
    page.get_by_role("button", name=SSO_BUTTON).wait_for()

    assert not cookie_names(page) & set(IDENTITY_COOKIES)
    revoked = sessions_of(workbench.database, user.username)
    assert len(revoked) == 1
    assert revoked[0][1] is not None

    page.reload()
    page.get_by_role("button", name=SSO_BUTTON).wait_for()
    page.screenshot(path=tmp_path / "signed-out.png")

    expect(page.get_by_role("heading", name=SIGN_IN_HEADING)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    assert len(sessions_of(workbench.database, user.username)) == 1
    # The redirects to the provider and back are top-level navigations, which
    # the content security policy does not restrict; no fetch goes there.
    assert record.provider_requests
    for request in record.provider_requests:
        assert request.is_navigation_request()
        assert request.resource_type == "document"
    assert record.csp_violations == []


def test_token_for_unmapped_tenant_is_rejected(workbench, page_and_record, tmp_path):
    page, record = page_and_record
    user = new_user(tenant="Unknown Carrier GmbH")
    workbench.provider.sign_in_as(user)

    click_single_sign_on(page, workbench)

    expect(page.get_by_text(GENERIC_FAILURE)).to_be_visible()
    page.screenshot(path=tmp_path / "rejected.png")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    assert user_row(workbench.database, user.username) == []
    assert record.csp_violations == []


def test_token_with_bad_signature_is_rejected(workbench, page_and_record):
    page, record = page_and_record
    provider = workbench.provider
    user = new_user()
    provider.sign_in_as(user)
    provider.sign_with_impostor_key()
    logouts_before = len(provider.logout_requests)

    click_single_sign_on(page, workbench)

    expect(page.get_by_text(GENERIC_FAILURE)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    assert user_row(workbench.database, user.username) == []
    rejections = [
        json.loads(details)
        for (details,) in query_database(
            workbench.database,
            "SELECT details FROM audit_log WHERE action = ?",
            "security.oidc_token_rejected",
        )
    ]
    assert any(
        "signature does not verify" in entry["reason"]
        and entry["token_verified"] is False
        for entry in rejections
    ), rejections

    # A reload ends the identity cookie of the rejected token, without
    # trying it again.
    page.reload()
    wait_for(
        lambda: len(provider.logout_requests) > logouts_before,
        "the provider's end-session request",
    )
    page.get_by_role("button", name=SSO_BUTTON).wait_for()

    assert not cookie_names(page) & set(IDENTITY_COOKIES)
    expect(page.get_by_text(GENERIC_FAILURE)).to_have_count(0)
    assert record.csp_violations == []
