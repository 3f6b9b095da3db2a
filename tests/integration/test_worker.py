"""The real task queue: a worker process, killed mid-transcode and restarted (SECURITY.md 25)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cloud.extensions import db
from cloud.queue import huey
from cloud.resources.models import JobStatus, ProcessingJob, Resource, ResourceFile
from tests.conftest import TESTDATA, post_multipart

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def queued(monkeypatch):
    """Enqueue into the real on-disk queue instead of running tasks inline."""
    monkeypatch.setattr(huey, "immediate", False)
    huey.flush()
    yield huey
    huey.flush()


class Worker:
    def __init__(self, app, tmp_path):
        self.env = dict(
            os.environ,
            KEPU_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
            KEPU_STORAGE_DIR=app.config["KEPU_STORAGE_DIR"],
            KEPU_INSTANCE_DIR=str(tmp_path / "worker-instance"),
            KEPU_SECRET_KEY=app.config["SECRET_KEY"],
        )
        self.log_path = tmp_path / "worker.log"
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self, sig=signal.SIGKILL):
        os.killpg(self.proc.pid, sig)
        self.proc.wait(30)
        self.log.close()

    def output(self):
        return self.log_path.read_text(errors="replace")


def wait_for(condition, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def job_row(app):
    with app.app_context():
        job = db.session.scalar(select(ProcessingJob).order_by(ProcessingJob.id.desc()))
        return (job.status, job.step, job.attempts, job.worker) if job else None


def test_killed_worker_mid_transcode_ends_with_one_sd_rendition(app, client, auth, tmp_path, queued):
    auth.create_uploader()
    headers = auth.token()
    with open(f"{TESTDATA}/video/moviepy_smpte-2997.mp4", "rb") as fh:
        import io

        data = {
            "kind": "video",
            "title": "测试视频",
            "channel": "科技",
            "file": (io.BytesIO(fh.read()), "测试.mp4"),
        }
    response = post_multipart(client, "/api/v1/resources", data, headers)
    assert response.status_code == 201
    rid = response.get_json()["id"]
    assert job_row(app)[0] == JobStatus.QUEUED  # nothing ran inside the request

    first = Worker(app, tmp_path).start()
    try:
        wait_for(lambda: (job_row(app) or ("",))[1] == "转码标清版本", what="the transcode to start")
        time.sleep(1.0)  # well inside ffmpeg's run
        assert job_row(app)[0] == JobStatus.RUNNING
    finally:
        first.kill(signal.SIGKILL)
    status, _, attempts, _ = job_row(app)
    assert (status, attempts) == (JobStatus.RUNNING, 1)  # the row still says running: the task is lost

    second = Worker(app, tmp_path).start()
    try:
        wait_for(
            lambda: job_row(app)[0] in (JobStatus.SUCCEEDED, JobStatus.FAILED), timeout=120, what="the job"
        )
    finally:
        second.kill(signal.SIGINT)
    assert "requeued 1 stale job" in second.output(), (job_row(app), second.output()[-3000:])
    status, _, attempts, _ = job_row(app)
    assert (status, attempts) == (JobStatus.SUCCEEDED, 2), second.output()[-3000:]
    with app.app_context():
        resource = db.session.get(Resource, rid)
        assert resource.state == "processed"
        roles = db.session.execute(
            select(ResourceFile.role, func.count())
            .where(ResourceFile.resource_id == rid)
            .group_by(ResourceFile.role)
        ).all()
        assert dict(roles) == {"source": 1, "sd": 1, "poster": 1, "thumbnail": 1}
    # no ffmpeg of the killed worker is left running
    leftover = subprocess.run(["pgrep", "-f", "kepu-job"], capture_output=True, text=True, check=False).stdout
    assert leftover.strip() == ""


def test_a_rerun_of_a_finished_job_changes_nothing(app, client, auth):
    from cloud.resources.tasks import run_job

    auth.create_uploader()
    headers = auth.token()
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        import io

        data = {"kind": "image", "title": "花", "file": (io.BytesIO(fh.read()), "花.jpg")}
    rid = post_multipart(client, "/api/v1/resources", data, headers).get_json()["id"]
    with app.app_context():
        before = sorted((f.role, f.stored_file_id) for f in db.session.get(Resource, rid).files)
        job_id = db.session.scalar(select(ProcessingJob.id))
        run_job(job_id)  # a re-delivered task
        after = sorted((f.role, f.stored_file_id) for f in db.session.get(Resource, rid).files)
    assert before == after
