"""Start the workbench: migrate, seed the demo tenant, run the solve worker, serve.

    .venv/bin/python serve.py [--port 8501]

The database is DATABASE_URL, or the SQLite file var/solvereign.db. The
launcher migrates it and creates the demo tenant. On the first start it prints
the demo users' initial passwords and TOTP secrets, which are never shown
again. It then serves app.py through Streamlit's ASGI app (`st.App`) with
uvicorn on 127.0.0.1. The app's lifespan starts `python -m core.worker` as a
child process, restarts it if it fails, and stops it when the server stops.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import logging
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import streamlit as st
from starlette.middleware import Middleware

from core.context import open_workbench
from core.demo import seed_demo_tenant

logger = logging.getLogger("solvereign.serve")

PROJECT_ROOT = Path(__file__).resolve().parent
APP_SCRIPT = PROJECT_ROOT / "app.py"
SERVER_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 8501
WORKER_COMMAND = (sys.executable, "-m", "core.worker")
WORKER_STOP_TIMEOUT_SECONDS = 10
WORKER_CHECK_INTERVAL_SECONDS = 2
# A worker that exits this soon after its start is failing on start-up, so
# the launcher waits before it tries again instead of restarting in a loop.
WORKER_MIN_UPTIME_SECONDS = 30
WORKER_RESTART_DELAY_SECONDS = 15

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
    "connect-src 'self' ws: wss:",
    "worker-src 'self' blob:",
    "frame-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
CONTENT_SECURITY_POLICY = "; ".join(CONTENT_SECURITY_POLICY_DIRECTIVES)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class SecurityHeaders:
    """ASGI middleware that adds SECURITY_HEADERS to every HTTP response.

    A header the response already carries is left as it is. WebSocket
    traffic passes through unchanged.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(
                    (name, value)
                    for name, value in SECURITY_HEADERS
                    if name not in present
                )
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SolveWorker:
    """The `python -m core.worker` child process that runs queued solves."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> None:
        # The worker inherits the environment, so DATABASE_URL reaches it too.
        self.process = subprocess.Popen(WORKER_COMMAND, cwd=PROJECT_ROOT)
        self.started_at = asyncio.get_running_loop().time()
        logger.info("solve worker started, pid %d", self.process.pid)

    async def keep_running(self) -> None:
        """Restart the worker when it fails, until this task is cancelled.

        Exit code 0 means the worker was asked to stop (SIGTERM or SIGINT, as
        Ctrl+C sends to the whole process group), so it is not restarted.
        """
        loop = asyncio.get_running_loop()
        while self.process is not None:
            await asyncio.sleep(WORKER_CHECK_INTERVAL_SECONDS)
            exit_code = self.process.poll()
            if exit_code is None:
                continue
            uptime_seconds = loop.time() - self.started_at
            if exit_code == 0:
                logger.info("solve worker pid %d stopped itself", self.process.pid)
                return
            logger.warning(
                "solve worker pid %d exited with code %s after %.0f s; restarting",
                self.process.pid,
                exit_code,
                uptime_seconds,
            )
            if uptime_seconds < WORKER_MIN_UPTIME_SECONDS:
                await asyncio.sleep(WORKER_RESTART_DELAY_SECONDS)
            self.start()

    def stop(self) -> None:
        """Ask the worker to stop, and kill it if it has not within the timeout."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=WORKER_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            logger.warning(
                "solve worker pid %d did not stop within %d s; killing it",
                process.pid,
                WORKER_STOP_TIMEOUT_SECONDS,
            )
            process.kill()
            process.wait()
        logger.info("solve worker pid %d stopped", process.pid)


@asynccontextmanager
async def run_with_worker(app: st.App) -> AsyncIterator[None]:
    """Run the solve worker for as long as the server runs."""
    worker = SolveWorker()
    worker.start()
    supervisor = asyncio.create_task(worker.keep_running())
    # The listening socket is bound before the lifespan starts, so the
    # address is live once this line appears.
    print(
        f"workbench: http://{SERVER_ADDRESS}:{st.get_option('server.port')}", flush=True
    )
    try:
        yield None
    finally:
        supervisor.cancel()
        worker.stop()


app = st.App(
    APP_SCRIPT,
    lifespan=run_with_worker,
    middleware=[Middleware(SecurityHeaders)],
)


def print_demo_accounts() -> None:
    """Create the demo tenant if it is missing, and print its initial secrets.

    seed_demo_tenant returns the accounts only when it creates them, so the
    passwords and TOTP secrets appear on the console once, on the first start.
    """
    accounts = seed_demo_tenant()
    if accounts is None:
        print("demo tenant exists; its passwords were printed when it was created")
        return
    print(
        f"demo tenant '{accounts.tenant_slug}' created. Note these passwords and"
        " TOTP secrets now; they are not shown again:"
    )
    for account in accounts:
        line = (
            f"  user {account.username:<10} role {account.role:<13}"
            f" password {account.password}"
        )
        if account.totp_secret:
            line += f"  TOTP secret {account.totp_secret}"
        print(line)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port on {SERVER_ADDRESS} to serve the workbench on",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )

    open_workbench()
    print_demo_accounts()

    app.run(config={"server.address": SERVER_ADDRESS, "server.port": arguments.port})


if __name__ == "__main__":
    main()
