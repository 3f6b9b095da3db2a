"""Text people type is stored without bidi controls or zero-width characters, NFC-normalised
(cloud/text.py), whichever endpoint it comes through."""

import io

import pytest
from sqlalchemy import select

from cloud.accounts.models import Role, User
from cloud.extensions import db
from cloud.institutions.models import Institution
from cloud.messages.models import Message
from cloud.resources.models import Resource
from cloud.review.models import ReviewDecision
from cloud.text import BIDI_CONTROLS, ZERO_WIDTH, clean_text
from tests.conftest import CREDIT_CODES, TESTDATA, csrf_token, post_multipart

OWNER, REVIEWER, ADMIN = "13800138000", "13700137000", "13900139000"
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "科普\u202egpj.exe" shows as "科普exe.jpg"
INVISIBLE = "".join(sorted(BIDI_CONTROLS | ZERO_WIDTH))


def visible(text):
    return not any(ch in text for ch in INVISIBLE)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        (f"科普{RLO}gpj.exe", "科普gpj.exe"),
        ("\ufeff防\u200b溺\u200c水\u200d安全\u2060", "防溺水安全"),
        ("\u2066隔离\u2069\u2067\u2068\u202a\u202b\u202c\u202d\u200e\u200f\u061c", "隔离"),
        ("cafe\u0301", "café"),  # NFC: one character, as every other keyboard types it
        ("第一行\r\n第二行\t\x00\x1b\x7f\x85", "第一行 第二行"),  # one line: breaks become spaces
        (None, ""),
    ],
)
def test_clean_text(typed, stored):
    assert clean_text(typed) == stored


def test_clean_text_keeps_lines_where_lines_are_meant():
    assert (
        clean_text("第一行\r\n\u200b第二行\r第三行\t完\x00", multiline=True) == "第一行\n第二行\n第三行\t完"
    )


def test_resource_fields_are_cleaned_through_the_api(app, auth, client):
    auth.create_uploader()
    token = auth.token()
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        fields = {
            "kind": "image",
            "title": f"科普{RLO}gpj.exe",
            "summary": "第一段\u200b。\r\n第二段\u202e。",
            "channel": "健康",
            "tags": f"\u200b健康,{RLO}儿童,\u200d,cafe\u0301",
            "file": (io.BytesIO(fh.read()), "花.jpg"),
        }
    created = post_multipart(client, "/api/v1/resources", fields, token).get_json()
    assert created["title"] == "科普gpj.exe"
    assert created["summary"] == "第一段。\n第二段。"
    assert created["tags"] == ["健康", "儿童", "café"]  # a tag of only a zero-width joiner is no tag
    edited = client.patch(
        f"/api/v1/resources/{created['id']}",
        json={"title": f"\u2066防溺水\u2069{RLO}", "tags": ["\ufeff防溺水", "防溺水"]},
        headers=token,
    ).get_json()
    assert edited["title"] == "防溺水" and edited["tags"] == ["防溺水"]
    with app.app_context():
        row = db.session.get(Resource, created["id"])
        assert (row.title, row.tags) == ("防溺水", "防溺水")


def test_article_text_is_cleaned_and_the_invisible_title_is_no_title(auth, client):
    auth.create_uploader()
    token = auth.token()
    blank = client.post(
        "/api/v1/resources", json={"kind": "article", "title": "\u200b\u202e\ufeff", "body_html": "<p>x</p>"},
        headers=token,
    )  # fmt: skip
    assert blank.status_code == 422 and blank.get_json()["error"]["details"] == {"field": "title"}
    article = client.post(
        "/api/v1/resources",
        json={"kind": "article", "title": "花粉", "body_html": f"<p>花\u200b粉{RLO}季节</p>"},
        headers=token,
    ).get_json()
    assert article["body_html"] == "<p>花粉季节</p>"


def test_the_same_query_with_invisible_characters_finds_the_same(app, auth, client):
    auth.create_uploader()
    assert (
        client.get("/api/v1/search", query_string={"q": f"\u200b防溺{RLO}水"}).get_json()["query"] == "防溺水"
    )


def test_review_reasons_notes_and_the_messages_they_make_are_cleaned(app, auth, client):
    auth.create_uploader(phone=OWNER)
    auth.create(Role.REVIEWER, phone=REVIEWER)
    owner, reviewer = auth.token(OWNER), auth.token(REVIEWER)
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        fields = {
            "kind": "image",
            "title": "花",
            "channel": "健康",
            "file": (io.BytesIO(fh.read()), "花.jpg"),
        }
    rid = post_multipart(client, "/api/v1/resources", fields, owner).get_json()["id"]
    assert client.post(f"/api/v1/resources/{rid}/submit", headers=owner).status_code == 200
    assert client.post(f"/api/v1/review/{rid}/claim", headers=reviewer).status_code == 200
    rejected = client.post(
        f"/api/v1/review/{rid}/reject",
        json={
            "reason": f"图片{RLO}模糊\u200b",
            "field_notes": {"title": "\u2066标题太短\u2069", "summary": "\u200b"},
        },
        headers=reviewer,
    )
    assert rejected.status_code == 200, rejected.get_json()
    with app.app_context():
        decision = db.session.scalar(select(ReviewDecision))
        assert decision.reason == "图片模糊" and decision.field_notes == {"title": "标题太短"}
        message = db.session.scalar(select(Message))
        assert visible(message.title) and visible(message.body)
        assert message.body == "图片模糊\n标题：标题太短"


def test_institution_names_are_cleaned_on_application_and_rejection(app, auth, client):
    auth.create(Role.INSTITUTION, phone=OWNER)
    auth.create(Role.ADMIN, phone=ADMIN)
    auth.login(OWNER)
    form = {
        "name": f"长沙市科学技术协会{RLO}gpj.exe",
        "credit_code": CREDIT_CODES[0],
        "kind": "科协",
        "region_code": "430102",
        "contact_name": "张\u200b老师",
        "contact_phone": OWNER,
        "csrf_token": csrf_token(client, "/institution"),
    }
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        form["licence"] = (io.BytesIO(fh.read()), "执照.jpg")
    assert post_multipart(client, "/institution", form).status_code == 302
    auth.logout()
    auth.login(ADMIN)
    with app.app_context():
        institution = db.session.scalar(select(Institution))
        assert (institution.name, institution.contact_name) == ("长沙市科学技术协会gpj.exe", "张老师")
    token = csrf_token(client, "/admin/institutions")
    client.post(
        f"/admin/institutions/{institution.id}/reject",
        data={"reason": f"执照{RLO}不清晰", "csrf_token": token},
    )
    with app.app_context():
        assert db.session.get(Institution, institution.id).reject_reason == "执照不清晰"


def test_cli_names_are_cleaned(app, runner, tmp_path):
    from cloud.institutions import service as institutions

    result = runner.invoke(
        args=["users", "create", "--role", "station", "--username", "station1", "--name", f"某某{RLO}e站",
              "--password", "Secret123"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    csv_path = tmp_path / "informants.csv"
    csv_path.write_text(
        "username,name,phone,region_code,informant_type,password,password_hash\n"
        f"xinxiyuan01,张\u200b三{RLO},,430102,区县级,Init1234,\n",
        encoding="utf-8",
    )
    assert runner.invoke(args=["users", "import-informants", str(csv_path)]).exit_code == 0
    with app.app_context():
        names = dict(db.session.execute(select(User.username, User.name)).all())
        assert names == {"station1": "某某e站", "xinxiyuan01": "张三"}
        made = institutions.create_institution(f"\u200b{RLO}科协", CREDIT_CODES[1])
        assert made.name == "科协"
