"""A station in the resource center: Chinese search, the 挂图 filter, the zoomable preview, the
original and print-PDF downloads, and the SD video playing in Chromium."""

import hashlib
import io

from playwright.sync_api import expect

from cloud.accounts.models import Role, UserRole
from cloud.extensions import db
from tests.browser.conftest import wait_until
from tests.conftest import TESTDATA, post_multipart

OWNER, REVIEWER, STATION = "13300133001", "13300133002", "13300133003"
PASSWORD = "Kepu2026ok"
CHART = f"{TESTDATA}/psd/psdtools_300dpi.psb"
VIDEO = f"{TESTDATA}/video/moviepy_fire2.mp4"


def publish(client, owner, reviewer, kind, path, title):
    with open(path, "rb") as fh:
        data = {"kind": kind, "title": title, "channel": "科技", "tags": "科普",
                "file": (io.BytesIO(fh.read()), path.rsplit("/", 1)[-1])}  # fmt: skip
    rid = post_multipart(client, "/api/v1/resources", data, owner).get_json()["id"]
    client.post(f"/api/v1/resources/{rid}/submit", headers=owner)
    client.post(f"/api/v1/review/{rid}/claim", headers=reviewer)
    assert client.post(f"/api/v1/review/{rid}/approve", headers=reviewer).status_code == 200
    return rid


def test_station_searches_filters_previews_downloads_and_plays(page, app, auth, client, live_server):
    auth.create_uploader(phone=OWNER)
    reviewer_id = auth.create(Role.STATION, phone=REVIEWER)
    with app.app_context():
        db.session.add(UserRole(user_id=reviewer_id, role=Role.REVIEWER))
        db.session.commit()
    auth.create(Role.STATION, phone=STATION, password=PASSWORD)
    owner, reviewer = auth.token(OWNER), auth.token(REVIEWER)
    # Published through the API of a test app on the same database and index folder as the server.
    app.config["KEPU_STORAGE_DIR"] = live_server.storage_dir
    app.config["KEPU_INDEX_DIR"] = live_server.index_dir
    app.extensions["kepu_storage"] = None
    publish(client, owner, reviewer, "wallchart", CHART, "科普中国e站建设挂图")
    publish(client, owner, reviewer, "video", VIDEO, "科普中国e站火灾逃生视频")

    page.goto("/account/login")
    page.get_by_label("手机号/用户名").fill(STATION)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()

    page.goto("/")
    page.get_by_label("搜索").fill("科普")
    page.get_by_role("button", name="搜索").click()
    expect(page.get_by_test_id("result-count")).to_contain_text("共找到 2 个资源")
    page.get_by_role("link", name="挂图", exact=True).click()
    expect(page.get_by_test_id("result-count")).to_contain_text("共找到 1 个资源")
    page.get_by_test_id("result").get_by_role("link").first.click()

    preview = page.get_by_test_id("wallchart-preview")
    expect(preview).to_be_visible()
    wait_until(page, "document.querySelector('[data-testid=wallchart-preview]').naturalWidth > 0")
    expect(page.get_by_test_id("print-facts")).to_contain_text("300 dpi")
    with page.expect_popup() as popup:  # 缩略图预览: the full preview opens to zoom in
        preview.click()
    popup.value.close()
    with page.expect_download() as info:
        page.get_by_test_id("download-source").click()
    with open(CHART, "rb") as fh, open(info.value.path(), "rb") as got:
        assert hashlib.sha256(got.read()).digest() == hashlib.sha256(fh.read()).digest()
    with page.expect_download() as info:
        page.get_by_test_id("download-print").click()
    assert info.value.suggested_filename.endswith("（打印版）.pdf")
    with open(info.value.path(), "rb") as fh:
        assert fh.read(5) == b"%PDF-"

    page.goto("/resources?q=火灾逃生")
    page.get_by_test_id("result").get_by_role("link").first.click()
    player = page.get_by_test_id("sd-player")
    expect(player).to_be_visible()
    expect(page.get_by_test_id("download-sd")).to_be_visible()
    expect(page.get_by_text("适合电视台、大型电子屏播放")).to_be_visible()
    page.evaluate("document.querySelector('video').muted = true")
    page.evaluate("document.querySelector('video').play()")
    wait_until(page, "document.querySelector('video').currentTime > 0.3", timeout=20_000)
    assert page.evaluate("document.querySelector('video').videoHeight") == 480
