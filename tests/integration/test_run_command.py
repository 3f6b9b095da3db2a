"""The README's run command (`make run`) serves the Chinese site on its embedded defaults."""

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support import free_port

pytestmark = pytest.mark.once  # the database does not matter here: SQLite pass only

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_make_run_migrates_creates_an_admin_and_serves(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPU_")}
    env.update(KEPU_INSTANCE_DIR=str(tmp_path / "instance"))
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            html = None
            deadline = time.monotonic() + 180
            while html is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                        html = response.read().decode()
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        pytest.fail("make run did not serve:\n" + log_path.read_text()[-3000:])
                    time.sleep(0.5)
            assert "科普资源云" in html and 'lang="zh-CN"' in html
            output = log_path.read_text()
            assert re.search(r"first admin created: log in with username 'admin' and password '\S+'", output)
            assert (tmp_path / "instance" / "kepu.db").exists()
            # the task-queue worker starts beside the web process
            while "worker: sqlite queue" not in log_path.read_text():
                if time.monotonic() > deadline:
                    pytest.fail("no worker started:\n" + log_path.read_text()[-3000:])
                time.sleep(0.5)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
