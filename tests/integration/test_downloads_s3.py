"""Downloads with S3 storage: presigned redirects with attachment + filename*, that expire and
that a withdrawn resource no longer gets (SECURITY.md 24), against the real SeaweedFS server."""

import io
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from cloud.accounts.models import Role, UserRole
from cloud.extensions import db
from tests.conftest import TESTDATA, post_multipart

pytestmark = pytest.mark.s3
OWNER, REVIEWER, STATION = "13800138000", "13700137000", "13600136000"


@pytest.fixture
def app_settings(s3_config):
    return {**s3_config(), "KEPU_DOWNLOAD_URL_SECONDS": 3}


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read(), dict(response.headers)


def test_presigned_download_links(app, auth, client):
    auth.create_uploader(phone=OWNER)
    reviewer_id = auth.create(Role.STATION, phone=REVIEWER)
    with app.app_context():
        db.session.add(UserRole(user_id=reviewer_id, role=Role.REVIEWER))
        db.session.commit()
    auth.create(Role.STATION, phone=STATION)
    owner, reviewer, station = auth.token(OWNER), auth.token(REVIEWER), auth.token(STATION)
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        original = fh.read()
    data = {"kind": "image", "title": "春天的花", "file": (io.BytesIO(original), "花.jpg")}
    rid = post_multipart(client, "/api/v1/resources", data, owner).get_json()["id"]
    client.post(f"/api/v1/resources/{rid}/submit", headers=owner)
    client.post(f"/api/v1/review/{rid}/claim", headers=reviewer)
    assert client.post(f"/api/v1/review/{rid}/approve", headers=reviewer).status_code == 200

    answer = client.get(f"/api/v1/resources/{rid}/download?rendition=source", headers=station)
    assert answer.status_code == 302
    url = answer.headers["Location"]
    assert url.startswith(app.config["KEPU_S3_ENDPOINT"])
    body, headers = fetch(url)
    assert body == original
    disposition = headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert urllib.parse.unquote(encoded) == "春天的花.jpg"

    time.sleep(4)  # the link lives 3 seconds
    with pytest.raises(urllib.error.HTTPError) as expired:
        fetch(url)
    assert expired.value.code == 403
    expired.value.close()

    client.post(f"/api/v1/resources/{rid}/withdraw", json={"reason": "下架"}, headers=owner)
    refused = client.get(f"/api/v1/resources/{rid}/download?rendition=source", headers=station)
    assert refused.status_code == 404


def test_a_missing_or_changed_object_gets_no_presigned_link(app, auth, client, runner):
    from sqlalchemy import select

    from cloud.catalog.models import DownloadEvent
    from cloud.files.models import StoredFile
    from cloud.files.service import get_storage
    from cloud.resources.models import Resource

    auth.create_uploader(phone=OWNER)
    reviewer_id = auth.create(Role.STATION, phone=REVIEWER)
    with app.app_context():
        db.session.add(UserRole(user_id=reviewer_id, role=Role.REVIEWER))
        db.session.commit()
    auth.create(Role.STATION, phone=STATION)
    owner, reviewer, station = auth.token(OWNER), auth.token(REVIEWER), auth.token(STATION)
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        original = fh.read()
    ids = []
    for title in ("会丢的花", "会变的花"):
        data = {"kind": "image", "title": title, "file": (io.BytesIO(original), "花.jpg")}
        rid = post_multipart(client, "/api/v1/resources", data, owner).get_json()["id"]
        client.post(f"/api/v1/resources/{rid}/submit", headers=owner)
        client.post(f"/api/v1/review/{rid}/claim", headers=reviewer)
        assert client.post(f"/api/v1/review/{rid}/approve", headers=reviewer).status_code == 200
        ids.append(rid)
    with app.app_context():
        keys = [db.session.get(Resource, rid).file("source").stored_file.key for rid in ids]
        get_storage().delete(keys[0])
        get_storage().save(keys[1], io.BytesIO(bytes(reversed(original))))  # same size, other bytes

    # The missing object is found before a link is issued: a Chinese 410, nothing counted.
    gone = client.get(f"/api/v1/resources/{ids[0]}/download?rendition=source", headers=station)
    assert gone.status_code == 410
    assert gone.get_json()["error"]["code"] == "file_unavailable"
    assert "该文件已丢失或损坏" in gone.get_json()["error"]["message"]

    # The changed one is caught by verify, which marks it: no new link either.
    result = runner.invoke(args=["storage", "verify"])
    assert result.exit_code == 1 and f"BAD {keys[1]}" in result.output
    refused = client.get(f"/api/v1/resources/{ids[1]}/download?rendition=source", headers=station)
    assert refused.status_code == 410
    with app.app_context():
        assert db.session.scalars(select(DownloadEvent)).all() == []
        assert [db.session.get(Resource, rid).download_count for rid in ids] == [0, 0]
        damage = dict(db.session.execute(select(StoredFile.key, StoredFile.damage)).all())
        assert damage[keys[0]] == "missing" and damage[keys[1]] == "changed"
