"""Login, logout, password change and reset: messages, sessions and redirects (SECURITY.md 16, 20)."""

import pytest
from sqlalchemy import select

from cloud.accounts.models import AuthSession
from cloud.extensions import db
from tests.conftest import PASSWORD, csrf_token

PHONE = "13800138000"


def test_login_by_phone_in_any_spelling_or_username(auth, client):
    auth.create(phone=PHONE, username="kepu_user")
    for login in (PHONE, "+86 138 0013 8000", "kepu_user"):
        response = auth.login(login)
        assert response.status_code == 302, login
        assert client.get("/account/").status_code == 200
        auth.logout()


def test_wrong_password_and_unknown_account_get_the_same_answer(auth):
    auth.create()
    wrong = auth.login(PHONE, "WrongPass1")
    unknown = auth.login("13900139000", "WrongPass1")
    unknown_name = auth.login("nobody_here", "WrongPass1")
    assert wrong.status_code == unknown.status_code == unknown_name.status_code == 200
    for response in (wrong, unknown, unknown_name):
        assert "账号或密码错误" in response.get_data(as_text=True)


def test_disabled_account_cannot_log_in(app, auth):
    from cloud.accounts.models import User

    user_id = auth.create()
    with app.app_context():
        db.session.get(User, user_id).is_active = False
        db.session.commit()
    assert "账号或密码错误" in auth.login().get_data(as_text=True)


def test_logout_ends_the_session_on_the_server(app, auth, client):
    auth.create()
    auth.login()
    stolen = client.get_cookie("session").value
    auth.logout()
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    response = thief.get("/account/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/login")


def test_password_change_ends_other_sessions_but_keeps_this_one(app, auth, client):
    auth.create()
    other = app.test_client()
    token = csrf_token(other)
    other.post("/account/login", data={"login": PHONE, "password": PASSWORD, "csrf_token": token})
    assert other.get("/account/").status_code == 200
    api_token = client.post("/api/v1/auth/token", json={"login": PHONE, "password": PASSWORD}).get_json()[
        "token"
    ]

    auth.login()
    token = csrf_token(client, "/account/")
    response = client.post(
        "/account/password",
        data={
            "old_password": PASSWORD,
            "password": "NewPass456",
            "password2": "NewPass456",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    assert "密码已修改" in client.get("/account/").get_data(as_text=True)
    assert other.get("/account/").status_code == 302
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {api_token}"}).status_code == 401
    auth.logout()
    assert auth.login(PHONE, PASSWORD).status_code == 200
    assert auth.login(PHONE, "NewPass456").status_code == 302


def test_password_change_needs_the_old_password(auth, client):
    auth.create()
    auth.login()
    token = csrf_token(client, "/account/")
    client.post(
        "/account/password",
        data={
            "old_password": "nope123",
            "password": "NewPass456",
            "password2": "NewPass456",
            "csrf_token": token,
        },
    )
    assert "原密码不正确" in client.get("/account/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("next_url", "location"),
    [
        ("//evil.example", "/"),
        ("https://evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("/account/", "/account/"),
    ],
)
def test_login_redirects_only_within_the_site(auth, next_url, location):
    auth.create()
    response = auth.login(next_url=next_url)
    assert response.status_code == 302
    assert response.headers["Location"] == location


def test_login_page_keeps_next_from_the_query(auth, client):
    html = client.get("/account/login?next=/account/").get_data(as_text=True)
    assert 'value="/account/"' in html


def test_password_reset_by_sms(app, auth, client, outbox):
    auth.create()
    auth.login()
    old_cookie = client.get_cookie("session").value
    fresh = app.test_client()
    fresh_auth = type(auth)(app, fresh, outbox)
    assert fresh_auth.request_code(PHONE, purpose="reset").status_code == 200
    code = outbox.last_code(PHONE)
    token = csrf_token(fresh, "/account/reset")
    response = fresh.post(
        "/account/reset",
        data={
            "phone": PHONE,
            "code": code,
            "password": "Reset789",
            "password2": "Reset789",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    assert fresh_auth.login(PHONE, "Reset789").status_code == 302
    # the session opened before the reset is over
    stale = app.test_client()
    stale.set_cookie("session", old_cookie)
    assert stale.get("/account/").status_code == 302


def test_reset_for_unknown_phone_answers_alike_and_sends_nothing(auth, outbox):
    response = auth.request_code("13900139000", purpose="reset")
    assert response.status_code == 200
    assert response.get_json()["message"] == "验证码已发送，请注意查收短信"
    assert outbox.messages() == []


def test_sessions_store_only_token_hashes(app, auth, client):
    auth.create()
    auth.login()
    serializer = app.session_interface.get_signing_serializer(app)
    token = serializer.loads(client.get_cookie("session").value)["_user_id"]
    with app.app_context():
        row = db.session.scalar(select(AuthSession))
        assert row.token_hash != token and len(row.token_hash) == 64
        assert token not in row.token_hash


@pytest.mark.parametrize("app_settings", [{"KEPU_LOGIN_RATE_LIMIT": "3 per minute"}])
def test_login_attempts_are_rate_limited(auth):
    auth.create()
    for _ in range(3):
        auth.login(PHONE, "WrongPass1")
    response = auth.login(PHONE, PASSWORD)
    assert response.status_code == 429
    assert "操作过于频繁" in response.get_data(as_text=True)
