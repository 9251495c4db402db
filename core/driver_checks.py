"""Checks of the values a user enters for a driver, each raising InvalidInput.

Each check returns the value as it is stored (trimmed, upper-cased codes,
weekly minutes with their defaults) or raises InvalidInput naming the
field. Messages about personal fields never quote the value, which is
personal data; messages about other fields quote it so the user finds it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from core.errors import InvalidInput
from db.models import ContractKind
from solver.rules import RuleSettings

# Prefix of the pseudonym that replaces an erased driver's external reference.
ERASED_REF_PREFIX = "erased-"
# Known qualification codes; a tenant may use others of the same form.
KNOWN_QUALIFICATIONS = ("ADR", "KUEHL", "SCHWER")
MAX_QUALIFICATIONS = 20

# Column lengths of db.models.Driver, and limits for the encrypted text.
MAX_EXTERNAL_REF_LENGTH = 100
MAX_DEPOT_LENGTH = 100
MAX_QUALIFICATION_LENGTH = 50
MAX_FIELD_LENGTHS = {
    "name": 200,
    "phone": 40,
    "email": 254,
    "address": 500,
    "licence_number": 50,
}
FIELD_LABELS = {
    "name": "name",
    "phone": "phone",
    "email": "e-mail address",
    "address": "address",
    "licence_number": "licence number",
}

_DEFAULT_RULES = RuleSettings()
# The product's weekly limit (55 h), which no driver's own limit may exceed.
MAX_WEEKLY_MINUTES = _DEFAULT_RULES.max_weekly_minutes
# A roster under this many minutes (40 h) counts as part-time.
PART_TIME_BELOW_MINUTES = _DEFAULT_RULES.part_time_below_minutes
DEFAULT_WEEKLY_MINUTES = {
    ContractKind.FULL_TIME: (PART_TIME_BELOW_MINUTES, MAX_WEEKLY_MINUTES),
    ContractKind.PART_TIME: (0, PART_TIME_BELOW_MINUTES),
}

_QUALIFICATION_CODE = re.compile(r"[A-Z][A-Z0-9_]*")
_PHONE = re.compile(r"\+?[0-9 ()/.-]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_LICENCE_NUMBER = re.compile(r"[A-Za-z0-9 -]+")
MIN_PHONE_DIGITS = 3
# Embeddings, overrides and isolates of Unicode's bidirectional algorithm,
# which can make a value display in an order other than the stored one.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_PURPOSE = re.compile(r"[a-z][a-z0-9_]{0,99}")
MAX_TEXT_VERSION_LENGTH = 50


def has_control_characters(text: str, allow_line_breaks: bool = False) -> bool:
    """Tell whether the text has control characters or bidirectional overrides.

    Other format characters, such as the zero-width joiner that some
    scripts need inside names, are allowed.
    """
    allowed = {"\n", "\r"} if allow_line_breaks else set()
    return any(
        (unicodedata.category(character) == "Cc" or character in BIDI_CONTROLS)
        and character not in allowed
        for character in text
    )


def checked_external_ref(value: object) -> str:
    """Return the trimmed external reference, or raise InvalidInput."""
    text = _checked_text("external_ref", value, MAX_EXTERNAL_REF_LENGTH)
    if not text:
        raise InvalidInput("external_ref", "is empty; enter the driver's own code")
    if text.lower().startswith(ERASED_REF_PREFIX):
        raise InvalidInput(
            "external_ref",
            f"{text!r} starts with {ERASED_REF_PREFIX!r}, which marks erased"
            " drivers; choose another code",
        )
    return text


def checked_personal_field(field_name: str, value: object) -> str:
    """Return a trimmed personal value ("" for empty), or raise InvalidInput.

    Messages never quote the value, which is personal data.
    """
    label = FIELD_LABELS[field_name]
    input_name = "display_name" if field_name == "name" else field_name
    text = _checked_text(
        input_name,
        value,
        MAX_FIELD_LENGTHS[field_name],
        allow_line_breaks=field_name == "address",
        quote_value=False,
    )
    if field_name == "name" and not text:
        raise InvalidInput("display_name", "is empty; enter the driver's name")
    if not text:
        return text
    if field_name == "phone" and not _is_phone_number(text):
        raise InvalidInput(
            "phone",
            f"the {label} is not a phone number; use digits, spaces, + ( ) / . -"
            " and at least 3 digits, such as +49 30 1234567",
        )
    if field_name == "email" and not _EMAIL.fullmatch(text):
        raise InvalidInput("email", f"the {label} is not of the form name@example.com")
    if field_name == "licence_number" and not _LICENCE_NUMBER.fullmatch(text):
        raise InvalidInput(
            "licence_number",
            f"the {label} may contain letters, digits, spaces and hyphens only",
        )
    return text


def _is_phone_number(text: str) -> bool:
    digits = sum(character.isdigit() for character in text)
    return bool(_PHONE.fullmatch(text)) and digits >= MIN_PHONE_DIGITS


def checked_home_depot(value: object) -> str:
    return _checked_text("home_depot", value, MAX_DEPOT_LENGTH)


def checked_qualifications(value: object) -> list[str]:
    """Return the codes upper-cased, without repeats, in their first order."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput(
            "qualifications", f"expected a list of codes such as ['ADR'], got {value!r}"
        )
    codes: list[str] = []
    for item in value:
        code = qualification_code(item)
        if code not in codes:
            codes.append(code)
    if len(codes) > MAX_QUALIFICATIONS:
        raise InvalidInput(
            "qualifications",
            f"{len(codes)} codes, more than the {MAX_QUALIFICATIONS} a driver may hold",
        )
    return codes


