"""Console operations. Each checks that the actor is an admin (NotFound otherwise: the console is
not advertised), does one thing through the feature's own service, and records it in the audit
log. They flush and return; the request commits once and then runs the returned
``AfterCommit`` work.
"""

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, or_, select

from cloud.accounts import service as accounts
from cloud.accounts.models import ROLE_LABELS, Role, User, UserRole
from cloud.accounts.phone import normalize_phone
from cloud.audit import service as audit
from cloud.catalog.service import note_index_change, reindex_later
from cloud.errors import Conflict, NotFound, ValidationFailed
from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.files.service import StorageUnavailable, get_storage, store_file
from cloud.institutions.models import Institution
from cloud.regions.models import Region
from cloud.regions.service import full_name
from cloud.resources.lifecycle import TRANSITIONS, State
from cloud.resources.models import JobStatus, Kind, ProcessingJob, Resource
from cloud.resources.service import AfterCommit, retry_processing, start_processing
from cloud.review import service as review
from cloud.stations.service import BEIJING
from cloud.text import clean_text
from storage import StorageError

PAGE_SIZE = 50
IMPORT_MAX_BYTES = 10 * 1024 * 1024
JOB_LABELS = {
    JobStatus.QUEUED: "排队中",
    JobStatus.RUNNING: "处理中",
    JobStatus.FAILED: "失败",
    JobStatus.SUCCEEDED: "成功",
    JobStatus.SUPERSEDED: "已被新任务取代",
}
#: The jobs the console lists: those that still need someone (or something) to act.
JOB_STATUSES = {s: JOB_LABELS[s] for s in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.FAILED)}
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def require_admin(user):
    """The console exists only for admins: anyone else gets NotFound."""
    if user is None or not user.has_role(Role.ADMIN):
        raise NotFound()


@dataclass
class Page:
    items: list
    total: int
    page: int
    pages: int


def _page(stmt, page):
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    items = db.session.scalars(stmt.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).unique().all()
    return Page(items, total, page, pages)


def _region_prefix(code):
    """Division codes nest (11 北京市, 1101, 110101 东城区, 110101001): a region's code is the
    prefix of every code inside it. Raises ValidationFailed for an unknown region."""
    if db.session.get(Region, code) is None:
        raise ValidationFailed("请选择有效的地区", details={"field": "region"})
    return code


def _like(text):
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# -- accounts ------------------------------------------------------------------------------


def find_users(admin, *, q="", role="", region="", status="", page=1):
    """Accounts matching a phone, username or name (``q``), a role, a region (and what is
    inside it) and a status (``active``/``disabled``), newest first. Raises ValidationFailed."""
    require_admin(admin)
    stmt = select(User)
    q = clean_text(q)[:64]
    if q:
        phone = normalize_phone(q)
        pattern = _like(q)
        clauses = [User.username.ilike(pattern, escape="\\"), User.name.ilike(pattern, escape="\\")]
        clauses.append(User.phone == phone if phone else User.phone.like(pattern, escape="\\"))
        stmt = stmt.where(or_(*clauses))
    if role:
        if role not in ROLE_LABELS:
            raise ValidationFailed("请选择有效的角色", details={"field": "role"})
        stmt = stmt.where(User.id.in_(select(UserRole.user_id).where(UserRole.role == role)))
    if region:
        stmt = stmt.where(User.region_code.startswith(_region_prefix(region)))
    if status == "active":
        stmt = stmt.where(User.is_active.is_(True))
    elif status == "disabled":
        stmt = stmt.where(User.is_active.is_(False))
    return _page(stmt.order_by(User.id.desc()), page)


def get_user(admin, user_id):
    require_admin(admin)
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None:
        raise NotFound("账号不存在")
    return user


def set_user_active(admin, user_id, active):
    """停用 / 启用 an account. Raises NotFound, ValidationFailed."""
    user = get_user(admin, user_id)
    if accounts.set_active(admin, user, active):
        audit.record(
            admin,
            "user.enable" if active else "user.disable",
            "user",
            user.id,
            f"{'启用' if active else '停用'}账号 {user.display_name}",
        )
    return user


def reset_user_password(admin, user_id):
    """Give the account a new password sent to its phone by SMS. Raises NotFound,
    ValidationFailed (no phone), RateLimited, SmsSendFailed."""
    user = get_user(admin, user_id)
    accounts.reset_password_by_admin(user)
    audit.record(
        admin, "user.reset_password", "user", user.id, f"重置 {user.display_name} 的密码，新密码已短信发送"
    )
    return user


def change_user_role(admin, user_id, role, grant):
    """Grant or remove the reviewer or admin role. Raises NotFound, ValidationFailed."""
    user = get_user(admin, user_id)
    if accounts.change_role(admin, user, role, grant):
        label = ROLE_LABELS[Role(role)]
        audit.record(
            admin,
            "user.role_grant" if grant else "user.role_revoke",
            "user",
            user.id,
            f"{'授予' if grant else '取消'} {user.display_name} 的“{label}”角色",
            role=role,
        )
    return user


