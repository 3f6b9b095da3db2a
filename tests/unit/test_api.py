"""The JSON API foundation: tokens, one error shape, the OpenAPI document."""

from datetime import timedelta

from sqlalchemy import update

from cloud.accounts.models import AuthSession
from cloud.extensions import db
from cloud.models_base import utcnow
from tests.conftest import PASSWORD

PHONE = "13800138000"


def token_for(client, login=PHONE, password=PASSWORD):
    return client.post("/api/v1/auth/token", json={"login": login, "password": password})


def assert_error_shape(response, status, code):
    assert response.status_code == status
    assert response.content_type == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_token_login_me_and_revoke(auth, client):
    auth.create(username="kepu_user", name="测试机构")
    response = token_for(client, "kepu_user")
    assert response.status_code == 201
    token = response.get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert me["phone"] == PHONE and me["roles"] == ["institution"] and me["name"] == "测试机构"
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    assert_error_shape(client.get("/api/v1/me", headers=headers), 401, "unauthorized")


def test_token_failures_share_one_answer(auth, client):
    auth.create()
    wrong = token_for(client, PHONE, "WrongPass1")
    unknown = token_for(client, "13900139000", "WrongPass1")
    assert_error_shape(wrong, 401, "login_failed")
    assert wrong.get_json() == unknown.get_json()


def test_expired_token_is_refused(app, auth, client):
    auth.create()
    token = token_for(client).get_json()["token"]
    with app.app_context():
        db.session.execute(update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert_error_shape(
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401, "unauthorized"
    )


def test_garbage_tokens_and_bodies_get_json_errors(client):
    assert_error_shape(
        client.get("/api/v1/me", headers={"Authorization": "Bearer x" * 300}), 401, "unauthorized"
    )
    assert_error_shape(client.get("/api/v1/me"), 401, "unauthorized")
    assert_error_shape(client.post("/api/v1/auth/token", data="not json"), 422, "validation_failed")
    assert_error_shape(client.post("/api/v1/auth/token", json=["a"]), 422, "validation_failed")
    assert_error_shape(
        client.post("/api/v1/auth/token", json={"login": 1, "password": {}}), 422, "validation_failed"
    )
    assert_error_shape(client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_error_shape(client.put("/api/v1/me"), 405, "method_not_allowed")


def test_bearer_calls_need_no_csrf(auth, client):
    auth.create()
    token = token_for(client).get_json()["token"]
    response = client.delete("/api/v1/auth/token", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 204


def test_openapi_document_covers_every_api_route(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    assert "Error" in doc["components"]["schemas"]
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    for path, method in [
        ("/auth/token", "post"),
        ("/auth/token", "delete"),
        ("/me", "get"),
        ("/auth/sms-code", "post"),
        ("/captcha", "post"),
        ("/regions", "get"),
    ]:
        assert (path, method) in documented
    undocumented = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1")
        and not rule.rule.endswith((".json", ".png", ".wav"))
        and getattr(app.view_functions[rule.endpoint], "openapi", None) is None
    ]
    assert undocumented == []


def test_pages_get_chinese_error_pages(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "页面或资源不存在" in html and "返回首页" in html


def test_unexpected_errors_show_no_stack_trace(app):
    def boom():
        raise RuntimeError("secret internals")

    app.add_url_rule("/boom", "boom", boom)
    app.add_url_rule("/api/v1/boom", "api_boom", boom)
    client = app.test_client()
    page = client.get("/boom")
    assert page.status_code == 500
    assert "服务器出错了" in page.get_data(as_text=True)
    assert "secret internals" not in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True)
    api = client.get("/api/v1/boom")
    assert_error_shape(api, 500, "internal_error")
    assert "secret internals" not in api.get_data(as_text=True)


def test_oversized_form_is_413_in_chinese(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = client.post("/account/login", data={"login": "x" * 4096, "password": "y"})
    assert response.status_code == 413
    assert "超过大小限制" in response.get_data(as_text=True)
