"""Imports every feature's models so the mapper and Alembic see the whole schema."""

from cloud.accounts.models import AuthSession, Captcha, RateLimitHit, SmsMessage, User, UserRole
from cloud.audit.models import AuditEntry
from cloud.catalog.models import CatalogVersion, DownloadEvent, PendingIndexUpdate, SearchLog, SearchTerm
from cloud.files.models import StoredFile
from cloud.institutions.models import Institution, InstitutionInvite
from cloud.messages.models import Message
from cloud.notices.models import Notice
from cloud.ops.models import NodeFingerprint
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
from cloud.stats.models import (
    KindMonthly,
    MonthlyReport,
    RegionDaily,
    ResourceMonthly,
    ShareLink,
    UsageDaily,
    UsageEvent,
    UsageMonthly,
    UserUsageDaily,
    UserUsageMonthly,
)
from cloud.uploads.models import Upload

__all__ = [
    "ActivityResource",
    "AuditEntry",
    "AuthSession",
    "Captcha",
    "CatalogVersion",
    "DownloadEvent",
    "FieldCheck",
    "Institution",
    "InstitutionInvite",
    "KindMonthly",
    "Message",
    "MonthlyReport",
    "NodeFingerprint",
    "Notice",
    "PendingIndexUpdate",
    "ProcessingJob",
    "RateLimitHit",
    "Region",
    "RegionDaily",
    "Resource",
    "ResourceEvent",
    "ResourceFile",
    "ResourceMonthly",
    "ReviewDecision",
    "SearchLog",
    "SearchTerm",
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
    "UsageMonthly",
    "User",
    "UserRole",
    "UserUsageDaily",
    "UserUsageMonthly",
]
