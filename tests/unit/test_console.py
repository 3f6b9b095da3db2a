"""管理, the operator's console: every action through its page, its Chinese refusals, its audit entry."""

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from cloud.accounts.models import Role, User, UserRole
from cloud.audit import service as audit
from cloud.audit.models import AuditEntry
from cloud.catalog.models import PendingIndexUpdate
from cloud.console import service as console
from cloud.errors import NotFound
from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.files.service import get_storage
from cloud.institutions import service as institutions
from cloud.media.spreadsheet import write_xlsx
from cloud.models_base import utcnow
from cloud.resources.models import JobStatus, ProcessingJob, Resource
from storage import StorageError
from tests.conftest import CREDIT_CODES, PASSWORD, TESTDATA, Accounts, csrf_token, post_multipart

ADMIN, OWNER, REVIEWER, OTHER = "13900139000", "13800138000", "13700137000", "13600136000"
INFORMANT_HEADER = "用户名,姓名,手机号,地区代码,信息员类型,初始密码\n"


@pytest.fixture
def admin(app, auth, outbox):
    """An admin logged in on a client of their own (``auth.client`` stays free for API tokens)."""
    operator = Accounts(app, app.test_client(), outbox)
    operator.id = operator.create(Role.ADMIN, phone=ADMIN, name="运营小王")
    assert operator.login(ADMIN).status_code == 302
    return operator


def entries(app, action=None):
    with app.app_context():
        stmt = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        rows = db.session.scalars(stmt)
        return [(e.actor_id, e.action, e.object_type, e.object_id, e.details) for e in rows]


def post(client, url, data=None, page="/admin/users"):
    return client.post(url, data={"csrf_token": csrf_token(client, page), **(data or {})})


def flashed(client, url):
    return client.get(url).get_data(as_text=True)


def upload_image(client, headers, path=f"{TESTDATA}/images/pillow_flower.jpg", title="花卉科普"):
    with open(path, "rb") as fh:
        data = {"kind": "image", "title": title, "channel": "科技", "file": (io.BytesIO(fh.read()), "花.jpg")}
    response = post_multipart(client, "/api/v1/resources", data, headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def published_image(app, auth, client, title="花卉科普"):
    auth.create_uploader(phone=OWNER)
    owner = auth.token(OWNER)
    reviewer_id = auth.create(Role.STATION, phone=REVIEWER)
    with app.app_context():
        db.session.add(UserRole(user_id=reviewer_id, role=Role.REVIEWER))
        db.session.commit()
    reviewer = auth.token(REVIEWER)
    rid = upload_image(client, owner, title=title)
    assert client.post(f"/api/v1/resources/{rid}/submit", headers=owner).status_code == 200
    assert client.post(f"/api/v1/review/{rid}/claim", headers=reviewer).status_code == 200
    assert client.post(f"/api/v1/review/{rid}/approve", headers=reviewer).status_code == 200
    return rid


# -- who may use it ------------------------------------------------------------------------

CONSOLE_PAGES = [
    "/admin/users",
    "/admin/users/1",
    "/admin/informants/import",
    "/admin/resources",
    "/admin/resources/1",
    "/admin/jobs",
    "/admin/audit",
    "/admin/institutions/history",
]
CONSOLE_ACTIONS = [
    "/admin/users/1/disable",
    "/admin/users/1/reset-password",
    "/admin/users/1/role",
    "/admin/users/1/region",
    "/admin/informants/import",
    "/admin/informants/import/confirm",
    "/admin/resources/1/withdraw",
    "/admin/resources/1/reprocess",
    "/admin/resources/1/reindex",
    "/admin/jobs/1/retry",
]


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.STATION, Role.INSTITUTION, Role.STAFF])
def test_the_console_is_404_for_everyone_but_admins_and_changes_nothing(app, auth, role):
    victim = auth.create(Role.INFORMANT, phone=OTHER)
    auth.create(role, phone=OWNER)
    auth.login(OWNER)
    for url in CONSOLE_PAGES:
        assert auth.client.get(url.replace("/1", f"/{victim}")).status_code == 404, url
    token = csrf_token(auth.client, "/")
    for url in CONSOLE_ACTIONS:
        response = auth.client.post(url.replace("/1/", f"/{victim}/"), data={"csrf_token": token})
        assert response.status_code == 404, url
    with app.app_context():
        assert db.session.get(User, victim).is_active
    assert entries(app) == []