def change_role_by_login(admin, login, role, grant):
    """Like ``change_user_role`` for the account with this phone or username."""
    require_admin(admin)
    user = accounts.find_by_login(login)
    if user is None:
        raise ValidationFailed("找不到该账号")
    return change_user_role(admin, user.id, role, grant)


def change_user_region(admin, user_id, region_code):
    """Move the account to another region (or none). Raises NotFound, ValidationFailed."""
    user = get_user(admin, user_id)
    before = user.region_code
    accounts.set_region(user, (region_code or "").strip() or None)
    if user.region_code != before:
        audit.record(
            admin,
            "user.region",
            "user",
            user.id,
            f"{user.display_name} 的地区：{full_name(before) or '未设置'} → "
            f"{full_name(user.region_code) or '未设置'}",
            region_from=before,
            region_to=user.region_code,
        )
    return user


# -- 信息员 import --------------------------------------------------------------------------


def _check_import_file(data, filename):
    if not data:
        raise ValidationFailed("请选择要导入的 CSV 或 XLSX 文件", details={"field": "file"})
    if len(data) > IMPORT_MAX_BYTES:
        raise ValidationFailed("文件不能超过 10 MB", details={"field": "file"})
    if not (filename or "").lower().endswith((".csv", ".xlsx")):
        raise ValidationFailed("只能导入 CSV 或 XLSX 文件", details={"field": "file"})


IMPORT_CONTENT_TYPE = "application/vnd.kepu.informant-import"  # marks a kept preview file


def preview_informant_import(admin, data, filename):
    """Check a file without importing it; keep it for ``import_informants`` if it has rows to import.

    Returns ``(report, stored_file or None)``: what importing would do (problems by line number)
    and the stored copy the confirmation imports (referenced by nothing, so the storage sweep
    removes it if nobody confirms). Raises ValidationFailed (no file, too large, not CSV/XLSX),
    StorageUnavailable.
    """
    require_admin(admin)
    _check_import_file(data, filename)
    report = accounts.import_informants(data, filename, dry_run=True)
    if not (report.created or report.updated):
        return report, None
    try:
        stored = store_file(io.BytesIO(data), original_name=filename, content_type=IMPORT_CONTENT_TYPE)
    except StorageError as exc:
        raise StorageUnavailable() from exc
    return report, stored


def import_informants(admin, stored_file_id):
    """Import the file a preview kept. Returns ``(report, after_commit)``; the kept copy is
    deleted after the commit. Raises NotFound (no such preview: imported already or swept),
    StorageUnavailable."""
    require_admin(admin)
    stored = db.session.get(StoredFile, stored_file_id) if isinstance(stored_file_id, int) else None
    if stored is None or stored.content_type != IMPORT_CONTENT_TYPE:
        raise NotFound("导入文件已失效，请重新上传")
    storage = get_storage()
    try:
        data = b"".join(storage.open(stored.key))
    except StorageError as exc:
        raise StorageUnavailable() from exc
    report = accounts.import_informants(data, stored.original_name)
    audit.record(
        admin, "informants.import", "import", stored.original_name[:64], **accounts.import_summary(report)
    )
    key = stored.key
    db.session.delete(stored)
    db.session.flush()
    return report, AfterCommit([lambda: storage.delete(key)])


# -- resources -----------------------------------------------------------------------------


def find_resources(admin, *, q="", state="", kind="", page=1):
    """Resources in every state, matching an id, a title or an institution's name."""
    require_admin(admin)
    stmt = select(Resource)
    q = clean_text(q)[:100]
    if q:
        pattern = _like(q)
        clauses = [
            Resource.title.ilike(pattern, escape="\\"),
            Resource.institution_id.in_(
                select(Institution.id).where(Institution.name.ilike(pattern, escape="\\"))
            ),
        ]
        if q.isascii() and q.isdigit() and len(q) < 10:
            clauses.append(Resource.id == int(q))
        stmt = stmt.where(or_(*clauses))
    if state:
        if state not in {s.value for s in State}:
            raise ValidationFailed("请选择有效的状态", details={"field": "state"})
        stmt = stmt.where(Resource.state == state)
    if kind:
        if kind not in {k.value for k in Kind}:
            raise ValidationFailed("请选择有效的类型", details={"field": "kind"})
        stmt = stmt.where(Resource.kind == kind)
    return _page(stmt.order_by(Resource.id.desc()), page)


def get_resource(admin, resource_id):
    require_admin(admin)
    resource = db.session.get(Resource, resource_id) if isinstance(resource_id, int) else None
    if resource is None:
        raise NotFound("资源不存在")
    return resource


def can_reprocess(resource):
    return State.PROCESSING in TRANSITIONS[State(resource.state)]


def withdraw_resource(admin, resource_id, reason):
    """Take a published resource down with a reason (the review service audits it).
    Raises NotFound, ValidationFailed (no reason), Conflict (not published)."""
    resource = get_resource(admin, resource_id)
    return review.withdraw(admin, resource, reason)


