"""The launcher runs several solve workers, and rejects a bad worker count.

Uses the launcher of tests/e2e/test_browser.py, which needs no browser.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.test_browser import PROJECT_ROOT, launcher  # noqa: F401 (fixture)

WORKER_MODULE = "core.worker"


def child_commands(pid: int) -> list[str]:
    """Return the command lines of a process's children, read from /proc."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(text) for text in (task / "children").read_text().split()]
    commands = []
    for child in children:
        raw = Path(f"/proc/{child}/cmdline").read_bytes()
        commands.append(raw.replace(b"\0", b" ").decode().strip())
    return commands


def test_launcher_starts_two_workers(launcher):  # noqa: F811
    commands = child_commands(launcher.process.pid)

    workers = [command for command in commands if WORKER_MODULE in command]
    assert len(workers) == 2, commands


def test_bad_worker_count_rejected(tmp_path):
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'workbench.db'}",
        "SOLVEREIGN_WORKERS": "many",
    }
    finished = subprocess.run(
        [sys.executable, "serve.py", "--port", "0"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert finished.returncode != 0
    assert "SOLVEREIGN_WORKERS='many' is invalid" in finished.stderr + finished.stdout
