"""The same file uploaded twice by an institution: the uploader is told and shown the earlier
resource, and may go on if they mean it (issue 11, finding 17)."""

import io

import pytest

from tests.conftest import CREDIT_CODES, TESTDATA, post_multipart
from tests.unit.test_storage_sweep import finished_upload

OWNER, COLLEAGUE, OTHER = "13800138000", "13900139000", "13500135000"
FLOWER = f"{TESTDATA}/images/pillow_flower.jpg"


def flower():
    with open(FLOWER, "rb") as fh:
        return fh.read()


@pytest.fixture
def owner(auth):
    auth.create_uploader(phone=OWNER)
    return auth.token(OWNER)


def create(client, headers, upload_id, title, **extra):
    body = {"kind": "image", "title": title, "upload_id": upload_id, **extra}
    return client.post("/api/v1/resources", json=body, headers=headers)


def test_a_second_upload_of_the_same_file_names_the_first(app, auth, client, owner):
    first = create(client, owner, finished_upload(client, owner, flower()), "春天的花")
    assert first.status_code == 201 and first.get_json()["duplicates"] == []
    first_id = first.get_json()["id"]

    # The upload page asks to be told first: 409, naming the earlier resource, nothing created.
    again = finished_upload(client, owner, flower(), filename="花（副本）.jpg")
    refused = create(client, owner, again, "春天的花（重复）", on_duplicate="refuse")
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "duplicate_upload"
    assert "本机构已上传过相同的文件" in error["message"] and "《春天的花》" in error["message"]
    (earlier,) = error["details"]["duplicates"]
    assert earlier["id"] == first_id and earlier["page_url"] == f"/my/uploads/{first_id}"
    assert earlier["state_label"] and earlier["title"] == "春天的花"
    mine = client.get("/api/v1/resources/mine", headers=owner).get_json()["items"]
    assert [r["id"] for r in mine] == [first_id]

    # They mean it: the same upload, confirmed, makes the second resource, which still says so.
    confirmed = create(client, owner, again, "春天的花（重复）", on_duplicate="create")
    assert confirmed.status_code == 201
    second = confirmed.get_json()
    assert [d["id"] for d in second["duplicates"]] == [first_id]
    shown = client.get(f"/api/v1/resources/{second['id']}", headers=owner).get_json()
    assert [d["id"] for d in shown["duplicates"]] == [first_id]

    # 我的上传's page of the resource links to the earlier one.
    auth.login(OWNER)
    page = client.get(f"/my/uploads/{second['id']}").get_data(as_text=True)
    assert "本机构已上传过相同的文件" in page and f'href="/my/uploads/{first_id}"' in page
    other_page = client.get(f"/my/uploads/{first_id}").get_data(as_text=True)
    assert f'href="/my/uploads/{second["id"]}"' in other_page  # and the other way round


def test_a_form_upload_is_created_and_told_by_default(client, owner):
    fields = {"kind": "image", "title": "第一次", "file": (io.BytesIO(flower()), "花.jpg")}
    first = post_multipart(client, "/api/v1/resources", fields, owner).get_json()
    fields = {"kind": "image", "title": "第二次", "file": (io.BytesIO(flower()), "花.jpg")}
    answer = post_multipart(client, "/api/v1/resources", fields, owner)
    assert answer.status_code == 201
    assert [d["id"] for d in answer.get_json()["duplicates"]] == [first["id"]]


def test_colleagues_files_count_but_other_institutions_and_other_files_do_not(app, auth, client, owner):
    from cloud.accounts.models import User
    from cloud.extensions import db
    from cloud.institutions import service as institutions
    from cloud.institutions.models import Institution

    first = create(client, owner, finished_upload(client, owner, flower()), "同事先传的").get_json()

    auth.create(phone=COLLEAGUE)
    with app.app_context():
        inst = db.session.scalars(db.select(Institution)).one()
        institutions.add_member(inst, db.session.get(User, auth.user_id(COLLEAGUE)))
        db.session.commit()
    colleague = auth.token(COLLEAGUE)
    answer = create(
        client, colleague, finished_upload(client, colleague, flower()), "我又传了", on_duplicate="refuse"
    )
    assert answer.status_code == 409
    assert [d["id"] for d in answer.get_json()["error"]["details"]["duplicates"]] == [first["id"]]

    # Another institution's identical file is none of this uploader's business (and not leaked).
    auth.create_uploader(phone=OTHER, institution="另一机构", credit_code=CREDIT_CODES[1])
    other = auth.token(OTHER)
    answer = create(
        client, other, finished_upload(client, other, flower()), "别家的花", on_duplicate="refuse"
    )
    assert answer.status_code == 201 and answer.get_json()["duplicates"] == []

    # A different file is no duplicate.
    with open(f"{TESTDATA}/images/pillow_iptc.jpg", "rb") as fh:
        other_picture = fh.read()
    upload_id = finished_upload(client, owner, other_picture, filename="另一张.jpg")
    answer = create(client, owner, upload_id, "另一张图", on_duplicate="refuse")
    assert answer.status_code == 201 and answer.get_json()["duplicates"] == []


def test_a_photo_whose_location_was_removed_is_still_recognised(app, client, owner, tmp_path):
    """Processing replaces a located photo's source with a clean copy (another SHA-256); the same
    photo uploaded again is still the same file to its uploader."""
    from tests.support.media_fixtures import gps_photo

    photo = gps_photo(tmp_path / "located.jpg").read_bytes()
    first = create(client, owner, finished_upload(client, owner, photo), "有定位的照片")
    assert first.status_code == 201
    again = create(client, owner, finished_upload(client, owner, photo), "又一次", on_duplicate="refuse")
    assert again.status_code == 409, again.get_json()
