"""Posting, hiding and listing 公告. Only admins write; everyone reads the shown ones."""

import logging

from sqlalchemy import select

from cloud.accounts.models import Role
from cloud.errors import NotFound, PermissionDenied, ValidationFailed
from cloud.extensions import db
from cloud.notices.models import Notice
from cloud.text import clean_text

log = logging.getLogger(__name__)

TITLE_MAX, BODY_MAX = 100, 1000
BOARD_SIZE = 5  # notices on the home page


def _require_admin(actor):
    if not actor.has_role(Role.ADMIN):
        raise PermissionDenied("只有管理员可以管理公告")


def post_notice(actor, title, body=""):
    """Post a shown notice. Raises PermissionDenied (not an admin), ValidationFailed (no title,
    or a title or body longer than the board can show)."""
    _require_admin(actor)
    title, body = clean_text(title), clean_text(body, multiline=True)
    if not title:
        raise ValidationFailed("请填写公告标题", details={"field": "title"})
    if len(title) > TITLE_MAX:
        raise ValidationFailed(f"公告标题不能超过 {TITLE_MAX} 个字", details={"field": "title"})
    if len(body) > BODY_MAX:
        raise ValidationFailed(f"公告内容不能超过 {BODY_MAX} 个字", details={"field": "body"})
    notice = Notice(title=title, body=body, author_id=actor.id)
    db.session.add(notice)
    db.session.flush()
    log.info("notice %s posted by user %s", notice.id, actor.id)
    return notice


def set_hidden(actor, notice_id, hidden):
    """Hide a notice from the board, or show it again. Raises PermissionDenied, NotFound."""
    _require_admin(actor)
    notice = db.session.get(Notice, notice_id) if isinstance(notice_id, int) else None
    if notice is None:
        raise NotFound("公告不存在")
    notice.is_hidden = bool(hidden)
    db.session.flush()
    log.info("notice %s %s by user %s", notice.id, "hidden" if hidden else "shown", actor.id)
    return notice


def board(limit=BOARD_SIZE):
    """The newest shown notices, for the home page."""
    stmt = select(Notice).where(Notice.is_hidden.is_(False)).order_by(Notice.id.desc()).limit(limit)
    return db.session.scalars(stmt).all()


def all_notices(limit=200):
    """Every notice, newest first, for the admins' page."""
    return db.session.scalars(select(Notice).order_by(Notice.id.desc()).limit(limit)).all()
