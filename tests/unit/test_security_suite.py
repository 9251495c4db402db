from tests.conftest import PROJECT_ROOT
from tests.security_suite import SECURITY_TEST_FILES


def test_every_security_file_exists():
    missing = [
        name for name in SECURITY_TEST_FILES if not (PROJECT_ROOT / name).is_file()
    ]

    assert missing == []


def test_security_files_are_listed_once():
    assert len(set(SECURITY_TEST_FILES)) == len(SECURITY_TEST_FILES)
