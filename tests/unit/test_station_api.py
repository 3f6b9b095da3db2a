"""``/api/v1/stations``: applications, decisions and activities with bearer tokens; registering as an
e站管理员; every refusal in the one JSON error shape."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from cloud.accounts.models import Role, User, UserRole
from cloud.extensions import db
from cloud.messages.models import Message
from cloud.stations.service import today
from tests.conftest import PASSWORD, TESTDATA
from tests.support.stations import application, make_staff_tree
from tests.unit.test_catalog import OWNER, REVIEWER, publish, upload

MANAGER = "13900139000"
CHECK = {"checked_on": today().isoformat(), "checkers": "核查组", "notes": "属实"}


@pytest.fixture
def tokens(app, auth):
    with app.app_context():
        make_staff_tree()
    auth.create(Role.STATION_MANAGER, phone=MANAGER)
    auth.create_uploader(phone=OWNER)
    reviewer = auth.create(Role.STATION, phone=REVIEWER)
    with app.app_context():
        db.session.add(UserRole(user_id=reviewer, role=Role.REVIEWER))
        db.session.commit()
    logins = {
        "manager": MANAGER,
        "county": "staff410102",
        "city": "staff4101",
        "other_county": "staff410103",
        OWNER: OWNER,
        REVIEWER: REVIEWER,
    }
    return {name: auth.token(login, PASSWORD) for name, login in logins.items()}


def error(response, status):
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["message"]
    return body["error"]


def test_apply_decide_and_record_an_activity(app, client, tokens):
    def post(url, body, who):
        return client.post(url, json=body, headers=tokens[who])

    api = "/api/v1/stations"
    bad = application(network="", phone=MANAGER)
    assert error(post(api, bad, "manager"), 422)["details"]["field"] == "network"
    assert error(post(api, [1, 2], "manager"), 422)
    assert error(post(api, application(), OWNER), 403)
    created = post(api, application(), "manager")
    assert created.status_code == 201, created.get_json()
    station = created.get_json()
    assert station["state"] == "applied" and station["number"] is None
    assert error(post(api, application(), "manager"), 409)

    decide = f"{api}/{station['id']}/decisions"
    assert error(post(decide, {"action": "county_approve"}, "county"), 422)
    assert error(post(decide, {"action": "fly"}, "county"), 422)
    assert error(
        client.post(
            decide, json={"action": "county_approve", "field_check": CHECK}, headers=tokens["other_county"]
        ),
        404,
    )
    ok = client.post(
        decide, json={"action": "county_approve", "field_check": CHECK}, headers=tokens["county"]
    )
    assert ok.status_code == 200 and ok.get_json()["state"] == "county_approved"
    assert error(post(decide, {"action": "city_recognise"}, "county"), 403)
    recognised = post(decide, {"action": "city_recognise"}, "city").get_json()
    assert recognised["state"] == "recognised" and recognised["number"] == "410102-0001"
    late = {"action": "rectify", "reason": "活动少", "deadline": "明天"}
    assert error(post(decide, late, "city"), 422)["details"]["field"] == "deadline"

    detail = client.get(f"{api}/{station['id']}", headers=tokens["manager"]).get_json()
    assert [h["to"] for h in detail["history"]] == ["applied", "county_approved", "recognised"]

    rid = upload(client, tokens[OWNER], "image", f"{TESTDATA}/images/pillow_flower.jpg", "花的结构")
    publish(client, tokens, rid)
    activities = f"{api}/{station['id']}/activities"
    body = {
        "held_on": today().isoformat(),
        "title": "全国科普日活动",
        "kind": "全国科普日",
        "place": "活动室",
        "participants": 45,
        "resource_ids": [rid],
    }
    assert error(post(activities, {**body, "resource_ids": [rid + 999]}, "manager"), 422)
    assert error(post(activities, {**body, "participants": "many"}, "manager"), 422)
    assert error(post(activities, {**body, "resource_ids": [2**31]}, "manager"), 422)
    assert error(post(activities, {**body, "resource_ids": [-1]}, "manager"), 422)
    future = (today() + timedelta(days=3)).isoformat()
    assert error(post(activities, {**body, "held_on": future}, "manager"), 422)
    assert error(post(activities, body, "county"), 403)
    made = post(activities, body, "manager")
    assert made.status_code == 201 and made.get_json()["resource_ids"] == [rid]
    listed = client.get(activities, headers=tokens["city"]).get_json()["items"]
    assert [a["title"] for a in listed] == ["全国科普日活动"]
    assert client.get(activities, headers=tokens["other_county"]).status_code == 404


def test_the_openapi_document_has_the_station_routes(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/stations",
        "/stations/{station_id}",
        "/stations/{station_id}/decisions",
        "/stations/{station_id}/activities",
    ):
        assert path in paths
    assert set(paths["/stations"]) == {"get", "post"}


def test_register_as_a_station_manager_then_apply(app, client, auth, outbox):
    page = client.get("/account/register?as=station").get_data(as_text=True)
    assert "注册e站管理员账号" in page
    captcha = auth.new_captcha()
    assert auth.request_code(MANAGER, captcha_id=captcha).status_code == 200
    from tests.conftest import csrf_token

    token = csrf_token(client, "/account/register?as=station")
    response = client.post(
        "/account/register?as=station",
        data={
            "phone": MANAGER,
            "code": outbox.last_code(MANAGER),
            "password": PASSWORD,
            "password2": PASSWORD,
            "csrf_token": token,
        },
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/stations/apply")
    with app.app_context():
        user = db.session.scalar(select(User).where(User.phone == MANAGER))
        assert user.roles == {Role.STATION_MANAGER}
    assert "申报科普中国e站" in client.get("/stations/apply").get_data(as_text=True)
    # An institution user who opens the page is told how to apply instead.
    assert client.get("/account/register?as=admin").status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Message.id)) is None
