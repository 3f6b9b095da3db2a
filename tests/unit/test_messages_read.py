"""Reading 我的消息 marks the messages read, and the count in the navigation goes down (issue 12)."""

import re

from sqlalchemy import select

from cloud.accounts.models import Role, User
from cloud.extensions import db
from cloud.messages import service
from cloud.messages.models import Message

PHONE, OTHER = "13800138000", "13900139000"


def leave(app, phone, *titles):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.phone == phone))
        for title in titles:
            service.notify(user, title, "正文")
        db.session.commit()


def badge(html):
    link = re.search(r'data-testid="nav-messages"[^>]*>(.*?)</a>', html).group(1)
    count = re.search(r'class="badge">.*?(\d+)', link)
    return int(count.group(1)) if count else 0


def test_opening_the_inbox_reads_what_it_shows_and_marks_it_new_this_once(app, auth, client):
    auth.create(Role.STATION, phone=PHONE)
    auth.create(Role.STATION, phone=OTHER)
    leave(app, PHONE, "资源已通过审核", "机构认证已通过")
    leave(app, OTHER, "别人的消息")
    auth.login(PHONE)
    assert badge(client.get("/").get_data(as_text=True)) == 2
    first = client.get("/messages/").get_data(as_text=True)
    assert first.count('data-new="1"') == 2 and "有 2 条新消息" in first
    assert badge(first) == 0
    assert badge(client.get("/").get_data(as_text=True)) == 0
    again = client.get("/messages/").get_data(as_text=True)
    assert 'data-new="1"' not in again and "资源已通过审核" in again
    with app.app_context():
        others = db.session.scalars(select(Message).join(User).where(User.phone == OTHER)).all()
        assert [m.read_at for m in others] == [None]
    # a message arriving later is new again
    leave(app, PHONE, "新的消息")
    assert badge(client.get("/").get_data(as_text=True)) == 1
    assert client.get("/messages/").get_data(as_text=True).count('data-new="1"') == 1


def test_mark_read_touches_only_the_users_own_unread_messages(app, ctx, auth):
    auth.create(Role.STATION, phone=PHONE)
    auth.create(Role.STATION, phone=OTHER)
    leave(app, PHONE, "一")
    leave(app, OTHER, "二")
    me = db.session.scalar(select(User).where(User.phone == PHONE))
    every_id = list(db.session.scalars(select(Message.id)))
    assert service.mark_read(me, every_id) == 1
    assert service.mark_read(me, every_id) == 0
    assert service.mark_read(me, []) == 0
    db.session.commit()
    assert service.unread_count(me) == 0
    other = db.session.scalar(select(User).where(User.phone == OTHER))
    assert service.unread_count(other) == 1
