"""A storage or database outage in the middle of a request is a Chinese 503 in the one JSON error
shape, never a 500, and leaves nothing registered (the production-profile versions, with real
servers stopped and connections cut, are in tests/integration/test_faults.py)."""

import io

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from cloud.extensions import db
from cloud.resources.models import Resource
from storage import StorageUnavailable
from storage.local import LocalStorage
from tests.conftest import TESTDATA, post_multipart


def image_form(title="花"):
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        return {"kind": "image", "title": title, "file": (io.BytesIO(fh.read()), "花.jpg")}


def resources(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Resource))


def test_storage_unreachable_while_a_resource_is_created_is_a_503(app, client, auth, monkeypatch):
    auth.create_uploader()
    headers = auth.token()

    def unreachable(self, key, start=None, end=None):
        raise StorageUnavailable(f"cannot read {key!r}: S3 is unreachable")

    monkeypatch.setattr(LocalStorage, "open", unreachable)
    response = post_multipart(client, "/api/v1/resources", image_form(), headers)
    assert response.status_code == 503
    assert response.get_json() == {
        "error": {"code": "storage_unavailable", "message": "存储服务暂时不可用，请稍后重试"}
    }
    assert resources(app) == 0
    monkeypatch.undo()
    assert post_multipart(client, "/api/v1/resources", image_form(), headers).status_code == 201


def test_a_commit_whose_connection_dropped_is_a_503(app, client, auth, monkeypatch):
    auth.create_uploader()
    headers = auth.token()

    def dropped():
        db.session.rollback()
        raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(db.session, "commit", dropped)
    response = post_multipart(client, "/api/v1/resources", image_form(), headers)
    monkeypatch.undo()
    assert response.status_code == 503
    assert response.get_json()["error"] == {
        "code": "database_unavailable",
        "message": "数据库暂时不可用，请稍后重试",
    }
    assert resources(app) == 0
    page = client.get("/account/login")
    assert page.status_code == 200
