"""Pure functions of the accounts package: phone spellings, safe redirects, password rules."""

import pytest

from cloud.accounts.passwords import password_problem
from cloud.accounts.phone import normalize_phone
from cloud.accounts.redirects import safe_next


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        "+86 138-0013-8000",
        "+8613800138000",
        "008613800138000",
        "138 0013 8000",
        " 13800138000 ",
    ],
)
def test_phone_spellings_normalise_to_one_number(raw):
    assert normalize_phone(raw) == "13800138000"


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000\n",  # a trailing newline is not a separator
        "1380013800",  # 10 digits
        "138001380001",  # 12 digits
        "12800138000",  # no such mobile prefix
        "１３８００１３８０００",  # full-width digits
        "١٣٨٠٠١٣٨٠٠٠",  # Arabic-Indic digits
        "13800138000\x00",
        "138-0013-800a",
        "",
        None,
        "1" * 40,
    ],
)
def test_bad_phone_numbers_are_rejected(raw):
    assert normalize_phone(raw) is None


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example/",
        "http:evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        "/\n/evil.example",
        "evil.example",
        "",
        None,
    ],
)
def test_next_never_leaves_the_site(app, target):
    with app.test_request_context():
        assert safe_next(target) == "/"


@pytest.mark.parametrize("target", ["/account/", "/resources?type=video&q=科普"])
def test_next_keeps_paths_on_the_site(app, target):
    with app.test_request_context():
        assert safe_next(target) == target


@pytest.mark.parametrize("password", ["Ab1234", "a" * 20, "中文密码也可以啊"])
def test_passwords_of_6_to_20_characters_are_accepted(password):
    assert password_problem(password) is None


@pytest.mark.parametrize("password", ["Ab123", "a" * 21, "", "pass word1", "pass\x00word"])
def test_passwords_outside_the_rule_are_refused(password):
    assert password_problem(password)