def qualification_code(value: object) -> str:
    """Return one qualification code upper-cased, or raise InvalidInput."""
    if not isinstance(value, str):
        raise InvalidInput("qualifications", f"expected text, got {value!r}")
    code = value.strip().upper()
    if not _QUALIFICATION_CODE.fullmatch(code) or len(code) > MAX_QUALIFICATION_LENGTH:
        raise InvalidInput(
            "qualifications",
            f"{value!r} is not a qualification code; use a letter followed by"
            f" letters, digits or _ (at most {MAX_QUALIFICATION_LENGTH}), such as"
            f" {', '.join(KNOWN_QUALIFICATIONS)}",
        )
    return code


def checked_contract_kind(value: object) -> ContractKind:
    try:
        return ContractKind(value)
    except ValueError:
        choices = ", ".join(kind.value for kind in ContractKind)
        raise InvalidInput(
            "contract_kind", f"{value!r} is not a contract kind; use {choices}"
        ) from None


def checked_weekly_minutes(
    contract_kind: ContractKind, min_weekly_minutes: object, max_weekly_minutes: object
) -> tuple[int, int]:
    """Return (min, max) weekly minutes, filling in the defaults of the contract kind.

    Raises InvalidInput when a value is not a whole number, the minimum
    exceeds the maximum or the maximum exceeds 55 h. It also raises when the
    values contradict the contract kind: a full-time maximum under 40 h, or
    a part-time minimum of 40 h or more.
    """
    default_min, default_max = DEFAULT_WEEKLY_MINUTES[contract_kind]
    low = _whole_minutes("min_weekly_minutes", min_weekly_minutes, default_min)
    high = _whole_minutes("max_weekly_minutes", max_weekly_minutes, default_max)
    if high > MAX_WEEKLY_MINUTES:
        raise InvalidInput(
            "max_weekly_minutes",
            f"{_with_hours(high)} is more than the weekly limit of"
            f" {_with_hours(MAX_WEEKLY_MINUTES)}",
        )
    if contract_kind is ContractKind.FULL_TIME and high < PART_TIME_BELOW_MINUTES:
        raise InvalidInput(
            "max_weekly_minutes",
            f"{_with_hours(high)} is under"
            f" {_with_hours(PART_TIME_BELOW_MINUTES)}, which makes a part-time"
            " week; choose contract kind part_time",
        )
    if low > high:
        raise InvalidInput(
            "min_weekly_minutes",
            f"{_with_hours(low)} is more than the maximum of {_with_hours(high)}",
        )
    if contract_kind is ContractKind.PART_TIME and low >= PART_TIME_BELOW_MINUTES:
        raise InvalidInput(
            "min_weekly_minutes",
            f"{_with_hours(low)} is at least"
            f" {_with_hours(PART_TIME_BELOW_MINUTES)}, a full-time week; choose"
            " contract kind full_time",
        )
    return low, high


def _with_hours(minutes: int) -> str:
    """Write minutes with their hours, such as 2250 as "2250 minutes (37.5 h)"."""
    hours = f"{minutes / 60:.2f}".rstrip("0").rstrip(".")
    return f"{minutes} minutes ({hours} h)"


def _whole_minutes(field: str, value: object, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(
            field, f"{value!r} is not a whole number of minutes of 0 or more"
        )
    return value


def _checked_text(
    field: str,
    value: object,
    max_length: int,
    *,
    allow_line_breaks: bool = False,
    quote_value: bool = True,
) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(field, f"expected text, got {type(value).__name__}")
    text = value.strip()
    if has_control_characters(text, allow_line_breaks):
        subject = f"{text!r} contains" if quote_value else "the value contains"
        raise InvalidInput(field, f"{subject} control characters; remove them")
    if len(text) > max_length:
        raise InvalidInput(
            field, f"has {len(text)} characters, more than the {max_length} allowed"
        )
    return text


def check_row_version(expected_row_version: object) -> None:
    if isinstance(expected_row_version, bool) or not isinstance(
        expected_row_version, int
    ):
        raise InvalidInput(
            "expected_row_version",
            f"expected the whole row_version of the driver, got"
            f" {expected_row_version!r}",
        )


def checked_flag(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(field, f"expected true or false, got {value!r}")
    return value


def checked_purpose(purpose: object) -> str:
    if not isinstance(purpose, str) or not _PURPOSE.fullmatch(purpose.strip()):
        raise InvalidInput(
            "purpose",
            f"{purpose!r} is not a purpose name; use lower-case letters, digits and"
            " _ starting with a letter, such as sms_notifications",
        )
    return purpose.strip()


def checked_text_version(text_version: object) -> str:
    if not isinstance(text_version, str) or not text_version.strip():
        raise InvalidInput(
            "text_version",
            "is empty; name the version of the consent text, e.g. 2025-1",
        )
    text = text_version.strip()
    if len(text) > MAX_TEXT_VERSION_LENGTH or has_control_characters(text):
        raise InvalidInput(
            "text_version",
            f"must be at most {MAX_TEXT_VERSION_LENGTH} characters without control"
            " characters",
        )
    return text
