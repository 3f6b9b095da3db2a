"""Imports every feature's models so the mapper and Alembic see the whole schema."""

from cloud.accounts.models import AuthSession, Captcha, SmsMessage, User, UserRole
from cloud.files.models import StoredFile
from cloud.institutions.models import Institution
from cloud.regions.models import Region

__all__ = [
    "AuthSession",
    "Captcha",
    "Institution",
    "Region",
    "SmsMessage",
    "StoredFile",
    "User",
    "UserRole",
]
