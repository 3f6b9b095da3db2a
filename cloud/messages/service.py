"""Telling people: a message in 我的消息 and, for what matters, an SMS."""

import logging

from sqlalchemy import func, select, update

from cloud.accounts import sms
from cloud.extensions import db
from cloud.messages.models import Message
from cloud.models_base import utcnow
from cloud.text import clean_text

log = logging.getLogger(__name__)


def notify(user, title, body="", *, link="", sms_text=None):
    """Leave ``user`` a message; with ``sms_text``, also text their phone.

    Returns after-commit callbacks (the SMS goes out only once the decision it reports is saved).
    A failed SMS is logged, never raised: the message in 我的消息 is the record.
    """
    title, body = clean_text(title)[:200], clean_text(body, multiline=True)
    db.session.add(Message(user_id=user.id, title=title, body=body, link=link))
    db.session.flush()
    if not sms_text or not user.phone:
        return []
    phone = user.phone

    def send():
        try:
            sms.sender().send(phone, f"【科普资源云】{sms_text}")
        except (sms.SmsSendFailed, OSError) as exc:
            log.error("notification SMS to user %s failed: %s", user.id, exc)

    return [send]


def unread_count(user):
    return db.session.scalar(
        select(func.count()).select_from(Message).where(Message.user_id == user.id, Message.read_at.is_(None))
    )


def inbox(user, limit=100):
    stmt = select(Message).where(Message.user_id == user.id).order_by(Message.id.desc()).limit(limit)
    return db.session.scalars(stmt).all()


def mark_read(user, message_ids):
    """Mark these messages of ``user`` read (those already read keep their time); flushes."""
    ids = list(message_ids)
    if not ids:
        return 0
    return db.session.execute(
        update(Message)
        .where(Message.user_id == user.id, Message.id.in_(ids), Message.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount


def mark_all_read(user):
    db.session.execute(
        update(Message).where(Message.user_id == user.id, Message.read_at.is_(None)).values(read_at=utcnow())
    )
