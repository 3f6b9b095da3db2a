"""The first journeys through the site, in headless Chromium."""

import re

from playwright.sync_api import expect

from tests.conftest import captcha_answer

PHONE = "13700137000"
PASSWORD = "Kepu2026ok"


def solve_captcha(page, app):
    captcha_id = page.locator('input[name="captcha_id"]').input_value()
    page.get_by_placeholder("请输入图中字符").fill(captcha_answer(app, captcha_id))


def test_register_with_captcha_and_sms_then_log_out_and_in(page, app, live_server):
    page.goto("/")
    page.get_by_role("link", name="注册").click()
    expect(page.get_by_role("heading", name="注册机构账号")).to_be_visible()
    expect(page.get_by_text("建议使用大小写字母与数字组合").first).to_be_visible()

    page.get_by_label("手机号").fill("+86 137-0013-7000")
    # a wrong captcha is refused and replaced by a fresh one
    first_id = page.locator('input[name="captcha_id"]').input_value()
    page.get_by_placeholder("请输入图中字符").fill("ZZZZ")
    page.get_by_role("button", name="获取验证码").click()
    expect(page.locator(".sms-status")).to_have_text("图形验证码错误或已过期，请刷新后重试")
    expect(page.locator('input[name="captcha_id"]')).not_to_have_value(first_id)

    solve_captcha(page, app)
    page.get_by_role("button", name="获取验证码").click()
    expect(page.locator(".sms-status")).to_have_text("验证码已发送，请注意查收短信")
    expect(page.get_by_role("button", name=re.compile("秒后重新获取"))).to_be_disabled()
    code = live_server.outbox.last_code(PHONE)
    assert code

    page.get_by_label("短信验证码").fill(code)
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_label("确认密码").fill(PASSWORD)
    page.get_by_role("button", name="立即注册").click()

    # the success page says what comes next: 机构认证
    expect(page).to_have_url(re.compile(r"/account/welcome$"))
    expect(page.get_by_role("heading", name="注册成功")).to_be_visible()
    expect(page.get_by_test_id("next-verify")).to_have_attribute("href", "/institution")
    page.get_by_role("link", name="我的账号").last.click()
    expect(page.get_by_test_id("roles")).to_have_text("机构用户")

    # choose a region with the cascading picker
    page.get_by_label("省").select_option(label="湖南省")
    page.get_by_label("市").select_option(label="长沙市")
    page.get_by_label("县").select_option(label="芙蓉区")
    page.get_by_role("button", name="保存地区").click()
    expect(page.get_by_test_id("region")).to_have_text("湖南省 / 长沙市 / 芙蓉区")
    expect(page.get_by_label("县")).to_have_value("430102")

    page.get_by_role("button", name="退出").click()
    expect(page.get_by_text("您已安全退出")).to_be_visible()
    expect(page.get_by_role("link", name="登录")).to_be_visible()

    page.get_by_role("link", name="登录").click()
    page.get_by_label("手机号/用户名").fill(PHONE)
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_text("账号或密码错误")).to_be_visible()
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_test_id("nav-me")).to_be_visible()


def test_informant_logs_in_with_an_imported_account(page, app, runner, tmp_path):
    csv_file = tmp_path / "informants.csv"
    csv_file.write_text(
        "username,name,phone,region_code,informant_type,password\n"
        "xxy_changsha01,刘信息员,,430102001,乡镇街道,Xinxi2026\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["users", "import-informants", str(csv_file)])
    assert "1 created" in result.output

    page.goto("/account/")  # a protected page sends the visitor to log in, then back
    expect(page).to_have_url(re.compile(r"/account/login\?next="))
    page.get_by_label("手机号/用户名").fill("xxy_changsha01")
    page.get_by_label("密码").fill("Xinxi2026")
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(r"/account/$"))
    expect(page.get_by_test_id("display-name")).to_have_text("刘信息员")
    expect(page.get_by_test_id("roles")).to_have_text("科普中国信息员")
    expect(page.get_by_test_id("region")).to_contain_text("芙蓉区")
