"""The resource lifecycle: states, the allowed transitions, and the one function that moves them.

    draft ─► processing ─► processed ─► pending_review ─► approved ─► withdrawn
                 │  ▲ ▲        │              │
                 ▼  │ │        │              └─► rejected ─► pending_review (metadata edited)
               failed │◄───────┘                  │
                      └───────────────────────────┘ (a new file: processed, then reviewed again)

A resource is visible to stations only when it is approved, which it can only become from
pending_review, which it can only reach once processing has succeeded. A rejected resource that
takes a new file goes back through processing (to processed, never straight to review) and must
then be submitted again. Drafts, failed and never-submitted processed resources can be deleted
(``service.delete_resource``); that removes the row, so it is no transition.
"""

import enum

from cloud.errors import Conflict
from cloud.extensions import db
from cloud.models_base import utcnow


class State(enum.StrEnum):
    DRAFT = "draft"
    PROCESSING = "processing"
    PROCESSED = "processed"
    FAILED = "failed"
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @property
    def label(self):
        return STATE_LABELS[self]


STATE_LABELS = {
    State.DRAFT: "草稿",
    State.PROCESSING: "处理中",
    State.PROCESSED: "待提交",
    State.FAILED: "处理失败",
    State.PENDING_REVIEW: "待审核",
    State.APPROVED: "已发布",
    State.REJECTED: "未通过",
    State.WITHDRAWN: "已撤回",
}

TRANSITIONS = {
    State.DRAFT: {State.PROCESSING},
    State.PROCESSING: {State.PROCESSED, State.FAILED, State.PROCESSING},
    State.PROCESSED: {State.PENDING_REVIEW, State.PROCESSING},
    State.FAILED: {State.PROCESSING},
    State.PENDING_REVIEW: {State.APPROVED, State.REJECTED},
    State.REJECTED: {State.PENDING_REVIEW, State.PROCESSING},
    State.APPROVED: {State.WITHDRAWN},
    State.WITHDRAWN: set(),
}

# States in which the owner may edit metadata or replace the file.
EDITABLE = {State.DRAFT, State.PROCESSED, State.FAILED, State.REJECTED}


class IllegalTransition(Conflict):
    message = "当前状态下不能执行此操作"


def transition(resource, to, *, actor=None, comment=""):
    """Move ``resource`` to state ``to`` and write the audit row. Raises IllegalTransition."""
    from cloud.resources.models import ResourceEvent

    current = State(resource.state)
    to = State(to)
    if to not in TRANSITIONS[current]:
        raise IllegalTransition(
            f"资源当前为“{current.label}”，不能变为“{to.label}”",
            details={"from": current.value, "to": to.value},
        )
    now = utcnow()
    resource.state = to
    resource.updated_at = now
    db.session.add(
        ResourceEvent(
            resource=resource,
            actor_id=getattr(actor, "id", None),
            from_state=current,
            to_state=to,
            comment=(comment or "")[:1000],
            created_at=now,
        )
    )
    db.session.flush()


def is_visible_to_stations(resource):
    return resource.state == State.APPROVED
