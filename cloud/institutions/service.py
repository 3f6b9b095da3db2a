"""Institution operations. They flush; the caller commits."""

from sqlalchemy import select

from cloud.errors import Conflict, PermissionDenied, ValidationFailed
from cloud.extensions import db
from cloud.institutions.credit_code import normalize_credit_code
from cloud.institutions.models import INSTITUTION_TYPES, Institution, VerificationStatus
from cloud.models_base import utcnow


def create_institution(name, credit_code, *, kind="其他", region_code=None, verified=False):
    """Create an institution record. Raises ValidationFailed or Conflict."""
    code = normalize_credit_code(credit_code)
    if code is None:
        raise ValidationFailed("统一社会信用代码无效", details={"field": "credit_code"})
    if not name or not name.strip() or len(name) > 200:
        raise ValidationFailed("请填写机构名称", details={"field": "name"})
    if kind not in INSTITUTION_TYPES:
        raise ValidationFailed("机构类型无效", details={"field": "kind"})
    if db.session.scalar(select(Institution.id).where(Institution.credit_code == code)):
        raise Conflict("该统一社会信用代码已登记")
    institution = Institution(name=name.strip(), credit_code=code, kind=kind, region_code=region_code)
    if verified:
        institution.status = VerificationStatus.VERIFIED
        institution.verified_at = utcnow()
    db.session.add(institution)
    db.session.flush()
    return institution


def add_member(institution, user, *, manager=False):
    user.institution = institution
    user.is_institution_manager = manager
    db.session.flush()


def require_uploader(user):
    """Raise PermissionDenied unless ``user`` belongs to a verified institution."""
    if user is None or not user.can_upload:
        raise PermissionDenied("只有通过机构认证的机构用户才能上传资源")
