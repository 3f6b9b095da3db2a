"""A rejected resource takes a new file and goes back through processing and review (issue 12);
the reason is shown next to 未通过."""

from cloud.extensions import db
from cloud.resources.models import Resource
from tests.conftest import TESTDATA
from tests.unit.test_review import OWNER, REVIEWER, make_reviewer, submitted_image


def tus_upload(client, headers, path, kind="image"):
    """A whole file through the tus endpoint in one PATCH; returns the upload's id."""
    import base64

    with open(path, "rb") as fh:
        data = fh.read()
    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in {"filename": "新.jpg", "resource_type": kind}.items()
    )
    tus = {"Tus-Resumable": "1.0.0"}
    created = client.post(
        "/api/v1/uploads/",
        headers={**headers, **tus, "Upload-Length": str(len(data)), "Upload-Metadata": meta},
    )
    assert created.status_code == 201, created.get_json()
    url = created.headers["Location"]
    done = client.patch(
        url,
        data=data,
        headers={**headers, **tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert done.status_code == 204
    return url.rstrip("/").rsplit("/", 1)[-1]


def reject(client, reviewer, rid, reason="画面模糊，请换清晰的图片"):
    assert client.post(f"/api/v1/review/{rid}/claim", headers=reviewer).status_code == 200
    response = client.post(f"/api/v1/review/{rid}/reject", headers=reviewer, json={"reason": reason})
    assert response.status_code == 200, response.get_json()


def test_a_rejected_resource_takes_a_new_file_and_is_processed_and_reviewed_again(app, auth, client):
    auth.create_uploader(phone=OWNER)
    owner = auth.token(OWNER)
    reviewer = make_reviewer(app, auth, REVIEWER)
    rid = submitted_image(client, owner)
    old_source = client.get(f"/api/v1/resources/{rid}", headers=owner).get_json()["files"][0]["sha256"]
    reject(client, reviewer, rid)
    body = client.get(f"/api/v1/resources/{rid}", headers=owner).get_json()
    assert body["state"] == "rejected" and body["rejection_reason"] == "画面模糊，请换清晰的图片"

    upload_id = tus_upload(client, owner, f"{TESTDATA}/images/pillow_iptc.jpg")
    changed = client.patch(f"/api/v1/resources/{rid}", headers=owner, json={"upload_id": upload_id})
    assert changed.status_code == 200, changed.get_json()
    body = client.get(f"/api/v1/resources/{rid}", headers=owner).get_json()
    # processed again (the queue runs inline in tests), never straight back to review
    assert body["state"] == "processed"
    assert body["rejection_reason"] is None
    source = next(f for f in body["files"] if f["role"] == "source")
    assert source["sha256"] != old_source and source["mime_type"] == "image/jpeg"
    moves = [(h["from"], h["to"]) for h in body["history"]]
    assert moves[-2:] == [("rejected", "processing"), ("processing", "processed")]
    # and reviewed again
    assert (
        client.post(f"/api/v1/resources/{rid}/submit", headers=owner).get_json()["state"] == "pending_review"
    )
    assert client.post(f"/api/v1/review/{rid}/claim", headers=reviewer).status_code == 200


def test_the_reason_stands_next_to_未通过_on_my_uploads_and_the_resource_page(app, auth, client):
    auth.create_uploader(phone=OWNER)
    owner = auth.token(OWNER)
    reviewer = make_reviewer(app, auth, REVIEWER)
    rid = submitted_image(client, owner, title="被退回的花")
    reject(client, reviewer, rid, reason="标题应注明<适用人群>")
    auth.login(OWNER)
    for url in ("/my/uploads", f"/my/uploads/{rid}"):
        html = client.get(url).get_data(as_text=True)
        assert 'data-testid="state">未通过</span>' in html
        assert "未通过原因：标题应注明&lt;适用人群&gt;" in html
    page = client.get(f"/my/uploads/{rid}").get_data(as_text=True)
    assert 'id="replace-form"' in page and f'data-resource-url="/api/v1/resources/{rid}"' in page
    listed = client.get("/api/v1/resources/mine", headers=owner).get_json()["items"][0]
    assert listed["rejection_reason"] == "标题应注明<适用人群>"


def test_a_published_resource_offers_no_new_file(app, auth, client):
    auth.create_uploader(phone=OWNER)
    owner = auth.token(OWNER)
    reviewer = make_reviewer(app, auth, REVIEWER)
    rid = submitted_image(client, owner)
    client.post(f"/api/v1/review/{rid}/claim", headers=reviewer)
    client.post(f"/api/v1/review/{rid}/approve", headers=reviewer)
    auth.login(OWNER)
    assert 'id="replace-form"' not in client.get(f"/my/uploads/{rid}").get_data(as_text=True)
    upload_id = tus_upload(client, owner, f"{TESTDATA}/images/pillow_iptc.jpg")
    refused = client.patch(f"/api/v1/resources/{rid}", headers=owner, json={"upload_id": upload_id})
    assert refused.status_code == 422
    with app.app_context():
        assert db.session.get(Resource, rid).state == "approved"


def test_an_articles_page_offers_no_new_file(auth, client):
    auth.create_uploader(phone=OWNER)
    owner = auth.token(OWNER)
    body = {"kind": "article", "title": "图文", "body_html": "<p>正文内容</p>"}
    rid = client.post("/api/v1/resources", json=body, headers=owner).get_json()["id"]
    auth.login(OWNER)
    page = client.get(f"/my/uploads/{rid}")
    assert page.status_code == 200
    assert 'id="replace-form"' not in page.get_data(as_text=True)
