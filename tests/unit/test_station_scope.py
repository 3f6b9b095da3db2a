"""Region scope: every page, API route and export about a station answers 404 outside the staff
member's region, and lists, searches and exports leave out what lies outside it.

The routes are taken from the app's URL map, so a new station route is covered without editing
this file."""

import io
import re

import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from cloud.accounts.models import User
from cloud.extensions import db
from cloud.stations import service
from cloud.stations.models import ACTIVITY_PHOTO, StationActivity
from cloud.stations.photos import PhotoBatch
from cloud.stations.service import today
from tests.conftest import PASSWORD, csrf_token
from tests.support.stations import REGIONS, application, make_staff_tree, manager

CHECK = {"checked_on": today().isoformat(), "checkers": "核查组", "notes": "属实"}
INSIDE = ("zhongyuan", "zhengzhou", "henan", "admin")  # county A, its city, its province, admins
OUTSIDE = ("erqi", "kaifeng", "longting", "hubei", "wuhan", "jiangan")  # county B, other city, other province


@pytest.fixture
def world(app):
    """One recognised station in 中原区 with a photo, an activity and an informant; one in 二七区."""
    with app.app_context():
        people = make_staff_tree()
        applicant = manager()
        station, _ = service.apply(applicant, application())
        county, city = db.session.get(User, people["zhongyuan"]), db.session.get(User, people["zhengzhou"])
        service.decide(county, station, service.Decision("county_approve", field_check=CHECK))
        service.decide(city, station, service.Decision("city_recognise"))
        buffer = io.BytesIO()
        Image.new("RGB", (40, 30), "white").save(buffer, "PNG")
        buffer.seek(0)

        with PhotoBatch() as batch:
            batch.add(ACTIVITY_PHOTO, [FileStorage(buffer, "活动.png")], label="活动")
            activity = service.record_activity(
                applicant,
                station,
                {
                    "held_on": today(),
                    "title": "科普日",
                    "kind": "全国科普日",
                    "place": "活动室",
                    "participants": 30,
                },
                batch,
            )
        other_phone = "13900139009"
        other, _ = service.apply(
            manager(other_phone),
            application("410103", phone=other_phone, name="二七区某e站", address="二七区大学路 9 号"),
        )
        db.session.commit()
        return {
            "people": people,
            "station": station.id,
            "number": station.number,
            "photo": activity.photos[0].id,
            "activity": activity.id,
            "manager": applicant.id,
            "other": other.id,
        }


def login_as(auth, client, people, who):
    client.delete_cookie("session")
    login = "admin1" if who == "admin" else f"staff{_code(people, who)}"
    assert auth.login(login, PASSWORD).status_code == 302


def _code(people, who):
    return REGIONS[who]


def station_routes(app, world):
    """(method, url) for every route about one station, with real ids filled in."""
    values = {
        "station_id": world["station"],
        "photo_id": world["photo"],
        "activity_id": world["activity"],
        "user_id": world["manager"],
        "action": "rectify",
    }
    routes = []
    for rule in app.url_map.iter_rules():
        if "station_id" not in rule.arguments:
            continue
        url = rule.rule
        for name, value in values.items():
            url = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(value), url)
        assert "<" not in url, f"fill in {rule.rule}"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, url))
    assert len(routes) >= 15
    return routes


def call(client, method, url, token):
    if method == "GET":
        return client.get(url)
    if url.startswith("/api/"):
        return client.post(url, json={"action": "rectify", "reason": "x"}, headers={"X-CSRFToken": token})
    return client.post(url, data={"csrf_token": token, "reason": "x"})


@pytest.mark.parametrize("who", OUTSIDE)
def test_outside_the_region_every_station_route_is_404(app, client, auth, world, who):
    login_as(auth, client, world["people"], who)
    token = csrf_token(client, "/")
    for method, url in station_routes(app, world):
        response = call(client, method, url, token)
        assert response.status_code == 404, (who, method, url, response.status_code)
        if url.startswith("/api/"):
            assert response.get_json()["error"]["code"] == "not_found"
    # Lists, searches, drill-downs and exports leave it out.
    number = world["number"]
    lists = ("/stations", "/stations?q=林山寨", f"/stations?q={number}", "/stations/queue")
    for url in (*lists, "/stations/export.csv", "/api/v1/stations", f"/api/v1/stations?q={number}"):
        body = client.get(url).get_data(as_text=True)
        # (The query itself is echoed in the search box: look for what only the station has.)
        assert "建设路" not in body and f'/stations/{world["station"]}"' not in body, (who, url)
        assert f'"id": {world["station"]},' not in body and f'"id":{world["station"]},' not in body
    xlsx = client.get("/stations/export.xlsx")
    assert xlsx.status_code == 200
    cells = [
        c for row in load_workbook(io.BytesIO(xlsx.data)).active.iter_rows(values_only=True) for c in row
    ]
    assert world["number"] not in cells
    for region in ("41", "4101", "410102"):
        if not _code(world["people"], who).startswith(region):
            assert client.get(f"/stations?region={region}").status_code == 404


@pytest.mark.parametrize("who", INSIDE)
def test_inside_the_region_the_station_is_seen(app, client, auth, world, who):
    login_as(auth, client, world["people"], who)
    for method, url in station_routes(app, world):
        if method == "GET" and "/edit" not in url:
            assert client.get(url).status_code == 200, (who, url)
    listed = client.get("/api/v1/stations").get_json()
    assert world["station"] in [s["id"] for s in listed["items"]]
    csv = client.get("/stations/export.csv").data.decode("utf-8-sig")
    assert world["number"] in csv
    found = client.get(f"/stations?q={world['number']}").get_data(as_text=True)
    assert "林山寨" in found


def test_a_city_sees_all_its_counties_and_no_other_city(app, client, auth, world):
    login_as(auth, client, world["people"], "zhengzhou")
    ids = {s["id"] for s in client.get("/api/v1/stations").get_json()["items"]}
    assert ids == {world["station"], world["other"]}
    login_as(auth, client, world["people"], "kaifeng")
    assert client.get("/api/v1/stations").get_json()["items"] == []
    login_as(auth, client, world["people"], "zhongyuan")
    assert {s["id"] for s in client.get("/api/v1/stations").get_json()["items"]} == {world["station"]}
    assert client.get(f"/stations/{world['other']}").status_code == 404


def test_a_province_sees_its_cities_only(app, client, auth, world):
    login_as(auth, client, world["people"], "henan")
    page = client.get("/stations").get_data(as_text=True)
    assert "郑州市" in page and "武汉市" not in page
    login_as(auth, client, world["people"], "hubei")
    assert client.get("/api/v1/stations").get_json()["total"] == 0
    assert "郑州市" not in client.get("/stations").get_data(as_text=True)


def test_people_without_a_scope_see_no_station_pages(app, client, auth, world):
    auth.create(phone="13800138000")  # an institution user
    auth.login("13800138000")
    for url in (
        "/stations",
        "/stations/queue",
        "/stations/export.csv",
        "/stations/staff",
        f"/stations/{world['station']}",
    ):
        assert client.get(url).status_code == 404, url
    own = client.get("/api/v1/stations").get_json()
    assert own["items"] == []


def test_the_station_sees_itself_and_only_itself(app, client, auth, world):
    auth.login("13900139000")
    assert client.get(f"/stations/{world['station']}").status_code == 200
    assert client.get(f"/stations/{world['other']}").status_code == 404
    assert [s["id"] for s in client.get("/api/v1/stations").get_json()["items"]] == [world["station"]]
    assert client.get("/stations").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(StationActivity.id)) == world["activity"]
