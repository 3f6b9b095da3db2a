"""Registration by phone: captcha, SMS code rules and limits (SECURITY.md 16-19)."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from cloud.accounts.models import Role, SmsMessage, User
from cloud.extensions import db
from cloud.models_base import utcnow
from tests.conftest import PASSWORD, captcha_answer

PHONE = "13800138000"


def test_register_with_captcha_and_sms_code_logs_in(app, client, auth, outbox):
    response = auth.request_code(PHONE)
    assert response.status_code == 200
    assert response.get_json()["message"] == "验证码已发送，请注意查收短信"
    code = outbox.last_code(PHONE)
    assert code and len(code) == 6

    response = auth.register(PHONE, code=code)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/welcome"
    page = client.get("/account/welcome").get_data(as_text=True)
    assert "注册成功" in page and "机构用户" in page
    assert 'href="/institution" data-testid="next-verify">申请机构认证</a>' in page
    with app.app_context():
        user = db.session.scalar(select(User).where(User.phone == PHONE))
        assert user.roles == {Role.INSTITUTION}
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


def test_register_page_is_chinese_with_password_hint(client):
    html = client.get("/account/register").get_data(as_text=True)
    for text in ("立即注册", "获取验证码", "图形验证码", "建议使用大小写字母与数字组合", 'lang="zh-CN"'):
        assert text in html


def test_solved_captcha_cannot_be_replayed(app, auth, outbox):
    captcha_id = auth.new_captcha()
    answer = captcha_answer(app, captcha_id)
    assert auth.request_code(PHONE, captcha_id=captcha_id, answer=answer).status_code == 200
    replay = auth.request_code("13900139000", captcha_id=captcha_id, answer=answer)
    assert replay.status_code == 422
    assert replay.get_json()["error"]["message"] == "图形验证码错误或已过期，请刷新后重试"
    assert outbox.messages("13900139000") == []


def test_wrong_captcha_spends_the_challenge(app, auth, outbox):
    captcha_id = auth.new_captcha()
    assert auth.request_code(PHONE, captcha_id=captcha_id, answer="0000").status_code == 422
    right = captcha_answer(app, captcha_id)
    assert auth.request_code(PHONE, captcha_id=captcha_id, answer=right).status_code == 422
    assert outbox.messages() == []


def test_captcha_image_is_png_and_dies_with_use(app, client, auth):
    captcha_id = auth.new_captcha()
    response = client.get(f"/api/v1/captcha/{captcha_id}.png")
    assert response.status_code == 200
    assert response.data.startswith(b"\x89PNG")
    assert "no-store" in response.headers["Cache-Control"]
    auth.request_code(PHONE, captcha_id=captcha_id)
    assert client.get(f"/api/v1/captcha/{captcha_id}.png").status_code == 404


def test_secrets_never_reach_the_session_cookie(app, client, auth, outbox):
    captcha_id = auth.new_captcha()
    answer = captcha_answer(app, captcha_id)
    auth.request_code(PHONE, captcha_id=captcha_id, answer=answer)
    code = outbox.last_code(PHONE)
    client.get("/account/register")
    cookie = client.get_cookie("session")
    serializer = app.session_interface.get_signing_serializer(app)
    session_data = str(serializer.loads(cookie.value)) if cookie else ""
    assert answer not in session_data
    assert code not in session_data
    assert captcha_id not in session_data


def test_resend_within_cool_down_is_429_and_sends_nothing(auth, outbox):
    assert auth.request_code(PHONE).status_code == 200
    again = auth.request_code(PHONE)
    assert again.status_code == 429
    assert again.get_json()["error"]["code"] == "rate_limited"
    assert 0 < again.get_json()["error"]["details"]["retry_after"] <= 60
    assert len(outbox.messages(PHONE)) == 1


@pytest.mark.parametrize("app_settings", [{"KEPU_SMS_RESEND_SECONDS": 0, "KEPU_SMS_DAILY_CAP": 3}])
def test_daily_cap_per_phone(auth, outbox):
    for _ in range(3):
        assert auth.request_code(PHONE).status_code == 200
    refused = auth.request_code(PHONE)
    assert refused.status_code == 429
    assert "今日" in refused.get_json()["error"]["message"]
    assert len(outbox.messages(PHONE)) == 3


@pytest.mark.parametrize("app_settings", [{"KEPU_SMS_IP_HOURLY_CAP": 2}])
def test_cap_per_ip(auth, outbox):
    assert auth.request_code("13800138001").status_code == 200
    assert auth.request_code("13800138002").status_code == 200
    assert auth.request_code("13800138003").status_code == 429
    assert outbox.messages("13800138003") == []


def test_code_expires(app, auth, outbox):
    auth.request_code(PHONE)
    code = outbox.last_code(PHONE)
    with app.app_context():
        db.session.execute(update(SmsMessage).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    response = auth.register(PHONE, code=code)
    assert response.status_code == 200
    assert "短信验证码错误或已失效" in response.get_data(as_text=True)
    assert auth.user_id(PHONE) is None


def test_code_is_single_use(app, auth, outbox):
    auth.request_code(PHONE)
    code = outbox.last_code(PHONE)
    assert auth.register(PHONE, code=code).status_code == 302
    auth.logout()
    with app.app_context():
        db.session.execute(update(User).values(phone="13700137000"))  # free the phone again
        db.session.commit()
    assert auth.register(PHONE, code=code).status_code == 200
    assert auth.user_id(PHONE) is None


def test_code_is_bound_to_phone(auth, outbox):
    auth.request_code(PHONE)
    code = outbox.last_code(PHONE)
    assert auth.register("13900139000", code=code).status_code == 200
    assert auth.user_id("13900139000") is None


def test_code_is_bound_to_purpose(app, outbox):
    from cloud.accounts import sms

    with app.test_request_context():
        sms.send_code(PHONE, "reset", "127.0.0.1")
        code = outbox.last_code(PHONE)
        assert not sms.check_code(PHONE, "register", code)
        assert sms.check_code(PHONE, "reset", code)
        assert not sms.check_code(PHONE, "reset", code)  # and used up


def test_code_dies_after_five_wrong_tries(auth, outbox):
    auth.request_code(PHONE)
    code = outbox.last_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert auth.register(PHONE, code=wrong).status_code == 200
    response = auth.register(PHONE, code=code)
    assert response.status_code == 200
    assert "短信验证码错误或已失效" in response.get_data(as_text=True)
    assert auth.user_id(PHONE) is None


def test_four_wrong_tries_still_allow_the_right_code(auth, outbox):
    auth.request_code(PHONE)
    code = outbox.last_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(4):
        auth.register(PHONE, code=wrong)
    assert auth.register(PHONE, code=code).status_code == 302


@pytest.mark.parametrize("app_settings", [{"KEPU_SMS_RESEND_SECONDS": 0}])
def test_same_number_in_two_spellings_registers_once(auth, outbox):
    auth.request_code("+86 138-0013-8000")
    assert auth.register("+86 138-0013-8000", code=outbox.last_code(PHONE)).status_code == 302
    assert auth.user_id(PHONE) is not None
    auth.logout()
    # The second attempt looks the same to the caller; only the phone's owner learns why.
    response = auth.request_code("138 0013 8000")
    assert response.status_code == 200
    assert response.get_json()["message"] == "验证码已发送，请注意查收短信"
    texts = [m["text"] for m in outbox.messages(PHONE)]
    assert len(texts) == 2 and "已注册" in texts[1] and "验证码" not in texts[1]
    assert auth.register("13800138000", code="123456").status_code == 200


@pytest.mark.parametrize("phone", ["13800138000\n", "１３８００１３８０００", "12345"])
def test_malformed_phone_is_refused(auth, outbox, phone):
    response = auth.request_code(phone)
    assert response.status_code == 422
    assert response.get_json()["error"]["message"] == "请输入正确的手机号码"
    assert outbox.messages() == []


@pytest.mark.parametrize(
    ("password", "ok"), [("Ab123", False), ("Ab1234", True), ("A" * 20, True), ("A" * 21, False)]
)
def test_password_length_rule(auth, outbox, password, ok):
    auth.request_code(PHONE)
    response = auth.register(PHONE, password=password, code=outbox.last_code(PHONE))
    assert (response.status_code == 302) is ok
    if not ok:
        assert "密码长度须为6-20个字符" in response.get_data(as_text=True)


def test_form_post_without_csrf_token_is_400(client):
    response = client.post("/account/login", data={"login": PHONE, "password": PASSWORD})
    assert response.status_code == 400
    assert "页面已过期" in response.get_data(as_text=True)


def test_api_call_with_session_cookie_needs_csrf(auth, client):
    auth.create()
    auth.login()
    response = client.post("/api/v1/captcha")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"
