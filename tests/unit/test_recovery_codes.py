"""Recovery codes: their format, how typing is forgiven, and their digests."""

from __future__ import annotations

import pytest

from core.recovery_codes import (
    ALPHABET,
    CODE_LENGTH,
    RECOVERY_CODE_COUNT,
    new_recovery_codes,
    normalise_recovery_code,
    recovery_code_digest,
)

CODE = "7K3M-Q9TX-2BWD-HN4R"


def test_ten_distinct_codes_in_groups_of_four():
    codes = new_recovery_codes()

    assert len(codes) == RECOVERY_CODE_COUNT == 10
    assert len(set(codes)) == 10
    for code in codes:
        groups = code.split("-")
        assert [len(group) for group in groups] == [4, 4, 4, 4]
        assert set("".join(groups)) <= set(ALPHABET)


def test_code_carries_80_bits():
    assert len(ALPHABET) == 32
    assert CODE_LENGTH * 5 == 80


@pytest.mark.parametrize(
    "typed",
    [
        CODE,
        CODE.lower(),
        CODE.replace("-", ""),
        "7k3m q9tx 2bwd hn4r",
        " 7K3M-Q9TX-2BWD-HN4R ",
    ],
)
def test_typing_variants_normalise_alike(typed):
    assert normalise_recovery_code(typed) == "7K3MQ9TX2BWDHN4R"


def test_lookalike_letters_read_as_digits():
    assert normalise_recovery_code("OIL0-0000-0000-0000") == "0110000000000000"


@pytest.mark.parametrize(
    "typed", ["123456", "", "7K3M-Q9TX-2BWD-HN4", "7K3M-Q9TX-2BWD-HN4U"]
)
def test_other_text_is_no_recovery_code(typed):
    assert normalise_recovery_code(typed) is None


def test_digest_is_bound_to_tenant_and_user():
    code = "7K3MQ9TX2BWDHN4R"

    digest = recovery_code_digest(1, 2, code)

    assert len(digest) == 64
    assert code not in digest
    assert digest == recovery_code_digest(1, 2, code)
    assert digest != recovery_code_digest(1, 3, code)
    assert digest != recovery_code_digest(4, 2, code)
