"""Imports every feature's models so the mapper and Alembic see the whole schema."""

from cloud.accounts.models import AuthSession, Captcha, RateLimitHit, SmsMessage, User, UserRole
from cloud.catalog.models import DownloadEvent, PendingIndexUpdate, SearchLog
from cloud.files.models import StoredFile
from cloud.institutions.models import Institution, InstitutionInvite
from cloud.messages.models import Message
from cloud.notices.models import Notice
from cloud.regions.models import Region
from cloud.resources.models import ProcessingJob, Resource, ResourceEvent, ResourceFile
from cloud.review.models import ReviewDecision
from cloud.stations.models import (
    ActivityResource,
    FieldCheck,
    StaffAssignment,
    Station,
    StationActivity,
    StationCounter,
    StationEvent,
    StationPhoto,
)
from cloud.stats.models import MonthlyReport, ShareLink, UsageDaily, UsageEvent, UserUsageDaily
from cloud.uploads.models import Upload

__all__ = [
    "ActivityResource",
    "AuthSession",
    "Captcha",
    "DownloadEvent",
    "FieldCheck",
    "Institution",
    "InstitutionInvite",
    "Message",
    "MonthlyReport",
    "Notice",
    "PendingIndexUpdate",
    "ProcessingJob",
    "RateLimitHit",
    "Region",
    "Resource",
    "ResourceEvent",
    "ResourceFile",
    "ReviewDecision",
    "SearchLog",
    "ShareLink",
    "SmsMessage",
    "StaffAssignment",
    "Station",
    "StationActivity",
    "StationCounter",
    "StationEvent",
    "StationPhoto",
    "StoredFile",
    "Upload",
    "UsageDaily",
    "UsageEvent",
    "User",
    "UserRole",
    "UserUsageDaily",
]
