"""Invite links that expire and can be revoked; members removed or leaving (issue 11, finding 8)."""

import re
from datetime import timedelta

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from cloud.accounts.models import Role, User
from cloud.extensions import db
from cloud.institutions.models import InstitutionInvite
from cloud.messages.models import Message
from cloud.models_base import utcnow
from tests.conftest import CREDIT_CODES, csrf_token

MANAGER, COLLEAGUE, OTHER_MANAGER = "13800138000", "13700137000", "13600136000"


@pytest.fixture
def institution(app, auth):
    """A verified institution with its manager, and a registered colleague outside it."""
    manager_id = auth.create_uploader(MANAGER, institution="科普测试机构")
    auth.create(Role.INSTITUTION, phone=COLLEAGUE)
    with app.app_context():
        return db.session.get(User, manager_id).institution_id


def membership(app, phone):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.phone == phone))
        return user.institution_id, user.is_institution_manager


def post(client, url, page="/institution"):
    return client.post(url, data={"csrf_token": csrf_token(client, page)})


def make_invite(auth, client):
    """The manager makes a link; returns its token (the page shows it once)."""
    auth.login(MANAGER)
    html = post(client, "/institution/invites").get_data(as_text=True)
    auth.logout()
    return re.search(r"/institution/join/([A-Za-z0-9_-]+)", html).group(1)


def join_as_colleague(auth, client, token):
    auth.login(COLLEAGUE)
    page = client.get(f"/institution/join/{token}")
    confirmed = post(client, f"/institution/join/{token}", f"/institution/join/{token}")
    return page, confirmed


def test_the_join_page_names_the_institution_and_only_a_post_joins(app, auth, client, institution):
    token = make_invite(auth, client)
    auth.login(COLLEAGUE)
    page = client.get(f"/institution/join/{token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "科普测试机构" in html and "确认加入" in html
    assert membership(app, COLLEAGUE) == (None, False)  # looking is not joining
    confirmed = client.post(f"/institution/join/{token}", data={"csrf_token": csrf_token(client)})
    assert confirmed.status_code == 302
    assert membership(app, COLLEAGUE) == (institution, False)


def test_only_the_token_hash_is_stored_and_the_link_expires_after_the_setting(app, auth, client, institution):
    token = make_invite(auth, client)
    with app.app_context():
        invite = db.session.scalar(select(InstitutionInvite))
        assert token not in invite.token_hash and len(invite.token_hash) == 64
        lifetime = invite.expires_at - invite.created_at
    assert lifetime == timedelta(days=app.config["KEPU_INVITE_DAYS"]) == timedelta(days=7)
    # the manager's page lists it, but cannot show the link again
    auth.login(MANAGER)
    page = client.get("/institution").get_data(as_text=True)
    assert token not in page and 'data-testid="invite"' in page


def test_an_expired_invite_lets_nobody_in(app, auth, client, institution):
    token = make_invite(auth, client)
    with app.app_context():
        db.session.scalar(select(InstitutionInvite)).expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    page, confirmed = join_as_colleague(auth, client, token)
    assert page.status_code == confirmed.status_code == 404
    assert "已过期" in page.get_data(as_text=True)
    assert membership(app, COLLEAGUE) == (None, False)


def test_a_link_of_the_old_never_expiring_kind_no_longer_works(app, auth, client, institution):
    old = URLSafeSerializer(app.config["SECRET_KEY"], salt="institution-invite").dumps(institution)
    page, confirmed = join_as_colleague(auth, client, old)
    assert page.status_code == confirmed.status_code == 404
    assert membership(app, COLLEAGUE) == (None, False)


def test_a_manager_revokes_an_invite(app, auth, client, institution):
    token = make_invite(auth, client)
    with app.app_context():
        invite_id = db.session.scalar(select(InstitutionInvite.id))
    auth.login(MANAGER)
    assert post(client, f"/institution/invites/{invite_id}/revoke").status_code == 302
    assert 'data-testid="invite"' not in client.get("/institution").get_data(as_text=True)
    auth.logout()
    page, _ = join_as_colleague(auth, client, token)
    assert page.status_code == 404 and "已被撤销" in page.get_data(as_text=True)
    assert membership(app, COLLEAGUE) == (None, False)


def test_only_the_own_institutions_managers_make_or_revoke_invites(app, auth, client, institution):
    token = make_invite(auth, client)
    join_as_colleague(auth, client, token)  # the colleague is now a plain member
    with app.app_context():
        invite_id = db.session.scalar(select(InstitutionInvite.id))
    refused = post(client, "/institution/invites")
    assert refused.status_code == 302
    assert "只有机构管理员" in client.get("/institution").get_data(as_text=True)
    post(client, f"/institution/invites/{invite_id}/revoke")
    auth.logout()
    auth.create_uploader(OTHER_MANAGER, institution="另一家机构", credit_code=CREDIT_CODES[1])
    auth.login(OTHER_MANAGER)
    post(client, f"/institution/invites/{invite_id}/revoke")
    assert "邀请链接不存在" in client.get("/institution").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(InstitutionInvite)).revoked_at is None
        assert db.session.scalar(select(InstitutionInvite).where(InstitutionInvite.id != invite_id)) is None


