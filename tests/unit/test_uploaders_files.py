"""Uploaders' real files through the whole app: recorder WebM, phone GPS, CMYK charts, messages."""

import base64
import io
import os

import pytest

from tests.conftest import TESTDATA, post_multipart
from tests.support import media_fixtures

TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture
def uploader(auth):
    auth.create_uploader()
    return auth.token()


def form_upload(client, headers, kind, path, title="测试资源", name=None):
    with open(path, "rb") as fh:
        data = {"kind": kind, "title": title, "channel": "科技",
                "file": (io.BytesIO(fh.read()), name or os.path.basename(path))}  # fmt: skip
    return post_multipart(client, "/api/v1/resources", data, headers)


def tus_upload(client, headers, data, filename, resource_type):
    """A whole tus upload in one PATCH; returns the upload id."""
    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in {"filename": filename, "resource_type": resource_type}.items()
    )
    created = client.post(
        "/api/v1/uploads/",
        headers={**TUS, **headers, "Upload-Length": str(len(data)), "Upload-Metadata": meta},
    )
    assert created.status_code == 201, created.get_json()
    url = created.headers["Location"]
    done = client.patch(
        url,
        data=data,
        content_type="application/offset+octet-stream",
        headers={**TUS, **headers, "Upload-Offset": "0"},
    )
    assert done.status_code == 204, done.get_json()
    return url.rstrip("/").rsplit("/", 1)[-1]


# --------------------------------------------------------------------------- finding 13


def test_a_recorder_webm_is_processed_not_called_damaged(client, uploader, tmp_path):
    src = media_fixtures.recorder_webm(tmp_path / "屏幕录制.webm")
    body = form_upload(client, uploader, "video", src).get_json()
    assert body["state"] == "processed", body["processing"]
    roles = {f["role"]: f for f in body["files"]}
    assert {"source", "sd", "poster", "thumbnail"} <= set(roles)
    assert roles["source"]["duration"] == pytest.approx(1.5, abs=0.1)
    assert roles["sd"]["duration"] == pytest.approx(1.5, abs=0.1)


# --------------------------------------------------------------------------- finding 18


def test_an_upload_used_once_says_so_when_used_again(client, uploader):
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        upload_id = tus_upload(client, uploader, fh.read(), "花.jpg", "image")
    first = client.post(
        "/api/v1/resources", json={"kind": "image", "title": "花卉", "upload_id": upload_id}, headers=uploader
    )
    assert first.status_code == 201, first.get_json()
    again = client.post(
        "/api/v1/resources",
        json={"kind": "image", "title": "花卉二", "upload_id": upload_id},
        headers=uploader,
    )
    assert again.status_code == 422
    error = again.get_json()["error"]
    assert error["message"] == "这个文件已用于资源“花卉”，不能再次提交；如需另建资源，请重新上传文件"
    assert error["details"]["resource_id"] == first.get_json()["id"]
    # An id that never existed keeps its own message.
    unknown = client.post(
        "/api/v1/resources", json={"kind": "image", "title": "无", "upload_id": "0" * 32}, headers=uploader
    )
    assert unknown.get_json()["error"]["message"] == "上传不存在，请重新上传文件"


def test_another_institution_learns_nothing_from_a_used_upload_id(auth, client, uploader):
    from tests.conftest import CREDIT_CODES

    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        upload_id = tus_upload(client, uploader, fh.read(), "花.jpg", "image")
    client.post(
        "/api/v1/resources",
        json={"kind": "image", "title": "机密标题", "upload_id": upload_id},
        headers=uploader,
    )
    auth.create_uploader(phone="13900139000", institution="另一机构", credit_code=CREDIT_CODES[1])
    other = auth.token("13900139000")
    stolen = client.post(
        "/api/v1/resources", json={"kind": "image", "title": "偷", "upload_id": upload_id}, headers=other
    )
    assert stolen.status_code == 422
    assert stolen.get_json()["error"]["message"] == "上传不存在，请重新上传文件"
    assert "机密标题" not in stolen.get_data(as_text=True)


def test_a_video_over_the_size_limit_says_its_size(client, uploader, tmp_path):
    src = media_fixtures.oversized_mjpeg_mkv(tmp_path / "巨幅.mkv")
    body = form_upload(client, uploader, "video", src).get_json()
    assert body["state"] == "failed"
    assert body["processing"]["error"].startswith("视频分辨率过大（8200×8200"), body["processing"]


# --------------------------------------------------------------------------- finding 19


