"""Limits that must neither leak nor tell (issue 11, findings 3, 4 and 5).

SMS codes, captchas and logins are limited in the shared database, the same way whether or not
an account exists behind the phone or name typed. Several tests stop the limits' clocks so that
the "retry after" figures in the answers are the same to the second.
"""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from cloud.accounts import sms, throttle
from cloud.accounts.models import Captcha, RateLimitHit, SmsMessage
from cloud.extensions import db
from tests.conftest import PASSWORD, csrf_token

KNOWN, UNKNOWN = "13800138000", "13900139000"
FROZEN = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def frozen_clocks(monkeypatch):
    monkeypatch.setattr(sms, "utcnow", lambda: FROZEN)
    monkeypatch.setattr(throttle, "utcnow", lambda: FROZEN)


def from_ip(client, ip):
    client.environ_base["REMOTE_ADDR"] = ip


def sms_answers(auth, phone, purpose, n):
    answers = []
    for _ in range(n):
        response = auth.request_code(phone, purpose=purpose)
        answers.append((response.status_code, response.get_json()))
    return answers


# -- finding 3: SMS codes -----------------------------------------------------------------------

SMS_SCENARIOS = {
    "cool-down": ({}, [200, 429, 429]),
    "daily cap": ({"KEPU_SMS_RESEND_SECONDS": 0, "KEPU_SMS_DAILY_CAP": 2}, [200, 200, 429]),
    "ip cap": ({"KEPU_SMS_RESEND_SECONDS": 0, "KEPU_SMS_IP_HOURLY_CAP": 2}, [200, 200, 429]),
}


@pytest.mark.parametrize("purpose", ["register", "reset"])
@pytest.mark.parametrize(("app_settings", "statuses"), list(SMS_SCENARIOS.values()), ids=list(SMS_SCENARIOS))
def test_sms_answers_are_the_same_for_known_and_unknown_phones(
    auth, client, frozen_clocks, purpose, statuses
):
    auth.create(phone=KNOWN)
    from_ip(client, "10.0.0.1")
    known = sms_answers(auth, KNOWN, purpose, 3)
    from_ip(client, "10.0.0.2")
    unknown = sms_answers(auth, UNKNOWN, purpose, 3)
    assert [status for status, _ in known] == statuses
    assert unknown == known


def test_a_reset_for_an_unknown_phone_sends_nothing_but_is_counted(app, auth, outbox):
    assert auth.request_code(UNKNOWN, purpose="reset").status_code == 200
    assert outbox.messages() == []
    with app.app_context():
        row = db.session.scalar(select(SmsMessage))
        assert (row.phone, row.purpose, row.is_sent, row.code_hash) == (UNKNOWN, "reset", False, None)


# -- finding 5: login limits --------------------------------------------------------------------


def token_attempt(client, login, password="WrongPass1"):
    response = client.post("/api/v1/auth/token", json={"login": login, "password": password})
    return response.status_code, response.get_json()


def form_attempt(client, login, password="WrongPass1"):
    token = csrf_token(client)
    return client.post("/account/login", data={"login": login, "password": password, "csrf_token": token})


@pytest.mark.parametrize("app_settings", [{"KEPU_LOGIN_ACCOUNT_RATE_LIMIT": "3 per 15 minutes"}])
def test_the_per_account_limit_answers_alike_for_unknown_accounts(auth, client, frozen_clocks):
    auth.create(phone=KNOWN, username="known_user")
    sequences = {}
    for login in (KNOWN, UNKNOWN, "known_user", "nobody_here"):
        answers = []
        for attempt in range(4):  # each from another address: the per-IP limit stays out of it
            from_ip(client, f"10.1.{len(sequences)}.{attempt}")
            answers.append(token_attempt(client, login))
        sequences[login] = answers
    known = sequences[KNOWN]
    assert [status for status, _ in known] == [401, 401, 401, 429]
    assert known[3][1]["error"]["code"] == "rate_limited"
    assert known[3][1]["error"]["details"] == {"retry_after": 900}
    assert sequences[UNKNOWN] == sequences["known_user"] == sequences["nobody_here"] == known
    # the right password does not get past the limit either (it is not even checked)
    assert token_attempt(client, KNOWN, PASSWORD)[0] == 429
    # another spelling of the same phone is the same account
    from_ip(client, "10.9.9.9")
    assert token_attempt(client, "+86 138-0013-8000")[0] == 429


@pytest.mark.parametrize("app_settings", [{"KEPU_LOGIN_RATE_LIMIT": "4 per minute"}])
def test_the_form_and_the_token_endpoint_share_the_per_ip_limit(auth, client):
    auth.create(phone=KNOWN)
    assert form_attempt(client, "user_a").status_code == 200
    assert form_attempt(client, "user_b").status_code == 200
    assert token_attempt(client, "user_c")[0] == 401
    assert token_attempt(client, "user_d")[0] == 401
    page = form_attempt(client, KNOWN, PASSWORD)
    assert page.status_code == 429 and "操作过于频繁" in page.get_data(as_text=True)
    assert token_attempt(client, KNOWN, PASSWORD)[0] == 429
    # another address is not held back by this one
    from_ip(client, "10.2.0.1")
    assert token_attempt(client, KNOWN, PASSWORD)[0] == 201


