"""Storage is reclaimed and bounded: the sweep removes what nothing refers to and never what
something does; each institution has a quota (issue 11, finding 9)."""

import io
import os
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.files.service import get_storage, new_key, store_file
from cloud.institutions.models import Institution
from cloud.models_base import utcnow
from cloud.resources.models import ResourceFile
from cloud.uploads.models import Upload
from tests.conftest import CREDIT_CODES, TESTDATA, post_multipart
from tests.unit.test_tus import TUS, create, patch

OWNER, OTHER = "13800138000", "13500135000"
FLOWER = f"{TESTDATA}/images/pillow_flower.jpg"
KiB = 1024


@pytest.fixture
def owner(auth):
    auth.create_uploader(phone=OWNER)
    return auth.token(OWNER)


def flower():
    with open(FLOWER, "rb") as fh:
        return fh.read()


def finished_upload(client, headers, data, resource_type="image", filename="花.jpg"):
    response = create(client, headers, len(data), resource_type=resource_type, filename=filename, filetype="")
    assert response.status_code == 201, response.get_json()
    url = response.headers["Location"]
    assert patch(client, url, headers, 0, data).status_code == 204
    return url.rsplit("/", 1)[-1]


def upload_file_id(app, upload_id):
    with app.app_context():
        return db.session.get(Upload, upload_id).stored_file_id


def all_keys(app):
    with app.app_context():
        return set(get_storage().iter_keys(""))


def file_keys(app):
    with app.app_context():
        return dict(db.session.execute(select(StoredFile.id, StoredFile.key)).all())


def age_everything(app, hours):
    """Make every stored file and upload look ``hours`` old, referenced or not."""
    long_ago = utcnow() - timedelta(hours=hours)
    with app.app_context():
        db.session.execute(update(StoredFile).values(created_at=long_ago))
        db.session.execute(
            update(Upload).values(created_at=long_ago, updated_at=long_ago, completed_at=long_ago)
        )
        db.session.commit()
    root = app.config["KEPU_STORAGE_DIR"]
    for key in all_keys(app):
        os.utime(os.path.join(root, key), (time.time() - hours * 3600,) * 2)


