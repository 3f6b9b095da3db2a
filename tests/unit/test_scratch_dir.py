"""A worker on a fresh node: KEPU_WORK_DIR names a folder that does not exist yet.

Found by the production profile (each worker has an instance folder of its own): the job was
claimed, then making its scratch folder raised outside the job's error handling, and the job
stayed "running" until its lease ran out (10 minutes) while the uploader watched 准备.
"""

import io
import os
import subprocess
import sys

import pytest

from cloud.extensions import db
from cloud.resources import tasks
from cloud.resources.models import JobStatus, ProcessingJob, Resource
from tests.conftest import TESTDATA, post_multipart


@pytest.fixture
def app_settings(tmp_path):
    return {"KEPU_WORK_DIR": str(tmp_path / "new-node" / "work")}


def test_processing_makes_the_scratch_folder_it_is_given(app, auth, client, tmp_path):
    auth.create_uploader()
    headers = auth.token()
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        data = {"kind": "image", "title": "新节点", "file": (io.BytesIO(fh.read()), "花.jpg")}
    body = post_multipart(client, "/api/v1/resources", data, headers).get_json()
    with app.app_context():
        resource = db.session.get(Resource, body["id"])
        job = db.session.query(ProcessingJob).filter_by(resource_id=resource.id).one()
        assert (resource.state, job.status) == ("processed", "succeeded")
    assert (tmp_path / "new-node" / "work").is_dir()
    assert list((tmp_path / "new-node" / "work").iterdir()) == []  # the job's scratch removed


def test_a_stale_jobs_sweep_removes_only_its_dead_workers_scratch(app, auth, client, tmp_path):
    """Requeueing a job whose worker died removes that worker's scratch folders for the job and
    nothing else: not another live process's folder for a job with the same id (another instance
    sharing the temp directory — the two passes of ``make test`` once lost a running job so)."""
    auth.create_uploader()
    headers = auth.token()
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        data = {"kind": "image", "title": "旧任务", "file": (io.BytesIO(fh.read()), "花.jpg")}
    body = post_multipart(client, "/api/v1/resources", data, headers).get_json()
    work = tmp_path / "new-node" / "work"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with app.app_context():
        job = db.session.query(ProcessingJob).filter_by(resource_id=body["id"]).one()
        left = work / f"kepu-job-{job.id}-{dead.pid}-abc"
        live = work / f"kepu-job-{job.id}-{os.getpid()}-xyz"
        for folder in (left, live):
            folder.mkdir(parents=True)
            (folder / "source").write_bytes(b"x")
        job.status, job.worker = JobStatus.RUNNING, f"{tasks.HOST}:{dead.pid}"
        db.session.commit()
        assert tasks.requeue_stale_jobs() == [job.id]
    assert not left.exists()
    assert (live / "source").read_bytes() == b"x"