def test_anonymous_visitors_are_sent_to_log_in(client):
    for url in CONSOLE_PAGES:
        response = client.get(url)
        assert response.status_code == 302 and "/account/login" in response.headers["Location"]


def test_every_service_refuses_a_non_admin(app, auth, ctx):
    reviewer = db.session.get(User, auth.create(Role.REVIEWER, phone=REVIEWER))
    calls = [
        lambda: console.find_users(reviewer),
        lambda: console.set_user_active(reviewer, reviewer.id, False),
        lambda: console.reset_user_password(reviewer, reviewer.id),
        lambda: console.change_user_role(reviewer, reviewer.id, Role.ADMIN, True),
        lambda: console.change_user_region(reviewer, reviewer.id, "110101"),
        lambda: console.preview_informant_import(reviewer, b"x", "a.csv"),
        lambda: console.import_informants(reviewer, 1),
        lambda: console.find_resources(reviewer),
        lambda: console.withdraw_resource(reviewer, 1, "原因"),
        lambda: console.reprocess_resource(reviewer, 1),
        lambda: console.reindex_resource(reviewer, 1),
        lambda: console.find_jobs(reviewer),
        lambda: console.retry_job(reviewer, 1),
        lambda: console.audit_log(reviewer),
        lambda: console.institution_history(reviewer),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()
    assert db.session.get(User, reviewer.id).roles == {Role.REVIEWER}


def test_an_unknown_action_cannot_be_recorded(ctx):
    with pytest.raises(ValueError):
        audit.record(None, "user.delete_everything", "user", 1)
    with pytest.raises(ValueError):
        audit.record(None, "user.disable", "planet", 1)


# -- accounts ------------------------------------------------------------------------------


def test_users_are_found_by_phone_name_role_region_and_status(app, auth, admin):
    auth.create(Role.STATION, phone=OWNER, name="芙蓉区e站", region_code="430102")
    auth.create(Role.REVIEWER, phone=REVIEWER, name="李专家", region_code="110101")
    informant = auth.create(
        Role.INFORMANT, phone=None, username="xxy01", name="张信息员", region_code="110105"
    )
    with app.app_context():
        db.session.get(User, informant).is_active = False
        db.session.commit()

    def names(**query):
        html = admin.client.get("/admin/users", query_string=query).get_data(as_text=True)
        table = html.split('data-testid="user-list"', 1)[1]
        return set(re.findall(r'/admin/users/\d+">([^<]+)<', table))

    assert names(q="+86 138-0013-8000") == {"芙蓉区e站"}  # any spelling of the phone
    assert names(q="专家") == {"李专家"}
    assert names(q="xxy") == {"张信息员"}
    assert names(role="reviewer") == {"李专家"}
    assert names(region="11") == {"李专家", "张信息员"}  # 北京市 and all inside it
    assert names(region="430102") == {"芙蓉区e站"}
    assert names(status="disabled") == {"张信息员"}
    assert names(q="%") == set()  # a wildcard typed is a character, not "everything"
    refused = admin.client.get("/admin/users", query_string={"region": "999999"}).get_data(as_text=True)
    assert "请选择有效的地区" in refused
    refused = admin.client.get("/admin/users", query_string={"role": "emperor"}).get_data(as_text=True)
    assert "请选择有效的角色" in refused


def test_disabling_ends_the_users_sessions_and_enabling_lets_them_back(app, auth, admin, outbox):
    user_id = auth.create(Role.STATION, phone=OWNER)
    other = Accounts(app, app.test_client(), outbox)
    assert other.login(OWNER).status_code == 302
    assert other.client.get("/account/").status_code == 200

    post(admin.client, f"/admin/users/{user_id}/disable")
    assert "账号已停用" in flashed(admin.client, f"/admin/users/{user_id}")
    assert other.client.get("/account/").status_code == 302  # logged out at once
    assert other.login(OWNER).status_code == 200  # and cannot log in again

    post(admin.client, f"/admin/users/{user_id}/enable")
    assert other.login(OWNER).status_code == 302
    assert [(a, o, i) for _, a, o, i, _ in entries(app)] == [
        ("user.disable", "user", str(user_id)),
        ("user.enable", "user", str(user_id)),
    ]
    assert all(actor == admin.id for actor, *_ in entries(app))


def test_an_admin_cannot_disable_themselves(app, auth, admin):
    post(admin.client, f"/admin/users/{admin.id}/disable")
    assert "不能停用自己的账号" in flashed(admin.client, f"/admin/users/{admin.id}")
    with app.app_context():
        assert db.session.get(User, admin.id).is_active
    assert entries(app) == []


def test_reset_password_sends_a_new_one_by_sms_and_ends_old_sessions(app, auth, admin, outbox):
    user_id = auth.create(Role.STATION, phone=OWNER)
    other = Accounts(app, app.test_client(), outbox)
    other.login(OWNER)

    post(admin.client, f"/admin/users/{user_id}/reset-password")
    assert "新密码已通过短信发给用户" in flashed(admin.client, f"/admin/users/{user_id}")
    [sms] = outbox.messages(OWNER)
    new_password = re.search(r"新密码为([A-Za-z0-9]{10})", sms["text"]).group(1)
    assert other.client.get("/account/").status_code == 302
    assert other.login(OWNER, PASSWORD).status_code == 200  # the old password is gone
    assert other.login(OWNER, new_password).status_code == 302
    [(actor, action, _, object_id, details)] = entries(app)
    assert (actor, action, object_id) == (admin.id, "user.reset_password", str(user_id))
    assert new_password not in str(details)


def test_reset_password_of_an_account_without_a_phone_is_refused_in_chinese(app, auth, admin, outbox):
    user_id = auth.create(Role.INFORMANT, phone=None, username="xxy02")
    with app.app_context():
        before = db.session.get(User, user_id).password_hash
    post(admin.client, f"/admin/users/{user_id}/reset-password")
    assert "没有登记手机号" in flashed(admin.client, f"/admin/users/{user_id}")
    with app.app_context():
        assert db.session.get(User, user_id).password_hash == before
    assert entries(app) == [] and outbox.messages() == []


def test_a_second_reset_within_the_sms_cool_down_is_refused_and_keeps_the_first(app, auth, admin, outbox):
    user_id = auth.create(Role.STATION, phone=OWNER)
    post(admin.client, f"/admin/users/{user_id}/reset-password")
    post(admin.client, f"/admin/users/{user_id}/reset-password")
    assert "发送过于频繁" in flashed(admin.client, f"/admin/users/{user_id}")
    [sms] = outbox.messages(OWNER)
    new_password = re.search(r"新密码为([A-Za-z0-9]{10})", sms["text"]).group(1)
    assert Accounts(app, app.test_client(), outbox).login(OWNER, new_password).status_code == 302
    assert len(entries(app, "user.reset_password")) == 1


def test_an_operator_resetting_many_passwords_is_not_held_by_the_ip_cap(app, auth, admin, outbox):
    app.config["KEPU_SMS_IP_HOURLY_CAP"] = 2
    users = [auth.create(Role.STATION, phone=f"1370013700{i}") for i in range(3)]
    for user_id in users:
        post(admin.client, f"/admin/users/{user_id}/reset-password")
    assert len(outbox.messages()) == 3
    assert len(entries(app, "user.reset_password")) == 3


def test_roles_are_granted_and_removed_with_an_entry_each(app, auth, admin):
    user_id = auth.create(Role.STATION, phone=OWNER)
    post(admin.client, f"/admin/users/{user_id}/role", {"role": "reviewer", "grant": "1"})
    post(admin.client, f"/admin/users/{user_id}/role", {"role": "reviewer", "grant": "1"})  # no change
    with app.app_context():
        assert db.session.get(User, user_id).roles == {Role.STATION, Role.REVIEWER}
    post(admin.client, f"/admin/users/{user_id}/role", {"role": "reviewer", "grant": "0"})
    with app.app_context():
        assert db.session.get(User, user_id).roles == {Role.STATION}
    assert [(a, d["role"]) for _, a, _, _, d in entries(app)] == [
        ("user.role_grant", "reviewer"),
        ("user.role_revoke", "reviewer"),
    ]

    post(admin.client, f"/admin/users/{user_id}/role", {"role": "station_manager", "grant": "1"})
    assert "只能分配审核专家或管理员角色" in flashed(admin.client, f"/admin/users/{user_id}")
    post(admin.client, f"/admin/users/{admin.id}/role", {"role": "admin", "grant": "0"})
    assert "不能取消自己的管理员角色" in flashed(admin.client, f"/admin/users/{admin.id}")
    assert len(entries(app)) == 2


def test_the_overview_role_form_is_audited_too(app, auth, admin):
    user_id = auth.create(Role.STATION, phone=OWNER)
    post(admin.client, "/admin/roles", {"login": OWNER, "role": "reviewer", "grant": "1"}, page="/admin")
    assert [(a, o) for _, a, _, o, _ in entries(app)] == [("user.role_grant", str(user_id))]


def test_region_changes_are_checked_and_audited(app, auth, admin):
    user_id = auth.create(Role.STATION, phone=OWNER, region_code="110101")
    post(admin.client, f"/admin/users/{user_id}/region", {"region_code": "430102"})
    page = flashed(admin.client, f"/admin/users/{user_id}")
    assert "地区已更新" in page and "芙蓉区" in page
    post(admin.client, f"/admin/users/{user_id}/region", {"region_code": "999999"})
    assert "请选择有效的地区" in flashed(admin.client, f"/admin/users/{user_id}")
    with app.app_context():
        assert db.session.get(User, user_id).region_code == "430102"
    [(_, action, _, _, details)] = entries(app)
    assert action == "user.region"
    assert (details["region_from"], details["region_to"]) == ("110101", "430102")
    assert "东城区" in details["summary"] and "芙蓉区" in details["summary"]


# -- 信息员 import --------------------------------------------------------------------------


def preview(client, data, name):
    token = csrf_token(client, "/admin/informants/import")
    return post_multipart(
        client, "/admin/informants/import", {"csrf_token": token, "file": (io.BytesIO(data), name)}
    )


def confirm(client):
    token = csrf_token(client, "/admin/informants/import")
    return client.post("/admin/informants/import/confirm", data={"csrf_token": token})


def usernames(app):
    with app.app_context():
        return set(db.session.scalars(select(User.username).where(User.username.is_not(None))))


def test_a_gbk_csv_is_previewed_with_line_numbers_then_imported(app, auth, admin):
    rows = (
        "xxy01,张三,13800138001,110101,区县级,Init1234\n"
        "xxy02,李四,,430102,乡镇街道,Init5678\n"
        "xxy03,王五,1380013800,110101,区县级,Init1234\n"  # line 4: phone
        "xxy04,赵六,,110101,村级,Init1234\n"  # line 5: type
    )
    data = (INFORMANT_HEADER + rows).encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # what Excel saves on Chinese Windows really is not UTF-8

    page = preview(admin.client, data, "信息员名单.csv").get_data(as_text=True)
    assert "将新建 <strong>2</strong> 个账号" in page
    assert "第 4 行" in page and "手机号无效：1380013800" in page
    assert "第 5 行" in page and "信息员类型无效：村级" in page
    assert usernames(app) == set()  # a preview writes no account
    assert entries(app) == []

    done = confirm(admin.client).get_data(as_text=True)
    assert "新建 <strong>2</strong> 个账号" in done
    assert usernames(app) == {"xxy01", "xxy02"}
    assert Accounts(app, app.test_client(), None).login("xxy02", "Init5678").status_code == 302
    [(actor, action, object_type, object_id, details)] = entries(app)
    assert (actor, action, object_type) == (admin.id, "informants.import", "import")
    assert object_id == "信息员名单.csv"
    assert (details["created"], details["updated"], details["unchanged"]) == (2, 0, 0)
    assert [line for line, _ in details["errors"]] == [4, 5]
    with app.app_context():
        assert db.session.scalar(select(StoredFile.id)) is None  # the kept copy is gone

    again = confirm(admin.client)
    assert "导入文件已失效，请重新上传" in flashed(admin.client, again.headers["Location"])
    assert len(entries(app)) == 1


def test_an_xlsx_with_the_app_headers_imports(app, auth, admin):
    data = write_xlsx(
        [
            (
                "信息员",
                ["username", "name", "phone", "region_code", "informant_type", "password"],
                [["xxy05", "孙七", "", "110101", "个人用户", "Init1234"]],
                [12] * 6,
            )
        ]
    )
    page = preview(admin.client, data, "名单.xlsx").get_data(as_text=True)
    assert "将新建 <strong>1</strong> 个账号" in page
    confirm(admin.client)
    assert usernames(app) == {"xxy05"}


@pytest.mark.parametrize(
    "data, name, message",
    [
        (b"", "a.csv", "请选择要导入的 CSV 或 XLSX 文件"),
        (b"username\n", "a.txt", "只能导入 CSV 或 XLSX 文件"),
        (b"\xff\xfe\x00garbage", "a.csv", "无法识别文件编码"),
        (b"PK\x03\x04broken", "a.xlsx", "XLSX 文件已损坏"),
        ("姓名,手机号\n张三,13800138000\n".encode("gbk"), "a.csv", "表头缺少列：用户名"),
    ],
)
def test_bad_import_files_get_a_chinese_message_and_import_nothing(app, auth, admin, data, name, message):
    page = preview(admin.client, data, name).get_data(as_text=True)
    assert message in page
    assert "确认导入" not in page
    assert usernames(app) == set() and entries(app) == []


def test_a_file_with_nothing_to_import_is_not_kept(app, auth, admin):
    data = (INFORMANT_HEADER + "xxy08,郑十,,999999,区县级,Init1234\n").encode("gbk")
    page = preview(admin.client, data, "a.csv").get_data(as_text=True)
    assert "第 2 行" in page and "地区代码不存在：999999" in page and "确认导入" not in page
    with app.app_context():
        assert db.session.scalar(select(StoredFile.id)) is None


def test_storage_down_at_confirmation_imports_nothing_and_says_so(app, auth, admin, monkeypatch):
    data = (INFORMANT_HEADER + "xxy09,钱一,,110101,区县级,Init1234\n").encode("gbk")
    preview(admin.client, data, "a.csv")
    with app.app_context():
        storage = get_storage()

    def down(*args, **kwargs):
        raise StorageError("connection refused")

    monkeypatch.setattr(type(storage), "open", down)
    response = confirm(admin.client)
    assert "存储服务暂时不可用" in flashed(admin.client, response.headers["Location"])
    assert usernames(app) == set() and entries(app) == []
    monkeypatch.undo()
    assert "新建 <strong>1</strong> 个账号" in confirm(admin.client).get_data(as_text=True)  # kept: try again
    assert usernames(app) == {"xxy09"}


def test_the_cli_import_reads_gbk_and_xlsx_too(app, runner, tmp_path):
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes((INFORMANT_HEADER + "xxy06,周八,,110101,区县级,Init1234\n").encode("gbk"))
    result = runner.invoke(args=["users", "import-informants", str(gbk)])
    assert result.exit_code == 0, result.output
    assert "1 created" in result.output
    xlsx = tmp_path / "app.xlsx"
    header = ["用户名", "姓名", "手机号", "地区代码", "信息员类型", "初始密码"]
    row = ["xxy07", "吴九", 13800138007, 110101, "市级", "Init1234"]  # Excel keeps numbers as numbers
    xlsx.write_bytes(write_xlsx([("表", header, [row], [10] * 6)]))
    assert "1 created" in runner.invoke(args=["users", "import-informants", str(xlsx)]).output
    assert usernames(app) == {"xxy06", "xxy07"}
    assert [(actor, a) for actor, a, *_ in entries(app)] == [(None, "informants.import")] * 2


# -- resources and jobs --------------------------------------------------------------------


def test_resources_in_every_state_are_listed_and_searched(app, auth, admin, client):
    rid = published_image(app, auth, client, title="防溺水安全")
    owner = auth.token(OWNER)
    failed = upload_image(client, owner, f"{TESTDATA}/images/sharp_truncated.jpg", title="坏掉的图")
    page = admin.client.get("/admin/resources").get_data(as_text=True)
    assert "防溺水安全" in page and "坏掉的图" in page and "已发布" in page and "处理失败" in page
    assert "坏掉的图" not in admin.client.get("/admin/resources?state=approved").get_data(as_text=True)
    assert "防溺水安全" not in admin.client.get("/admin/resources?q=坏掉").get_data(as_text=True)
    assert "坏掉的图" in admin.client.get(f"/admin/resources?q={failed}").get_data(as_text=True)
    assert "科普测试机构" in admin.client.get("/admin/resources?q=测试机构").get_data(as_text=True)
    assert "请选择有效的状态" in admin.client.get("/admin/resources?state=lost").get_data(as_text=True)
    assert admin.client.get(f"/admin/resources/{rid}").status_code == 200
    assert admin.client.get("/admin/resources/99999").status_code == 404


def test_withdraw_needs_a_reason_and_a_published_resource(app, auth, admin, client):
    rid = published_image(app, auth, client)
    url = f"/admin/resources/{rid}"
    post(admin.client, f"{url}/withdraw", {"reason": "  "}, page=url)
    assert "请填写撤回原因" in flashed(admin.client, url)
    post(admin.client, f"{url}/withdraw", {"reason": "图片版权有争议"}, page=url)
    assert "资源已撤回" in flashed(admin.client, url)
    with app.app_context():
        assert db.session.get(Resource, rid).state == "withdrawn"
    post(admin.client, f"{url}/withdraw", {"reason": "再撤一次"}, page=url)
    assert "只有已发布的资源可以撤回" in flashed(admin.client, url)
    [(actor, _, _, object_id, details)] = entries(app, "resource.withdraw")
    assert (actor, object_id, details["reason"]) == (admin.id, str(rid), "图片版权有争议")


def test_reprocess_runs_a_new_job_but_not_for_a_published_resource(app, auth, admin, client):
    auth.create_uploader(phone=OWNER)
    rid = upload_image(client, auth.token(OWNER))
    url = f"/admin/resources/{rid}"
    post(admin.client, f"{url}/reprocess", page=url)
    assert "已重新开始处理" in flashed(admin.client, url)
    with app.app_context():
        resource = db.session.get(Resource, rid)
        assert [j.status for j in resource.jobs] == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED]
        assert resource.state == "processed"
    [(_, _, _, _, details)] = entries(app, "resource.reprocess")

    with app.app_context():
        db.session.execute(update(Resource).where(Resource.id == rid).values(state="approved"))
        db.session.commit()
    post(admin.client, f"{url}/reprocess", page=url)
    assert "“已发布”状态的资源不能重新处理" in flashed(admin.client, url)
    assert len(entries(app, "resource.reprocess")) == 1
    assert details["job_id"]


