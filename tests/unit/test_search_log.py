"""The search log written in batches (cloud/catalog/searchlog.py): a search writes nothing to the
database on its request; its row arrives with the next batch, with the time of the search."""

import time

import pytest
from sqlalchemy import func, select

from cloud.catalog import searchlog, service
from cloud.catalog.models import SearchLog
from cloud.catalog.tasks import open_index
from cloud.extensions import db
from cloud.models_base import utcnow


@pytest.fixture
def index(app):
    with app.app_context():
        open_index().create()  # an empty index: searches find nothing, and are logged


def logged(app):
    with app.app_context():
        rows = db.session.execute(select(SearchLog.query, SearchLog.result_count, SearchLog.user_id))
        return sorted((tuple(row) for row in rows), key=str)


def test_searches_are_counted_after_the_batch_is_written(app, client, auth, index):
    user_id = auth.create()
    token = auth.token()
    started = utcnow()
    assert client.get("/resources?q=月球").status_code == 200
    assert client.get("/api/v1/search?q=火星移民", headers=token).status_code == 200
    assert client.get("/api/v1/search?q=火星移民").status_code == 200
    assert client.get("/api/v1/search?q=火星移民&page=2").status_code == 200  # not a first page
    assert logged(app) == []  # nothing written on the requests' path
    with app.app_context():
        assert searchlog.buffer().pending() == 3
        assert searchlog.flush() == 3
        assert searchlog.flush() == 0
        first = db.session.scalar(select(func.min(SearchLog.created_at)))
        assert started <= first <= utcnow()  # the time of the search, not of the batch
    expected = [("月球", 0, None), ("火星移民", 0, None), ("火星移民", 0, user_id)]
    assert logged(app) == sorted(expected, key=str)


def test_readers_of_the_log_write_the_batch_first(app, client, index):
    client.get("/api/v1/search?q=火星移民")
    with app.app_context():
        assert service.popular_queries(zero_only=True) == [("火星移民", 1)]


@pytest.mark.parametrize("app_settings", [{"KEPU_SEARCH_LOG_BATCH": 3}])
def test_a_full_batch_writes_itself(app, client, index):
    for word in ("一", "二"):
        client.get(f"/api/v1/search?q={word}")
    assert logged(app) == []
    client.get("/api/v1/search?q=三")
    assert [row[0] for row in logged(app)] == ["一", "三", "二"]


@pytest.mark.parametrize("app_settings", [{"KEPU_SEARCH_LOG_SECONDS": 1}])
def test_the_writer_thread_writes_within_the_interval(app, client, index):
    client.get("/api/v1/search?q=火星移民")
    deadline = time.monotonic() + 15
    while not logged(app) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert logged(app) == [("火星移民", 0, None)]


def test_a_refused_batch_is_kept_for_the_next(app, client, index):
    client.get("/api/v1/search?q=火星移民")
    with app.app_context():
        kept = searchlog.buffer()
        SearchLog.__table__.drop(db.engine)  # the database refuses the insert
        try:
            assert kept.flush() == 0 and kept.pending() == 1
        finally:
            SearchLog.__table__.create(db.engine)
        assert kept.flush() == 1
    assert logged(app) == [("火星移民", 0, None)]
