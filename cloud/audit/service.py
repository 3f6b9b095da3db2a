"""Writing and reading the audit log.

``record`` adds the entry to the caller's transaction and flushes; the request, task or command
commits once, so an action rolled back leaves no entry. Actions are a closed list with their
Chinese names: an unknown action is a programming error (``ValueError``), never a silent entry
nobody can read.
"""

from dataclasses import dataclass

from sqlalchemy import func, select

from cloud.audit.models import AuditEntry
from cloud.extensions import db

#: action -> what the log calls it.
ACTIONS = {
    "user.disable": "停用账号",
    "user.enable": "启用账号",
    "user.reset_password": "重置密码",
    "user.role_grant": "授予角色",
    "user.role_revoke": "取消角色",
    "user.region": "修改地区",
    "informants.import": "导入信息员",
    "resource.withdraw": "撤回资源",
    "resource.reprocess": "重新处理资源",
    "resource.reindex": "重建资源索引",
    "job.retry": "重试处理任务",
    "institution.apply": "提交机构认证",
    "institution.verify": "通过机构认证",
    "institution.reject": "驳回机构认证",
}

#: object type -> its Chinese name.
OBJECT_TYPES = {
    "user": "账号",
    "import": "导入文件",
    "resource": "资源",
    "job": "处理任务",
    "institution": "机构",
}

PAGE_SIZE = 50


def record(actor, action, object_type, object_id, summary="", **details):
    """Write one entry: ``actor`` (a User or None for the system) did ``action`` to the object.

    ``summary`` is the Chinese sentence the log shows; ``details`` are kept as JSON for whoever
    reads the log later (never a password or a code). Raises ValueError for an unknown action.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if object_type not in OBJECT_TYPES:
        raise ValueError(f"unknown audit object type {object_type!r}")
    entry = AuditEntry(
        actor_id=getattr(actor, "id", None),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        details={"summary": summary, **details},
    )
    db.session.add(entry)
    db.session.flush()
    return entry


@dataclass
class Page:
    entries: list
    total: int
    page: int
    pages: int


def entries(*, actor_ids=None, action=None, object_type=None, object_id=None, since=None, until=None, page=1):
    """Entries matching every filter given, newest first, ``PAGE_SIZE`` a page.

    ``actor_ids`` is a collection of user ids (an empty one matches nothing); ``since``/``until``
    are aware datetimes, ``until`` excluded.
    """
    stmt = select(AuditEntry)
    if actor_ids is not None:
        stmt = stmt.where(AuditEntry.actor_id.in_(list(actor_ids)))
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if object_type:
        stmt = stmt.where(AuditEntry.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEntry.object_id == str(object_id))
    if since is not None:
        stmt = stmt.where(AuditEntry.created_at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.created_at < until)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = db.session.scalars(
        stmt.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    return Page(rows, total, page, pages)


def history(object_type, object_id):
    """Every entry of one object, oldest first."""
    stmt = select(AuditEntry).where(
        AuditEntry.object_type == object_type, AuditEntry.object_id == str(object_id)
    )
    return db.session.scalars(stmt.order_by(AuditEntry.created_at, AuditEntry.id)).all()
