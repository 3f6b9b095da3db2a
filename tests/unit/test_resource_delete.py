"""删除 for drafts and failed uploads (issue 12): service, page with confirmation, API; the objects
go through the storage delete path and never stay behind."""

import io
import os

import pytest
from sqlalchemy import func, select

from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.resources import service
from cloud.resources.lifecycle import State
from cloud.resources.models import ProcessingJob, Resource, ResourceEvent, ResourceFile
from storage import StorageError
from tests.conftest import CREDIT_CODES, TESTDATA, csrf_token, post_multipart

OWNER = "13800138000"


def upload(client, headers, path, kind="image", title="要删除的资源"):
    with open(path, "rb") as fh:
        data = {
            "kind": kind,
            "title": title,
            "channel": "科技",
            "file": (io.BytesIO(fh.read()), os.path.basename(path)),
        }
    response = post_multipart(client, "/api/v1/resources", data, headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def objects(app):
    root = app.config["KEPU_STORAGE_DIR"]
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


def counts():
    return {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (Resource, ResourceFile, StoredFile, ProcessingJob, ResourceEvent)
    }


@pytest.fixture
def owner(auth):
    auth.create_uploader(phone=OWNER)
    return auth.token(OWNER)


def test_a_failed_upload_is_deleted_from_its_page_after_a_confirmation(app, auth, client, owner):
    body = upload(client, owner, f"{TESTDATA}/images/sharp_truncated.jpg")
    assert body["state"] == "failed"
    rid = body["id"]
    assert objects(app)
    auth.login(OWNER)
    page = client.get(f"/my/uploads/{rid}").get_data(as_text=True)
    assert f'href="/my/uploads/{rid}/delete"' in page
    # GET only asks
    confirm = client.get(f"/my/uploads/{rid}/delete").get_data(as_text=True)
    assert "删除后不能恢复" in confirm and "要删除的资源" in confirm
    with app.app_context():
        assert db.session.get(Resource, rid) is not None
    token = csrf_token(client, f"/my/uploads/{rid}/delete")
    done = client.post(f"/my/uploads/{rid}/delete", data={"csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"] == "/my/uploads"
    assert "已删除“要删除的资源”" in client.get("/my/uploads").get_data(as_text=True)
    with app.app_context():
        assert counts() == dict.fromkeys(counts(), 0)
    assert objects(app) == []
    assert client.get(f"/my/uploads/{rid}").status_code == 404


def test_the_api_deletes_a_processed_resource_never_submitted(app, client, owner):
    rid = upload(client, owner, f"{TESTDATA}/images/pillow_flower.jpg")["id"]
    assert client.delete(f"/api/v1/resources/{rid}", headers=owner).status_code == 204
    assert client.get(f"/api/v1/resources/{rid}", headers=owner).status_code == 404
    assert client.delete(f"/api/v1/resources/{rid}", headers=owner).status_code == 404
    assert objects(app) == []


def test_what_reached_review_cannot_be_deleted(app, auth, client, owner):
    rid = upload(client, owner, f"{TESTDATA}/images/pillow_flower.jpg")["id"]
    client.post(f"/api/v1/resources/{rid}/submit", headers=owner)
    before = objects(app)
    refused = client.delete(f"/api/v1/resources/{rid}", headers=owner)
    assert refused.status_code == 422
    assert "不能删除" in refused.get_json()["error"]["message"]
    auth.login(OWNER)
    assert 'data-testid="delete-resource"' not in client.get(f"/my/uploads/{rid}").get_data(as_text=True)
    token = csrf_token(client, f"/my/uploads/{rid}")
    client.post(f"/my/uploads/{rid}/delete", data={"csrf_token": token})
    with app.app_context():
        assert db.session.get(Resource, rid).state == State.PENDING_REVIEW
    assert objects(app) == before


def test_a_rejected_then_reprocessed_resource_is_still_not_deletable(app, ctx, auth, client, owner):
    rid = upload(client, owner, f"{TESTDATA}/images/pillow_flower.jpg")["id"]
    resource = db.session.get(Resource, rid)
    resource.submitted_at = resource.created_at  # it went to review once
    db.session.commit()
    assert not service.can_delete(resource)
    with pytest.raises(service.ValidationFailed):
        service.delete_resource(resource.uploader, resource)


def test_a_resource_being_processed_is_not_deleted(ctx, client, owner):
    rid = upload(client, owner, f"{TESTDATA}/images/pillow_flower.jpg")["id"]
    resource = db.session.get(Resource, rid)
    resource.state = State.PROCESSING
    with pytest.raises(service.ValidationFailed, match="正在处理中"):
        service.delete_resource(resource.uploader, resource)


def test_another_institution_cannot_delete(app, auth, client, owner):
    rid = upload(client, owner, f"{TESTDATA}/images/sharp_truncated.jpg")["id"]
    auth.create_uploader(phone="13900139000", institution="别的机构", credit_code=CREDIT_CODES[1])
    other = auth.token("13900139000")
    assert client.delete(f"/api/v1/resources/{rid}", headers=other).status_code == 404
    with app.app_context():
        assert db.session.get(Resource, rid) is not None


def test_an_object_storage_cannot_delete_is_left_to_the_sweep_not_orphaned_forever(
    app, client, owner, runner, monkeypatch
):
    rid = upload(client, owner, f"{TESTDATA}/images/sharp_truncated.jpg")["id"]
    kept = objects(app)
    with app.app_context():
        storage = service.get_storage()

        def refuse(key):
            raise StorageError("storage is down")

        monkeypatch.setattr(storage, "delete", refuse)
    assert client.delete(f"/api/v1/resources/{rid}", headers=owner).status_code == 204
    monkeypatch.undo()
    assert objects(app) == kept  # the rows are gone, the objects stayed
    result = runner.invoke(args=["storage", "sweep", "--orphans-older-than", "0"])
    assert result.exit_code == 0, result.output
    assert objects(app) == []
