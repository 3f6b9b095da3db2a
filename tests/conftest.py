"""Fixtures shared by every test layer: the app on a migrated database, clients, users, SMS.

The database is the embedded SQLite file by default; the harness runs the suite once more with
``KEPU_TEST_DATABASE_URL`` pointing at a real PostgreSQL server (tests/support/postgres.py).
The schema is built once per session through the migrations, and each test starts from empty
tables (the region codes are loaded once and kept).
"""

import json
import os
import re
import tempfile

# The queue file is created when cloud.queue is imported: keep it out of the project folder.
os.environ.setdefault(
    "KEPU_QUEUE_FILE", os.path.join(tempfile.mkdtemp(prefix="kepu-queue-"), "queue.sqlite3")
)

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import select, text

from cloud.accounts import service as accounts
from cloud.accounts.models import Captcha, Role
from cloud.extensions import db
from cloud.queue import use_immediate_mode
from cloud.worker import create_worker_app
from config import TestConfig
from tests.support.routes import share_compiled_builders

# Tasks run inline where they are enqueued; tests of the real worker start one themselves.
use_immediate_mode()

# Each test builds its own app: compile the URL rules' builders once (tests/support/routes.py).
share_compiled_builders()

# Property tests explore the same examples on every run (no flaky CI), with no time deadline
# (the machines are shared and noisy) and no example database written into the project.
hypothesis_settings.register_profile("kepu", derandomize=True, deadline=None, database=None)
hypothesis_settings.load_profile("kepu")

KEEP_TABLES = {"region", "alembic_version"}
PASSWORD = "Secret123"
TESTDATA = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "testdata"
)
CREDIT_CODES = ["91350100M000100Y43", "91440300708461136T", "91310000775785552L"]


def pytest_runtest_setup(item):
    if item.get_closest_marker("production") and not os.environ.get("KEPU_TEST_DATABASE_URL"):
        pytest.skip("the production profile needs PostgreSQL: make test runs it in its PostgreSQL pass")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = os.environ.get("KEPU_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'kepu-test.db'}"


def make_app(database_url, tmp_path, **overrides):
    settings = TestConfig.load()
    settings.update(
        SQLALCHEMY_DATABASE_URI=database_url,
        KEPU_STORAGE_DIR=str(tmp_path / "objects"),
        KEPU_SMS_OUTBOX=str(tmp_path / "sms.jsonl"),
        KEPU_INDEX_DIR=str(tmp_path / "search-index"),
        RATELIMIT_STORAGE_URI="memory://",
    )
    settings.update(overrides)
    # Tasks run inline (immediate mode): the test process is web and worker in one.
    return create_worker_app(settings)


@pytest.fixture(scope="session")
def _schema(database_url, tmp_path_factory):
    """Build the schema through the migrations, as production does, and load the regions."""
    from flask_migrate import upgrade

    from cloud.regions.service import load_regions

    app = make_app(database_url, tmp_path_factory.mktemp("schema"))
    with app.app_context():
        upgrade()
        load_regions()
        db.session.commit()
        db.engine.dispose()


def empty_tables():
    tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in KEEP_TABLES]
    if db.engine.dialect.name == "postgresql":
        _empty_postgresql_tables(tables)
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


_OWNED_SEQUENCES = text(
    "SELECT s.relname, t.relname FROM pg_class s"
    " JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid AND d.deptype IN ('a', 'i')"
    " JOIN pg_class t ON t.oid = d.refobjid"
    " WHERE s.relkind = 'S' AND s.relnamespace = 'public'::regnamespace"
)
_sequences_of = {}  # database URL -> {sequence: table}, or None when not a superuser


def _empty_postgresql_tables(tables):
    """What ``TRUNCATE … RESTART IDENTITY`` of every table does, at a fraction of its cost.

    A TRUNCATE of the ~40 tables takes ~0.1 s, however few rows there are; a test leaves rows in
    a handful. So: one query finds the tables that have rows and the sequences that have been
    used (a rolled-back insert uses one too); those tables are emptied with DELETE, with the
    foreign-key triggers off for this transaction only (the tables refer to each other in
    cycles, and every row of them goes), and those sequences start again from their first value.
    Turning triggers off needs a superuser (the harness's server makes one); any other user
    gets the TRUNCATE.
    """
    url = db.engine.url.render_as_string(hide_password=False)
    if url not in _sequences_of:
        superuser = db.session.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
        owned = {seq: table for seq, table in db.session.execute(_OWNED_SEQUENCES)}
        _sequences_of[url] = owned if superuser else None
    if _sequences_of[url] is None:  # the triggers cannot be turned off: one TRUNCATE of them all
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        return
    names = {t.name for t in tables}
    sequences = sorted(seq for seq, table in _sequences_of[url].items() if table in names)
    probes = [f"SELECT 't', '{t.name}', NULL::bigint WHERE EXISTS (SELECT FROM \"{t.name}\")" for t in tables]
    if sequences:
        listed = ", ".join(f"'{seq}'" for seq in sequences)
        probes.append(
            f"SELECT 's', sequencename::text, start_value FROM pg_sequences"
            f" WHERE schemaname = 'public' AND last_value IS NOT NULL AND sequencename IN ({listed})"
        )
    used = db.session.execute(text(" UNION ALL ".join(probes))).all()
    full = {name for kind, name, _start in used if kind == "t"}
    if full:
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
        for table in tables:
            if table.name in full:
                db.session.execute(table.delete())
    for kind, name, start in used:
        if kind == "s":
            db.session.execute(
                text("SELECT setval(:seq, :start, false)"), {"seq": f'public."{name}"', "start": start}
            )


