"""Forms keep what was typed after an error (issue 12): the 机构认证 form's region and licence,
the staff form's region, the e站 form's photos said plainly."""

import io
import re

from sqlalchemy import func, select

from cloud.accounts.models import Role
from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.institutions.models import Institution
from tests.conftest import CREDIT_CODES, TESTDATA, csrf_token, post_multipart

OWNER = "13700137000"


def licence_bytes():
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        return fh.read()


def apply_form(client, **changes):
    form = {
        "name": "长沙市科学技术协会",
        "credit_code": CREDIT_CODES[0],
        "kind": "科协",
        "region_code": "430102",
        "contact_name": "张老师",
        "contact_phone": "13800138000",
        "csrf_token": csrf_token(client, "/institution"),
    }
    form.update(changes)
    return form


def selected_regions(html):
    return re.search(r'class="region-picker"[^>]*data-selected="([^"]*)"', html).group(1)


def pending_token(html):
    found = re.search(r'name="licence_token" type="hidden" value="([^"]+)"', html)
    return found.group(1) if found else None


def test_a_failed_application_keeps_the_region_and_every_field(auth, client):
    auth.create(Role.INSTITUTION, phone=OWNER)
    auth.login(OWNER)
    page = post_multipart(client, "/institution", apply_form(client, credit_code="91350100M000100Y44"))
    html = page.get_data(as_text=True)
    assert "统一社会信用代码无效" in html
    assert selected_regions(html) == "43,4301,430102"
    assert 'value="430102"' in html
    for typed in ("长沙市科学技术协会", "张老师", "13800138000", "91350100M000100Y44"):
        assert f'value="{typed}"' in html
    assert '<option selected value="科协">' in html


def test_a_licence_sent_with_a_failed_form_is_kept_and_used_on_the_next_submission(app, auth, client):
    auth.create(Role.INSTITUTION, phone=OWNER)
    auth.login(OWNER)
    first = post_multipart(
        client,
        "/institution",
        {**apply_form(client, contact_phone="123"), "licence": (io.BytesIO(licence_bytes()), "营业执照.jpg")},
    )
    html = first.get_data(as_text=True)
    assert "请填写正确的联系人手机号" in html
    assert 'data-testid="pending-licence"' in html and "营业执照.jpg" in html
    token = pending_token(html)
    assert token
    # no file chosen this time: the one already sent is used
    done = post_multipart(client, "/institution", apply_form(client, licence_token=token))
    assert done.status_code == 302
    with app.app_context():
        institution = db.session.scalar(select(Institution))
        assert institution.licence_file.original_name == "营业执照.jpg"
        assert institution.licence_file.content_type == "image/jpeg"
        assert db.session.scalar(select(func.count()).select_from(StoredFile)) == 1


def test_a_form_that_fails_its_own_checks_still_keeps_the_licence(auth, client):
    auth.create(Role.INSTITUTION, phone=OWNER)
    auth.login(OWNER)
    page = post_multipart(
        client,
        "/institution",
        {**apply_form(client, name=""), "licence": (io.BytesIO(licence_bytes()), "执照.jpg")},
    )
    html = page.get_data(as_text=True)
    assert "此项不能为空" in html
    assert pending_token(html) and "执照.jpg" in html


def test_a_pending_licence_token_works_only_for_its_user_and_only_a_while(app, auth, client):
    auth.create(Role.INSTITUTION, phone=OWNER)
    auth.create(Role.INSTITUTION, phone="13700137001")
    auth.login(OWNER)
    html = post_multipart(
        client,
        "/institution",
        {**apply_form(client, contact_phone="1"), "licence": (io.BytesIO(licence_bytes()), "执照.jpg")},
    ).get_data(as_text=True)
    token = pending_token(html)
    auth.logout()
    auth.login("13700137001")
    other = post_multipart(client, "/institution", apply_form(client, licence_token=token))
    assert other.status_code == 200
    assert "请上传营业执照或授权书" in other.get_data(as_text=True)
    forged = post_multipart(client, "/institution", apply_form(client, licence_token=token[:-2] + "xx"))
    assert "请上传营业执照或授权书" in forged.get_data(as_text=True)
    with app.app_context():
        from cloud.accounts.models import User
        from cloud.institutions import service

        owner = db.session.scalar(select(User).where(User.phone == OWNER))
        assert service.pending_licence(owner, token) is not None
        service.PENDING_LICENCE_SECONDS, saved = -1, service.PENDING_LICENCE_SECONDS
        try:
            assert service.pending_licence(owner, token) is None
        finally:
            service.PENDING_LICENCE_SECONDS = saved


def test_a_licence_of_the_wrong_type_is_not_kept(app, auth, client):
    auth.create(Role.INSTITUTION, phone=OWNER)
    auth.login(OWNER)
    html = post_multipart(
        client, "/institution", {**apply_form(client), "licence": (io.BytesIO(b"MZ\x90\x00"), "执照.jpg")}
    ).get_data(as_text=True)
    assert "jpg、png 或 pdf" in html
    assert pending_token(html) is None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StoredFile)) == 0


def test_the_staff_form_comes_back_with_the_chosen_region(auth, client):
    auth.create(Role.ADMIN, phone="13900139000")
    auth.login("13900139000")
    token = csrf_token(client, "/stations/staff")
    page = client.post(
        "/stations/staff",
        data={"region_code": "43", "name": "王主任", "phone": "123", "password": "x", "csrf_token": token},
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert selected_regions(html) == "43"
    assert 'value="王主任"' in html


def test_a_refused_edit_of_a_resource_keeps_what_was_typed(app, auth, client):
    auth.create_uploader(phone=OWNER)
    token = auth.token(OWNER)
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        data = {"kind": "image", "title": "花", "channel": "科技", "file": (io.BytesIO(fh.read()), "花.jpg")}
    rid = post_multipart(client, "/api/v1/resources", data, {**token}).get_json()["id"]
    auth.login(OWNER)
    csrf = csrf_token(client, f"/my/uploads/{rid}")
    response = client.post(
        f"/my/uploads/{rid}/edit",
        data={
            "csrf_token": csrf,
            "title": "花" * 101,
            "summary": "新的简介",
            "channel": "健康",
            "tags": "花，植物",
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "标题不能超过100个字" in html
    assert (
        ">新的简介</textarea>" in html
        and 'value="花，植物"' in html
        and "<option selected>健康</option>" in html
    )
    with app.app_context():
        from cloud.resources.models import Resource

        assert db.session.get(Resource, rid).summary == ""
