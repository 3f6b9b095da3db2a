"""An operator in 管理: finds a user and resets their password (the SMS carries the new one),
imports 信息员 from a GBK CSV as Excel saves it on Chinese Windows, withdraws a published
resource, retries a job that really failed, and reads the audit entries of all of it."""

import io
import re
import time

from playwright.sync_api import expect

from cloud.accounts.models import Role, UserRole
from cloud.extensions import db
from tests.browser.conftest import ARTIFACTS
from tests.conftest import TESTDATA, post_multipart

ADMIN, OWNER, REVIEWER, STATION = "13500135000", "13500135001", "13500135002", "13500135003"
PASSWORD = "Kepu2026ok"


def log_in(page, login, password=PASSWORD):
    page.goto("/account/login")
    page.get_by_label("手机号/用户名").fill(login)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_test_id("nav-me")).to_be_visible()


def upload(client, headers, kind, path, title):
    with open(path, "rb") as fh:
        data = {"kind": kind, "title": title, "channel": "科技",
                "file": (io.BytesIO(fh.read()), path.rsplit("/", 1)[-1])}  # fmt: skip
    response = post_multipart(client, "/api/v1/resources", data, headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def console(page, link):
    page.get_by_test_id("console-nav").get_by_role("link", name=link, exact=True).click()


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


def test_operator_resets_imports_withdraws_retries_and_reads_the_log(
    page, browser, app, auth, client, live_server, tmp_path
):
    auth.create(Role.ADMIN, phone=ADMIN, password=PASSWORD, name="运营小王")
    auth.create(Role.STATION, phone=STATION, password=PASSWORD, name="芙蓉区测试e站", region_code="430102")
    auth.create_uploader(phone=OWNER)
    reviewer_id = auth.create(Role.STATION, phone=REVIEWER)
    with app.app_context():
        db.session.add(UserRole(user_id=reviewer_id, role=Role.REVIEWER))
        db.session.commit()
    owner, reviewer = auth.token(OWNER), auth.token(REVIEWER)
    # Made through the API of a test app on the server's database, storage and index folder.
    app.config["KEPU_STORAGE_DIR"] = live_server.storage_dir
    app.config["KEPU_INDEX_DIR"] = live_server.index_dir
    app.extensions["kepu_storage"] = None
    published = upload(client, owner, "image", f"{TESTDATA}/images/pillow_flower.jpg", "春天的花卉科普")
    client.post(f"/api/v1/resources/{published['id']}/submit", headers=owner)
    client.post(f"/api/v1/review/{published['id']}/claim", headers=reviewer)
    assert client.post(f"/api/v1/review/{published['id']}/approve", headers=reviewer).status_code == 200
    broken = upload(client, owner, "video", f"{TESTDATA}/video/filetype_fixture-corrupt.mkv", "损坏的视频")
    assert broken["state"] == "failed"  # processing really failed on the corrupt file
    reason = broken["processing"]["error"]

    log_in(page, ADMIN)
    page.goto("/admin")

    # 1. find the station's account by its phone and reset the password
    console(page, "账号")
    page.get_by_label("手机号、用户名或姓名").fill("135 0013 5003")
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_test_id("user-total")).to_have_text("1")
    page.get_by_test_id("user-list").get_by_role("link", name="芙蓉区测试e站").click()
    expect(page.get_by_test_id("user-region")).to_contain_text("芙蓉区")
    page.get_by_role("button", name="重置密码并短信通知").click()
    expect(page.get_by_text("密码已重置，新密码已通过短信发给用户")).to_be_visible()
    [sms] = live_server.outbox.messages(STATION)
    new_password = re.search(r"新密码为([A-Za-z0-9]{10})", sms["text"]).group(1)
    station = browser.new_context(base_url=live_server.url).new_page()
    log_in(station, STATION, new_password)  # the SMS's password works
    station.context.close()
    shot(page, "user")

    # 2. import 信息员 from a GBK CSV: preview with line-numbered errors, then import
    csv_file = tmp_path / "信息员名单.csv"
    csv_file.write_text(
        "用户名,姓名,手机号,地区代码,信息员类型,初始密码\n"
        "xxy-fr-01,芙蓉信息员甲,,430102,区县级,Init1234\n"
        "xxy-fr-02,芙蓉信息员乙,13500135009,430102001,乡镇街道,Init5678\n"
        "xxy-fr-03,芙蓉信息员丙,,430102,村级,Init1234\n",
        encoding="gbk",
    )
    console(page, "导入信息员")
    page.get_by_label("名单文件").set_input_files(str(csv_file))
    page.get_by_role("button", name="检查名单").click()
    expect(page.get_by_test_id("import-counts")).to_contain_text("将新建 2 个账号")
    errors = page.get_by_test_id("import-errors")
    expect(errors).to_contain_text("第 4 行")
    expect(errors).to_contain_text("信息员类型无效：村级")
    shot(page, "import-preview")
    page.get_by_role("button", name="确认导入").click()
    expect(page.get_by_test_id("import-result")).to_contain_text("新建 2 个账号")

    # 3. withdraw the published resource with a reason
    console(page, "资源")
    page.get_by_label("标题、机构或编号").fill("花卉")
    page.get_by_role("button", name="查询").click()
    page.get_by_test_id("resource-list").get_by_role("link", name="春天的花卉科普").click()
    expect(page.get_by_test_id("resource-state")).to_have_text("已发布")
    page.get_by_label("撤回原因").fill("图片来源需要核实")
    page.get_by_role("button", name="撤回资源").click()
    expect(page.get_by_test_id("resource-state")).to_have_text("已撤回")

    # 4. the failed job shows its Chinese reason; retry it (the worker runs it again)
    console(page, "处理任务")
    row = page.get_by_test_id("job-list").locator(f'tr[data-job="{broken["processing"]["id"]}"]')
    expect(row.get_by_test_id("job-error")).to_have_text(reason)
    shot(page, "jobs")
    row.get_by_role("button", name="重试").click()
    expect(page.get_by_text("任务已重新排队")).to_be_visible()
    page.goto(f"/admin/resources/{broken['id']}")
    expect(page.get_by_test_id("resource-jobs").locator("tbody tr")).to_have_count(2)
    # the server's worker ran the new job: it failed again (the file is still corrupt) and can
    # itself be retried, while the old one cannot
    deadline = time.monotonic() + 60
    while True:
        page.goto("/admin/jobs?status=failed")
        if page.get_by_test_id("job-list").get_by_role("button", name="重试").count() == 1:
            break
        assert time.monotonic() < deadline, "the retried job never ran"
        page.wait_for_timeout(300)
    expect(page.get_by_test_id("job-list").locator("tbody tr")).to_have_count(2)

    # 5. the audit log has an entry for each of these, by this operator
    console(page, "操作日志")
    page.get_by_label("操作人（手机号、用户名或姓名）").fill(ADMIN)
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_test_id("audit-total")).to_have_text("4")
    entries = page.get_by_test_id("audit-entries")
    for action, text in [
        ("user.reset_password", "新密码已短信发送"),
        ("informants.import", "新建 2 个"),
        ("resource.withdraw", "图片来源需要核实"),
        ("job.retry", reason),
    ]:
        entry = entries.locator(f'tr[data-action="{action}"]')
        expect(entry).to_have_count(1)
        expect(entry).to_contain_text("运营小王")
        expect(entry).to_contain_text(text)
    shot(page, "audit")
    page.set_viewport_size({"width": 390, "height": 844})  # the same log on a phone
    shot(page, "audit-phone")