def test_reindex_puts_a_published_resource_back_into_search(app, auth, admin, client):
    rid = published_image(app, auth, client, title="防溺水安全")
    search = "/api/v1/search?q=防溺水"
    station = auth.token(REVIEWER)
    assert client.get(search, headers=station).get_json()["total"] == 1
    with app.app_context():
        from cloud.catalog.tasks import open_index

        open_index().delete(rid)  # the index lost it (e.g. restored from an old copy)
    assert client.get(search, headers=station).get_json()["total"] == 0
    post(admin.client, f"/admin/resources/{rid}/reindex", page=f"/admin/resources/{rid}")
    assert client.get(search, headers=station).get_json()["total"] == 1
    with app.app_context():
        assert db.session.scalar(select(PendingIndexUpdate.id)) is None
    assert [(a, o) for _, a, _, o, _ in entries(app, "resource.reindex")] == [("resource.reindex", str(rid))]


def test_failed_jobs_show_the_chinese_reason_and_can_be_retried(app, auth, admin, client):
    auth.create_uploader(phone=OWNER)
    rid = upload_image(client, auth.token(OWNER), f"{TESTDATA}/images/sharp_truncated.jpg")
    with app.app_context():
        job = db.session.get(Resource, rid).latest_job
        job_id, reason = job.id, job.error
    assert reason and re.search(r"[\u4e00-\u9fff]", reason)
    page = admin.client.get("/admin/jobs?status=failed").get_data(as_text=True)
    assert reason in page and "重试" in page

    post(admin.client, f"/admin/jobs/{job_id}/retry", page="/admin/jobs")
    assert "任务已重新排队" in flashed(admin.client, "/admin/jobs")
    with app.app_context():
        jobs = db.session.get(Resource, rid).jobs
        assert jobs[0].id == job_id and len(jobs) == 2  # a new job ran (and failed again)
        new_job_id = jobs[-1].id
    [(actor, _, object_type, object_id, details)] = entries(app, "job.retry")
    assert (actor, object_type, object_id) == (admin.id, "job", str(job_id))
    assert details["new_job_id"] == new_job_id
    assert reason in details["summary"]

    post(admin.client, f"/admin/jobs/{job_id}/retry", page="/admin/jobs")  # an old job: refused
    assert "只有资源最近一次失败的处理任务可以重试" in flashed(admin.client, "/admin/jobs")
    assert "请选择有效的任务状态" in admin.client.get("/admin/jobs?status=lost").get_data(as_text=True)


