"""The files of the security test suite, run alone with `make security`.

Each file attacks the product the way a penetration tester would and checks
the refusal. tests/conftest.py marks every test in these files with
`security`, so `pytest -m security` selects them.
"""

SECURITY_TEST_FILES = (
    # Identity and sessions
    "tests/unit/test_rate_limits.py",
    "tests/integration/test_rate_limits_redis.py",
    "tests/unit/test_oidc.py",
    "tests/integration/test_oidc_sign_in.py",
    "tests/integration/services/test_services_auth.py",
    "tests/integration/services/test_services_sessions.py",
    "tests/integration/services/test_services_mfa.py",
    "tests/unit/test_session_settings.py",
    "tests/unit/test_recovery_codes.py",
    "tests/ui/test_security_page.py",
    "tests/unit/test_sso_setup.py",
    "tests/e2e/test_sso_browser.py",
    # Authorisation and tenant isolation
    "tests/unit/test_permissions.py",
    "tests/integration/services/test_permission_matrix.py",
    "tests/integration/services/test_protected_fields.py",
    "tests/integration/services/test_services_permissions.py",
    "tests/integration/test_tenancy.py",
    "tests/unit/test_sql_guard.py",
    "tests/integration/test_sql_guard_engines.py",
    "tests/integration/test_row_level_security.py",
    # Personal data
    "tests/unit/test_pii.py",
    "tests/integration/test_pii_rotation.py",
    "tests/integration/services/test_pii_rotation_drivers.py",
    "tests/integration/services/test_services_drivers.py",
    "tests/integration/services/test_services_driver_export.py",
    "tests/integration/services/test_services_gdpr.py",
    "tests/integration/services/test_retention.py",
    # Audit and alerting
    "tests/integration/test_audit.py",
    "tests/integration/test_audit_anchor.py",
    "tests/integration/test_audit_protection.py",
    "tests/integration/test_security_alerts.py",
    "tests/unit/test_security_events.py",
    "tests/unit/test_audit_checkpoints.py",
    "tests/unit/test_notify_settings.py",
    # Headers and browser side
    "tests/e2e/test_http_headers.py",
    "tests/e2e/test_error_details.py",
)
