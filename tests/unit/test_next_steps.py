"""Each role is told what to do next (issue 12): after registering, on 上传, on a refused upload."""

import pytest

from cloud.accounts.models import Role
from cloud.extensions import db
from cloud.institutions import service as institutions
from tests.conftest import CREDIT_CODES

PHONE = "13800138000"


def institution_user(app, auth, status):
    from cloud.accounts.models import User

    user_id = auth.create(Role.INSTITUTION, phone=PHONE)
    if status is None:
        return
    with app.app_context():
        inst = institutions.create_institution("某某科技馆", CREDIT_CODES[1])
        inst.status = status
        inst.reject_reason = "执照照片不清晰" if status == "rejected" else ""
        institutions.add_member(inst, db.session.get(User, user_id), manager=True)
        db.session.commit()


def test_the_welcome_page_of_a_station_manager_leads_to_the_application(auth, client):
    auth.create(Role.STATION_MANAGER, phone=PHONE)
    auth.login(PHONE)
    page = client.get("/account/welcome").get_data(as_text=True)
    assert 'href="/stations/apply" data-testid="next-apply">填写e站申报信息</a>' in page
    assert "机构认证" not in page


@pytest.mark.parametrize("role", [Role.INFORMANT, Role.STATION])
def test_the_welcome_page_of_a_reader_leads_to_the_resource_center(auth, client, role):
    auth.create(role, phone=PHONE, username="xinxiyuan01")
    auth.login(PHONE)
    page = client.get("/account/welcome").get_data(as_text=True)
    assert 'href="/resources" data-testid="next-catalog">资源中心</a>' in page
    assert "机构认证" not in page


@pytest.mark.parametrize("role", [Role.INFORMANT, Role.STATION, Role.STATION_MANAGER])
def test_a_non_institution_user_on_upload_is_sent_to_the_resource_center_not_to_verify(auth, client, role):
    auth.create(role, phone=PHONE, username="xinxiyuan01")
    auth.login(PHONE)
    for url in ("/upload", "/upload/article"):
        page = client.get(url).get_data(as_text=True)
        assert "上传资源仅面向<strong>机构用户</strong>" in page
        assert 'href="/resources" role="button">去资源中心</a>' in page
        assert "请先" not in page and 'data-testid="verify-link"' not in page
        assert 'id="upload-form"' not in page


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (None, "完成机构认证</a>"),
        ("unverified", "完成机构认证</a>"),
        ("pending", "查看认证进度</a>"),
        ("rejected", "修改后重新提交机构认证</a>"),
    ],
)
def test_an_unverified_institution_user_on_upload_gets_a_link_to_verification(
    app, auth, client, status, says
):
    institution_user(app, auth, status)
    auth.login(PHONE)
    page = client.get("/upload").get_data(as_text=True)
    assert f'<a href="/institution" data-testid="verify-link">{says}' in page
    if status == "rejected":
        assert "执照照片不清晰" in page


def test_a_refused_upload_names_the_way_to_verification(app, auth, client):
    from tests.conftest import csrf_token, post_multipart

    institution_user(app, auth, None)
    auth.login(PHONE)
    token = csrf_token(client, "/upload")
    api = post_multipart(client, "/api/v1/resources", {"kind": "image", "title": "x"}, {"X-CSRFToken": token})
    assert api.status_code == 403
    assert api.get_json()["error"]["details"] == {"link": "/institution", "link_text": "去完成机构认证"}