def test_the_jobs_page_lists_queued_and_running_jobs(app, auth, admin, client):
    auth.create_uploader(phone=OWNER)
    rid = upload_image(client, auth.token(OWNER))
    with app.app_context():
        db.session.add(ProcessingJob(resource_id=rid, status=JobStatus.RUNNING, step="转码", progress=40))
        db.session.add(ProcessingJob(resource_id=rid, status=JobStatus.QUEUED))
        db.session.commit()
    page = admin.client.get("/admin/jobs").get_data(as_text=True)
    assert "排队中 1 个" in page and "处理中 1 个" in page and "转码（40%）" in page
    assert "成功" not in page.split('data-testid="job-list"', 1)[1]  # finished jobs are not listed


# -- the audit log, verification history and review queue ----------------------------------


def test_the_audit_log_filters_by_actor_action_object_and_day(app, auth, admin):
    a = auth.create(Role.STATION, phone=OWNER)
    b = auth.create(Role.STATION, phone=OTHER)
    auth.create(Role.ADMIN, phone=REVIEWER, name="运营小李")
    post(admin.client, f"/admin/users/{a}/disable")
    post(admin.client, f"/admin/users/{b}/disable")
    other = Accounts(app, app.test_client(), None)
    other.login(REVIEWER)
    post(other.client, f"/admin/users/{a}/enable")
    with app.app_context():  # one entry from long ago
        db.session.execute(
            update(AuditEntry)
            .where(AuditEntry.object_id == str(b))
            .values(created_at=utcnow() - timedelta(days=40))
        )
        db.session.commit()

    def total(**query):
        html = admin.client.get("/admin/audit", query_string=query).get_data(as_text=True)
        return int(re.search(r'data-testid="audit-total">(\d+)<', html).group(1))

    assert total() == 3
    assert total(actor="运营小李") == 1 and total(actor=REVIEWER) == 1 and total(actor="无此人") == 0
    assert total(action="user.disable") == 2
    assert total(object_type="user", object_id=str(a)) == 2
    with app.app_context():
        from cloud.stations.service import today

        day = today().isoformat()
    assert total(since=day) == 2 and total(until=day) == 3
    page = admin.client.get("/admin/audit", query_string={"since": "2026-13-01"}).get_data(as_text=True)
    assert "开始日期格式有误" in page
    page = admin.client.get("/admin/audit", query_string={"since": day, "until": "2020-01-01"})
    assert "开始日期不能晚于结束日期" in page.get_data(as_text=True)
    assert "请选择有效的操作" in admin.client.get("/admin/audit?action=x").get_data(as_text=True)


