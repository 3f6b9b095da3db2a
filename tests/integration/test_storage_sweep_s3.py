"""The storage sweep on the S3 backend: unused uploads and orphans go, referenced files stay
(issue 11, finding 9), against the real SeaweedFS server."""

import io
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.files.service import get_storage
from cloud.models_base import utcnow
from cloud.uploads.models import Upload
from tests.conftest import TESTDATA, post_multipart
from tests.unit.test_storage_sweep import finished_upload

pytestmark = pytest.mark.s3


@pytest.fixture
def app_settings(s3_config):
    return s3_config()


def test_the_sweep_on_s3_keeps_what_is_referenced(app, auth, client, runner):
    auth.create_uploader()
    owner = auth.token()
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        picture = fh.read()
    fields = {"kind": "image", "title": "留下的花", "file": (io.BytesIO(picture), "花.jpg")}
    assert post_multipart(client, "/api/v1/resources", fields, owner).status_code == 201
    unused = finished_upload(client, owner, picture)
    with app.app_context():
        referenced = dict(
            db.session.execute(
                select(StoredFile.id, StoredFile.key).where(
                    StoredFile.id != db.session.get(Upload, unused).stored_file_id
                )
            ).all()
        )
        long_ago = utcnow() - timedelta(hours=app.config["KEPU_STORAGE_GRACE_HOURS"] + 1)
        db.session.execute(update(StoredFile).values(created_at=long_ago))
        db.session.execute(update(Upload).values(completed_at=long_ago))
        db.session.commit()
    result = runner.invoke(args=["storage", "sweep"])
    assert result.exit_code == 0, result.output
    assert "1 unused upload(s)" in result.output
    with app.app_context():
        assert dict(db.session.execute(select(StoredFile.id, StoredFile.key)).all()) == referenced
        keys = set(get_storage().iter_keys(""))
        assert set(referenced.values()) <= keys and len(keys) == len(referenced)
