"""Limits hold across several web processes (SECURITY.md 21).

Each "web process" here is a real separate Python process with its own app. Login, captcha and
SMS limits are all counted in the shared database, so they hold with Redis and without it.
(test_login_limits_gunicorn.py fires parallel requests at real gunicorn worker processes.)
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from cloud.accounts.models import RateLimitHit
from cloud.extensions import db
from tests.support import free_port
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]

WORKER = r"""
import json, sys
from tests.conftest import make_app, captcha_answer, csrf_token
from pathlib import Path
args = json.loads(sys.argv[1])
app = make_app(args["db"], Path(args["tmp"]), **args["settings"])
client = app.test_client()
statuses = []
for _ in range(args["n"]):
    if args["what"] == "captcha":
        token = csrf_token(client)
        r = client.post("/api/v1/captcha", headers={"X-CSRFToken": token})
    elif args["what"] == "login":
        token = csrf_token(client)
        form = {"login": "13800138000", "password": "Wrong1234", "csrf_token": token}
        r = client.post("/account/login", data=form)
    else:
        token = csrf_token(client, "/account/register")
        cid = client.post("/api/v1/captcha", headers={"X-CSRFToken": token}).get_json()["id"]
        r = client.post("/api/v1/auth/sms-code", headers={"X-CSRFToken": token}, json={
            "phone": "13800138000", "purpose": "register", "captcha_id": cid,
            "captcha_answer": captcha_answer(app, cid)})
    statuses.append(r.status_code)
print(json.dumps(statuses))
"""


def run_process(database_url, tmp_path, what, n, settings):
    args = json.dumps({"db": database_url, "tmp": str(tmp_path), "what": what, "n": n, "settings": settings})
    result = subprocess.run(
        [sys.executable, "-c", WORKER, args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def redis_url():
    server = RedisServer().start()
    yield server.url
    server.stop()


@pytest.mark.redis
def test_login_limit_is_shared_with_redis(app, database_url, tmp_path, redis_url):
    settings = {"RATELIMIT_STORAGE_URI": redis_url, "KEPU_LOGIN_RATE_LIMIT": "3 per minute"}
    assert run_process(database_url, tmp_path, "login", 3, settings) == [200, 200, 200]
    assert run_process(database_url, tmp_path, "login", 1, settings) == [429]


def test_login_limit_without_redis_is_shared_through_the_database(app, database_url, tmp_path):
    # Issue 11 finding 5: with in-process counters the second process started again at zero.
    settings = {"RATELIMIT_STORAGE_URI": "memory://", "KEPU_LOGIN_RATE_LIMIT": "3 per minute"}
    assert run_process(database_url, tmp_path, "login", 2, settings) == [200, 200]
    assert run_process(database_url, tmp_path, "login", 2, settings) == [200, 429]


def test_per_account_login_limit_is_shared_through_the_database(app, database_url, tmp_path):
    settings = {"KEPU_LOGIN_RATE_LIMIT": "100 per minute", "KEPU_LOGIN_ACCOUNT_RATE_LIMIT": "3 per hour"}
    assert run_process(database_url, tmp_path, "login", 2, settings) == [200, 200]
    assert run_process(database_url, tmp_path, "login", 2, settings) == [200, 429]


def test_captcha_limit_is_shared_through_the_database(app, database_url, tmp_path):
    settings = {"KEPU_CAPTCHA_RATE_LIMIT": "3 per minute"}
    assert run_process(database_url, tmp_path, "captcha", 2, settings) == [201, 201]
    assert run_process(database_url, tmp_path, "captcha", 2, settings) == [201, 429]


def test_sms_cool_down_is_shared_through_the_database(app, database_url, tmp_path):
    assert run_process(database_url, tmp_path, "sms", 1, {}) == [200]
    assert run_process(database_url, tmp_path, "sms", 1, {}) == [429]
    lines = (tmp_path / "sms.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1


@pytest.mark.redis
def test_with_kepu_redis_url_the_limits_are_counted_in_redis_not_in_the_database(
    app, database_url, tmp_path, redis_url
):
    settings = {"KEPU_REDIS_URL": redis_url, "KEPU_LOGIN_RATE_LIMIT": "3 per minute"}
    assert run_process(database_url, tmp_path, "login", 3, settings) == [200, 200, 200]
    assert run_process(database_url, tmp_path, "login", 1, settings) == [429]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RateLimitHit)) == 0
    client = redis.Redis.from_url(redis_url)
    try:
        keys = client.keys("kepu:limit:login_ip:*")
        assert len(keys) == 1 and client.zcard(keys[0]) == 3  # the refused one was taken back
    finally:
        client.flushdb()
        client.close()


def test_when_redis_does_not_answer_the_database_counts(app, database_url, tmp_path):
    settings = {
        "KEPU_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "KEPU_LOGIN_RATE_LIMIT": "3 per minute",
    }
    assert run_process(database_url, tmp_path, "login", 3, settings) == [200, 200, 200]
    assert run_process(database_url, tmp_path, "login", 1, settings) == [429]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RateLimitHit)) > 0
