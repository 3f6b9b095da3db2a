"""Dead ends and the captcha in Chromium (issue 12): a failed upload is deleted after a
confirmation; the captcha is refreshed from the keyboard and heard as speech of the same challenge."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import wait_until
from tests.browser.test_upload_journey import log_in
from tests.conftest import TESTDATA, captcha_answer

PHONE = "13500135000"
PASSWORD = "Flows2026ok"


def test_a_failed_upload_is_deleted_after_a_confirmation(page, auth):
    auth.create_uploader(phone=PHONE)
    with auth.app.app_context():
        from sqlalchemy import select

        from cloud.accounts.models import User
        from cloud.accounts.passwords import hash_password
        from cloud.extensions import db

        db.session.scalar(select(User).where(User.phone == PHONE)).password_hash = hash_password(PASSWORD)
        db.session.commit()
    log_in(page, PHONE, PASSWORD)
    page.goto("/upload")
    page.get_by_label("图片").check()
    page.get_by_label("标题").fill("截断的图片")
    page.locator('input[type="file"]').set_input_files(f"{TESTDATA}/images/sharp_truncated.jpg")
    page.get_by_role("button", name="开始上传").click()
    expect(page).to_have_url(re.compile(r"/my/uploads/\d+$"), timeout=60_000)
    expect(page.get_by_test_id("state")).to_have_text("处理失败", timeout=60_000)
    expect(page.get_by_test_id("job-error")).not_to_be_empty()
    # 删除 asks first, on a page of its own (no script needed); 取消 leaves it be
    page.get_by_test_id("delete-resource").click()
    expect(page.get_by_test_id("confirm-delete")).to_contain_text("删除后不能恢复")
    page.get_by_role("button", name="取消").click()
    expect(page.get_by_test_id("state")).to_have_text("处理失败")
    page.get_by_test_id("delete-resource").click()
    page.get_by_test_id("confirm-delete-button").click()
    expect(page).to_have_url(re.compile(r"/my/uploads$"))
    expect(page.get_by_text("已删除“截断的图片”")).to_be_visible()
    expect(page.get_by_role("link", name="截断的图片")).to_have_count(0)


def test_the_captcha_is_refreshed_by_keyboard_and_heard_as_the_same_challenge(page, app, live_server):
    page.goto("/account/register")
    wait_until(page, "document.querySelector('.captcha-img').naturalWidth > 0")
    first = page.locator('input[name="captcha_id"]').input_value()
    # 换一张 with the keyboard alone: a new challenge and a new picture
    refresh = page.get_by_role("button", name="换一张")
    refresh.focus()
    page.keyboard.press("Enter")
    expect(page.locator('input[name="captcha_id"]')).not_to_have_value(first)
    wait_until(page, "document.querySelector('.captcha-img').naturalWidth > 0")
    current = page.locator('input[name="captcha_id"]').input_value()
    assert page.locator(".captcha-img").get_attribute("src").endswith(f"/{current}.png")
    # 收听语音验证码: the speech of this very challenge, playable in the page
    with page.expect_response(re.compile(r"/api/v1/captcha/[0-9a-f]{32}\.wav$")) as spoken:
        page.get_by_role("button", name="收听语音验证码").click()
    response = spoken.value
    assert response.url.endswith(f"/{current}.wav") and response.status == 200
    assert response.headers["content-type"] == "audio/wav"
    audio = page.get_by_test_id("captcha-audio")
    expect(audio).to_be_visible()
    # Chromium decoded it as sound (the WAV itself is checked in tests/unit/test_captcha_audio.py)
    wait_until(page, "document.querySelector('.captcha-audio').duration > 1")
    assert audio.get_attribute("src").startswith("blob:")
    # the answer heard solves the challenge (hearing it did not spend it)
    page.get_by_label("手机号").fill(PHONE)
    page.get_by_placeholder("请输入图中字符").fill(captcha_answer(app, current))
    page.get_by_role("button", name="获取验证码").click()
    expect(page.locator(".sms-status")).to_have_text("验证码已发送，请注意查收短信")


def _uploads(app):
    from sqlalchemy import select

    from cloud.extensions import db
    from cloud.uploads.models import Upload

    with app.app_context():
        return [(u.offset, u.length, u.completed_at is not None) for u in db.session.scalars(select(Upload))]


def test_an_upload_in_progress_is_paused_resumed_and_cancelled(page, auth):
    app = auth.app
    auth.create_uploader(phone=PHONE)
    with app.app_context():
        from sqlalchemy import select

        from cloud.accounts.models import User
        from cloud.accounts.passwords import hash_password
        from cloud.extensions import db

        db.session.scalar(select(User).where(User.phone == PHONE)).password_hash = hash_password(PASSWORD)
        db.session.commit()
    log_in(page, PHONE, PASSWORD)
    # A slow line (like a county office's), so the upload is still going when the buttons are pressed.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")

    def line(upload_bytes_per_second):
        cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": 0,
                "downloadThroughput": -1,
                "uploadThroughput": upload_bytes_per_second,
            },
        )

    path = f"{TESTDATA}/audio/moviepy_with-attached-pic.mp3"

    def start(title):
        page.goto("/upload")
        page.get_by_label("音频").check()
        page.get_by_label("标题").fill(title)
        page.locator('input[type="file"]').set_input_files(path)
        line(32 * 1024)
        page.get_by_role("button", name="开始上传").click()
        wait_until(page, "document.querySelector('.upload-progress').value > 0")
        page.get_by_test_id("pause-upload").click()
        expect(page.get_by_test_id("upload-status")).to_contain_text("已暂停")
        expect(page.get_by_test_id("pause-upload")).to_have_text("继续上传")
        line(-1)

    # cancel: the tus DELETE removes the upload from the server
    start("取消的音频")
    assert len(_uploads(app)) == 1 and not _uploads(app)[0][2]
    page.get_by_test_id("cancel-upload").click()
    expect(page.get_by_test_id("upload-status")).to_contain_text("已取消上传")
    for _ in range(100):  # the DELETE is sent as the status changes: wait for its answer
        if not _uploads(app):
            break
        page.wait_for_timeout(100)
    assert _uploads(app) == []
    expect(page.get_by_role("button", name="开始上传")).to_be_enabled()

    # pause, then go on: the same upload finishes and becomes a resource
    start("暂停后继续的音频")
    (paused,) = _uploads(app)
    assert paused[0] < paused[1]  # kept on the server, not finished
    page.get_by_test_id("pause-upload").click()
    expect(page).to_have_url(re.compile(r"/my/uploads/\d+$"), timeout=60_000)
    expect(page.get_by_test_id("state")).to_have_text("待提交", timeout=60_000)

    # an upload refused for good can still be cancelled, which removes what reached the server
    def refuse_patch(route):
        if route.request.method != "PATCH":
            return route.continue_()
        body = '{"error": {"code": "forbidden", "message": "上传被拒绝（测试）"}}'
        return route.fulfill(status=403, content_type="application/json", body=body)

    page.route(re.compile(r"/api/v1/uploads/[^/]+$"), refuse_patch)
    page.goto("/upload")
    page.get_by_label("音频").check()
    page.get_by_label("标题").fill("被拒绝的音频")
    page.locator('input[type="file"]').set_input_files(f"{TESTDATA}/audio/filetype_fixture.wav")
    page.get_by_role("button", name="开始上传").click()
    expect(page.get_by_test_id("upload-status")).to_have_text("上传被拒绝（测试）")
    assert len(_uploads(app)) == 1
    expect(page.get_by_test_id("pause-upload")).to_be_hidden()
    page.get_by_test_id("cancel-upload").click()
    expect(page.get_by_test_id("upload-status")).to_contain_text("已取消上传")
    for _ in range(100):
        if not _uploads(app):
            break
        page.wait_for_timeout(100)
    assert _uploads(app) == []
