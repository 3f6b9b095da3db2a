"""The resource kinds' one table and sizes as people read them.

The upload page, the API, tus intake and the pipeline read a kind's formats and limit from
``cloud.resources.kinds``; these tests change a ``KEPU_MAX_*`` setting and look for it everywhere.
"""

import io
import re

import pytest
from flask import render_template_string

from cloud.media.ffmpeg import MediaRejected
from cloud.media.sniff import EXT_FAMILY
from cloud.resources import pipeline
from cloud.resources.kinds import FILE_KINDS, KINDS, UPLOAD_TYPES, Kind, file_rules
from cloud.resources.models import Role
from cloud.units import human_size
from tests.conftest import TESTDATA, post_multipart
from tests.unit.test_tus import create

MiB = 1024**2


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (1023, "1023 B"),
        (1024, "1 KB"),
        (1536, "1.5 KB"),
        (10 * 1024 - 1, "10 KB"),
        (123 * 1024 + 400, "123 KB"),
        (1024**2 - 1, "1 MB"),  # not "1024 KB"
        (1_300_000, "1.2 MB"),
        (50 * MiB, "50 MB"),
        (500 * MiB, "500 MB"),
        (4 * 1024**3, "4 GB"),
        (int(2.5 * 1024**3), "2.5 GB"),
        (None, ""),
    ],
)
def test_sizes_read_as_people_read_them(size, shown):
    assert human_size(size) == shown


def test_a_small_file_is_never_zero_megabytes(app):
    with app.test_request_context():
        assert render_template_string("{{ 3000|filesize }}") == "2.9 KB"
        assert render_template_string("{{ 0|filesize }}") == "0 B"


def test_every_listed_extension_has_content_that_the_kind_takes():
    for kind in FILE_KINDS:
        rules = file_rules(kind)
        assert rules.label == KINDS[kind].label
        for ext in rules.extensions:
            assert EXT_FAMILY[ext] & rules.contents, (kind, ext)


def test_every_kind_has_a_chinese_name_and_a_setting_that_exists(app):
    for facts in [*KINDS.values(), *UPLOAD_TYPES.values()]:
        assert re.fullmatch(r"[\u4e00-\u9fff]+", facts.label)
        assert isinstance(app.config[facts.limit_setting], int)
    assert set(KINDS) == set(Kind)
    assert Kind.ARTICLE not in FILE_KINDS


@pytest.fixture
def app_settings():
    return {"KEPU_MAX_IMAGE_BYTES": 3 * MiB, "KEPU_MAX_VIDEO_BYTES": int(1.5 * 1024**3)}


def test_the_upload_page_shows_the_hint_of_the_preselected_kind_with_the_configured_limit(auth, client):
    auth.create_uploader()
    auth.login()
    page = client.get("/upload").get_data(as_text=True)
    checked = re.search(r'name="kind" value="(\w+)"[^>]*checked', page).group(1)
    hints = dict(re.findall(r'<p class="kind-hint" [^>]*data-kind="(\w+)"[^>]*?( hidden)?>', page))
    assert checked == "image"
    assert hints == {"image": "", "video": " hidden", "wallchart": " hidden", "audio": " hidden"}
    image_hint = re.search(r'data-kind="image"[^>]*><small>([^<]*)<', page).group(1)
    assert "3 MB" in image_hint and "jpg、png、gif、webp" in image_hint
    video_hint = re.search(r'data-kind="video"[^>]*><small>([^<]*)<', page).group(1)
    assert "1.5 GB" in video_hint and "4 GB" not in page


def test_the_api_lists_the_kinds_with_the_configured_limits(client):
    response = client.get("/api/v1/resource-kinds")
    assert response.status_code == 200
    items = {item["kind"]: item for item in response.get_json()["items"]}
    assert list(items) == [k.value for k in KINDS]
    assert items["image"]["max_bytes"] == 3 * MiB and items["image"]["max_size"] == "3 MB"
    assert items["video"]["label"] == "视频" and "mkv" in items["video"]["extensions"]
    assert items["article"]["extensions"] == [] and "3 MB" in items["article"]["hint"]
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/resource-kinds" in spec["paths"]
    create_kind = spec["paths"]["/resources"]["post"]["requestBody"]["content"]["application/json"]
    assert create_kind["schema"]["properties"]["kind"]["enum"] == [k.value for k in KINDS]


def test_tus_intake_refuses_a_file_over_the_changed_limit_in_the_same_words(auth, client):
    auth.create_uploader()
    headers = auth.token()
    response = create(client, headers, 3 * MiB + 1, filename="大图.png", resource_type="image")
    assert response.status_code == 413
    assert response.get_json()["error"]["message"] == "图片文件不能超过 3 MB"
    assert create(client, headers, 3 * MiB, filename="大图.png", resource_type="image").status_code == 201


def test_the_pipeline_refuses_content_its_kind_does_not_take():
    png = f"{TESTDATA}/images/sharp_65536-uint32-limit.png"
    pipeline.require_content(file_rules("image"), png)
    with pytest.raises(MediaRejected) as caught:
        pipeline.require_content(file_rules("wallchart"), png)
    assert caught.value.message == "文件内容是PNG 图片，不能作为挂图处理"


def test_every_file_role_has_a_chinese_label_in_the_api(auth, client):
    for role in Role:
        assert re.fullmatch(r"[\u4e00-\u9fff]+", role.label), role
    auth.create_uploader()
    headers = auth.token()
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        data = {"kind": "image", "title": "花", "file": (io.BytesIO(fh.read()), "花.jpg")}
    body = post_multipart(client, "/api/v1/resources", data, headers).get_json()
    labels = {f["role"]: f["role_label"] for f in body["files"]}
    assert labels["source"] == "源文件" and labels["preview"] == "预览图"
