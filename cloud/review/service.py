"""Expert review (专家审核): the queue, claims, decisions, publication and withdrawal.

A reviewer claims a pending resource before deciding; a claim lasts ``CLAIM_MINUTES`` so two
reviewers never decide the same item and an abandoned claim frees itself. Nobody decides on an
upload of their own institution. Approval publishes; withdrawal takes a published resource down.
"""

from datetime import timedelta

from sqlalchemy import func, or_, select, update

from cloud.accounts.models import Role
from cloud.audit import service as audit
from cloud.catalog.service import note_index_change
from cloud.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from cloud.extensions import db
from cloud.messages.service import notify
from cloud.models_base import utcnow
from cloud.resources.lifecycle import State, transition
from cloud.resources.models import Resource
from cloud.resources.service import AfterCommit
from cloud.review.models import ReviewDecision
from cloud.text import clean_text

CLAIM_MINUTES = 30
REASON_MAX = 1000
NOTE_FIELDS = {"title": "标题", "summary": "简介", "tags": "标签", "channel": "频道", "file": "文件"}


def require_reviewer(user):
    if user is None or not user.has_role(Role.REVIEWER):
        raise PermissionDenied("只有审核专家可以审核资源")


def require_queue_access(user):
    """Reviewers work the queue; admins may look at it (and at what is in it) without deciding."""
    if user is None or not user.has_role(Role.REVIEWER, Role.ADMIN):
        raise PermissionDenied("只有审核专家和管理员可以查看审核队列")


def queue(kind=None, channel=None, limit=200):
    """Pending resources, oldest submission first."""
    stmt = select(Resource).where(Resource.state == State.PENDING_REVIEW)
    if kind:
        stmt = stmt.where(Resource.kind == kind)
    if channel:
        stmt = stmt.where(Resource.channel == channel)
    stmt = stmt.order_by(Resource.submitted_at.asc(), Resource.id.asc()).limit(limit)
    return db.session.scalars(stmt).unique().all()


def queue_stats():
    """Length of the review queue and the age of its oldest item (seconds, or None)."""
    count, oldest = db.session.execute(
        select(func.count(), func.min(Resource.submitted_at)).where(Resource.state == State.PENDING_REVIEW)
    ).one()
    if oldest is not None and oldest.tzinfo is None:  # SQLite aggregates come back naive
        oldest = oldest.replace(tzinfo=utcnow().tzinfo)
    return count, (utcnow() - oldest).total_seconds() if oldest else None


def reviewer_stats():
    """Per reviewer: approvals, rejections."""
    rows = db.session.execute(
        select(ReviewDecision.reviewer_id, ReviewDecision.decision, func.count()).group_by(
            ReviewDecision.reviewer_id, ReviewDecision.decision
        )
    ).all()
    stats = {}
    for reviewer_id, decision, count in rows:
        stats.setdefault(reviewer_id, {"approved": 0, "rejected": 0})[decision] = count
    return stats


def get_for_review(reviewer, resource_id):
    """A pending resource a reviewer (or an admin) may look at; NotFound for anything else."""
    require_queue_access(reviewer)
    resource = db.session.get(Resource, resource_id) if isinstance(resource_id, int) else None
    if resource is None or resource.state != State.PENDING_REVIEW:
        raise NotFound("资源不存在或已审核")
    return resource


def _own_institution(reviewer, resource):
    return reviewer.institution_id is not None and reviewer.institution_id == resource.institution_id


CLAIMED_BY_OTHER = "该资源已由其他专家领取审核"


def _claim_live(resource, now=None):
    return (
        resource.claimed_by_id is not None
        and resource.claim_expires_at
        and resource.claim_expires_at > (now or utcnow())
    )