@pytest.fixture
def app_settings():
    """Override to change settings for one module's app (e.g. low rate limits)."""
    return {}


def app_on_empty_tables(database_url, path, **settings):
    """Yield an app whose tables are empty, closing its connections afterwards (the body of the
    ``app`` fixtures: this one per test, a module's own when its tests share what they read)."""
    app = make_app(database_url, path, **settings)
    with app.app_context():
        empty_tables()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(_schema, database_url, tmp_path, app_settings):
    yield from app_on_empty_tables(database_url, tmp_path, **app_settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def ctx(app):
    """An app context for calling services directly."""
    with app.app_context():
        yield


def post_multipart(client, url, fields, headers=None):
    """POST a multipart form encoded in memory.

    Werkzeug's test client spools bodies over 500 KB to a temporary file it never closes, which
    the suite's warnings-as-errors turns into a failure of some later test.
    """
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    values = {
        k: FileStorage(stream=v[0], filename=v[1]) if isinstance(v, tuple) else v for k, v in fields.items()
    }
    boundary, body = encode_multipart(values)
    return client.post(
        url, data=body, headers=headers or {}, content_type=f"multipart/form-data; boundary={boundary}"
    )


class Outbox:
    """The SMS messages the app has "sent" (the outbox backend's JSON lines)."""

    def __init__(self, path):
        self.path = path

    def messages(self, phone=None):
        if not os.path.exists(self.path):
            return []
        with open(self.path, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh]
        return [r for r in rows if phone is None or r["phone"] == phone]

    def last_code(self, phone):
        for message in reversed(self.messages(phone)):
            found = re.search(r"验证码(\d{6})", message["text"])
            if found:
                return found.group(1)
        return None


@pytest.fixture
def outbox(app):
    return Outbox(app.config["KEPU_SMS_OUTBOX"])


def csrf_token(client, url="/account/login"):
    """Fetch a page and return the CSRF token the site embeds in it (in the meta tag pages with
    scripts carry, or in a form)."""
    html = client.get(url, follow_redirects=True).get_data(as_text=True)
    found = re.search(r'name="csrf-token" content="([^"]+)"|name="csrf_token"[^>]* value="([^"]+)"', html)
    return found.group(1) or found.group(2)


def captcha_answer(app, captcha_id):
    """Read a captcha's answer the way only the server can (tests stand in for a human)."""
    with app.app_context():
        return db.session.get(Captcha, captcha_id).answer


class Accounts:
    """Test helper for account flows through the real HTTP endpoints."""

    def __init__(self, app, client, outbox):
        self.app, self.client, self.outbox = app, client, outbox

    def create(self, role=Role.INSTITUTION, phone="13800138000", password=PASSWORD, **kwargs):
        with self.app.app_context():
            user = accounts.create_user(role, phone=phone, password=password, **kwargs)
            db.session.commit()
            return user.id

    def login(self, login="13800138000", password=PASSWORD, next_url=None):
        token = csrf_token(self.client)
        data = {"login": login, "password": password, "csrf_token": token}
        if next_url is not None:
            data["next"] = next_url
        return self.client.post("/account/login", data=data)

    def logout(self):
        token = csrf_token(self.client, "/")
        return self.client.post("/account/logout", data={"csrf_token": token})

    def new_captcha(self):
        token = csrf_token(self.client, "/account/register")
        response = self.client.post("/api/v1/captcha", headers={"X-CSRFToken": token})
        assert response.status_code == 201
        return response.get_json()["id"]

    def request_code(self, phone="13800138000", purpose="register", answer=None, captcha_id=None):
        captcha_id = captcha_id or self.new_captcha()
        if answer is None:
            answer = captcha_answer(self.app, captcha_id)
        token = csrf_token(self.client, "/account/register")
        return self.client.post(
            "/api/v1/auth/sms-code",
            json={"phone": phone, "purpose": purpose, "captcha_id": captcha_id, "captcha_answer": answer},
            headers={"X-CSRFToken": token},
        )

    def register(self, phone="13800138000", password=PASSWORD, code=None):
        if code is None:
            code = self.outbox.last_code(phone)
        token = csrf_token(self.client, "/account/register")
        return self.client.post(
            "/account/register",
            data={
                "phone": phone,
                "code": code,
                "password": password,
                "password2": password,
                "csrf_token": token,
            },
        )

    def create_uploader(self, phone="13800138000", institution="科普测试机构", credit_code=CREDIT_CODES[0]):
        """A user of a verified institution, able to upload."""
        from cloud.accounts.models import User
        from cloud.institutions import service as institutions

        user_id = self.create(Role.INSTITUTION, phone=phone)
        with self.app.app_context():
            inst = institutions.create_institution(institution, credit_code, verified=True)
            institutions.add_member(inst, db.session.get(User, user_id), manager=True)
            db.session.commit()
        return user_id

    def token(self, login="13800138000", password=PASSWORD):
        response = self.client.post("/api/v1/auth/token", json={"login": login, "password": password})
        assert response.status_code == 201, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['token']}"}

    def user_id(self, phone):
        from cloud.accounts.models import User

        with self.app.app_context():
            return db.session.scalar(select(User.id).where(User.phone == phone))


@pytest.fixture
def auth(app, client, outbox):
    return Accounts(app, client, outbox)
