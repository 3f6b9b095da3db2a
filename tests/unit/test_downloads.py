"""Downloads: counted once per user, resource and rendition in a window; a file whose object has
gone answers a Chinese 410, is not counted, and gets no new link (issue 11, findings 2 and 10)."""

import io
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from cloud.accounts.models import Role, UserRole
from cloud.catalog.models import DownloadEvent
from cloud.catalog.tasks import fold_download_counts
from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.files.service import get_storage
from cloud.models_base import utcnow
from cloud.resources.models import Resource, ResourceFile
from tests.conftest import TESTDATA, post_multipart

OWNER, REVIEWER, STATION, STATION2 = "13800138000", "13700137000", "13600136000", "13500135000"
FLOWER = f"{TESTDATA}/images/pillow_flower.jpg"


@pytest.fixture
def people(app, auth):
    auth.create_uploader(phone=OWNER)
    reviewer_id = auth.create(Role.STATION, phone=REVIEWER)
    with app.app_context():
        db.session.add(UserRole(user_id=reviewer_id, role=Role.REVIEWER))
        db.session.commit()
    auth.create(Role.STATION, phone=STATION, region_code="430102")
    auth.create(Role.STATION, phone=STATION2)
    return {p: auth.token(p) for p in (OWNER, REVIEWER, STATION, STATION2)}


@pytest.fixture
def published(client, people):
    """A published image resource's id."""
    with open(FLOWER, "rb") as fh:
        data = {"kind": "image", "title": "春天的花", "file": (io.BytesIO(fh.read()), "花.jpg")}
    body = post_multipart(client, "/api/v1/resources", data, people[OWNER]).get_json()
    assert body["state"] == "processed", body
    rid = body["id"]
    assert client.post(f"/api/v1/resources/{rid}/submit", headers=people[OWNER]).status_code == 200
    client.post(f"/api/v1/review/{rid}/claim", headers=people[REVIEWER])
    assert client.post(f"/api/v1/review/{rid}/approve", headers=people[REVIEWER]).status_code == 200
    return rid


def download_count(app, rid):
    with app.app_context():
        return db.session.get(Resource, rid).download_count


def events(app, rid):
    with app.app_context():
        stmt = select(DownloadEvent.user_id, DownloadEvent.is_counted).where(DownloadEvent.resource_id == rid)
        return db.session.execute(stmt.order_by(DownloadEvent.id)).all()


def source_file(app, rid):
    with app.app_context():
        stmt = select(StoredFile).join(ResourceFile).where(ResourceFile.resource_id == rid)
        return db.session.scalars(stmt.where(ResourceFile.role == "source")).one()


def indexed_downloads(client, rid):
    """下载最多 reads the index, which takes in the counts in periodic batches: fold them first."""
    with client.application.app_context():
        fold_download_counts()
    items = client.get("/api/v1/search", query_string={"q": "春天的花"}).get_json()["items"]
    return next(i["downloads"] for i in items if i["id"] == rid)


def test_a_download_counts_once_per_user_and_rendition_in_the_window(app, auth, client, people, published):
    rid = published
    auth.login(STATION)
    for _ in range(3):
        answer = client.get(f"/resources/{rid}/download/source")
        assert answer.status_code == 302  # every GET still gets its link
    assert download_count(app, rid) == 1
    assert indexed_downloads(client, rid) == 1  # 下载最多 reads the index: it did not grow either
    station = auth.user_id(STATION)
    assert events(app, rid) == [(station, True), (station, False), (station, False)]  # kept for audit

    # The API counts with the page: the same user, same rendition, still one.
    api = client.get(f"/api/v1/resources/{rid}/download?rendition=source", headers=people[STATION])
    assert api.status_code == 302 and download_count(app, rid) == 1

    # Another user counts.
    client.get(f"/api/v1/resources/{rid}/download?rendition=source", headers=people[STATION2])
    assert download_count(app, rid) == 2

    # Once the window has passed, the first user counts again.
    with app.app_context():
        window = timedelta(minutes=app.config["KEPU_DOWNLOAD_COUNT_WINDOW_MINUTES"], seconds=1)
        db.session.execute(update(DownloadEvent).values(created_at=utcnow() - window))
        db.session.commit()
    client.get(f"/resources/{rid}/download/source")
    assert download_count(app, rid) == 3
    assert indexed_downloads(client, rid) == 3
    assert [counted for _, counted in events(app, rid)] == [True, False, False, False, True, True]