def claim(reviewer, resource):
    """Claim ``resource`` for ``CLAIM_MINUTES``. Raises PermissionDenied (own institution), Conflict."""
    require_reviewer(reviewer)
    if _own_institution(reviewer, resource):
        raise PermissionDenied("不能审核本机构上传的资源")
    if resource.state != State.PENDING_REVIEW:
        raise Conflict("该资源不在待审核状态")
    if _claim_live(resource) and resource.claimed_by_id != reviewer.id:
        raise Conflict(CLAIMED_BY_OTHER)
    # A compare-and-set: two reviewers claiming at once both read "unclaimed"; only one UPDATE
    # still finds it so (PostgreSQL re-checks the WHERE after the first one's row lock).
    now = utcnow()
    taken = db.session.execute(
        update(Resource)
        .where(
            Resource.id == resource.id,
            Resource.state == State.PENDING_REVIEW,
            or_(
                Resource.claimed_by_id.is_(None),
                Resource.claimed_by_id == reviewer.id,
                Resource.claim_expires_at.is_(None),
                Resource.claim_expires_at <= now,
            ),
        )
        .values(claimed_by_id=reviewer.id, claim_expires_at=now + timedelta(minutes=CLAIM_MINUTES))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire(resource)
    if taken != 1:
        raise Conflict(CLAIMED_BY_OTHER)


def _check_decider(reviewer, resource):
    require_reviewer(reviewer)
    if _own_institution(reviewer, resource):
        raise PermissionDenied("不能审核本机构上传的资源")
    if resource.state != State.PENDING_REVIEW:
        raise Conflict("该资源不在待审核状态")
    if resource.claimed_by_id != reviewer.id or not _claim_live(resource):
        raise Conflict("请先领取该资源（领取已过期或由其他专家领取）")


def approve(reviewer, resource, comment=""):
    """Approve and publish. Raises PermissionDenied, Conflict, ValidationFailed (damaged files)."""
    _check_decider(reviewer, resource)
    damaged = [f for f in resource.files if f.stored_file.damaged_at is not None]
    if damaged:
        raise ValidationFailed("资源文件校验失败（文件缺失或已损坏），不能通过审核")
    comment = clean_text(comment, multiline=True)[:REASON_MAX]
    db.session.add(ReviewDecision(resource=resource, reviewer=reviewer, decision="approved", reason=comment))
    transition(resource, State.APPROVED, actor=reviewer, comment=comment or "审核通过")
    resource.published_at = utcnow()
    resource.claimed_by_id = resource.claim_expires_at = None
    note_index_change(resource.id)
    after = AfterCommit([lambda rid=resource.id: enqueue_index(rid)])
    after.extend(
        notify(
            resource.uploader,
            f"资源“{resource.title}”已通过审核",
            comment or "您的资源已发布，科普中国e站和信息员现在可以检索和下载。",
            link=f"/my/uploads/{resource.id}",
            sms_text=f"您上传的资源“{resource.title[:20]}”已通过专家审核并发布。",
        )
    )
    db.session.flush()
    return after


def reject(reviewer, resource, reason, field_notes=None):
    """Reject with a required reason and optional per-field notes."""
    _check_decider(reviewer, resource)
    reason = clean_text(reason, multiline=True)
    if not reason:
        raise ValidationFailed("请填写不通过的原因", details={"field": "reason"})
    notes = {k: clean_text(v, multiline=True)[:REASON_MAX] for k, v in (field_notes or {}).items()}
    notes = {k: v for k, v in notes.items() if k in NOTE_FIELDS and v}
    db.session.add(
        ReviewDecision(
            resource=resource,
            reviewer=reviewer,
            decision="rejected",
            reason=reason[:REASON_MAX],
            field_notes=notes,
        )
    )
    transition(resource, State.REJECTED, actor=reviewer, comment=reason[:REASON_MAX])
    resource.claimed_by_id = resource.claim_expires_at = None
    body = reason + "".join(f"\n{NOTE_FIELDS[k]}：{v}" for k, v in notes.items())
    after = AfterCommit(
        notify(
            resource.uploader,
            f"资源“{resource.title}”未通过审核",
            body,
            link=f"/my/uploads/{resource.id}",
            sms_text=f"您上传的资源“{resource.title[:20]}”未通过专家审核，请登录查看原因并修改后重新提交。",
        )
    )
    db.session.flush()
    return after


def withdraw(actor, resource, reason):
    """Take a published resource down (admins, or the owning institution). Raises PermissionDenied."""
    is_owner = actor.institution_id is not None and actor.institution_id == resource.institution_id
    if not (actor.has_role(Role.ADMIN) or is_owner):
        raise NotFound("资源不存在")
    reason = clean_text(reason, multiline=True)
    if not reason:
        raise ValidationFailed("请填写撤回原因", details={"field": "reason"})
    if resource.state != State.APPROVED:
        raise Conflict("只有已发布的资源可以撤回")
    transition(resource, State.WITHDRAWN, actor=actor, comment=reason[:REASON_MAX])
    audit.record(
        actor,
        "resource.withdraw",
        "resource",
        resource.id,
        f"撤回“{resource.title}”：{reason[:200]}",
        reason=reason[:REASON_MAX],
        by_owner=is_owner and not actor.has_role(Role.ADMIN),
    )
    note_index_change(resource.id)
    after = AfterCommit([lambda rid=resource.id: enqueue_unindex(rid)])
    if not is_owner:
        after.extend(
            notify(
                resource.uploader,
                f"资源“{resource.title}”已被撤回",
                reason,
                link=f"/my/uploads/{resource.id}",
            )
        )
    db.session.flush()
    return after


def decisions_of(resource):
    stmt = select(ReviewDecision).where(ReviewDecision.resource_id == resource.id).order_by(ReviewDecision.id)
    return db.session.scalars(stmt).all()


def enqueue_index(resource_id):
    from cloud.catalog.tasks import index_resource

    index_resource(resource_id)


def enqueue_unindex(resource_id):
    from cloud.catalog.tasks import unindex_resource

    unindex_resource(resource_id)
