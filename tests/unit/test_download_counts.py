"""Download counts live in the database; the search index takes them in periodic batches.

Every counted download used to re-index its resource: one index commit per download, and every
web process reopening its searchers after each. Here 130 downloads leave the index's generation
on disk where it was, and one batch (``fold_download_counts``, a periodic task of the worker)
brings the 下载最多 sort up to date in one commit.
"""

import io
import os

import pytest
from whoosh import index as windex

from cloud.accounts.models import Role, UserRole
from cloud.catalog.tasks import fold_download_counts
from cloud.extensions import db
from cloud.resources.models import Resource
from tests.conftest import TESTDATA, post_multipart

OWNER, REVIEWER, STATION = "13800138000", "13700137000", "13600136000"
FLOWER = f"{TESTDATA}/images/pillow_flower.jpg"


@pytest.fixture
def app_settings():
    return {"KEPU_DOWNLOAD_COUNT_WINDOW_MINUTES": 0}  # every download counts


@pytest.fixture
def tokens(app, auth):
    auth.create_uploader(phone=OWNER)
    reviewer_id = auth.create(Role.STATION, phone=REVIEWER)
    with app.app_context():
        db.session.add(UserRole(user_id=reviewer_id, role=Role.REVIEWER))
        db.session.commit()
    auth.create(Role.STATION, phone=STATION)
    return {p: auth.token(p) for p in (OWNER, REVIEWER, STATION)}


def publish(client, tokens, title):
    with open(FLOWER, "rb") as fh:
        data = {"kind": "image", "title": title, "file": (io.BytesIO(fh.read()), "花.jpg")}
    rid = post_multipart(client, "/api/v1/resources", data, tokens[OWNER]).get_json()["id"]
    assert client.post(f"/api/v1/resources/{rid}/submit", headers=tokens[OWNER]).status_code == 200
    client.post(f"/api/v1/review/{rid}/claim", headers=tokens[REVIEWER])
    assert client.post(f"/api/v1/review/{rid}/approve", headers=tokens[REVIEWER]).status_code == 200
    return rid


def index_version(app):
    """(live directory, Whoosh generation): what changes when anything commits to the index."""
    path = app.config["KEPU_INDEX_DIR"]
    live = os.path.join(path, os.readlink(os.path.join(path, "current")))
    return live, windex.open_dir(live).latest_generation()


def most_downloaded(client):
    """The ids in 下载最多 order (the index's), with the counts shown (the database's)."""
    items = client.get("/api/v1/search", query_string={"q": "花", "sort": "downloads"}).get_json()["items"]
    return [(i["id"], i["downloads"]) for i in items]


def counts(app, *rids):
    with app.app_context():
        return [db.session.get(Resource, rid).download_count for rid in rids]


def download(client, tokens, rid, times):
    for _ in range(times):
        answer = client.get(f"/api/v1/resources/{rid}/download?rendition=source", headers=tokens[STATION])
        assert answer.status_code == 302


def test_downloads_commit_nothing_to_the_index_until_the_batch_folds_them_in(app, client, tokens):
    first = publish(client, tokens, "春天的花")
    second = publish(client, tokens, "夏天的花")
    download(client, tokens, second, 1)
    with app.app_context():
        assert fold_download_counts() == 1
    before = index_version(app)
    assert most_downloaded(client) == [(second, 1), (first, 0)]

    download(client, tokens, first, 100)
    download(client, tokens, second, 29)

    assert counts(app, first, second) == [100, 30]  # counted, in the database
    assert index_version(app) == before  # and not one commit to the index on the request path
    assert most_downloaded(client) == [(second, 30), (first, 100)]  # the index's order: not yet

    with app.app_context():
        assert fold_download_counts() == 2
    live, generation = index_version(app)
    assert (live, generation) == (before[0], before[1] + 1)  # both in one commit
    assert most_downloaded(client) == [(first, 100), (second, 30)]

    with app.app_context():
        assert fold_download_counts() == 0  # nothing changed since: no commit
    assert index_version(app) == (live, generation)


def test_the_batch_takes_only_what_changed_in_batches(app, client, tokens):
    rids = [publish(client, tokens, f"第{n}朵花") for n in range(3)]
    for rid in rids[:2]:
        download(client, tokens, rid, 1)
    live, generation = index_version(app)
    with app.app_context():
        assert fold_download_counts(batch=1) == 2
    assert index_version(app) == (live, generation + 2)  # one commit per batch of one
    with app.app_context():
        indexed = [db.session.get(Resource, rid).indexed_download_count for rid in rids]
    assert indexed == [1, 1, 0]
    assert most_downloaded(client)[-1] == (rids[2], 0)
