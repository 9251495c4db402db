"""One-time recovery codes, typed in place of a TOTP code when the phone is lost.

Enrolment issues RECOVERY_CODE_COUNT codes and shows them once. Each code is
16 characters of Crockford's Base32 (digits and capital letters without I,
L, O and U), shown in groups of four such as "7K3M-Q9TX-2BWD-HN4R", so it
carries 80 random bits from the `secrets` module. Typing is forgiving:
case, spaces and hyphens do not matter, and O, I and L read as 0, 1 and 1.

Only a SHA-256 digest is stored, over a version label, the tenant id, the
user id and the normalised code. A fast hash suffices here, unlike for
passwords, because the code is random: finding a code from a stolen digest
takes about 2^79 hashes on average, out of reach however fast each hash is.
Argon2id would add nothing but cost: a salted, memory-hard hash cannot be
looked up, so every sign-in with a code would run up to ten Argon2id
verifications of 64 MiB each. With SHA-256 the database finds the code by
its digest, and one UPDATE both checks and uses it. The tenant and user in
the hash mean that a digest copied onto another user's row matches nothing.

Issuing new codes deletes the old ones, used or not, so they stop working.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from datetime import datetime

from sqlalchemy.orm import Session

from db.repositories import recovery_codes

RECOVERY_CODE_COUNT = 10
GROUP_LENGTH = 4
GROUP_COUNT = 4
CODE_LENGTH = GROUP_LENGTH * GROUP_COUNT
# Crockford's Base32 alphabet, 5 bits per character.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Letters that Crockford's Base32 reads as the digit they resemble.
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_HASH_LABEL = "solvereign-recovery-code-v1"


class Redemption(enum.Enum):
    """Outcome of typing a recovery code at sign-in."""

    ACCEPTED = "accepted"
    UNKNOWN = "wrong recovery code"
    USED_BEFORE = "recovery code used before"


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> tuple[str, ...]:
    """Generate random codes, formatted in groups of four for display."""
    return tuple(_format(_random_code()) for _ in range(count))


def normalise_recovery_code(text: str) -> str | None:
    """Return the code in canonical form, or None when the text is no recovery code.

    A 6-digit TOTP code is no recovery code, so one input field can take both.
    """
    compact = text.replace(" ", "").replace("-", "").upper().translate(_LOOKALIKES)
    if len(compact) != CODE_LENGTH or any(char not in ALPHABET for char in compact):
        return None
    return compact


def recovery_code_digest(tenant_id: int, user_id: int, normalised_code: str) -> str:
    """Hash a normalised code for its tenant and user (SHA-256, hex)."""
    material = f"{_HASH_LABEL}\x00{tenant_id}\x00{user_id}\x00{normalised_code}"
    return hashlib.sha256(material.encode("ascii")).hexdigest()


def issue_recovery_codes(
    session: Session, tenant_id: int, user_id: int, now: datetime
) -> tuple[str, ...]:
    """Replace the user's recovery codes with new ones and return them in plain text.

    The plain codes exist only in the return value; show them once.
    """
    codes = new_recovery_codes()
    digests = [
        recovery_code_digest(tenant_id, user_id, _canonical(code)) for code in codes
    ]
    recovery_codes.replace_all(session, tenant_id, user_id, digests, now)
    return codes


def redeem_recovery_code(
    session: Session, tenant_id: int, user_id: int, normalised_code: str, now: datetime
) -> Redemption:
    """Mark the code used and return ACCEPTED, or return why it was rejected."""
    digest = recovery_code_digest(tenant_id, user_id, normalised_code)
    if recovery_codes.use(session, tenant_id, user_id, digest, now):
        return Redemption.ACCEPTED
    if recovery_codes.find(session, tenant_id, user_id, digest) is not None:
        return Redemption.USED_BEFORE
    return Redemption.UNKNOWN


def unused_recovery_codes(session: Session, tenant_id: int, user_id: int) -> int:
    """Return how many recovery codes the user has left."""
    return recovery_codes.count_unused(session, tenant_id, user_id)


def _random_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def _format(code: str) -> str:
    groups = [
        code[start : start + GROUP_LENGTH]
        for start in range(0, CODE_LENGTH, GROUP_LENGTH)
    ]
    return "-".join(groups)


def _canonical(formatted_code: str) -> str:
    return formatted_code.replace("-", "")
