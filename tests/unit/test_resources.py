"""Resources through the app: create from a form upload, process, watch, submit."""

import io
import os

import pytest
from sqlalchemy import select

from cloud.extensions import db
from cloud.resources.models import Resource, ResourceEvent
from tests.conftest import TESTDATA, post_multipart


def upload_form(client, headers, kind, path, title="测试资源", name=None, **extra):
    with open(path, "rb") as fh:
        data = {"kind": kind, "title": title, "channel": "科技", "tags": "科普,测试",
                "file": (io.BytesIO(fh.read()), name or os.path.basename(path)), **extra}  # fmt: skip
    return post_multipart(client, "/api/v1/resources", data, headers)


@pytest.fixture
def uploader(auth):
    auth.create_uploader()
    return auth.token()


def test_image_is_processed_with_previews_and_facts(client, uploader):
    response = upload_form(client, uploader, "image", f"{TESTDATA}/images/pillow_flower.jpg")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["state"] == "processed", body
    roles = {f["role"]: f for f in body["files"]}
    assert set(roles) == {"source", "preview", "thumbnail"}
    assert (roles["source"]["width"], roles["source"]["height"]) == (480, 360)
    assert roles["source"]["mime_type"] == "image/jpeg"
    assert body["processing"]["status"] == "succeeded"


def test_submit_moves_a_processed_resource_to_review(client, uploader):
    rid = upload_form(client, uploader, "image", f"{TESTDATA}/images/pillow_flower.jpg").get_json()["id"]
    response = client.post(f"/api/v1/resources/{rid}/submit", headers=uploader)
    assert response.status_code == 200
    assert response.get_json()["state"] == "pending_review"
    again = client.post(f"/api/v1/resources/{rid}/submit", headers=uploader)
    assert again.status_code == 422


def test_failed_processing_cannot_be_submitted_and_says_why(client, uploader):
    response = upload_form(client, uploader, "image", f"{TESTDATA}/images/sharp_truncated.jpg")
    body = response.get_json()
    assert body["state"] == "failed"
    assert body["processing"]["error"]
    refused = client.post(f"/api/v1/resources/{body['id']}/submit", headers=uploader)
    assert refused.status_code == 422
    assert "处理失败" in refused.get_json()["error"]["message"]


def test_every_transition_leaves_an_audit_row(app, client, uploader):
    rid = upload_form(client, uploader, "image", f"{TESTDATA}/images/pillow_flower.jpg").get_json()["id"]
    client.post(f"/api/v1/resources/{rid}/submit", headers=uploader)
    with app.app_context():
        events = db.session.scalars(
            select(ResourceEvent).where(ResourceEvent.resource_id == rid).order_by(ResourceEvent.id)
        ).all()
        assert [(e.from_state, e.to_state) for e in events] == [
            ("draft", "processing"),
            ("processing", "processed"),
            ("processed", "pending_review"),
        ]
        assert db.session.get(Resource, rid).state == "pending_review"


@pytest.mark.parametrize(
    ("kind", "name", "message"),
    [
        ("image", "shell.php.jpg", "可执行文件"),
        ("image", "a.php%00.jpg", "控制字符"),
        ("image", "x.jpg ", "空格或点结尾"),
        ("video", "flower.mp4", "文件内容"),
    ],
)
def test_bad_names_and_mismatched_content_are_refused(app, client, uploader, kind, name, message):
    response = upload_form(client, uploader, kind, f"{TESTDATA}/images/pillow_flower.jpg", name=name)
    assert response.status_code == 422, response.get_json()
    assert message in response.get_json()["error"]["message"]
    with app.app_context():
        assert db.session.scalar(select(Resource)) is None


def test_only_verified_institutions_upload(auth, client):
    auth.create(phone="13900139000")
    headers = auth.token("13900139000")
    response = upload_form(client, headers, "image", f"{TESTDATA}/images/pillow_flower.jpg")
    assert response.status_code == 403
    assert "机构认证" in response.get_json()["error"]["message"]
    anonymous = upload_form(client, {}, "image", f"{TESTDATA}/images/pillow_flower.jpg")
    assert anonymous.status_code == 401


def test_another_institutions_resource_is_404(auth, client, uploader):
    rid = upload_form(client, uploader, "image", f"{TESTDATA}/images/pillow_flower.jpg").get_json()["id"]
    auth.create_uploader(phone="13900139000", institution="另一机构", credit_code="91440300708461136T")
    other = auth.token("13900139000")
    assert client.get(f"/api/v1/resources/{rid}", headers=other).status_code == 404
    assert client.post(f"/api/v1/resources/{rid}/submit", headers=other).status_code == 404
    assert client.get("/api/v1/resources/mine", headers=other).get_json()["items"] == []


@pytest.mark.parametrize("app_settings", [{"KEPU_MAX_IMAGE_BYTES": 32764 - 1}])
def test_file_one_byte_over_the_type_limit_is_413_and_nothing_is_kept(app, client, uploader):
    # pillow_flower.jpg is 32,764 bytes: one byte over this limit
    response = upload_form(client, uploader, "image", f"{TESTDATA}/images/pillow_flower.jpg")
    assert response.status_code == 413
    assert "大小限制" in response.get_json()["error"]["message"]
    with app.app_context():
        assert db.session.scalar(select(Resource)) is None
    leftovers = [f for _, _, files in os.walk(app.config["KEPU_STORAGE_DIR"]) for f in files]
    assert leftovers == []


@pytest.mark.parametrize("app_settings", [{"KEPU_MAX_FORM_UPLOAD_BYTES": 1024}])
def test_form_body_over_the_limit_is_refused_before_it_is_read(client, uploader):
    response = upload_form(client, uploader, "image", f"{TESTDATA}/images/pillow_flower.jpg")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_upload_form_with_session_cookie_needs_csrf(auth, client, uploader):
    auth.login()
    response = upload_form(client, {}, "image", f"{TESTDATA}/images/pillow_flower.jpg")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"


def test_original_is_served_only_as_attachment_with_nosniff(auth, client, uploader):
    body = upload_form(
        client, uploader, "image", f"{TESTDATA}/images/pillow_flower.jpg", name="课程图片.jpg"
    ).get_json()
    source = next(f for f in body["files"] if f["role"] == "source")
    auth.login()
    response = client.get(source["url"])
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert (
        "filename*=UTF-8''%E8%AF%BE%E7%A8%8B%E5%9B%BE%E7%89%87.jpg" in response.headers["Content-Disposition"]
    )
    ranged = client.get(source["url"], headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and len(ranged.data) == 10
    assert ranged.headers["Content-Range"] == f"bytes 0-9/{source['size']}"


def test_edit_metadata_and_replace_the_file_processes_again(client, uploader):
    body = upload_form(client, uploader, "image", f"{TESTDATA}/images/pillow_flower.jpg").get_json()
    rid = body["id"]
    edited = client.patch(
        f"/api/v1/resources/{rid}", json={"title": "新标题", "tags": ["花"]}, headers=uploader
    )
    assert edited.status_code == 200 and edited.get_json()["title"] == "新标题"
    assert edited.get_json()["tags"] == ["花"]
    refused = client.patch(f"/api/v1/resources/{rid}", json={"title": ""}, headers=uploader)
    assert refused.status_code == 422 and refused.get_json()["error"]["details"]["field"] == "title"
    client.post(f"/api/v1/resources/{rid}/submit", headers=uploader)
    locked = client.patch(f"/api/v1/resources/{rid}", json={"title": "审核中不能改"}, headers=uploader)
    assert locked.status_code == 422
