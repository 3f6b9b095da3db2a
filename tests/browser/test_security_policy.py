"""The strict Content-Security-Policy in a real browser: a violation is a console error (so every
journey's ``page`` fixture fails on one), and the vendored editor works under the policy."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import _console_problem, wait_until
from tests.conftest import PASSWORD, TESTDATA

PHONE = "13500135000"


def test_a_policy_violation_is_a_console_error_the_journeys_fail_on(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="zh-CN")
    page = context.new_page()
    messages = []
    page.on("console", lambda message: messages.append(message))
    response = page.goto("/account/login")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page.evaluate(
        """() => {
            document.body.insertAdjacentHTML("beforeend", '<p id="styled" style="color: red">x</p>');
            const script = document.createElement("script");
            script.textContent = "window.inlineRan = true";
            document.body.appendChild(script);
        }"""
    )
    page.wait_for_timeout(300)
    assert page.evaluate("window.inlineRan") is None  # the inline script did not run
    assert page.evaluate("getComputedStyle(document.getElementById('styled')).color") != "rgb(255, 0, 0)"
    violations = [m for m in messages if "Content Security Policy" in m.text]
    assert len(violations) >= 2, [m.text for m in messages]
    assert all(_console_problem(m) for m in violations)
    context.close()


def test_the_article_editor_works_under_the_policy(page, auth):
    auth.create_uploader(phone=PHONE)
    page.goto("/account/login")
    page.get_by_label("手机号/用户名").fill(PHONE)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_test_id("nav-me")).to_be_visible()

    page.goto("/upload/article")
    page.get_by_label("标题").fill("夏季防溺水")
    editor = page.locator("#editor .ql-editor")
    editor.click()
    page.keyboard.type("不去野外游泳。")
    page.locator(".ql-toolbar .ql-bold").click()  # Quill's toolbar, pickers and formats
    page.keyboard.type("结伴而行")
    expect(editor.locator("strong")).to_have_text("结伴而行")
    page.locator(".ql-toolbar .ql-header .ql-picker-label").click()
    expect(page.locator(".ql-toolbar .ql-header .ql-picker-options")).to_be_visible()
    page.keyboard.press("Escape")
    with page.expect_file_chooser() as chooser:
        page.locator(".ql-toolbar .ql-image").click()
    chooser.value.set_files(f"{TESTDATA}/images/pillow_flower.jpg")
    expect(page.get_by_test_id("article-status")).to_have_text("图片已插入")
    wait_until(
        page,
        "document.querySelector('#editor img') && document.querySelector('#editor img').naturalWidth > 0",
    )
    page.get_by_role("button", name="保存并处理").click()
    expect(page).to_have_url(re.compile(r"/my/uploads/\d+$"), timeout=60_000)