def test_a_missing_object_answers_410_uncounted_and_gets_no_new_link(app, auth, client, people, published):
    rid = published
    auth.login(STATION)
    earlier_link = client.get(f"/resources/{rid}/download/source").headers["Location"]
    assert download_count(app, rid) == 1
    stored = source_file(app, rid)
    with app.app_context():
        get_storage().delete(stored.key)

    # A link issued before the object went: a Chinese 410, not a 500.
    gone = client.get(earlier_link)
    assert gone.status_code == 410
    assert "该文件已丢失或损坏" in gone.get_data(as_text=True)

    # No new link, for another user either: a Chinese page, and JSON under /api; nothing counted.
    auth.logout()
    auth.login(STATION2)
    page = client.get(f"/resources/{rid}/download/source")
    assert page.status_code == 410 and "该文件已丢失或损坏" in page.get_data(as_text=True)
    api = client.get(f"/api/v1/resources/{rid}/download?rendition=source", headers=people[STATION])
    assert api.status_code == 410
    error = api.get_json()["error"]
    assert error["code"] == "file_unavailable" and "该文件已丢失或损坏" in error["message"]
    assert download_count(app, rid) == 1 and len(events(app, rid)) == 1
    # The download found the object gone and marked the file, as verify would have.
    with app.app_context():
        row = db.session.get(StoredFile, stored.id)
        assert row.damaged_at is not None and row.damage == "missing"


def test_a_file_flagged_by_verify_gets_no_link_until_verify_finds_it_intact(
    app, auth, client, runner, people, published
):
    rid = published
    stored = source_file(app, rid)
    with app.app_context():
        original = b"".join(get_storage().open(stored.key))
        get_storage().save(stored.key, io.BytesIO(bytes(reversed(original))))  # same size, other bytes
    result = runner.invoke(args=["storage", "verify"])
    assert result.exit_code == 1 and f"BAD {stored.key}" in result.output
    with app.app_context():
        assert db.session.get(StoredFile, stored.id).damage == "changed"

    auth.login(STATION)
    refused = client.get(f"/resources/{rid}/download/source")
    assert refused.status_code == 410 and "该文件已丢失或损坏" in refused.get_data(as_text=True)
    assert download_count(app, rid) == 0 and events(app, rid) == []

    # Restored from a backup: verify clears the mark, and the file can be downloaded again.
    with app.app_context():
        get_storage().save(stored.key, io.BytesIO(original))
    assert runner.invoke(args=["storage", "verify"]).exit_code == 0
    link = client.get(f"/resources/{rid}/download/source")
    assert link.status_code == 302 and client.get(link.headers["Location"]).data == original
    assert download_count(app, rid) == 1


def test_verify_does_not_flag_files_it_could_not_read(app, runner, monkeypatch):
    from cloud.files.service import store_file
    from storage import StorageUnavailable

    with app.app_context():
        row = store_file(io.BytesIO(b"fine"), original_name="好.txt")
        db.session.commit()
        row_id = row.id
        storage = get_storage()

    def down(key):
        raise StorageUnavailable("connection refused")

    monkeypatch.setattr(storage, "hash_object", down)
    result = runner.invoke(args=["storage", "verify"])
    assert result.exit_code == 1 and "unreadable" in result.output
    with app.app_context():
        assert db.session.get(StoredFile, row_id).damaged_at is None  # an outage proves nothing


def test_a_missing_preview_answers_410_not_500(app, client, published):
    with app.app_context():
        resource = db.session.get(Resource, published)
        thumb = resource.file("thumbnail")
        get_storage().delete(thumb.stored_file.key)
        url = f"/resources/{published}/media/{thumb.id}"
    answer = client.get(url)
    assert answer.status_code == 410 and "该文件已丢失或损坏" in answer.get_data(as_text=True)
