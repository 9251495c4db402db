import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"

if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from core.rate_limits import configure_rate_limits  # noqa: E402
from core.session_revocations import configure_revocation_list  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_rate_limits_and_revocations():
    """Give every test its own sign-in counts and session revocation list.

    The page tests sign in as the same demo users again and again; counts
    kept from one test would lock the next out. User ids repeat across the
    databases of different tests, so a revocation kept in process memory
    would end another test's session.
    """
    configure_rate_limits(None)
    configure_revocation_list(None)
    yield
    configure_rate_limits(None)
    configure_revocation_list(None)


def pytest_collection_modifyitems(config, items):
    """Mark the tests of the security suite (tests/security_suite.py)."""
    from tests.security_suite import SECURITY_TEST_FILES

    security_files = {PROJECT_ROOT / name for name in SECURITY_TEST_FILES}
    for item in items:
        if item.path in security_files:
            item.add_marker(pytest.mark.security)
