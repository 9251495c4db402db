"""Categories and severities of security events, and the table of known actions."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from core.security_events import (
    SECURITY_EVENTS,
    Classification,
    InvalidSecurityEvent,
    SecurityCategory,
    Severity,
    classify,
    classify_entry,
)

CORE = Path(__file__).resolve().parents[2] / "core"
# Action names of the kinds that record sign-in, users and refusals.
SECURITY_ACTION = re.compile(r"(auth|security|user)\.[a-z_]+")


@pytest.mark.parametrize(
    ("action", "category", "severity"),
    [
        ("auth.signed_in", SecurityCategory.SIGN_IN, Severity.INFO),
        ("auth.signed_out", SecurityCategory.SIGN_IN, Severity.INFO),
        ("auth.sign_in_failed", SecurityCategory.SIGN_IN_FAILURE, Severity.WARNING),
        (
            "security.sign_in_rate_limited",
            SecurityCategory.SIGN_IN_FAILURE,
            Severity.WARNING,
        ),
        (
            "security.oidc_token_rejected",
            SecurityCategory.SIGN_IN_FAILURE,
            Severity.WARNING,
        ),
        (
            "security.permission_denied",
            SecurityCategory.PERMISSION_DENIED,
            Severity.WARNING,
        ),
        (
            "security.cross_tenant_access",
            SecurityCategory.CROSS_TENANT_ATTEMPT,
            Severity.CRITICAL,
        ),
        ("security.dangerous_sql", SecurityCategory.DANGEROUS_SQL, Severity.CRITICAL),
        ("user.role_changed", SecurityCategory.CONFIGURATION_CHANGE, Severity.WARNING),
        ("user.provisioned", SecurityCategory.CONFIGURATION_CHANGE, Severity.INFO),
        ("user.oidc_linked", SecurityCategory.CONFIGURATION_CHANGE, Severity.INFO),
    ],
)
def test_existing_event_classification(action, category, severity):
    classification = classify(action)

    assert classification.category is category
    assert classification.severity is severity


def test_every_security_action_of_core_is_listed():
    actions = set()
    for path in CORE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and SECURITY_ACTION.fullmatch(node.value)
            ):
                actions.add((node.value, path.name))

    unlisted = sorted(
        f"{action} in {name}"
        for action, name in actions
        if action not in SECURITY_EVENTS
    )

    assert "security.permission_denied" in {action for action, _ in actions}
    assert unlisted == []


def test_severities_are_ordered():
    assert [severity.rank for severity in Severity] == [0, 1, 2]
    assert Severity.INFO.rank < Severity.WARNING.rank < Severity.CRITICAL.rank


class TestClassify:
    def test_arguments_override_the_table(self):
        classification = classify("security.permission_denied", severity="CRITICAL")

        assert classification == Classification(
            SecurityCategory.PERMISSION_DENIED, Severity.CRITICAL
        )

    def test_unlisted_action_with_both_values(self):
        classification = classify("security.key_rotated", "key_rotation", "WARNING")

        assert classification == Classification(
            SecurityCategory.KEY_ROTATION, Severity.WARNING
        )

    def test_unlisted_action_without_category_is_rejected(self):
        with pytest.raises(InvalidSecurityEvent, match="'security.key_rotated'"):
            classify("security.key_rotated", severity=Severity.WARNING)

    def test_unknown_severity_names_the_allowed_values(self):
        with pytest.raises(InvalidSecurityEvent, match="INFO, WARNING, CRITICAL"):
            classify("security.dangerous_sql", severity="FATAL")

    def test_unknown_category_is_rejected(self):
        with pytest.raises(InvalidSecurityEvent, match="category 'intrusion'"):
            classify("security.dangerous_sql", category="intrusion")


class TestClassifyEntry:
    def test_ordinary_entry_is_no_security_event(self):
        assert classify_entry("plan.solved", {"drivers": 142}) is None

    def test_listed_action_takes_the_table(self):
        classification = classify_entry("auth.sign_in_failed", {"reason": "x"})

        assert classification == Classification(
            SecurityCategory.SIGN_IN_FAILURE, Severity.WARNING
        )

    def test_details_override_the_table(self):
        classification = classify_entry(
            "security.permission_denied", {"severity": "CRITICAL"}
        )

        assert classification == Classification(
            SecurityCategory.PERMISSION_DENIED, Severity.CRITICAL
        )

    def test_unlisted_action_with_both_keys(self):
        classification = classify_entry(
            "gdpr.access_request", {"category": "gdpr_request", "severity": "INFO"}
        )

        assert classification == Classification(
            SecurityCategory.GDPR_REQUEST, Severity.INFO
        )

    def test_unlisted_action_with_one_key_is_rejected(self):
        with pytest.raises(InvalidSecurityEvent, match="no 'category'"):
            classify_entry("driver.exported", {"severity": "CRITICAL"})
