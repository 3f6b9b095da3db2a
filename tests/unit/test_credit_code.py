"""统一社会信用代码 (GB 32100-2015): real codes pass, any single-character change fails."""

import pytest

from cloud.institutions.credit_code import CHARSET, check_character, normalize_credit_code

pytestmark = pytest.mark.once  # the database does not matter here: SQLite pass only

# Published codes of real organisations (the GB 32100 example, companies, a public institution).
REAL = ["91350100M000100Y43", "91440300708461136T", "91310000775785552L", "12100000400010398P"]


@pytest.mark.parametrize("code", REAL)
def test_real_codes_are_accepted(code):
    assert normalize_credit_code(code) == code
    assert normalize_credit_code(f" {code.lower()} ") == code


@pytest.mark.parametrize("code", REAL)
def test_every_single_character_change_is_rejected(code):
    for position in range(18):
        for replacement in CHARSET:
            if replacement == code[position]:
                continue
            changed = code[:position] + replacement + code[position + 1 :]
            assert normalize_credit_code(changed) is None, changed


@pytest.mark.parametrize(
    "code",
    ["", "9135010OM000100Y43", "91350100M000100Y4", "91350100M000100Y433", "91350100M000100I43", None, 12],
)
def test_malformed_codes_are_rejected(code):
    assert normalize_credit_code(code) is None


def test_check_character_matches_the_standard_example():
    assert check_character("91350100M000100Y4") == "3"
