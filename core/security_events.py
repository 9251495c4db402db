"""Categories and severities of security events, and the table of known actions.

A security event is an audit entry whose details carry the keys "category"
and "severity". Both live in the details, so the audit table and the hash
chain format stay the same and the chain covers them. core.audit fills them
in from SECURITY_EVENTS for every entry whose action is listed there,
whichever module appends it. A caller of `record_security_event` may name
them for an action that is not listed, or override the listed values.

Severities:

- INFO: expected activity worth keeping, such as a sign-in.
- WARNING: a refusal or a failure that is normal in small numbers, such as a
  wrong password or a denied permission.
- CRITICAL: a sign of an attack or a broken safeguard, such as a request for
  another tenant's object. Each CRITICAL event raises an alert (core.notify)
  once its transaction has committed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

CATEGORY_KEY = "category"
SEVERITY_KEY = "severity"

ValueT = TypeVar("ValueT", bound=enum.StrEnum)


class SecurityCategory(enum.StrEnum):
    """The kind of security event an entry records."""

    SIGN_IN = "sign_in"
    SIGN_IN_FAILURE = "sign_in_failure"
    PERMISSION_DENIED = "permission_denied"
    CROSS_TENANT_ATTEMPT = "cross_tenant_attempt"
    PRIVILEGE_ESCALATION_ATTEMPT = "privilege_escalation_attempt"
    DANGEROUS_SQL = "dangerous_sql"
    PII_READ = "pii_read"
    EXPORT = "export"
    GDPR_REQUEST = "gdpr_request"
    CONFIGURATION_CHANGE = "configuration_change"
    KEY_ROTATION = "key_rotation"


class Severity(enum.StrEnum):
    """The urgency of a security event; only CRITICAL raises an alert."""

    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        """Order of the severities: INFO 0, WARNING 1, CRITICAL 2."""
        return list(Severity).index(self)


@dataclass(frozen=True)
class Classification:
    """The category and severity of one security event."""

    category: SecurityCategory
    severity: Severity


# The actions that the workbench appends today, by the module that appends them.
# Names are repeated here as text because the modules that define them import
# core.audit, which imports this table. tests/unit/test_security_events.py
# checks that every auth.*, security.* and user.* action of core/ is listed.
SECURITY_EVENTS: Mapping[str, Classification] = MappingProxyType(
    {
        # core.auth: sign-in, sign-out and the end of a session.
        "auth.signed_in": Classification(SecurityCategory.SIGN_IN, Severity.INFO),
        "auth.signed_out": Classification(SecurityCategory.SIGN_IN, Severity.INFO),
        "auth.session_ended": Classification(SecurityCategory.SIGN_IN, Severity.INFO),
        "auth.sign_in_failed": Classification(
            SecurityCategory.SIGN_IN_FAILURE, Severity.WARNING
        ),
        "security.sign_in_rate_limited": Classification(
            SecurityCategory.SIGN_IN_FAILURE, Severity.WARNING
        ),
        # A recovery code replaces a lost authenticator, or was stolen.
        "auth.recovery_code_used": Classification(
            SecurityCategory.SIGN_IN, Severity.WARNING
        ),
        # core.mfa: a new authenticator or new recovery codes are new credentials.
        "auth.mfa_enrolment_started": Classification(
            SecurityCategory.CONFIGURATION_CHANGE, Severity.INFO
        ),
        "auth.mfa_enrolment_failed": Classification(
            SecurityCategory.CONFIGURATION_CHANGE, Severity.WARNING
        ),
        "auth.mfa_enrolled": Classification(
            SecurityCategory.CONFIGURATION_CHANGE, Severity.WARNING
        ),
        "auth.recovery_codes_issued": Classification(
            SecurityCategory.CONFIGURATION_CHANGE, Severity.WARNING
        ),
        # core.user_sessions: a tenant admin ends sessions or disables users.
        "auth.sessions_ended": Classification(
            SecurityCategory.CONFIGURATION_CHANGE, Severity.INFO
        ),
        "user.disabled": Classification(
            SecurityCategory.CONFIGURATION_CHANGE, Severity.WARNING
        ),
        "user.enabled": Classification(
            SecurityCategory.CONFIGURATION_CHANGE, Severity.INFO
        ),
        # core.oidc_sign_in: single sign-on and the users it creates or changes.
        "security.oidc_token_rejected": Classification(
            SecurityCategory.SIGN_IN_FAILURE, Severity.WARNING
        ),
        "user.provisioned": Classification(
            SecurityCategory.CONFIGURATION_CHANGE, Severity.INFO
        ),
        "user.oidc_linked": Classification(
            SecurityCategory.CONFIGURATION_CHANGE, Severity.INFO
        ),
        # A role set from the provider's token may grant more permissions.
        "user.role_changed": Classification(
            SecurityCategory.CONFIGURATION_CHANGE, Severity.WARNING
        ),
        # core.context: permission checks and the SQL guard.
        "security.permission_denied": Classification(
            SecurityCategory.PERMISSION_DENIED, Severity.WARNING
        ),
        "security.dangerous_sql": Classification(
            SecurityCategory.DANGEROUS_SQL, Severity.CRITICAL
        ),
        # core.tenancy: a valid session asked for another tenant's object, which
        # no page links to, so the id was guessed or copied.
        "security.cross_tenant_access": Classification(
            SecurityCategory.CROSS_TENANT_ATTEMPT, Severity.CRITICAL
        ),
        # core.drivers: reads of drivers' personal fields. A ciphertext that
        # fails to decrypt was altered, copied from another row, or lost its key.
        # core.pii_rotation: re-encryption and retirement of personal-data keys.
        "security.pii_reencrypted": Classification(
            SecurityCategory.KEY_ROTATION, Severity.INFO
        ),
        "security.pii_key_retired": Classification(
            SecurityCategory.KEY_ROTATION, Severity.INFO
        ),
        "driver.personal_data_read": Classification(
            SecurityCategory.PII_READ, Severity.INFO
        ),
        "security.personal_data_unreadable": Classification(
            SecurityCategory.PII_READ, Severity.CRITICAL
        ),
        # core.driver_export: the driver list as a CSV file.
        "driver.list_exported": Classification(SecurityCategory.EXPORT, Severity.INFO),
        # core.gdpr and core.retention: access, erasure and what blocks erasure.
        "gdpr.driver_data_exported": Classification(
            SecurityCategory.GDPR_REQUEST, Severity.INFO
        ),
        "gdpr.driver_erased": Classification(
            SecurityCategory.GDPR_REQUEST, Severity.INFO
        ),
        "gdpr.erasure_rejected": Classification(
            SecurityCategory.GDPR_REQUEST, Severity.WARNING
        ),
        "gdpr.legal_hold_placed": Classification(
            SecurityCategory.GDPR_REQUEST, Severity.INFO
        ),
        "gdpr.legal_hold_lifted": Classification(
            SecurityCategory.GDPR_REQUEST, Severity.WARNING
        ),
        "gdpr.retention_run": Classification(
            SecurityCategory.GDPR_REQUEST, Severity.INFO
        ),
        "gdpr.retention_changed": Classification(
            SecurityCategory.CONFIGURATION_CHANGE, Severity.INFO
        ),
    }
)


class InvalidSecurityEvent(ValueError):
    """A security event has no classification, or an unknown category or severity."""


def classify(
    action: str,
    category: SecurityCategory | str | None = None,
    severity: Severity | str | None = None,
) -> Classification:
    """Return the classification of `action`; the arguments override the table.

    Raises InvalidSecurityEvent when the action is not in SECURITY_EVENTS and
    the category or severity is missing, or when either is not a known value.
    """
    listed = SECURITY_EVENTS.get(action)
    if listed is None and (category is None or severity is None):
        raise InvalidSecurityEvent(
            f"security event {action!r} is not listed in"
            " core.security_events.SECURITY_EVENTS; pass both its category and"
            " its severity, or list the action there"
        )
    return Classification(
        category=(
            listed.category
            if category is None
            else _parse(SecurityCategory, category, action, CATEGORY_KEY)
        ),
        severity=(
            listed.severity
            if severity is None
            else _parse(Severity, severity, action, SEVERITY_KEY)
        ),
    )


def classify_entry(action: str, details: Mapping[str, Any]) -> Classification | None:
    """Return the classification of an audit entry, or None for an ordinary entry.

    An entry is a security event when its action is in SECURITY_EVENTS or its
    details carry both "category" and "severity". Values in the details
    override the table. Raises InvalidSecurityEvent for an unknown value, and
    for an unlisted action whose details carry only one of the two keys,
    because such an entry would silently get no severity and raise no alert.
    """
    category = details.get(CATEGORY_KEY)
    severity = details.get(SEVERITY_KEY)
    if action not in SECURITY_EVENTS:
        if category is None and severity is None:
            return None
        if category is None or severity is None:
            missing = CATEGORY_KEY if category is None else SEVERITY_KEY
            raise InvalidSecurityEvent(
                f"audit details of action {action!r} have no {missing!r}; a"
                " security event needs both 'category' and 'severity'"
            )
    return classify(action, category, severity)


def _parse(kind: type[ValueT], value: object, action: str, key: str) -> ValueT:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidSecurityEvent(
            f"security event {action!r} has the {key} {value!r}; use one of {allowed}"
        ) from None
