"""Institution operations. They flush; the caller commits."""

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from cloud.accounts.models import Role, User
from cloud.audit import service as audit
from cloud.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.institutions.credit_code import normalize_credit_code
from cloud.institutions.models import INSTITUTION_TYPES, Institution, InstitutionInvite, VerificationStatus
from cloud.models_base import utcnow
from cloud.text import clean_text


def create_institution(name, credit_code, *, kind="其他", region_code=None, verified=False):
    """Create an institution record. Raises ValidationFailed or Conflict."""
    code = normalize_credit_code(credit_code)
    if code is None:
        raise ValidationFailed("统一社会信用代码无效", details={"field": "credit_code"})
    name = clean_text(name)
    if not name or len(name) > 200:
        raise ValidationFailed("请填写机构名称", details={"field": "name"})
    if kind not in INSTITUTION_TYPES:
        raise ValidationFailed("机构类型无效", details={"field": "kind"})
    if db.session.scalar(select(Institution.id).where(Institution.credit_code == code)):
        raise Conflict("该统一社会信用代码已登记")
    institution = Institution(name=name, credit_code=code, kind=kind, region_code=region_code)
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
        if user is not None and not user.has_role(Role.INSTITUTION):
            raise PermissionDenied(
                "上传资源仅面向机构用户，您可以在资源中心检索和下载资源",
                details={"link": "/resources", "link_text": "去资源中心"},
            )
        raise PermissionDenied(
            "只有通过机构认证的机构用户才能上传资源，请先完成机构认证",
            details={"link": "/institution", "link_text": "去完成机构认证"},
        )


LICENCE_TYPES = {"image/jpeg", "image/png", "application/pdf"}
LICENCE_MAX = 20 * 1024 * 1024


def store_licence(user, file_storage):
    """Store the uploaded licence privately; its type is read from its first bytes.

    Returns the StoredFile, or None when no file was sent. Raises ValidationFailed, PayloadTooLarge.
    """
    from cloud.errors import PayloadTooLarge
    from cloud.files.service import read_head, store_file
    from cloud.media.sniff import SNIFF_BYTES, display_name, sniff_bytes
    from storage import ObjectTooLarge

    if file_storage is None or not getattr(file_storage, "filename", ""):
        return None
    try:
        stored = store_file(file_storage.stream, original_name=display_name(file_storage.filename),
                            max_size=LICENCE_MAX)  # fmt: skip
    except ObjectTooLarge:
        raise PayloadTooLarge("证明文件不能超过 20 MB") from None
    stored.content_type = sniff_bytes(read_head(stored, SNIFF_BYTES)).mime
    if stored.content_type not in LICENCE_TYPES:
        raise ValidationFailed("证明文件须为 jpg、png 或 pdf 格式", details={"field": "licence"})
    return stored


# A licence sent with a form that failed stays usable this long (the form carries a signed token
# for it); unused, it is an unreferenced file that `flask storage sweep` removes later.
PENDING_LICENCE_SECONDS = 3600
_PENDING_SALT = "kepu.pending-licence"


def _pending_serializer():
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_PENDING_SALT)


def pending_licence_token(user, stored):
    """A token the form carries so a re-submission can use ``stored`` without choosing it again."""
    return _pending_serializer().dumps({"user": user.id, "file": stored.id})


