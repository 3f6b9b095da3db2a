"""The whole path in Chromium: register → 机构认证 (a mistake first: the form keeps what was typed,
the region and the licence) → upload a wall chart → rejected with a reason → a new file, processed
again, edited and resubmitted → approved → a station finds it in search and downloads the original."""

import hashlib
import re

from playwright.sync_api import expect

from cloud.accounts.models import Role
from tests.browser.conftest import wait_until
from tests.browser.test_account_journeys import solve_captcha
from tests.conftest import CREDIT_CODES, TESTDATA

INSTITUTION_PHONE, ADMIN, REVIEWER, STATION = "13300133000", "13311133000", "13322133000", "13333133000"
PASSWORD = "Kepu2026ok"
CHART = f"{TESTDATA}/psd/agpsd_key-origin-shape-bbox.psd"
NEW_CHART = f"{TESTDATA}/psd/psdtools_2layers.psd"


def log_in(page, login, password=PASSWORD):
    page.goto("/account/login")
    page.get_by_label("手机号/用户名").fill(login)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_test_id("nav-me")).to_be_visible()


def test_register_verify_upload_review_and_download(page, browser, app, auth, live_server):
    auth.create(Role.ADMIN, phone=ADMIN, password=PASSWORD)
    auth.create(Role.REVIEWER, phone=REVIEWER, password=PASSWORD)
    auth.create(Role.STATION, phone=STATION, password=PASSWORD, region_code="430102")

    # 1. the institution registers
    page.goto("/account/register")
    page.get_by_label("手机号").fill(INSTITUTION_PHONE)
    solve_captcha(page, app)
    page.get_by_role("button", name="获取验证码").click()
    expect(page.locator(".sms-status")).to_have_text("验证码已发送，请注意查收短信")
    page.get_by_label("短信验证码").fill(live_server.outbox.last_code(INSTITUTION_PHONE))
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_label("确认密码").fill(PASSWORD)
    page.get_by_role("button", name="立即注册").click()
    expect(page.get_by_test_id("welcome")).to_contain_text("机构用户")

    # 2. it applies for 机构认证
    page.goto("/institution")
    page.get_by_label("机构名称").fill("长沙市芙蓉区科学技术协会")
    page.get_by_label("统一社会信用代码").fill(CREDIT_CODES[0][:-1] + "0")  # a typing mistake
    page.get_by_label("机构类型").select_option("科协")
    page.get_by_label("省").select_option(label="湖南省")
    page.get_by_label("市").select_option(label="长沙市")
    page.get_by_label("县").select_option(label="芙蓉区")
    page.get_by_label("联系人", exact=True).fill("王老师")
    page.get_by_label("联系人手机号").fill(INSTITUTION_PHONE)
    page.get_by_label("营业执照或授权书").set_input_files(f"{TESTDATA}/images/pillow_flower.jpg")
    page.get_by_role("button", name="提交认证").click()
    # refused: everything typed is still there, the region picker shows the region chosen and
    # the licence is kept (no need to choose it again)
    expect(page.get_by_text("统一社会信用代码无效，请核对后重新输入")).to_be_visible()
    expect(page.get_by_label("机构名称")).to_have_value("长沙市芙蓉区科学技术协会")
    expect(page.get_by_label("联系人", exact=True)).to_have_value("王老师")
    expect(page.get_by_label("县")).to_have_value("430102")
    expect(page.get_by_label("市")).to_have_value("4301")
    expect(page.get_by_test_id("pending-licence")).to_contain_text("pillow_flower.jpg")
    page.get_by_label("统一社会信用代码").fill(CREDIT_CODES[0])
    page.get_by_role("button", name="提交认证").click()
    expect(page.get_by_test_id("verification-status")).to_have_text("审核中")

    # 3. an admin verifies it
    admin = browser.new_context(base_url=live_server.url).new_page()
    log_in(admin, ADMIN)
    admin.goto("/admin/institutions")
    expect(admin.get_by_text("长沙市芙蓉区科学技术协会")).to_be_visible()
    wait_until(admin, "document.querySelector('img.licence').naturalWidth > 0")
    admin.get_by_test_id("confirm-verify").check()
    admin.get_by_role("button", name="通过认证").click()
    expect(admin.get_by_text("暂无待审核的机构认证申请")).to_be_visible()

    # 4. the institution uploads a wall chart and submits it
    page.goto("/upload")
    page.get_by_label("挂图").check()
    page.get_by_label("标题").fill("防溺水安全挂图")
    page.locator('input[type="file"]').set_input_files(CHART)
    page.get_by_role("button", name="开始上传").click()
    expect(page.get_by_test_id("state")).to_have_text("待提交", timeout=120_000)
    page.get_by_role("button", name="提交审核").click()
    expect(page.get_by_test_id("state")).to_have_text("待审核")
    detail_url = page.url

    # 5. a reviewer rejects it with a reason
    reviewer = browser.new_context(base_url=live_server.url).new_page()
    log_in(reviewer, REVIEWER)
    reviewer.goto("/review")
    reviewer.get_by_role("link", name="防溺水安全挂图").click()
    wait_until(reviewer, "document.querySelector('img.preview').naturalWidth > 0")
    reviewer.get_by_role("button", name="领取审核").click()
    reviewer.get_by_label("不通过原因（必填）").fill("标题应注明适用人群")
    reviewer.get_by_role("button", name="不通过").click()
    expect(reviewer.get_by_text("已退回")).to_be_visible()

    # 6. the institution reads the reason, edits and resubmits
    page.goto("/messages/")
    expect(page.get_by_test_id("messages")).to_contain_text("标题应注明适用人群")
    page.goto("/my/uploads")
    expect(page.get_by_test_id("reject-reason")).to_have_text("未通过原因：标题应注明适用人群")
    page.goto(detail_url)
    expect(page.get_by_test_id("state")).to_have_text("未通过")
    expect(page.get_by_test_id("reject-reason")).to_have_text("未通过原因：标题应注明适用人群")
    expect(page.locator(".history")).to_contain_text("标题应注明适用人群")
    # a new file: processed again, then it must be submitted again
    page.get_by_label("新文件（挂图）").set_input_files(NEW_CHART)
    page.get_by_role("button", name="上传新文件").click()
    expect(page.get_by_test_id("state")).to_have_text("待提交", timeout=120_000)
    source = page.get_by_test_id("files").locator('tr[data-role="source"]')
    expect(source).to_contain_text("101×55")
    expect(page.locator(".history")).to_contain_text("未通过 → 处理中")
    page.get_by_text("修改资源信息").click()
    page.get_by_label("标题").fill("防溺水安全挂图（中小学生版）")
    page.get_by_role("button", name="保存修改").click()
    page.get_by_role("button", name="提交审核").click()
    expect(page.get_by_test_id("state")).to_have_text("待审核")

    # 7. the reviewer approves
    reviewer.goto("/review")
    reviewer.get_by_role("link", name="防溺水安全挂图（中小学生版）").click()
    reviewer.get_by_role("button", name="领取审核").click()
    # the box must be ticked first (the browser itself refuses the form without it)
    reviewer.get_by_role("button", name="通过并发布").click()
    expect(reviewer.get_by_role("heading", name="防溺水安全挂图（中小学生版）")).to_be_visible()
    reviewer.get_by_test_id("confirm-approve").check()
    reviewer.get_by_role("button", name="通过并发布").click()
    expect(reviewer.get_by_text("已通过并发布")).to_be_visible()

    # 8. a station finds it and downloads the original, byte for byte
    station = browser.new_context(base_url=live_server.url, accept_downloads=True).new_page()
    log_in(station, STATION)
    station.goto("/resources")
    station.get_by_label("搜索").fill("防溺水 挂图")
    station.get_by_role("button", name="搜索").click()
    expect(station.get_by_test_id("result-count")).to_contain_text("共找到 1 个资源")
    station.get_by_test_id("result").get_by_role("link").first.click()
    expect(station).to_have_url(re.compile(r"/resources/\d+$"))
    with station.expect_download() as info:
        station.get_by_test_id("download-source").click()
    download = info.value
    with open(NEW_CHART, "rb") as fh:  # the file that replaced the rejected one
        expected = hashlib.sha256(fh.read()).hexdigest()
    with open(download.path(), "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == expected
    assert download.suggested_filename == "防溺水安全挂图（中小学生版）.psd"
    for other in (admin, reviewer, station):
        other.context.close()
