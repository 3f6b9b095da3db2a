"""An institution uploads a video and a PSD wall chart in the browser and watches them processed."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import wait_until
from tests.conftest import TESTDATA

PHONE = "13600136000"
PASSWORD = "Upload2026"


def log_in(page, phone=PHONE, password=PASSWORD):
    page.goto("/account/login")
    page.get_by_label("手机号/用户名").fill(phone)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_test_id("nav-me")).to_be_visible()


def upload(page, kind_label, path, title):
    page.goto("/upload")
    page.get_by_label(kind_label).check()
    page.get_by_label("标题").fill(title)
    page.get_by_label("标签").fill("科普，测试")
    page.locator('input[type="file"]').set_input_files(path)
    expect(page.get_by_test_id("file-name")).to_contain_text(path.rsplit("/", 1)[-1])
    page.get_by_role("button", name="开始上传").click()
    expect(page.get_by_test_id("upload-progress")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/my/uploads/\d+$"), timeout=60_000)
    # the page follows the job live and shows the renditions once it is done
    expect(page.get_by_test_id("state")).to_have_text("待提交", timeout=120_000)


def test_upload_video_and_psd_and_see_renditions(page, auth, runner):
    auth.create_uploader(phone=PHONE)
    with auth.app.app_context():
        from cloud.accounts.models import User
        from cloud.accounts.passwords import hash_password
        from cloud.extensions import db

        user = db.session.query(User).filter_by(phone=PHONE).one()
        user.password_hash = hash_password(PASSWORD)
        db.session.commit()
    log_in(page)

    upload(page, "视频", f"{TESTDATA}/video/mediabunny_rotate-buck-bunny.mp4", "竖屏视频测试")
    player = page.get_by_test_id("sd-player")
    expect(player).to_be_visible()
    files = page.get_by_test_id("files")
    expect(files.locator('tr[data-role="sd"]')).to_contain_text("270×480")
    expect(files.locator('tr[data-role="source"]')).to_contain_text("1080×1920")
    # the SD rendition really plays in Chromium
    wait_until(page, "document.querySelector('video').readyState >= 1")
    assert page.evaluate("document.querySelector('video').videoHeight") == 480

    upload(page, "挂图", f"{TESTDATA}/psd/psdtools_300dpi.psb", "高精度挂图测试")
    expect(page.get_by_test_id("preview")).to_be_visible()
    source = page.get_by_test_id("files").locator('tr[data-role="source"]')
    expect(source).to_contain_text("100×150")
    expect(source).to_contain_text("300 dpi")
    wait_until(page, "document.querySelector('img.preview').naturalWidth > 0")

    page.goto("/my/uploads")
    expect(page.get_by_role("link", name="竖屏视频测试")).to_be_visible()
    expect(page.get_by_role("link", name="高精度挂图测试")).to_be_visible()


def test_the_same_file_twice_is_pointed_out_and_can_still_be_uploaded(page, auth):
    auth.create_uploader(phone=PHONE)
    with auth.app.app_context():
        from cloud.accounts.models import User
        from cloud.accounts.passwords import hash_password
        from cloud.extensions import db

        user = db.session.query(User).filter_by(phone=PHONE).one()
        user.password_hash = hash_password(PASSWORD)
        db.session.commit()
    log_in(page)
    path = f"{TESTDATA}/images/pillow_flower.jpg"
    upload(page, "图片", path, "第一次上传的花")
    first_url = page.url

    page.goto("/upload")
    page.get_by_label("图片").check()
    page.get_by_label("标题").fill("又传了一次的花")
    page.locator('input[type="file"]').set_input_files(path)
    page.get_by_role("button", name="开始上传").click()
    notice = page.get_by_test_id("duplicate-notice")
    expect(notice).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("upload-status")).to_contain_text("本机构已上传过相同的文件")
    link = notice.get_by_role("link", name="第一次上传的花")
    assert first_url.endswith(link.get_attribute("href"))
    notice.get_by_role("button", name="仍然上传").click()
    expect(page).to_have_url(re.compile(r"/my/uploads/\d+$"), timeout=60_000)
    assert page.url != first_url
    expect(page.get_by_test_id("duplicates")).to_contain_text("第一次上传的花")