def pending_licence(user, token):
    """The licence ``user`` sent with an earlier, failed submission of the form, or None.

    Only their own, only within ``PENDING_LICENCE_SECONDS``, and only a file that is no other
    institution's licence.
    """

    if not token or not isinstance(token, str) or len(token) > 500:
        return None
    try:
        data = _pending_serializer().loads(token, max_age=PENDING_LICENCE_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("user") != user.id or not isinstance(data.get("file"), int):
        return None
    stored = db.session.get(StoredFile, data["file"])
    if stored is None or stored.content_type not in LICENCE_TYPES:
        return None
    owner = db.session.scalar(select(Institution).where(Institution.licence_file_id == stored.id))
    if owner is not None and owner.id != user.institution_id:
        return None
    return stored


def apply(user, fields, licence_file):
    """机构认证: apply (or re-apply after a rejection) for ``user``'s institution.

    ``fields``: name, credit_code, kind, region_code, contact_name, contact_phone. ``licence_file``
    is the stored business licence / authorisation letter (image or PDF, checked by content).
    Raises ValidationFailed, Conflict.
    """
    from cloud.accounts.phone import normalize_phone
    from cloud.regions.models import Region

    if not user.has_role(Role.INSTITUTION):
        raise PermissionDenied("只有机构用户可以申请机构认证")
    current = user.institution
    if current is not None and current.status in (VerificationStatus.PENDING, VerificationStatus.VERIFIED):
        raise Conflict("机构认证已提交或已通过")
    code = normalize_credit_code(fields.get("credit_code"))
    if code is None:
        raise ValidationFailed("统一社会信用代码无效，请核对后重新输入", details={"field": "credit_code"})
    name = clean_text(fields.get("name"))
    if not name or len(name) > 200:
        raise ValidationFailed("请填写机构名称", details={"field": "name"})
    if fields.get("kind") not in INSTITUTION_TYPES:
        raise ValidationFailed("请选择机构类型", details={"field": "kind"})
    region_code = fields.get("region_code") or None
    if region_code is None or db.session.get(Region, region_code) is None:
        raise ValidationFailed("请选择所在地区", details={"field": "region_code"})
    contact_name = clean_text(fields.get("contact_name"))
    if not contact_name or len(contact_name) > 50:
        raise ValidationFailed("请填写联系人", details={"field": "contact_name"})
    contact_phone = normalize_phone(fields.get("contact_phone") or "")
    if contact_phone is None:
        raise ValidationFailed("请填写正确的联系人手机号", details={"field": "contact_phone"})
    if licence_file is None or licence_file.content_type not in LICENCE_TYPES:
        raise ValidationFailed("请上传营业执照或授权书（jpg、png 或 pdf）", details={"field": "licence"})
    other = db.session.scalar(select(Institution).where(Institution.credit_code == code))
    if other is not None and other is not current:
        raise Conflict("该机构已登记，请联系机构管理员邀请您加入")
    institution = current or Institution(credit_code=code)
    if current is None:
        db.session.add(institution)
    institution.name, institution.credit_code, institution.kind = name, code, fields["kind"]
    institution.region_code = region_code
    institution.contact_name, institution.contact_phone = contact_name, contact_phone
    institution.licence_file = licence_file
    institution.status = VerificationStatus.PENDING
    institution.reject_reason = ""
    institution.submitted_at = utcnow()
    institution.applicant_id = user.id
    db.session.flush()
    user.institution_id = institution.id
    user.is_institution_manager = True
    db.session.flush()
    audit.record(
        user,
        "institution.apply",
        "institution",
        institution.id,
        f"“{institution.name}”提交机构认证",
        region_code=institution.region_code,
    )
    return institution


def verification_queue():
    stmt = select(Institution).where(Institution.status == VerificationStatus.PENDING)
    return db.session.scalars(stmt.order_by(Institution.submitted_at.asc())).all()


def decide(admin, institution, approve, reason=""):
    """Verify or reject a pending application (admins). Returns after-commit callbacks."""
    from cloud.messages.service import notify

    if not admin.has_role(Role.ADMIN):
        raise PermissionDenied()
    if institution.status != VerificationStatus.PENDING:
        raise Conflict("该申请不在审核中")
    reason = clean_text(reason, multiline=True)
    if not approve and not reason:
        raise ValidationFailed("请填写不通过的原因", details={"field": "reason"})
    institution.status = VerificationStatus.VERIFIED if approve else VerificationStatus.REJECTED
    institution.reject_reason = "" if approve else reason[:500]
    institution.verified_at = utcnow() if approve else None
    institution.decided_by_id = admin.id
    db.session.flush()
    audit.record(
        admin,
        "institution.verify" if approve else "institution.reject",
        "institution",
        institution.id,
        f"“{institution.name}”"
        + ("通过机构认证" if approve else f"未通过机构认证：{institution.reject_reason}"),
        region_code=institution.region_code,
        reason=institution.reject_reason,
    )
    applicant = institution.applicant
    if applicant is None:
        return []
    if approve:
        text = f"“{institution.name}”已通过机构认证，现在可以上传资源。"
        sms_text = f"您的机构“{institution.name[:20]}”已通过机构认证，现在可以上传资源。"
        return notify(applicant, "机构认证已通过", text, link="/upload", sms_text=sms_text)
    sms_text = "您的机构认证未通过，请登录查看原因并修改后重新提交。"
    return notify(applicant, "机构认证未通过", reason, link="/institution", sms_text=sms_text)


INVITE_INVALID = "邀请链接无效、已过期或已被撤销，请向机构管理员索取新的链接"


def _invite_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def _require_manager(user):
    if user.institution is None or not user.is_institution_manager:
        raise PermissionDenied("只有机构管理员可以执行此操作")
    return user.institution


def create_invite(manager):
    """Make an invite link for the manager's verified institution; return ``(token, invite)``.

    Only the token's hash is kept, so the link can be shown this once. It works for
    ``KEPU_INVITE_DAYS`` days, for any number of colleagues, until a manager revokes it.
    Raises PermissionDenied, Conflict.
    """
    institution = _require_manager(manager)
    if not institution.is_verified:
        raise Conflict("机构通过认证后才能邀请同事")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    invite = InstitutionInvite(
        institution=institution,
        token_hash=_invite_hash(token),
        created_by_id=manager.id,
        created_at=now,
        expires_at=now + timedelta(days=current_app.config["KEPU_INVITE_DAYS"]),
    )
    db.session.add(invite)
    db.session.flush()
    return token, invite


def live_invites(institution):
    """The institution's invites that still work, newest first."""
    stmt = select(InstitutionInvite).where(
        InstitutionInvite.institution_id == institution.id,
        InstitutionInvite.revoked_at.is_(None),
        InstitutionInvite.expires_at > utcnow(),
    )
    return db.session.scalars(stmt.order_by(InstitutionInvite.id.desc())).all()


def revoke_invite(manager, invite_id):
    """Stop an invite of the manager's institution from working. Raises PermissionDenied, NotFound."""
    institution = _require_manager(manager)
    invite = db.session.get(InstitutionInvite, invite_id)
    if invite is None or invite.institution_id != institution.id:
        raise NotFound("邀请链接不存在")
    if invite.revoked_at is None:
        invite.revoked_at = utcnow()
        invite.revoked_by_id = manager.id
        db.session.flush()
    return invite


def find_invite(token):
    """The live invite for ``token`` (its institution verified). Raises NotFound otherwise.

    Every failure has the one answer, so a probe learns nothing about why a link does not work.
    """
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise NotFound(INVITE_INVALID)
    invite = db.session.scalar(
        select(InstitutionInvite).where(InstitutionInvite.token_hash == _invite_hash(token))
    )
    if invite is None or not invite.is_live() or not invite.institution.is_verified:
        raise NotFound(INVITE_INVALID)
    return invite


def join(user, token):
    """Join the institution a live invite is for. Raises NotFound, PermissionDenied, Conflict."""
    institution = find_invite(token).institution
    if not user.has_role(Role.INSTITUTION):
        raise PermissionDenied("只有机构用户可以加入机构")
    if user.institution_id is not None and user.institution_id != institution.id:
        raise Conflict("您已属于其他机构，请先退出原机构")
    if user.institution_id != institution.id:
        add_member(institution, user, manager=False)
    return institution


def members(institution):
    """The institution's members, managers first."""
    stmt = select(User).where(User.institution_id == institution.id)
    return db.session.scalars(stmt.order_by(User.is_institution_manager.desc(), User.id)).all()


def _member(institution, user_id):
    member = db.session.get(User, user_id)
    if member is None or member.institution_id != institution.id:
        raise NotFound("该成员不存在")
    return member


def _drop(member):
    member.institution_id = None
    member.is_institution_manager = False
    db.session.flush()


def remove_member(manager, user_id):
    """A manager takes a colleague out of the institution (it no longer sees its drafts).

    Returns after-commit callbacks. Raises PermissionDenied, NotFound, ValidationFailed.
    """
    from cloud.messages.service import notify

    institution = _require_manager(manager)
    member = _member(institution, user_id)
    if member.id == manager.id:
        raise ValidationFailed("不能移出自己，如需离开请使用“退出机构”")
    _drop(member)
    return notify(member, "您已被移出机构", f"机构管理员已将您移出“{institution.name}”。")


def make_manager(manager, user_id):
    """A manager makes a colleague a manager too (so that one of them can leave)."""
    institution = _require_manager(manager)
    member = _member(institution, user_id)
    member.is_institution_manager = True
    db.session.flush()
    return member


def leave(user):
    """Leave one's institution. The last manager cannot leave: someone must be able to invite,
    revoke and remove. Raises ValidationFailed, Conflict."""
    institution = user.institution
    if institution is None:
        raise ValidationFailed("您尚未加入机构")
    if user.is_institution_manager:
        others = [m for m in members(institution) if m.is_institution_manager and m.id != user.id]
        if not others:
            raise Conflict("您是本机构唯一的管理员，请先将一位成员设为管理员再退出")
    _drop(user)
    return institution
