"""A worker on a fresh node: KEPU_WORK_DIR names a folder that does not exist yet.

Found by the production profile (each worker has an instance folder of its own): the job was
claimed, then making its scratch folder raised outside the job's error handling, and the job
stayed "running" until its lease ran out (10 minutes) while the uploader watched 准备.
"""

import io

import pytest

from cloud.extensions import db
from cloud.resources.models import ProcessingJob, Resource
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
