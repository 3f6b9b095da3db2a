"""``flask users create`` and ``flask users import-informants``."""

import pytest
from sqlalchemy import select

from cloud.accounts.models import InformantType, Role, User
from cloud.extensions import db

HEADER = "username,name,phone,region_code,informant_type,password,password_hash\n"
GOOD_ROWS = (
    "xinxiyuan01,张三,13800138001,110101,区县级,Init1234,\nxinxiyuan02,李四,,430102,乡镇街道,Init5678,\n"
)


def write(tmp_path, text, name="informants.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def informants(app):
    with app.app_context():
        return {
            u.username: (u.name, u.phone, u.region_code, u.informant_type, u.password_hash)
            for u in db.session.scalars(select(User))
        }


def test_import_creates_informants_who_can_log_in(app, runner, tmp_path, auth):
    result = runner.invoke(args=["users", "import-informants", write(tmp_path, HEADER + GOOD_ROWS)])
    assert result.exit_code == 0, result.output
    assert "2 created, 0 updated, 0 unchanged, 0 errors" in result.output
    assert auth.login("xinxiyuan01", "Init1234").status_code == 302
    page = auth.client.get("/account/").get_data(as_text=True)
    assert "科普中国信息员" in page and "区县级" in page and "东城区" in page
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "xinxiyuan02"))
        assert user.roles == {Role.INFORMANT}
        assert user.informant_type == InformantType.TOWNSHIP


def test_reimporting_the_same_file_changes_nothing(app, runner, tmp_path):
    path = write(tmp_path, HEADER + GOOD_ROWS)
    runner.invoke(args=["users", "import-informants", path])
    before = informants(app)
    result = runner.invoke(args=["users", "import-informants", path])
    assert result.exit_code == 0
    assert "0 created, 0 updated, 2 unchanged, 0 errors" in result.output
    assert informants(app) == before


def test_import_updates_changed_fields_but_not_passwords(app, runner, tmp_path, auth):
    runner.invoke(args=["users", "import-informants", write(tmp_path, HEADER + GOOD_ROWS)])
    changed = GOOD_ROWS.replace(
        "张三,13800138001,110101,区县级,Init1234", "张三丰,13800138001,110102,市级,Other999"
    )
    result = runner.invoke(args=["users", "import-informants", write(tmp_path, HEADER + changed, "b.csv")])
    assert "0 created, 1 updated, 1 unchanged" in result.output
    name, _, region, kind, _ = informants(app)["xinxiyuan01"]
    assert (name, region, kind) == ("张三丰", "110102", "市级")
    assert auth.login("xinxiyuan01", "Init1234").status_code == 302


def test_bad_rows_are_reported_by_line_and_good_rows_still_import(app, runner, tmp_path):
    rows = (
        GOOD_ROWS
        + "bad phone,王五,13800138000\n"  # line 4: short row, username with a space
        + "xinxiyuan03,王五,1380013800,110101,区县级,Init1234,\n"  # 5: phone
        + "xinxiyuan04,赵六,,999999,区县级,Init1234,\n"  # 6: region
        + "xinxiyuan05,钱七,,110101,村级,Init1234,\n"  # 7: type
        + "xinxiyuan06,孙八,,110101,个人用户,123,\n"  # 8: password too short
        + "xinxiyuan07,周九,,110101,个人用户,,notahash\n"  # 9: not a hash
        + "xinxiyuan01,重复,,110101,个人用户,Init1234,\n"  # 10: duplicate in file
        + "xinxiyuan08,吴十,13800138001,110101,个人用户,Init1234,\n"  # 11: phone taken
        + "xinxiyuan09,郑一,,110101,省级,Init1234,\n"  # 12: good
    )
    result = runner.invoke(args=["users", "import-informants", write(tmp_path, HEADER + rows)])
    assert result.exit_code == 1
    assert "3 created, 0 updated, 0 unchanged, 8 errors" in result.output
    for line in range(4, 12):
        assert f"line {line}:" in result.output
    assert "line 5: 手机号无效：1380013800" in result.output
    assert "line 6: 地区代码不存在：999999" in result.output
    assert "line 7: 信息员类型无效：村级" in result.output
    assert set(informants(app)) == {"xinxiyuan01", "xinxiyuan02", "xinxiyuan09"}


