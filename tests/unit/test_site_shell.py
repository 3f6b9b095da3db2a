"""The site's shell: where each role lands after login, 公告 written by admins, the home page's
lists, the footer's settings, and the 大字模式 / 高对比度 cookies applied by the server."""

import re

import pytest
from sqlalchemy import select

from cloud.accounts.models import Role, UserRole
from cloud.errors import NotFound, PermissionDenied, ValidationFailed
from cloud.extensions import db
from cloud.notices import service as notices
from cloud.notices.models import Notice
from tests.conftest import TESTDATA, csrf_token
from tests.unit.test_catalog import REVIEWER, people, publish, upload  # noqa: F401  (fixture)

PHONES = {
    Role.INSTITUTION: "13800138001",
    Role.REVIEWER: "13800138002",
    Role.STATION: "13800138003",
    Role.INFORMANT: "13800138004",
    Role.STATION_MANAGER: "13800138005",
    Role.ADMIN: "13800138006",
}
LANDINGS = {
    Role.INSTITUTION: "/my/uploads",
    Role.REVIEWER: "/review",
    Role.STATION: "/resources",
    Role.INFORMANT: "/resources",
    Role.STATION_MANAGER: "/stations/mine",
    Role.ADMIN: "/admin",
}


@pytest.mark.parametrize("role", list(LANDINGS))
def test_each_role_lands_where_its_work_is(app, auth, client, role):
    auth.create(role, phone=PHONES[role])
    for next_url in (None, "", "/"):  # the header's 登录 link on the home page carries next=/
        response = auth.login(PHONES[role], next_url=next_url)
        assert response.status_code == 302
        assert response.headers["Location"] == LANDINGS[role], (role, next_url)
        auth.logout()


def test_staff_land_on_their_dashboard_and_a_next_page_still_wins(app, auth, client):
    from tests.support.stations import make_staff_tree

    with app.app_context():
        make_staff_tree()
    assert auth.login("staff4101").headers["Location"] == "/stats"
    auth.logout()
    assert auth.login("staff4101", next_url="/messages/").headers["Location"] == "/messages/"


def test_an_admin_who_also_reviews_lands_in_admin(app, auth):
    user_id = auth.create(Role.ADMIN, phone=PHONES[Role.ADMIN])
    with app.app_context():
        db.session.add(UserRole(user_id=user_id, role=Role.REVIEWER))
        db.session.commit()
    assert auth.login(PHONES[Role.ADMIN]).headers["Location"] == "/admin"


def _user(app, phone):
    from cloud.accounts.models import User

    return db.session.scalar(select(User).where(User.phone == phone))


def test_notice_service_admins_only_cleaned_and_bounded(app, auth, ctx):
    auth.create(Role.ADMIN, phone=PHONES[Role.ADMIN])
    auth.create(Role.REVIEWER, phone=PHONES[Role.REVIEWER])
    admin, reviewer = _user(app, PHONES[Role.ADMIN]), _user(app, PHONES[Role.REVIEWER])
    with pytest.raises(PermissionDenied):
        notices.post_notice(reviewer, "不该发出的公告")
    with pytest.raises(ValidationFailed):
        notices.post_notice(admin, " \u200b ")
    with pytest.raises(ValidationFailed):
        notices.post_notice(admin, "标" * (notices.TITLE_MAX + 1))
    with pytest.raises(ValidationFailed):
        notices.post_notice(admin, "标题", "字" * (notices.BODY_MAX + 1))
    first = notices.post_notice(admin, "系统维护\u202e通知", "本周六停机维护。")
    second = notices.post_notice(admin, "新资源上线")
    assert first.title == "系统维护通知" and first.author_id == admin.id
    assert [n.id for n in notices.board()] == [second.id, first.id]
    with pytest.raises(PermissionDenied):
        notices.set_hidden(reviewer, first.id, True)
    with pytest.raises(NotFound):
        notices.set_hidden(admin, 999999, True)
    notices.set_hidden(admin, first.id, True)
    assert [n.id for n in notices.board()] == [second.id]
    notices.set_hidden(admin, first.id, False)
    assert len(notices.board()) == 2
    assert len(notices.board(limit=1)) == 1


def test_admin_posts_and_hides_a_notice_on_the_home_page(app, auth, client):
    auth.create(Role.ADMIN, phone=PHONES[Role.ADMIN])
    auth.login(PHONES[Role.ADMIN])
    token = csrf_token(client, "/admin/notices/")
    response = client.post("/admin/notices/", data={"title": "", "body": "留下的内容", "csrf_token": token})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "请填写公告标题" in html and "留下的内容" in html  # what was typed stays
    response = client.post(
        "/admin/notices/", data={"title": "春节期间服务安排", "body": "正常服务。", "csrf_token": token}
    )
    assert response.status_code == 302
    with app.app_context():
        notice_id = db.session.scalar(select(Notice.id))
    home = client.get("/").get_data(as_text=True)
    assert "春节期间服务安排" in home and "正常服务。" in home
    client.post(f"/admin/notices/{notice_id}/visibility", data={"hidden": "1", "csrf_token": token})
    assert "春节期间服务安排" not in client.get("/").get_data(as_text=True)
    assert "已隐藏" in client.get("/admin/notices/").get_data(as_text=True)


