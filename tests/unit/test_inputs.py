"""No input produces a 500: ids that cannot exist and JSON nested to any depth (``cloud.inputs``).

The routes are read from the app's URL map, so a route added later is checked without anyone
listing it here.
"""

import re

import pytest

from cloud.accounts.models import Role
from cloud.inputs import MAX_ID
from tests.conftest import CREDIT_CODES

ADMIN_PHONE, UPLOADER_PHONE = "13900139000", "13800138000"
HUGE_IDS = [MAX_ID + 1, 2**63, 99999999999999999999999999]
DEEP_JSON = "[" * 100_000 + "]" * 100_000
_ARG = re.compile(r"<(?:(?P<conv>\w+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")


def id_rules(app):
    """``(rule, method)`` for every route with an ``<int:…>`` argument."""
    found = []
    for rule in app.url_map.iter_rules():
        if any(m.group("conv") == "int" for m in _ARG.finditer(rule.rule)):
            found.extend((rule, method) for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))
    return found


def url_for_id(rule, value):
    """The rule's URL with ``value`` for every id and something plausible for the rest."""

    def fill(match):
        if match.group("conv") == "int":
            return str(value)
        if match.group("conv") == "any":
            return match.group("args").split(",")[0].strip().strip("'\"")
        return "x"

    return _ARG.sub(fill, rule.rule)


@pytest.fixture
def callers(app, auth):
    """Each kind of caller: anonymous, an admin's browser session, an uploader's bearer token."""
    auth.create(Role.ADMIN, phone=ADMIN_PHONE)
    auth.create_uploader(phone=UPLOADER_PHONE, credit_code=CREDIT_CODES[1])
    bearer = auth.token(UPLOADER_PHONE)
    admin = app.test_client()
    admin_auth = type(auth)(app, admin, auth.outbox)
    assert admin_auth.login(ADMIN_PHONE).status_code == 302
    anonymous = app.test_client()
    return {
        "anonymous": (anonymous, {}),
        "admin session": (admin, {}),
        "uploader token": (app.test_client(), bearer),
    }


def send(client, method, url, headers, **kwargs):
    return client.open(url, method=method, headers=headers, **kwargs)


def test_an_id_beyond_64_bits_is_not_found_on_every_route(app, callers):
    rules = id_rules(app)
    assert len({rule.rule for rule, _method in rules}) >= 15  # the walk found the routes
    wrong = []
    for rule, method in rules:
        for value in HUGE_IDS:
            url = url_for_id(rule, value)
            for who, (client, headers) in callers.items():
                response = send(client, method, url, headers, json={})
                if response.status_code != 404:
                    wrong.append((who, method, url, response.status_code))
                elif url.startswith("/api/"):
                    assert response.get_json()["error"]["code"] == "not_found"
    assert not wrong


def test_the_largest_id_reaches_the_views_and_is_not_found_there(app, callers):
    """2**63-1 still matches the routes (it fits both databases): every view answers, none 500s."""
    wrong = []
    for rule, method in id_rules(app):
        url = url_for_id(rule, MAX_ID)
        for who, (client, headers) in callers.items():
            status = send(client, method, url, headers, json={}).status_code
            allowed = {404, 403, 401, 400} if method != "GET" else {404, 403, 401}
            if who != "admin session" and not url.startswith("/api/"):
                allowed |= {302}  # pages (which ignore bearer tokens) send them to the login page
            if status not in allowed:
                wrong.append((who, method, url, status))
    assert not wrong


def test_the_converter_still_matches_ordinary_ids(app):
    adapter = app.url_map.bind("localhost")
    assert adapter.match("/resources/7") == ("catalog.detail", {"resource_id": 7})
    assert adapter.match(f"/resources/{MAX_ID}")[1] == {"resource_id": MAX_ID}


def test_json_nested_100000_deep_is_a_json_error(app, callers):
    """Every API operation that reads a JSON body, anonymous and with a token."""
    targets = [
        ("POST", "/api/v1/auth/token"),
        ("POST", "/api/v1/resources"),
        ("PATCH", "/api/v1/resources/1"),
    ]
    targets += [("POST", "/api/v1/auth/sms-code"), ("POST", "/api/v1/review/1/reject")]
    targets += [("POST", "/api/v1/admin/institutions/1/reject"), ("POST", "/api/v1/resources/1/withdraw")]
    for method, url in targets:
        for who in ("anonymous", "uploader token"):
            client, headers = callers[who]
            response = send(client, method, url, headers, data=DEEP_JSON, content_type="application/json")
            assert response.status_code in (400, 401, 403, 404, 422), (who, method, url)
            assert response.get_json()["error"]["message"], (who, method, url)
    client, headers = callers["anonymous"]
    response = send(
        client, "POST", "/api/v1/auth/token", headers, data=DEEP_JSON, content_type="application/json"
    )
    assert response.status_code == 422
    client, headers = callers["uploader token"]
    response = send(
        client, "POST", "/api/v1/resources", headers, data=DEEP_JSON, content_type="application/json"
    )
    assert response.status_code == 422


def test_json_nested_deeply_is_a_bad_request_where_json_is_required(app):
    """``request.get_json()`` without ``silent``: Flask's 400, not a RecursionError."""
    from flask import request

    with app.test_request_context(
        "/api/v1/x", method="POST", data=DEEP_JSON, content_type="application/json"
    ):
        with pytest.raises(Exception) as caught:
            request.get_json()
        assert getattr(caught.value, "code", None) == 400
        assert request.get_json(silent=True) is None


def test_a_nul_character_is_refused_before_it_reaches_the_database(client, callers):
    """PostgreSQL refuses NUL in text (a 500 there); nobody types one: 422 everywhere."""
    for url in ["/api/v1/regions?parent=35%00", "/api/v1/search?q=%E7%A7%91%00", "/resources?q=a%00"]:
        response = client.get(url)
        assert response.status_code == 422, url
    assert client.get("/api/v1/captcha/x%00y.png").status_code == 422
    assert client.get("/api/v1/search?q=a%00").get_json()["error"]["code"] == "validation_failed"
    response = client.post("/api/v1/auth/token", json={"login": "138\x00", "password": "x"})
    assert response.status_code == 422
    assert "NUL" in response.get_json()["error"]["message"]
    client, headers = callers["uploader token"]
    nested = {"kind": "article", "title": "标题", "tags": [["深处", {"键\x00": 1}]], "body_html": "<p>x</p>"}
    response = client.post("/api/v1/resources", json=nested, headers=headers)
    assert response.status_code == 422
    assert client.get("/api/v1/resources/mine", headers=headers).get_json()["items"] == []