def test_import_accepts_argon2_hashes_from_the_app(app, runner, tmp_path, auth):
    from argon2 import PasswordHasher

    digest = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("FromApp99")
    row = f'xinxiyuan10,冯二,,110101,中国科协,,"{digest}"\n'  # the hash holds commas: quoted
    result = runner.invoke(args=["users", "import-informants", write(tmp_path, HEADER + row)])
    assert "1 created" in result.output
    assert auth.login("xinxiyuan10", "FromApp99").status_code == 302


def test_import_refuses_a_file_without_the_columns(runner, tmp_path):
    result = runner.invoke(
        args=["users", "import-informants", write(tmp_path, "name,phone\n张三,13800138000\n")]
    )
    assert result.exit_code == 1
    assert "line 1: 表头缺少列" in result.output


def test_import_accepts_a_utf8_bom(runner, tmp_path):
    result = runner.invoke(
        args=["users", "import-informants", write(tmp_path, "\ufeff" + HEADER + GOOD_ROWS)]
    )
    assert "2 created" in result.output


@pytest.mark.parametrize("role", ["admin", "reviewer", "station"])
def test_users_create(app, runner, auth, role):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--role",
            role,
            "--phone",
            "+86 139-0013-9000",
            "--password",
            "Admin123",
            "--region",
            "110101",
        ]
    )
    assert result.exit_code == 0, result.output
    assert auth.login("13900139000", "Admin123").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(User)).roles == {Role(role)}


def test_users_create_refuses_duplicates_and_bad_input(runner):
    args = ["users", "create", "--role", "admin", "--phone", "13900139000", "--password", "Admin123"]
    assert runner.invoke(args=args).exit_code == 0
    again = runner.invoke(args=args)
    assert again.exit_code == 1 and "已被使用" in again.output
    bad = runner.invoke(
        args=["users", "create", "--role", "admin", "--phone", "123", "--password", "Admin123"]
    )
    assert bad.exit_code == 1 and "手机号无效" in bad.output
    short = runner.invoke(
        args=["users", "create", "--role", "admin", "--username", "boss", "--password", "123"]
    )
    assert short.exit_code == 1 and "密码长度" in short.output


def test_ensure_admin_creates_one_admin_once(runner, auth):
    first = runner.invoke(args=["users", "ensure-admin"])
    assert "first admin created" in first.output
    password = first.output.strip().rsplit("'", 2)[-2]
    assert auth.login("admin", password).status_code == 302
    assert "an admin account exists" in runner.invoke(args=["users", "ensure-admin"]).output


def test_accounts_without_a_phone_do_not_clash_with_each_other(app, runner, auth):
    """Issue 11 finding 22: an empty phone was compared as equal to every other empty phone."""
    assert runner.invoke(args=["users", "ensure-admin"]).exit_code == 0
    args = ["users", "create", "--role", "reviewer", "--username", "rev1", "--password", "Review123"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    second = runner.invoke(args=[*args[:-3], "rev2", "--password", "Review456"])
    assert second.exit_code == 0, second.output
    assert auth.login("rev1", "Review123").status_code == 302
    with app.app_context():
        phones = {u.username: u.phone for u in db.session.scalars(select(User))}
    assert phones == {"admin": None, "rev1": None, "rev2": None}
    # a username that is taken is still refused, with or without a phone beside it
    again = runner.invoke(args=args)
    assert again.exit_code == 1 and "已被使用" in again.output
    with_phone = runner.invoke(args=[*args, "--phone", "13900139000"])
    assert with_phone.exit_code == 1 and "已被使用" in with_phone.output