@pytest.fixture
def station_and_reviewer(app, auth):
    from cloud.accounts.models import Role, UserRole
    from cloud.extensions import db

    reviewer_id = auth.create(Role.STATION, phone="13700137000")
    with app.app_context():
        db.session.add(UserRole(user_id=reviewer_id, role=Role.REVIEWER))
        db.session.commit()
    auth.create(Role.STATION, phone="13600136000")
    return auth.token("13700137000")


def publish(client, owner, reviewer, rid):
    assert client.post(f"/api/v1/resources/{rid}/submit", headers=owner).status_code == 200
    assert client.post(f"/api/v1/review/{rid}/claim", headers=reviewer).status_code == 200
    assert client.post(f"/api/v1/review/{rid}/approve", headers=reviewer).status_code == 200


@pytest.mark.parametrize("make", [media_fixtures.cmyk_jpeg, media_fixtures.cmyk_psd], ids=["jpeg", "psd"])
def test_the_print_pdf_of_a_cmyk_chart_is_cmyk_and_says_so(
    auth, client, uploader, station_and_reviewer, tmp_path, make
):
    from pypdf import PdfReader

    src = make(tmp_path / ("挂图.jpg" if make is media_fixtures.cmyk_jpeg else "挂图.psd"))
    body = form_upload(client, uploader, "wallchart", src, title="印刷挂图").get_json()
    assert body["state"] == "processed", body["processing"]
    publish(client, uploader, station_and_reviewer, body["id"])
    auth.login("13600136000")
    page = client.get(f"/resources/{body['id']}").get_data(as_text=True)
    assert "印刷 PDF（CMYK）下载" in page
    pdf = client.get(client.get(f"/resources/{body['id']}/download/print").headers["Location"])
    assert pdf.status_code == 200
    reader = PdfReader(io.BytesIO(pdf.data))
    image = reader.pages[0]["/Resources"]["/XObject"]["/Im0"]
    assert image["/ColorSpace"] == "/DeviceCMYK"
    decoded = reader.pages[0].images[0].image
    assert decoded.mode == "CMYK" and decoded.size == (300, 200)
    ink = decoded.getpixel((10, 10))
    assert all(abs(a - b) <= 3 for a, b in zip(ink, media_fixtures.CMYK_INK, strict=True)), ink


# --------------------------------------------------------------------------- finding 14


def _stored_source(app, rid):
    from cloud.extensions import db
    from cloud.files.service import get_storage
    from cloud.resources.models import Resource, Role

    with app.app_context():
        source = db.session.get(Resource, rid).file(Role.SOURCE)
        keys = set(get_storage().iter_keys("f/"))
        return source.stored_file.size, source.stored_file.sha256, dict(source.facts), keys


@pytest.mark.parametrize("kind", ["image", "video"])
def test_the_source_stations_download_has_no_location(
    app, auth, client, uploader, station_and_reviewer, tmp_path, kind
):
    import hashlib

    from PIL import Image

    from tests.unit.test_media_location import COORDINATES, pixels, streamhashes

    if kind == "image":
        src = media_fixtures.gps_photo(tmp_path / "手机照片.jpg")
    else:
        src = media_fixtures.located_mp4(tmp_path / "手机视频.mp4")
    original = src.read_bytes()
    body = form_upload(client, uploader, kind, src, title="带定位的原件").get_json()
    assert body["state"] == "processed", body["processing"]
    publish(client, uploader, station_and_reviewer, body["id"])

    auth.login("13600136000")
    served = client.get(client.get(f"/resources/{body['id']}/download/source").headers["Location"])
    assert served.status_code == 200
    data = served.data
    downloaded = tmp_path / f"downloaded{src.suffix}"
    downloaded.write_bytes(data)
    if kind == "image":
        assert not any(c in data for c in COORDINATES)
        with Image.open(downloaded) as image:
            assert image.getexif().get_ifd(0x8825) == {}
        assert pixels(downloaded) == pixels(src)
    else:
        assert b"+39.9" not in data
        assert streamhashes(downloaded) == streamhashes(src)

    # What is served is what was stored: the database has the clean copy's size and SHA-256.
    size, sha256, facts, keys = _stored_source(app, body["id"])
    assert (size, sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert facts["location_removed"] is True
    assert facts["original_sha256"] == hashlib.sha256(original).hexdigest()
    assert len(keys) == len(body["files"])  # the original object is gone from storage

    # The owner's own copy is the clean one too.
    auth.logout()
    auth.login()
    source_id = next(f["id"] for f in body["files"] if f["role"] == "source")
    own = client.get(f"/my/uploads/{body['id']}/files/{source_id}")
    assert own.data == data


def test_the_upload_page_tells_the_uploader(auth, client, uploader):
    auth.login()
    page = client.get("/upload").get_data(as_text=True)
    assert "拍摄地点（GPS 定位）会在处理时从原文件中删除" in page
