"""Browser tests: the real site served by a real server process, driven in headless Chromium.

Playwright cannot download its own browsers here, so it drives Debian's ``/usr/bin/chromium``.
Any JavaScript error or failed request in a page fails the test (warnings are errors).
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import Outbox
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("KEPU_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
#: Not the default (50 MB): pages must show the server's setting, not a number written by hand.
LIVE_MAX_IMAGE_BYTES = 48 * 1024**2


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.path):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def live_server(_schema, database_url, tmp_path_factory):
    """The app in its own process (werkzeug, threaded) on a free loopback port."""
    instance = tmp_path_factory.mktemp("live-instance")
    port = free_port()
    env = dict(
        os.environ,
        KEPU_INSTANCE_DIR=str(instance),
        KEPU_DATABASE_URL=database_url,
        KEPU_SECRET_KEY="browser-test-secret",
        KEPU_SMS_BACKEND="outbox",
        KEPU_SMS_OUTBOX=str(instance / "sms.jsonl"),
        KEPU_STORAGE_DIR=str(instance / "objects"),
        KEPU_ARGON2_TIME_COST="1",
        KEPU_ARGON2_MEMORY_KIB="8192",
        KEPU_SMS_RESEND_SECONDS="0",
        KEPU_QUEUE_FILE=str(instance / "queue.sqlite3"),
        KEPU_INDEX_DIR=str(instance / "search-index"),
        KEPU_MAX_IMAGE_BYTES=str(LIVE_MAX_IMAGE_BYTES),
    )
    log = open(instance / "server.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "wsgi",
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-reload",
            "--no-debugger",
            "--with-threads",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "/", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                worker.kill()
                log.close()
                pytest.fail("the app server did not start:\n" + (instance / "server.log").read_text()[-3000:])
            time.sleep(0.2)
    server = type(
        "LiveServer",
        (),
        {
            "url": url,
            "outbox": Outbox(env["KEPU_SMS_OUTBOX"]),
            "storage_dir": env["KEPU_STORAGE_DIR"],
            "index_dir": env["KEPU_INDEX_DIR"],
        },
    )()
    yield server
    for process in (proc, worker):
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-system.sh test")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def wait_until(page, expression, timeout=30_000):
    """Wait until ``expression`` is true in ``page``.

    ``page.wait_for_function`` compiles its predicate inside the page, which the site's CSP
    (no 'unsafe-eval') refuses once it has to poll; ``page.evaluate`` is not subject to it.
    """
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} ms: {expression}")
        page.wait_for_timeout(100)


def _console_problem(message):
    # Chromium logs every 4xx answer as "Failed to load resource"; the journeys provoke some on
    # purpose (a wrong captcha is a 422). Server errors are caught from the responses instead.
    return message.type in ("error", "warning") and not message.text.startswith("Failed to load resource")


@pytest.fixture
def page(browser, live_server, request):
    context = browser.new_context(base_url=live_server.url, locale="zh-CN")
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: _console_problem(msg) and problems.append(f"console: {msg.text}"))
    page.on(
        "response",
        lambda r: r.status >= 500 and problems.append(f"HTTP {r.status} {r.url}"),
    )
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert problems == []
