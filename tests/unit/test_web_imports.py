"""A web process stays lean: it enqueues processing jobs and never loads what only a worker runs.

Each check starts a fresh interpreter (``sys.modules`` of this test process holds whatever other
tests imported), builds the app as gunicorn does (``create_app``, no worker), serves a few pages
and API answers, and lists which of the worker-only modules got imported.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloud import create_app
from cloud.resources.tasks import pipeline_of
from cloud.worker import create_worker_app

ROOT = Path(__file__).resolve().parents[2]

#: Imported by the media pipeline only: the worker's business (cloud.worker).
WORKER_ONLY = [
    "cloud.resources.pipeline",
    "cloud.media.wallchart",
    "cloud.media.video",
    "cloud.media.audio",
    "cloud.media.printpdf",
    "psd_tools",
    "ffmpeg",  # ffmpeg-python
    "mutagen",
]

PROBE = """
import json, sys
from flask_migrate import upgrade
from cloud import {factory} as factory
from config import TestConfig

settings = TestConfig.load()
settings.update(json.loads(sys.argv[1]))
app = factory(settings)
with app.app_context():
    upgrade()
client = app.test_client()
answers = [client.get(path).status_code for path in ("/", "/resources", "/account/login",
                                                    "/api/v1/resource-kinds", "/api/v1/search?q=科普")]
print(json.dumps({{"answers": answers, "loaded": [m for m in json.loads(sys.argv[2]) if m in sys.modules]}}))
"""


def probe(tmp_path, factory):
    settings = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'web.db'}",
        "KEPU_STORAGE_DIR": str(tmp_path / "objects"),
        "KEPU_INDEX_DIR": str(tmp_path / "index"),
        "KEPU_SMS_OUTBOX": str(tmp_path / "sms.jsonl"),
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    env = {**os.environ, "KEPU_QUEUE_FILE": str(tmp_path / "queue.sqlite3"), "PYTHONPATH": str(ROOT)}
    code = PROBE.format(factory=factory)
    if factory == "create_worker_app":
        code = code.replace("from cloud import", "from cloud.worker import")
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps(settings), json.dumps(WORKER_ONLY)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_web_process_does_not_import_the_media_pipeline(tmp_path):
    found = probe(tmp_path, "create_app")
    assert all(status < 500 for status in found["answers"]), found["answers"]
    assert found["loaded"] == [], f"a web process imported worker-only modules: {found['loaded']}"


def test_worker_app_carries_the_pipeline(tmp_path):
    # The same probe sees them in a worker's app, so the check above can fail.
    found = probe(tmp_path, "create_worker_app")
    assert set(found["loaded"]) == set(WORKER_ONLY)


def test_a_web_app_refuses_to_run_a_job(tmp_path):
    settings = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}", "TESTING": True}
    with pytest.raises(RuntimeError, match="worker"):
        pipeline_of(create_app(settings))
    assert callable(pipeline_of(create_worker_app(settings)))
