"""Start the workbench: migrate, seed the demo tenant, run the solve worker, serve.

    .venv/bin/python serve.py [--port 8501] [--ssl-certfile CERT --ssl-keyfile KEY]

The database is DATABASE_URL, or the SQLite file var/solvereign.db. The
launcher migrates it, through MIGRATION_DATABASE_URL when that is set (on
PostgreSQL, the role that owns the tables, with SOLVEREIGN_APP_ROLE naming
the role of DATABASE_URL), and creates the demo tenant. On the first start
it prints the demo users' initial passwords and TOTP secrets, which are
never shown again. It then serves app.py through Streamlit's ASGI app (`st.App`) with
uvicorn on 127.0.0.1. The app's lifespan starts SOLVEREIGN_WORKERS (default 2)
`python -m core.worker` child processes, so that a scenario and a plan
solve run at once. It restarts a worker that fails and stops them all
when the server stops.

Every response carries the headers of security_headers.SecurityHeaders. With
--ssl-certfile and --ssl-keyfile (PEM files), or Streamlit's options
server.sslCertFile and server.sslKeyFile in .streamlit/config.toml, the
server speaks HTTPS itself.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st
import uvicorn
from streamlit.web import bootstrap

# NOTE: a private helper of Streamlit 1.67 (pinned in requirements.txt). It
# returns the uvicorn settings that st.App.run() would use, which has no way
# to switch off uvicorn's "server" header.
from streamlit.web.server.starlette.starlette_server import (
    _get_uvicorn_config_kwargs as streamlit_uvicorn_settings,
)

from core.context import open_workbench
from core.demo import seed_demo_tenant
from security_headers import SecurityHeaders

logger = logging.getLogger("solvereign.serve")

PROJECT_ROOT = Path(__file__).resolve().parent
APP_SCRIPT = PROJECT_ROOT / "app.py"
SERVER_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 8501
WORKER_COMMAND = (sys.executable, "-m", "core.worker")
WORKER_STOP_TIMEOUT_SECONDS = 10
# Two workers let a scenario run beside a plan solve. Each takes one core
# while it solves, and every queued job goes to exactly one of them.
WORKERS_VARIABLE = "SOLVEREIGN_WORKERS"
DEFAULT_WORKERS = 2
MAX_WORKERS = 16
WORKER_CHECK_INTERVAL_SECONDS = 2
# A worker that exits this soon after its start is failing on start-up, so
# the launcher waits before it tries again instead of restarting in a loop.
WORKER_MIN_UPTIME_SECONDS = 30
WORKER_RESTART_DELAY_SECONDS = 15


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


def worker_count() -> int:
    """Read how many solve workers to run from SOLVEREIGN_WORKERS (default 2)."""
    text = os.environ.get(WORKERS_VARIABLE, str(DEFAULT_WORKERS)).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise SystemExit(
            f"{WORKERS_VARIABLE}={text!r} is invalid; set a whole number of"
            f" solve workers from 1 to {MAX_WORKERS}"
        )
    return int(text)


@asynccontextmanager
async def run_with_worker(app: st.App) -> AsyncIterator[None]:
    """Run the solve workers for as long as the server runs."""
    workers = [SolveWorker() for _ in range(worker_count())]
    for worker in workers:
        worker.start()
    supervisors = [asyncio.create_task(worker.keep_running()) for worker in workers]
    scheme = "https" if st.get_option("server.sslCertFile") else "http"
    # The listening socket is bound before the lifespan starts, so the
    # address is live once this line appears.
    print(
        f"workbench: {scheme}://{SERVER_ADDRESS}:{st.get_option('server.port')}",
        flush=True,
    )
    try:
        yield None
    finally:
        for supervisor in supervisors:
            supervisor.cancel()
        for worker in workers:
            worker.stop()


app = st.App(APP_SCRIPT, lifespan=run_with_worker)


def serve(port: int, tls_files: tuple[Path, Path] | None = None) -> None:
    """Serve the workbench on SERVER_ADDRESS and port until SIGINT or SIGTERM.

    tls_files, a certificate chain and its private key in PEM files, make the
    server speak HTTPS. They set Streamlit's server.sslCertFile and
    server.sslKeyFile, so Streamlit also marks its cookie Secure.

    It runs uvicorn with Streamlit's own settings (WebSocket protocol, ping
    interval, message size, TLS files), as st.App.run() does, plus
    server_header=False, which st.App.run() cannot pass. Uvicorn's proxy
    settings stay at their defaults: it trusts X-Forwarded-For and
    X-Forwarded-Proto only from the addresses in FORWARDED_ALLOW_IPS.
    """
    options: dict[str, object] = {"server.address": SERVER_ADDRESS, "server.port": port}
    if tls_files is not None:
        options["server.sslCertFile"] = str(tls_files[0])
        options["server.sslKeyFile"] = str(tls_files[1])
    bootstrap.load_config_options(options)
    uvicorn_config = uvicorn.Config(
        SecurityHeaders(app),
        host=SERVER_ADDRESS,
        port=port,
        server_header=False,
        **streamlit_uvicorn_settings(),
    )
    uvicorn.Server(uvicorn_config).run()


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
    parser.add_argument(
        "--ssl-certfile",
        type=Path,
        help="PEM file of the TLS certificate chain, for HTTPS with --ssl-keyfile",
    )
    parser.add_argument(
        "--ssl-keyfile",
        type=Path,
        help="PEM file of the private key of --ssl-certfile",
    )
    arguments = parser.parse_args(argv)
    if (arguments.ssl_certfile is None) != (arguments.ssl_keyfile is None):
        parser.error("--ssl-certfile and --ssl-keyfile must be given together")
    for option, path in (
        ("--ssl-certfile", arguments.ssl_certfile),
        ("--ssl-keyfile", arguments.ssl_keyfile),
    ):
        if path is not None and not path.is_file():
            parser.error(f"{option} {path}: file not found")
    return arguments


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )

    open_workbench()
    print_demo_accounts()

    tls_files = None
    if arguments.ssl_certfile is not None:
        tls_files = (arguments.ssl_certfile, arguments.ssl_keyfile)
    serve(arguments.port, tls_files)


if __name__ == "__main__":
    main()