def reprocess_resource(admin, resource_id):
    """Run the resource's processing again with a new job. Raises NotFound, Conflict (published,
    waiting for review or withdrawn: its files are what was decided on)."""
    resource = get_resource(admin, resource_id)
    if not can_reprocess(resource):
        raise Conflict(f"“{resource.state_label}”状态的资源不能重新处理")
    after = start_processing(resource, admin)
    audit.record(
        admin,
        "resource.reprocess",
        "resource",
        resource.id,
        f"重新处理“{resource.title}”",
        job_id=resource.latest_job.id,
    )
    return after


def reindex_resource(admin, resource_id):
    """Write the resource into the search index again (or out of it, if it is not published)."""
    resource = get_resource(admin, resource_id)
    note_index_change(resource.id)
    audit.record(admin, "resource.reindex", "resource", resource.id, f"重建“{resource.title}”的索引")
    db.session.flush()
    return AfterCommit([lambda rid=resource.id: reindex_later(rid)])


# -- processing jobs -----------------------------------------------------------------------


def find_jobs(admin, *, status="", page=1):
    """Queued, running and failed jobs (or one of these), newest first."""
    require_admin(admin)
    if status and status not in JOB_STATUSES:
        raise ValidationFailed("请选择有效的任务状态", details={"field": "status"})
    wanted = [status] if status else list(JOB_STATUSES)
    stmt = select(ProcessingJob).where(ProcessingJob.status.in_(wanted))
    return _page(stmt.order_by(ProcessingJob.id.desc()), page)


def job_counts(admin):
    require_admin(admin)
    rows = db.session.execute(
        select(ProcessingJob.status, func.count())
        .where(ProcessingJob.status.in_(list(JOB_STATUSES)))
        .group_by(ProcessingJob.status)
    ).all()
    return {status: dict(rows).get(status, 0) for status in JOB_STATUSES}


def retry_job(admin, job_id):
    """Run a failed job's resource again. Raises NotFound, Conflict (not failed, or a newer job
    of the resource exists)."""
    require_admin(admin)
    job = db.session.get(ProcessingJob, job_id) if isinstance(job_id, int) else None
    if job is None:
        raise NotFound("处理任务不存在")
    resource = job.resource
    if job.status != JobStatus.FAILED or resource.latest_job.id != job.id or resource.state != State.FAILED:
        raise Conflict("只有资源最近一次失败的处理任务可以重试")
    after = retry_processing(admin, resource)
    audit.record(
        admin,
        "job.retry",
        "job",
        job.id,
        f"重试“{resource.title}”的处理任务（原失败原因：{job.error or '未知'}）",
        resource_id=resource.id,
        new_job_id=resource.latest_job.id,
    )
    return after


# -- the audit log -------------------------------------------------------------------------


def _day(value, label):
    value = (value or "").strip()
    if not value:
        return None
    if not _DAY.fullmatch(value):
        raise ValidationFailed(f"{label}格式有误，请按 2026-01-31 的格式填写")
    try:
        day = datetime.fromisoformat(value).date()
    except ValueError:
        raise ValidationFailed(f"{label}格式有误，请按 2026-01-31 的格式填写") from None
    # In UTC, as ``stats.service.day_bounds``: SQLite compares the wall time of whatever zone a value
    # has, so a Beijing-time bound would miss the UTC rows of 00:00-08:00 Beijing time.
    return datetime.combine(day, time(), tzinfo=BEIJING).astimezone(UTC)


def audit_log(admin, *, actor="", action="", object_type="", object_id="", since="", until="", page=1):
    """The audit log filtered by who (phone, username or name), what, which object and the days
    (Beijing time, both included). Raises ValidationFailed."""
    require_admin(admin)
    actor_ids = None
    actor = clean_text(actor)[:64]
    if actor:
        phone = normalize_phone(actor)
        stmt = select(User.id).where(
            or_(User.username == actor, User.name == actor, User.phone == (phone or actor))
        )
        actor_ids = db.session.scalars(stmt).all()
    if action and action not in audit.ACTIONS:
        raise ValidationFailed("请选择有效的操作", details={"field": "action"})
    if object_type and object_type not in audit.OBJECT_TYPES:
        raise ValidationFailed("请选择有效的对象类型", details={"field": "object_type"})
    start, end = _day(since, "开始日期"), _day(until, "结束日期")
    if start and end and start > end:
        raise ValidationFailed("开始日期不能晚于结束日期")
    return audit.entries(
        actor_ids=actor_ids,
        action=action or None,
        object_type=object_type or None,
        object_id=clean_text(object_id)[:64] or None,
        since=start,
        until=end + timedelta(days=1) if end else None,
        page=page,
    )


def institution_history(admin, *, page=1):
    """Every application, verification and rejection of an institution, newest first, with the
    institutions they concern (by id)."""
    require_admin(admin)
    result = audit.entries(object_type="institution", page=page)
    ids = {int(e.object_id) for e in result.entries if e.object_id.isdigit()}
    institutions = {i.id: i for i in db.session.scalars(select(Institution).where(Institution.id.in_(ids)))}
    return result, institutions
