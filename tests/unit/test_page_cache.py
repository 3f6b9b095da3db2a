"""The resource-center page kept for anonymous visitors (cloud/catalog/pagecache.py): served
only while the catalog version is the one it was rendered under, which every publication,
withdrawal and index update raises in its own transaction."""

import time

import pytest
from flask import url_for
from sqlalchemy import select

from cloud import catalog
from cloud.accounts.models import User
from cloud.catalog import pagecache, searchlog, service, tasks
from cloud.catalog.models import SearchLog
from cloud.extensions import db
from cloud.models_base import utcnow
from cloud.resources.lifecycle import State
from cloud.resources.models import Resource
from cloud.review import service as review
from tests.conftest import PASSWORD

OWNER = "13800138000"
URL = "/resources?q=防溺水"


def add_published(app, title, owner_id):
    """A published resource, written into the index as the worker does; returns its id."""
    with app.app_context():
        owner = db.session.get(User, owner_id)
        resource = Resource(kind="article", title=title, summary="暑期安全", channel="健康",
                            institution_id=owner.institution_id, uploader_id=owner.id,
                            state=State.APPROVED, published_at=utcnow())  # fmt: skip
        db.session.add(resource)
        db.session.flush()
        service.note_index_change(resource.id)
        db.session.commit()
        tasks.update_index(resource.id)
        return resource.id


@pytest.fixture
def owner_id(auth):
    return auth.create_uploader(phone=OWNER)


def kept_count(app):
    with app.test_request_context():
        return len(pagecache.cache()._pages)


def test_a_withdrawn_resource_leaves_the_kept_page_when_the_withdrawal_commits(app, client, owner_id):
    kept = add_published(app, "防溺水安全知识", owner_id)
    gone = add_published(app, "防溺水宣传挂图", owner_id)
    first = client.get(URL).get_data(as_text=True)
    assert "共找到 2 个资源" in first and "宣传挂图" in first and kept_count(app) == 1
    assert client.get(URL).get_data(as_text=True) == first  # the kept page
    with app.app_context():
        # Committed, but the index update (the worker's, after the commit) has not run: the index
        # still finds it, and a page kept before must not show it.
        review.withdraw(db.session.get(User, owner_id), db.session.get(Resource, gone), "内容过时")
        db.session.commit()
        assert tasks.open_index().search("防溺水").total == 2
    html = client.get(URL).get_data(as_text=True)
    # (The titles read <em>防溺水</em>…)
    assert "共找到 1 个资源" in html and "宣传挂图" not in html and "安全知识" in html
    api = client.get("/api/v1/search?q=防溺水").get_json()
    assert [item["id"] for item in api["items"]] == [kept]


def test_a_published_resource_appears_once_indexed(app, client, owner_id):
    first = add_published(app, "防溺水安全知识", owner_id)
    assert "共找到 1 个资源" in client.get(URL).get_data(as_text=True)
    add_published(app, "防溺水宣传挂图", owner_id)
    assert "共找到 2 个资源" in client.get(URL).get_data(as_text=True)
    # An admin's re-index starts new pages too.
    with app.app_context():
        before = pagecache.current_version()
        tasks.update_index(first)
        assert pagecache.current_version() == before + 1


def test_pages_are_kept_per_query_string_and_only_for_visitors_without_a_session(app, client, auth, owner_id):
    add_published(app, "防溺水安全知识", owner_id)
    client.get(URL)
    client.get("/resources?q=防溺水&sort=newest")
    client.get(URL)
    assert kept_count(app) == 2
    with app.app_context():
        searchlog.flush()
        assert db.session.scalars(select(SearchLog.query)).all() == ["防溺水"] * 3  # kept pages count
    # A logged-in visitor gets a page of their own (the menu, their messages), never a kept one.
    auth.login(OWNER, PASSWORD)
    html = client.get(URL).get_data(as_text=True)
    assert "我的上传" in html and kept_count(app) == 2
    auth.logout()
    # After logging out the session holds the flash message: rendered afresh, not kept.
    assert client.get_cookie("session") is not None
    assert "我的上传" not in client.get("/resources?q=新的").get_data(as_text=True)
    assert kept_count(app) == 2


def test_kept_pages_expire_and_are_bounded():
    kept = pagecache.PageCache(seconds=0.05)
    kept.put(b"q=a", 1, "<p>a</p>", 1, True)
    assert kept.get(b"q=a", 1).html == "<p>a</p>"
    assert kept.get(b"q=a", 2) is None  # another version: dropped
    kept.put(b"q=a", 2, "<p>a</p>", 1, True)
    time.sleep(0.06)
    assert kept.get(b"q=a", 2) is None
    for number in range(pagecache.MAX_PAGES + 5):
        kept.put(f"page={number}".encode(), 2, "", 0, True)
    assert len(kept._pages) == pagecache.MAX_PAGES and kept.get(b"page=0", 2) is None


@pytest.mark.parametrize("app_settings", [{"KEPU_PAGE_CACHE_SECONDS": 0}])
def test_the_cache_can_be_turned_off(app, client, owner_id):
    add_published(app, "防溺水安全知识", owner_id)
    client.get(URL)
    with app.test_request_context():
        assert pagecache.cache() is None


def test_listing_urls_are_the_routes_urls(app):
    with app.test_request_context("/resources", base_url="http://localhost/kepu"):
        urls = service.ListingUrls()
        assert urls.detail(42) == url_for("catalog.detail", resource_id=42) == "/kepu/resources/42"
        assert urls.media(42, 7) == url_for("catalog.media", resource_id=42, file_id=7)


def test_only_the_views_marked_unlimited_skip_the_rate_limiter(app):
    for path, skipped in (("/api/v1/search", True), ("/resources", True), ("/account/login", False)):
        with app.test_request_context(path):
            assert catalog._skip_unlimited() is skipped, path