def draft_id(app):
    from cloud.resources import service as resources

    with app.app_context():
        manager = db.session.scalar(select(User).where(User.phone == MANAGER))
        resource, _ = resources.create_resource(
            manager, "article", {"title": "本机构的草稿"}, body_html="<p>还没写完</p>"
        )
        db.session.commit()
        return resource.id


def test_a_removed_member_loses_the_institutions_drafts_and_is_told(app, auth, client, institution):
    join_as_colleague(auth, client, make_invite(auth, client))
    rid = draft_id(app)
    assert client.get(f"/my/uploads/{rid}").status_code == 200
    colleague_id = auth.user_id(COLLEAGUE)
    auth.logout()
    auth.login(MANAGER)
    page = client.get("/institution").get_data(as_text=True)
    assert "移出机构" in page and "设为管理员" in page
    assert post(client, f"/institution/members/{colleague_id}/remove").status_code == 302
    assert membership(app, COLLEAGUE) == (None, False)
    auth.logout()
    auth.login(COLLEAGUE)
    assert client.get(f"/my/uploads/{rid}").status_code == 404
    with app.app_context():
        titles = db.session.scalars(select(Message.title).where(Message.user_id == colleague_id)).all()
    assert titles == ["您已被移出机构"]


def test_members_cannot_remove_and_managers_cannot_remove_outsiders(app, auth, client, institution):
    join_as_colleague(auth, client, make_invite(auth, client))
    post(client, f"/institution/members/{auth.user_id(MANAGER)}/remove")
    assert membership(app, MANAGER) == (institution, True)
    auth.logout()
    other = auth.create_uploader(OTHER_MANAGER, institution="另一家机构", credit_code=CREDIT_CODES[1])
    auth.login(MANAGER)
    post(client, f"/institution/members/{other}/remove")
    assert "该成员不存在" in client.get("/institution").get_data(as_text=True)
    assert membership(app, OTHER_MANAGER)[1] is True
    post(client, f"/institution/members/{auth.user_id(MANAGER)}/remove")  # not oneself either
    assert membership(app, MANAGER) == (institution, True)


def test_a_member_leaves(app, auth, client, institution):
    join_as_colleague(auth, client, make_invite(auth, client))
    assert post(client, "/institution/leave").status_code == 302
    assert membership(app, COLLEAGUE) == (None, False)
    assert "您已退出该机构" in client.get("/institution").get_data(as_text=True)


def test_the_last_manager_cannot_leave_until_another_member_manages(app, auth, client, institution):
    auth.login(MANAGER)
    post(client, "/institution/leave")
    assert "唯一的管理员" in client.get("/institution").get_data(as_text=True)
    assert membership(app, MANAGER) == (institution, True)
    auth.logout()
    join_as_colleague(auth, client, make_invite(auth, client))
    auth.logout()
    auth.login(MANAGER)
    post(client, "/institution/leave")
    assert membership(app, MANAGER) == (institution, True)
    post(client, f"/institution/members/{auth.user_id(COLLEAGUE)}/manager")
    assert membership(app, COLLEAGUE) == (institution, True)
    assert post(client, "/institution/leave").status_code == 302
    assert membership(app, MANAGER) == (None, False)
