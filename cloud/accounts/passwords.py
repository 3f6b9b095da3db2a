"""Password rules and argon2id hashing."""

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

PASSWORD_MIN = 6
PASSWORD_MAX = 20
PASSWORD_HINT = "密码为6-20个字符，建议使用大小写字母与数字组合"


def _hasher():
    cfg = current_app.config
    return PasswordHasher(
        time_cost=cfg["KEPU_ARGON2_TIME_COST"],
        memory_cost=cfg["KEPU_ARGON2_MEMORY_KIB"],
        parallelism=1,
        type=Type.ID,
    )


def password_problem(password):
    """Return a Chinese message if ``password`` breaks the service's rule, else None."""
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return "密码长度须为6-20个字符"
    if any(ch.isspace() or not ch.isprintable() for ch in password):
        return "密码不能包含空格或不可见字符"
    return None


def hash_password(password):
    return _hasher().hash(password)


def is_password_hash(value):
    """True for a stored argon2 hash (accepted by the informant import)."""
    return isinstance(value, str) and value.startswith(("$argon2id$", "$argon2i$", "$argon2d$"))


def verify_password(password_hash, password):
    """True if ``password`` matches; never raises for a wrong password or a damaged hash."""
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_HASH = {}


def burn_verify_time(password):
    """Spend the time of one verification so unknown accounts answer as slowly as known ones."""
    key = (current_app.config["KEPU_ARGON2_TIME_COST"], current_app.config["KEPU_ARGON2_MEMORY_KIB"])
    if key not in _DUMMY_HASH:
        _DUMMY_HASH[key] = hash_password("dummy-password")
    verify_password(_DUMMY_HASH[key], password)
