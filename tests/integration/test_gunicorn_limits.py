"""The app behind a real gunicorn, started with the settings scripts/serve.sh uses: the server
lets long URLs through so the app answers them in JSON, and untrusted Host names get a 400."""

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.support import free_port

pytestmark = pytest.mark.once  # the database does not matter here: SQLite pass only

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gunicorn(_schema, database_url, tmp_path_factory):
    instance = tmp_path_factory.mktemp("gunicorn-instance")
    port = free_port()
    env = dict(
        os.environ,
        KEPU_INSTANCE_DIR=str(instance),
        KEPU_DATABASE_URL=database_url,
        KEPU_SECRET_KEY="gunicorn-test-secret",
        KEPU_STORAGE_DIR=str(instance / "objects"),
        KEPU_INDEX_DIR=str(instance / "search-index"),
        KEPU_QUEUE_FILE=str(instance / "queue.sqlite3"),
    )
    command = [sys.executable, "-m", "gunicorn", "-c", "scripts/gunicorn.conf.py", "--workers", "1"]
    command += ["--bind", f"127.0.0.1:{port}", "--no-control-socket", "wsgi:app"]
    log_path = instance / "gunicorn.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            if request(port, "/")[0] == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail("gunicorn did not start:\n" + log_path.read_text()[-3000:])
        time.sleep(0.2)
    yield port
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def request(port, target, host=None):
    """(status, headers, body) of one GET, with the request target sent exactly as given."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.putrequest("GET", target, skip_host=host is not None, skip_accept_encoding=True)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def search_target(query):
    return "/api/v1/search?" + urllib.parse.urlencode({"q": query})


def test_a_long_search_gets_the_apps_json_not_gunicorns_html(gunicorn):
    target = search_target("科普" * 300)  # 5.4 KB: over gunicorn's default of 4094 bytes
    assert 4094 < len(target) < 8000
    status, headers, body = request(gunicorn, target)
    assert status == 414 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "uri_too_long"


def test_a_long_but_acceptable_search_is_answered_and_says_it_was_cut(gunicorn):
    target = search_target("防溺水 " * 130)  # 3.6 KB of URL, 130 words
    assert len(target) < 4096
    status, _headers, body = request(gunicorn, target)
    assert status == 200
    answer = json.loads(body)
    assert answer["truncated"] is True and len(answer["query"]) <= 100


def test_an_untrusted_host_gets_a_400_not_a_redirect(gunicorn):
    status, headers, body = request(gunicorn, "/static//x", host="evil.example")
    assert status == 400 and "Location" not in headers and b"evil.example" not in body
    status, headers, _body = request(gunicorn, "/static//x", host=f"127.0.0.1:{gunicorn}")
    assert status == 308 and headers["Location"].startswith(f"http://127.0.0.1:{gunicorn}/static/x")