def sweep(runner, *args):
    result = runner.invoke(args=["storage", "sweep", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_sweep_removes_only_what_nothing_refers_to(app, auth, client, runner, owner):
    # Referenced: a resource's source and renditions, an article's picture, a licence, and an
    # upload finished a moment ago that the uploader is about to use.
    fields = {"kind": "image", "title": "留下的花", "file": (io.BytesIO(flower()), "花.jpg")}
    body = post_multipart(client, "/api/v1/resources", fields, owner).get_json()
    kept_picture = post_multipart(
        client, "/api/v1/article-images", {"file": (io.BytesIO(flower()), "图.jpg")}, owner
    )
    html = f'<p>正文</p><img src="{kept_picture.get_json()["url"]}">'
    article = client.post(
        "/api/v1/resources", json={"kind": "article", "title": "留下的图文", "body_html": html}, headers=owner
    )
    assert article.status_code == 201, article.get_json()
    with app.app_context():
        licence = store_file(io.BytesIO(b"%PDF-1.4 licence"), original_name="营业执照.pdf")
        institution = db.session.scalars(select(Institution)).one()
        institution.licence_file_id = licence.id
        db.session.commit()
        ids = [body["id"], article.get_json()["id"]]
        rows = select(ResourceFile.stored_file_id).where(ResourceFile.resource_id.in_(ids))
        referenced = set(db.session.scalars(rows)) | {licence.id}
    assert len(referenced) >= 5  # source, preview, thumbnail; picture source and rendition; licence

    # Unreferenced: a picture no article kept, a finished upload never used, an article_image
    # upload (nothing can use one), and an object the database never heard of.
    dropped_picture = post_multipart(
        client, "/api/v1/article-images", {"file": (io.BytesIO(flower()), "弃.jpg")}, owner
    )
    assert dropped_picture.status_code == 201
    unused = finished_upload(client, owner, flower())
    unused_file = upload_file_id(app, unused)
    article_upload = finished_upload(client, owner, flower(), resource_type="article_image")
    article_upload_file = upload_file_id(app, article_upload)
    with app.app_context():
        orphan = new_key()
        get_storage().save(orphan, io.BytesIO(b"written, then the commit failed"))

    # Within the grace period nothing goes (the orphan is young too).
    assert "removed 0 abandoned upload(s), 0 unused upload(s), 0 unreferenced file(s), 0 orphan" in sweep(
        runner
    )

    before = file_keys(app)
    age_everything(app, app.config["KEPU_STORAGE_GRACE_HOURS"] + 1)
    fresh = finished_upload(client, owner, b"\xff\xd8\xff" + b"x" * 100)  # finished just now: kept
    fresh_file = upload_file_id(app, fresh)
    output = sweep(runner)
    assert "0 abandoned upload(s), 2 unused upload(s), 1 unreferenced file(s), 1 orphan object(s)" in output

    after = file_keys(app)
    assert referenced | {fresh_file} == set(after)  # every referenced file survived, row and object
    assert set(after.values()) <= all_keys(app)
    gone = set(before) - set(after)
    assert {unused_file, article_upload_file} <= gone and len(gone) == 3
    assert not {before[i] for i in gone} & all_keys(app)  # their objects went with them
    assert orphan not in all_keys(app)
    # The resources are whole: every file of theirs still serves.
    auth.login(OWNER)
    for rid in ids:
        for f in client.get(f"/api/v1/resources/{rid}").get_json()["files"]:
            assert client.get(f["url"]).status_code == 200
    # The finished upload within its grace can still be used.
    made = client.post(
        "/api/v1/resources", json={"kind": "image", "title": "刚传的", "upload_id": fresh}, headers=owner
    )
    assert made.status_code == 201 or made.get_json()["error"]["code"] == "validation_failed"


def test_terminating_a_finished_upload_frees_its_file_at_once(app, client, owner):
    upload_id = finished_upload(client, owner, flower())
    file_id = upload_file_id(app, upload_id)
    key = file_keys(app)[file_id]
    assert client.delete(f"/api/v1/uploads/{upload_id}", headers={**TUS, **owner}).status_code == 204
    assert file_id not in file_keys(app) and key not in all_keys(app)


def test_an_article_picture_swept_before_its_article_was_saved_is_named(app, client, runner, owner):
    url = post_multipart(client, "/api/v1/article-images", {"file": (io.BytesIO(flower()), "图.jpg")}, owner)
    age_everything(app, app.config["KEPU_STORAGE_GRACE_HOURS"] + 1)
    assert "1 unreferenced file(s)" in sweep(runner)
    answer = client.post(
        "/api/v1/resources",
        json={
            "kind": "article",
            "title": "晚了",
            "body_html": f'<p>正文</p><img src="{url.get_json()["url"]}">',
        },
        headers=owner,
    )
    assert answer.status_code == 422 and "图片已过期" in answer.get_json()["error"]["message"]


def test_the_worker_sweeps_storage_every_night(app, client, owner):
    from datetime import datetime

    from cloud.queue import huey
    from cloud.resources.tasks import sweep_storage_daily

    assert "sweep_storage" in [t.name for t in huey.read_periodic(datetime(2026, 12, 2, 3, 41))]
    assert "sweep_storage" not in [t.name for t in huey.read_periodic(datetime(2026, 12, 2, 4, 41))]
    finished_upload(client, owner, flower())
    age_everything(app, app.config["KEPU_STORAGE_GRACE_HOURS"] + 1)
    with app.app_context():
        sweep_storage_daily.call_local()
        assert db.session.scalars(select(StoredFile)).all() == []


# -- the quota ---------------------------------------------------------------------------------


@pytest.mark.parametrize("app_settings", [{"KEPU_INSTITUTION_QUOTA_BYTES": 100 * KiB}])
def test_tus_creation_is_refused_once_the_institution_quota_is_used(app, auth, client, owner):
    first = create(client, owner, 60 * KiB, resource_type="image", filename="一.jpg", filetype="")
    assert first.status_code == 201  # reserved from now on, though nothing is sent yet
    refused = create(client, owner, 60 * KiB, resource_type="image", filename="二.jpg", filetype="")
    assert refused.status_code == 413
    error = refused.get_json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["message"].startswith("机构存储空间已用完")
    assert "已用 60 KB" in error["message"] and "上限 100 KB" in error["message"]
    assert "剩余 40 KB" in error["message"] and "本次上传的 60 KB" in error["message"]
    assert error["details"] == {
        "used": 60 * KiB,
        "quota": 100 * KiB,
        "available": 40 * KiB,
        "requested": 60 * KiB,
    }
    assert (
        create(client, owner, 40 * KiB, resource_type="image", filename="三.jpg", filetype="").status_code
        == 201
    )

    # Another institution has its own quota.
    auth.create_uploader(phone=OTHER, institution="另一机构", credit_code=CREDIT_CODES[1])
    other = auth.token(OTHER)
    assert (
        create(client, other, 60 * KiB, resource_type="image", filename="四.jpg", filetype="").status_code
        == 201
    )

    # Terminating an upload gives its reservation back.
    assert client.delete(first.headers["Location"], headers={**TUS, **owner}).status_code == 204
    assert (
        create(client, owner, 60 * KiB, resource_type="image", filename="五.jpg", filetype="").status_code
        == 201
    )


@pytest.mark.parametrize("app_settings", [{"KEPU_INSTITUTION_QUOTA_BYTES": 100 * KiB}])
def test_finished_files_count_once_and_bytes_are_refused_when_the_quota_shrank(app, client, owner):
    data = b"\xff\xd8\xff" + bytes(50 * KiB - 3)
    finished_upload(client, owner, data)  # 50 KB stored, counted once (no longer reserved)
    second = create(client, owner, 50 * KiB, resource_type="image", filename="二.jpg", filetype="")
    assert second.status_code == 201
    app.config["KEPU_INSTITUTION_QUOTA_BYTES"] = 80 * KiB  # lowered by the operator meanwhile
    answer = patch(client, second.headers["Location"], owner, 0, data)
    assert answer.status_code == 413 and answer.get_json()["error"]["code"] == "quota_exceeded"
    with app.app_context():
        upload = db.session.get(Upload, second.headers["Location"].rsplit("/", 1)[-1])
        assert upload.offset == 0  # nothing of it was kept


@pytest.mark.parametrize("app_settings", [{"KEPU_INSTITUTION_QUOTA_BYTES": 100 * KiB}])
def test_uploads_created_at_once_the_earliest_goes_on(app, client, owner):
    data = b"\xff\xd8\xff" + bytes(60 * KiB - 3)
    first = create(client, owner, len(data), resource_type="image", filename="一.jpg", filetype="")
    app.config["KEPU_INSTITUTION_QUOTA_BYTES"] = 10 * 1024 * KiB  # both pass creation…
    second = create(client, owner, len(data), resource_type="image", filename="二.jpg", filetype="")
    app.config["KEPU_INSTITUTION_QUOTA_BYTES"] = 100 * KiB  # …but only one fits
    assert patch(client, second.headers["Location"], owner, 0, data).status_code == 413
    assert patch(client, first.headers["Location"], owner, 0, data).status_code == 204


@pytest.mark.parametrize("app_settings", [{"KEPU_INSTITUTION_QUOTA_BYTES": 50 * KiB}])
def test_form_uploads_and_article_pictures_count_too(app, client, owner):
    picture = flower()
    assert 25 * KiB < len(picture) <= 50 * KiB  # one fits in the quota, two do not
    first = post_multipart(client, "/api/v1/article-images", {"file": (io.BytesIO(picture), "一.jpg")}, owner)
    assert first.status_code == 201
    keys = all_keys(app)
    refused = post_multipart(
        client, "/api/v1/article-images", {"file": (io.BytesIO(picture), "二.jpg")}, owner
    )
    assert refused.status_code == 413 and refused.get_json()["error"]["message"].startswith(
        "机构存储空间已用完"
    )
    fields = {"kind": "image", "title": "放不下", "file": (io.BytesIO(picture), "三.jpg")}
    assert post_multipart(client, "/api/v1/resources", fields, owner).status_code == 413
    assert all_keys(app) == keys  # the refused files were not left in storage
    assert len(file_keys(app)) == 1


def test_the_default_quota_is_set(app):
    assert app.config["KEPU_INSTITUTION_QUOTA_BYTES"] == 100 * 1024**3
