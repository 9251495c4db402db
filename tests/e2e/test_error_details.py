"""An exception in a page reaches the browser without its message or traceback.

Streamlit redacts an uncaught exception as client.showErrorDetails in
.streamlit/config.toml sets; the traceback goes to the server log only.
AppTest runs a failing page with the project's configuration through
Streamlit's script runner, which builds the same exception element that the
server sends to the browser.
"""

from __future__ import annotations

import tomllib

from streamlit import config
from streamlit.testing.v1 import AppTest

from tests.e2e.test_browser import PROJECT_ROOT

CONFIG_FILE = PROJECT_ROOT / ".streamlit" / "config.toml"
SECRET_DETAIL = "connection to postgresql://app:hunter2@db failed"
FAILING_PAGE = f"raise RuntimeError({SECRET_DETAIL!r})"


def test_config_hides_error_details():
    settings = tomllib.loads(CONFIG_FILE.read_text(encoding="utf-8"))

    assert settings["client"]["showErrorDetails"] == "none"


def test_page_exception_is_redacted(monkeypatch):
    # Streamlit reads .streamlit/config.toml from the working directory.
    monkeypatch.chdir(PROJECT_ROOT)
    config.get_config_options(force_reparse=True)
    page = AppTest.from_string(FAILING_PAGE)

    page.run()

    assert len(page.exception) == 1
    shown = page.exception[0]
    assert SECRET_DETAIL not in shown.message
    assert "hunter2" not in str(shown.proto)
    assert list(shown.stack_trace) == []
    assert shown.proto.type == ""
