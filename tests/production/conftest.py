"""The production profile for the tests in this folder: one per test session (it takes ~30 s to
start on this machine), PostgreSQL pass only (tests/conftest.py skips ``production`` tests
without ``KEPU_TEST_DATABASE_URL``).

``production`` is the running ``ProductionProfile`` (tests/support/production.py); ``people``
the accounts every test may use, created once; ``http`` a requests session that ignores the
machine's proxy settings.
"""

import os
import time

import pytest
import requests

from cloud.accounts import service as accounts
from cloud.accounts.models import Role, User, UserRole
from cloud.extensions import db
from cloud.institutions import service as institutions
from tests.support.production import ProductionProfile, ProductionProfileError

PASSWORD = "Secret123"
OWNER, REVIEWER, STATION = "13800138000", "13700137000", "13600136000"


@pytest.fixture(scope="session")
def production():
    if not os.environ.get("KEPU_TEST_DATABASE_URL"):
        pytest.skip("the production profile needs PostgreSQL: make test runs it in its PostgreSQL pass")
    profile = ProductionProfile()
    try:
        profile.start()
    except ProductionProfileError as exc:
        pytest.fail(f"could not start the production profile: {exc}", pytrace=False)
    try:
        yield profile
    finally:
        profile.stop()


@pytest.fixture(scope="session")
def production_app(production):
    """An in-process app on the profile's database, S3 and index (cheap password hashing)."""
    return production.app(KEPU_ARGON2_TIME_COST=1, KEPU_ARGON2_MEMORY_KIB=8192)


@pytest.fixture(scope="session")
def people(production_app):
    """Phone numbers of an uploader (verified institution), a reviewer and a station."""
    with production_app.app_context():
        owner = accounts.create_user(Role.INSTITUTION, phone=OWNER, password=PASSWORD)
        inst = institutions.create_institution("科普测试机构", "91350100M000100Y43", verified=True)
        institutions.add_member(inst, owner, manager=True)
        reviewer = accounts.create_user(Role.STATION, phone=REVIEWER, password=PASSWORD)
        db.session.flush()
        db.session.add(UserRole(user_id=reviewer.id, role=Role.REVIEWER))
        accounts.create_user(Role.STATION, phone=STATION, password=PASSWORD)
        db.session.commit()
        assert db.session.query(User).count() == 3
    return {"owner": OWNER, "reviewer": REVIEWER, "station": STATION}


@pytest.fixture
def http():
    session = requests.Session()
    session.trust_env = False  # loopback only, whatever proxy the machine names
    yield session
    session.close()


def token(http, base_url, login, password=PASSWORD):
    answer = http.post(
        f"{base_url}/api/v1/auth/token", json={"login": login, "password": password}, timeout=60
    )
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def wait_for(what, check, timeout=180):
    """Poll ``check`` until it returns something true (returned); fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.5)


def publish_image(production, http, people, path, title, tags="科普"):
    """Upload ``path`` at node A (one form POST), let a worker process it, approve it at node B
    and wait until node A's search finds ``title``; return the resource id."""
    a, b = production.web_urls
    owner, reviewer = token(http, a, people["owner"]), token(http, b, people["reviewer"])
    with open(path, "rb") as fh:
        files = {"file": (os.path.basename(path), fh.read())}
    created = http.post(f"{a}/api/v1/resources", data={"kind": "image", "title": title, "tags": tags},
                        files=files, headers=owner, timeout=60)  # fmt: skip
    assert created.status_code == 201, created.text
    rid = created.json()["id"]

    def state():
        return http.get(f"{a}/api/v1/resources/{rid}", headers=owner, timeout=60).json()["state"]

    wait_for("a worker to process the image", lambda: state() in {"processed", "failed"})
    assert state() == "processed"
    assert http.post(f"{a}/api/v1/resources/{rid}/submit", headers=owner, timeout=60).status_code == 200
    assert http.post(f"{b}/api/v1/review/{rid}/claim", headers=reviewer, timeout=60).status_code == 200
    assert http.post(f"{b}/api/v1/review/{rid}/approve", headers=reviewer, timeout=60).status_code == 200

    def found():
        items = http.get(f"{a}/api/v1/search", params={"q": title}, timeout=60).json()["items"]
        return rid in [i["id"] for i in items]

    wait_for("the worker to index it", found)
    return rid
