"""大家都在搜 / 热门搜索 (issue 12): only queries that found something are suggested, and admins
hide or block terms on 管理 → 搜索词."""

import re

import pytest
from sqlalchemy import insert, select

from cloud.accounts.models import Role, User
from cloud.catalog import service, terms
from cloud.catalog.models import SearchLog, SearchTerm
from cloud.errors import NotFound, ValidationFailed
from cloud.extensions import db
from tests.conftest import csrf_token

ADMIN = "13900139000"
ATTACK, SQL = "<script>alert(1)</script>", "' OR 1=1 --"


def log(app, query, found, times=1):
    with app.app_context():
        for _ in range(times):
            db.session.execute(insert(SearchLog).values(query=query, result_count=found))
        db.session.commit()


@pytest.fixture
def searched(app):
    log(app, ATTACK, 0, times=6)
    log(app, SQL, 0, times=5)
    log(app, "防溺水", 3, times=2)
    log(app, "加微信领红包 科普", 1, times=4)


def suggestions(client):
    html = client.get("/resources?q=没有这个词").get_data(as_text=True)
    found = re.search(r"<p>大家都在搜：(.*?)</p>", html)
    return re.findall(r">([^<]+)</a>", found.group(1)) if found else []


def decide(client, query, action):
    token = csrf_token(client, "/admin/search-terms")
    return client.post("/admin/search-terms", data={"csrf_token": token, "query": query, "action": action})


def test_only_queries_that_found_something_are_suggested(app, client, searched):
    assert suggestions(client) == ["加微信领红包 科普", "防溺水"]


def test_an_admin_hides_and_blocks_terms_and_allows_them_again(app, auth, client, searched):
    auth.create(Role.ADMIN, phone=ADMIN)
    auth.login(ADMIN)
    page = client.get("/admin/search-terms").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert decide(client, "加微信领红包 科普", "hide").status_code == 302
    assert "“加微信领红包 科普”已设为不推荐" in client.get("/admin/search-terms").get_data(as_text=True)
    # the suggestions are counted afresh at once in this process
    assert suggestions(client) == ["防溺水"]
    client.get("/admin/search-terms")
    admin = client.get("/admin").get_data(as_text=True)
    assert "加微信领红包 科普 <small>4 次</small>" in admin  # hidden: still in the admins' counts
    decide(client, ATTACK, "block")
    decide(client, SQL, "block")
    client.get("/admin/search-terms")  # shows the flashed notes
    admin = client.get("/admin").get_data(as_text=True)
    for listing in ("popular-searches", "zero-searches"):
        listed = re.search(rf'data-testid="{listing}">(.*?)</ol>', admin).group(1)
        assert "script" not in listed and "OR 1=1" not in listed
    with app.app_context():
        assert {t.query: t.status for t in db.session.scalars(select(SearchTerm))} == {
            "加微信领红包 科普": "hidden",
            ATTACK: "blocked",
            SQL: "blocked",
        }
    decide(client, "加微信领红包 科普", "allow")
    assert suggestions(client) == ["加微信领红包 科普", "防溺水"]


def test_a_term_can_be_blocked_before_anyone_searches_it(app, auth, client):
    auth.create(Role.ADMIN, phone=ADMIN)
    auth.login(ADMIN)
    decide(client, "  赌博  ", "block")
    log(app, "赌博", 2, times=3)
    assert suggestions(client) == []
    assert "赌博" in client.get("/admin/search-terms").get_data(as_text=True)  # listed to be allowed again


def test_only_admins_curate(app, auth, client, searched):
    auth.create(Role.STATION, phone="13800138000")
    auth.login("13800138000")
    assert client.get("/admin/search-terms").status_code == 404
    token = csrf_token(client, "/")
    assert (
        client.post(
            "/admin/search-terms", data={"csrf_token": token, "query": "防溺水", "action": "block"}
        ).status_code
        == 404
    )
    with app.app_context():
        assert db.session.scalar(select(SearchTerm)) is None


def test_decide_checks_its_input(app, ctx, auth):
    auth.create(Role.ADMIN, phone=ADMIN)
    auth.create(Role.STATION, phone="13800138000")
    admin = db.session.scalar(select(User).where(User.phone == ADMIN))
    station = db.session.scalar(select(User).where(User.phone == "13800138000"))
    with pytest.raises(NotFound):
        terms.decide(station, "防溺水", "block")
    with pytest.raises(ValidationFailed):
        terms.decide(admin, "   ", "block")
    with pytest.raises(ValidationFailed):
        terms.decide(admin, "防溺水", "delete")
    first = terms.decide(admin, "防溺水", "hide")
    again = terms.decide(admin, "防溺水", "block")
    assert first is again and again.status == "blocked" and again.decided_by_id == admin.id
    assert terms.decide(admin, "防溺水", "allow") is None
    assert db.session.scalar(select(SearchTerm)) is None
    assert service.popular_queries(suggestable=True) == []