@pytest.mark.parametrize("app_settings", [{"KEPU_LOGIN_RATE_LIMIT": "2 per minute"}])
def test_only_failed_logins_count(auth, client):
    auth.create(phone=KNOWN)
    for _ in range(3):
        assert token_attempt(client, KNOWN, PASSWORD)[0] == 201
        assert form_attempt(client, KNOWN, PASSWORD).status_code == 302
        auth.logout()
    assert token_attempt(client, KNOWN)[0] == 401


@pytest.mark.parametrize("app_settings", [{"KEPU_LOGIN_RATE_LIMIT": "2 per minute"}])
def test_refused_attempts_take_their_counts_back_and_keys_are_hashed(app, client):
    statuses = [token_attempt(client, "guessed_name")[0] for _ in range(7)]
    assert statuses == [401, 401, 429, 429, 429, 429, 429]
    with app.app_context():
        rows = db.session.scalars(select(RateLimitHit)).all()
    # two failed attempts, each counted per IP and per account name; refusals left nothing
    assert sorted(r.bucket for r in rows) == ["login_account"] * 2 + ["login_ip"] * 2
    for row in rows:
        assert len(row.key) == 64 and "guessed_name" not in row.key and "127.0.0.1" not in row.key


# -- finding 4: captchas ------------------------------------------------------------------------


def new_captcha(client):
    token = csrf_token(client)  # the login page: it draws no captcha
    return client.post("/api/v1/captcha", headers={"X-CSRFToken": token})


@pytest.mark.parametrize("app_settings", [{"KEPU_CAPTCHA_RATE_LIMIT": "5 per minute"}])
def test_captchas_are_limited_per_ip(client):
    statuses = [new_captcha(client).status_code for _ in range(5)]
    assert statuses == [201] * 5
    refused = new_captcha(client)
    assert refused.status_code == 429
    error = refused.get_json()["error"]
    assert error["code"] == "rate_limited" and error["message"] == "获取图形验证码过于频繁，请稍后再试"
    assert 0 < error["details"]["retry_after"] <= 60
    page = client.get("/account/register")
    assert page.status_code == 429 and "获取图形验证码过于频繁" in page.get_data(as_text=True)
    from_ip(client, "10.3.0.1")
    assert new_captcha(client).status_code == 201


def test_a_captcha_is_drawn_only_once(client, auth):
    captcha_id = auth.new_captcha()
    url = f"/api/v1/captcha/{captcha_id}.png"
    first = client.get(url)
    assert first.status_code == 200 and first.mimetype == "image/png"
    assert first.data.startswith(b"\x89PNG")
    again = client.get(url)
    assert again.status_code == 404
    assert again.get_json()["error"]["code"] == "not_found"
    # drawn is not spent: the one picture shown can still be answered
    assert auth.request_code(UNKNOWN, captcha_id=captcha_id).status_code == 200


def test_two_racing_requests_draw_a_captcha_once(app, auth):
    captcha_id = auth.new_captcha()
    statuses = []
    start = threading.Barrier(2)

    def fetch():
        start.wait()
        statuses.append(app.test_client().get(f"/api/v1/captcha/{captcha_id}.png").status_code)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [200, 404]


def captcha_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Captcha))


def age_captchas(app, seconds):
    with app.app_context():
        for row in db.session.scalars(select(Captcha)):
            row.created_at -= timedelta(seconds=seconds)
        db.session.commit()


def test_expired_captchas_are_purged_when_new_ones_are_made(app, auth):
    old = auth.new_captcha()
    age_captchas(app, app.config["KEPU_CAPTCHA_TTL"] + 1)
    fresh = auth.new_captcha()
    with app.app_context():
        assert db.session.get(Captcha, old) is None
        assert db.session.get(Captcha, fresh) is not None


def test_users_sweep_removes_expired_captchas_and_counts(app, auth, client, runner):
    auth.new_captcha()
    auth.new_captcha()
    token_attempt(client, "someone")
    age_captchas(app, app.config["KEPU_CAPTCHA_TTL"] + 1)
    with app.app_context():
        db.session.execute(update(RateLimitHit).values(expires_at=FROZEN))
        db.session.commit()
    result = runner.invoke(args=["users", "sweep"])
    assert result.exit_code == 0, result.output
    # four captchas (the register page auth.new_captcha reads its CSRF token from draws one
    # each), each counted against its IP, and a login attempt counted per IP and per name
    assert "removed 4 expired captcha(s) and 6 rate-limit count(s)" in result.output
    assert captcha_count(app) == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RateLimitHit)) == 0