def test_verification_decisions_are_kept_with_the_region_and_shown_in_the_queue(app, auth, admin, client):
    applicant = auth.create(Role.INSTITUTION, phone=OWNER)
    with app.app_context():
        user = db.session.get(User, applicant)
        inst = institutions.create_institution("芙蓉区科协", CREDIT_CODES[1], region_code="430102")
        institutions.add_member(inst, user, manager=True)
        inst.status, inst.applicant_id = "pending", applicant
        db.session.commit()
        inst_id = inst.id
    queue = admin.client.get("/admin/institutions").get_data(as_text=True)
    assert "湖南省长沙市芙蓉区" in queue
    token = csrf_token(admin.client, "/admin/institutions")
    form = {"csrf_token": token, "reason": "执照不清"}
    admin.client.post(f"/admin/institutions/{inst_id}/reject", data=form)
    history = admin.client.get("/admin/institutions/history").get_data(as_text=True)
    assert "芙蓉区科协" in history and "湖南省长沙市芙蓉区" in history and "执照不清" in history
    [(actor, action, _, object_id, details)] = entries(app)
    assert (actor, action, object_id) == (admin.id, "institution.reject", str(inst_id))
    assert details["region_code"] == "430102"


def test_admins_can_look_at_the_review_queue_but_not_decide(app, auth, admin, client):
    auth.create_uploader(phone=OTHER)
    rid = upload_image(client, auth.token(OTHER), title="待审核的花")
    client.post(f"/api/v1/resources/{rid}/submit", headers=auth.token(OTHER))
    assert "待审核的花" in admin.client.get("/review").get_data(as_text=True)
    page = admin.client.get(f"/review/{rid}").get_data(as_text=True)
    assert "审核须由审核专家完成" in page and "领取审核" not in page
    token = csrf_token(admin.client, f"/review/{rid}")
    admin.client.post(f"/review/{rid}/claim", data={"csrf_token": token})
    with app.app_context():
        resource = db.session.get(Resource, rid)
        assert resource.claimed_by_id is None and resource.state == "pending_review"
