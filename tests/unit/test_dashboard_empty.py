"""A dashboard of a region with nothing in it (test_dashboard.py shares one full world among its
tests, so the empty one is here, on its own fresh tables)."""

from tests.conftest import PASSWORD, csrf_token
from tests.support.pages import PageFigures
from tests.support.stations import make_staff_tree


def login(client, username):
    response = client.post(
        "/account/login", data={"login": username, "password": PASSWORD, "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def test_an_empty_region_shows_zeros_and_says_so(app, client):
    with app.app_context():
        make_staff_tree()
    login(client, "staff4201")
    response = client.get("/stats?month=2026-10")
    assert response.status_code == 200
    page = PageFigures(response.get_data(as_text=True))
    assert page.number("total-download") == page.number("stations-recognised") == 0
    assert page.json["by_day"]["series"]["view"] == [0] * 31
    assert "本地区还没有已认定的e站" in response.get_data(as_text=True)