def test_only_admins_reach_the_notice_page(app, auth, client):
    assert client.get("/admin/notices/").status_code == 302  # to login
    auth.create(Role.REVIEWER, phone=PHONES[Role.REVIEWER])
    auth.login(PHONES[Role.REVIEWER])
    assert client.get("/admin/notices/").status_code == 404
    token = csrf_token(client, "/")
    assert client.post("/admin/notices/", data={"title": "x", "csrf_token": token}).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(Notice.id)) is None


def test_home_page_lists_newest_and_most_downloaded(app, client, runner, people):  # noqa: F811
    from datetime import timedelta

    from cloud.models_base import utcnow
    from cloud.resources.models import Resource
    from tests.unit.test_catalog import OWNER, STATION

    flower = f"{TESTDATA}/images/pillow_flower.jpg"
    older = upload(client, people[OWNER], "image", flower, "较早的科普图片")
    publish(client, people, older)
    newer = upload(client, people[OWNER], "image", flower, "最新的科普图片")
    publish(client, people, newer)
    response = client.get(f"/api/v1/resources/{older}/download?rendition=source", headers=people[STATION])
    assert response.status_code in (200, 302)
    with app.app_context():  # published a day apart, so "newest" does not depend on a tie
        db.session.get(Resource, older).published_at = utcnow() - timedelta(days=1)
        db.session.commit()
    assert runner.invoke(args=["search", "reindex"]).exit_code == 0
    html = client.get("/").get_data(as_text=True)
    newest = html.split('data-testid="home-newest"')[1].split("</ol>")[0]
    most = html.split('data-testid="home-most-downloaded"')[1].split("</ol>")[0]
    assert newest.index("最新的科普图片") < newest.index("较早的科普图片")
    assert most.index("较早的科普图片") < most.index("最新的科普图片")
    assert "暂无公告" in html
    assert REVIEWER  # the fixture's reviewer published both


def test_footer_shows_the_configured_organizer_contact_and_icp(app, client):
    app.config.update(
        KEPU_ORGANIZER="某某市科学技术协会", KEPU_CONTACT="010-12345678", KEPU_ICP_NUMBER="京ICP备00000000号"
    )
    html = client.get("/resources").get_data(as_text=True)
    assert "主办单位：某某市科学技术协会" in html
    assert "联系方式：010-12345678" in html
    assert "京ICP备00000000号" in html


def test_display_modes_are_cookies_the_server_applies_on_first_paint(app, client):
    html = client.get("/").get_data(as_text=True)
    assert re.search(r"<html[^>]*>", html).group(0) == '<html lang="zh-CN" data-theme="light">'
    response = client.get("/display?contrast=high&next=/resources")
    assert response.status_code == 302 and response.headers["Location"] == "/resources"
    cookie = response.headers["Set-Cookie"]
    assert (
        cookie.startswith("kepu_contrast=high;") and "Max-Age=31536000" in cookie and "SameSite=Lax" in cookie
    )
    client.get("/display?text=large&next=/")
    html = client.get("/resources").get_data(as_text=True)
    assert 'class="text-large contrast-high"' in re.search(r"<html[^>]*>", html).group(0)
    assert 'data-testid="pref-contrast">高对比度' in html and 'aria-pressed="true"' in html
    client.get("/display?contrast=normal&text=bogus&next=//evil.example")
    html = client.get("/resources").get_data(as_text=True)
    assert 'class="text-large"' in re.search(r"<html[^>]*>", html).group(0)
    client.set_cookie("kepu_text", "<script>")  # an unknown value reads as the default
    assert '<html lang="zh-CN" data-theme="light">' in client.get("/").get_data(as_text=True)


def test_display_switch_never_redirects_off_site(client):
    for target in ("//evil.example", "https://evil.example/", "/\\evil.example"):
        assert (
            client.get("/display", query_string={"text": "large", "next": target}).headers["Location"] == "/"
        )


def test_pages_fill_the_breadcrumbs_of_the_shell(app, auth, client):
    auth.create(Role.INSTITUTION, phone=PHONES[Role.INSTITUTION])
    auth.login(PHONES[Role.INSTITUTION])
    html = client.get("/messages/").get_data(as_text=True)
    crumbs = html.split('<nav class="container breadcrumbs" aria-label="当前位置"')[1].split("</nav>")[0]
    assert '<a href="/">首页</a>' in crumbs and '<li aria-current="page">我的消息</li>' in crumbs
    # A page without crumbs (the home page) draws no empty trail.
    assert "breadcrumbs" not in client.get("/").get_data(as_text=True)
    assert 'aria-label="breadcrumb"' not in client.get("/stations/apply").get_data(as_text=True)


def test_axe_core_is_vendored_for_the_tests_and_no_page_loads_it():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "cloud"
    assert (root / "static/vendor/axe-core/LICENSE").exists()
    assert (root / "static/vendor/axe-core/VERSION").read_text().strip() == "axe-core 4.14.1"
    for template in (root / "templates").rglob("*.html"):
        assert "axe" not in template.read_text(), template
