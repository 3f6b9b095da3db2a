"""What every answer carries and every request must be (cloud/security.py): a strict CSP and the
other security headers, trusted Host names only, and the app's own JSON 414 for long URLs."""

import re
from urllib.parse import urlsplit

import pytest

from cloud.accounts.models import Role
from cloud.security import content_security_policy, trusted_hosts
from config import TestConfig
from tests.conftest import csrf_token

TEMPLATES_AND_SCRIPTS = ("cloud/templates", "cloud/static/js")


def directives(policy):
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part}


def assert_secure(response):
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"] and policy["form-action"] == ["'self'"]
    assert not any("unsafe" in source for sources in policy.values() for source in sources)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/resources",
        "/resources?q=科普&page=2",
        "/account/login",
        "/account/register",
        "/no/such/page",  # the error page too
        "/static/css/site.css",
        "/static/vendor/quill/quill.js",
        "/api/v1/openapi.json",
        "/api/v1/search?q=科普",
        "/api/v1/search?page=abc",  # a JSON error
        "/api/v1/resources/mine",  # 401
    ],
)
def test_every_kind_of_answer_carries_the_security_headers(client, url):
    response = client.get(url)
    response.close()  # static files are streamed from an open file
    assert_secure(response)


def test_signed_in_pages_and_posts_carry_them_too(app, auth, client):
    auth.create_uploader()
    token = auth.token()
    assert_secure(auth.login())  # the redirect after a form post
    for url in ("/upload", "/upload/article", "/my/uploads", "/account/", "/messages/", "/institution"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_secure(response)
    assert_secure(
        app.test_client().post("/api/v1/resources", json={"kind": "article", "title": "x"}, headers=token)
    )


def test_the_one_click_join_page_cannot_be_framed(app, auth, client):
    auth.create_uploader()
    auth.login()
    token = csrf_token(client, "/institution")
    html = client.post("/institution/invites", data={"csrf_token": token}, follow_redirects=True)
    link = re.search(r"/institution/join/[A-Za-z0-9_-]+", html.get_data(as_text=True)).group(0)
    auth.logout()
    auth.create(Role.INSTITUTION, phone="13700137000")
    auth.login("13700137000")
    page = client.get(urlsplit(link).path)
    assert page.status_code == 200 and "加入机构" in page.get_data(as_text=True)
    assert_secure(page)


def test_templates_and_scripts_have_nothing_the_policy_would_block():
    """The CSP forbids inline scripts, handlers and style attributes: none may creep back in."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    forbidden = re.compile(
        r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\son[a-z]+\s*=|\sstyle\s*=|javascript:"
        r"|setAttribute\(\s*[\"']style|\.style\.cssText|insertRule|[\"']style=",
        re.IGNORECASE,
    )
    found = []
    for folder in TEMPLATES_AND_SCRIPTS:
        for path in sorted((root / folder).rglob("*")):
            if path.suffix in (".html", ".js"):
                for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                    if forbidden.search(line):
                        found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert found == []


def test_the_policy_lets_forms_reach_the_s3_endpoint_only_when_downloads_live_there():
    local = directives(content_security_policy(TestConfig.load()))
    assert local["form-action"] == ["'self'"]
    s3 = directives(
        content_security_policy(
            {"KEPU_STORAGE": "s3", "KEPU_S3_ENDPOINT": "https://oss.example.cn:9000/kepu"}
        )
    )
    assert s3["form-action"] == ["'self'", "https://oss.example.cn:9000"]
    assert s3["script-src"] == ["'self'"] and s3["connect-src"] == ["'self'"]


# -- trusted hosts ------------------------------------------------------------------------------


def test_an_untrusted_host_is_never_redirected_to(client):
    # The probe: werkzeug redirects /static//x to /static/x, built from the Host header.
    response = client.get("/static//x", headers={"Host": "evil.example"})
    assert response.status_code == 400 and "Location" not in response.headers
    assert "evil.example" not in response.get_data(as_text=True)
    assert "网站地址有误" in response.get_data(as_text=True)
    assert_secure(response)
    # Trusted hosts get the redirect, built from their own name.
    for host in ("localhost", "127.0.0.1:5000"):
        response = client.get("/static//x", headers={"Host": host})
        assert response.status_code == 308 and urlsplit(response.headers["Location"]).netloc == host


def test_an_untrusted_host_gets_json_under_the_api_and_no_page_redirects(client, auth):
    auth.create(Role.STATION)
    evil = {"Host": "evil.example:443"}
    answer = client.get("/api/v1/search?q=科普", headers=evil)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "untrusted_host"
    token = client.post(
        "/api/v1/auth/token", json={"login": "13800138000", "password": "Secret123"}, headers=evil
    )
    assert token.status_code == 400 and token.is_json and "token" not in token.get_json()
    # A page that would redirect to the login page (built from Host) answers 400 instead.
    page = client.get("/my/uploads", headers=evil)
    assert page.status_code == 400 and "Location" not in page.headers
    # X-Forwarded-Host is not believed without KEPU_PROXY_COUNT.
    forwarded = client.get("/static//x", headers={"X-Forwarded-Host": "evil.example"})
    assert "evil.example" not in forwarded.headers.get("Location", "")


@pytest.mark.parametrize("app_settings", [{"KEPU_PROXY_COUNT": 1}])
def test_behind_a_proxy_the_forwarded_host_must_be_trusted_too(client):
    evil = client.get(
        "/static//x", headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-For": "10.0.0.9"}
    )
    assert evil.status_code == 400 and "Location" not in evil.headers
    fine = client.get("/static//x", headers={"X-Forwarded-Host": "localhost", "X-Forwarded-For": "10.0.0.9"})
    assert fine.status_code == 308 and urlsplit(fine.headers["Location"]).netloc == "localhost"


@pytest.mark.parametrize("app_settings", [{"KEPU_TRUSTED_HOSTS": "kepu.example.cn,.kepu.gov.cn"}])
def test_the_setting_names_hosts_and_subdomains(client):
    assert client.get("/", headers={"Host": "kepu.example.cn"}).status_code == 200
    assert client.get("/", headers={"Host": "www.kepu.gov.cn"}).status_code == 200
    assert client.get("/", headers={"Host": "localhost"}).status_code == 400
    assert client.get("/", headers={"Host": "kepu.example.cn.evil.example"}).status_code == 400


def test_the_setting_parses_safely():
    assert trusted_hosts("localhost, 127.0.0.1") == ["localhost", "127.0.0.1"]
    assert trusted_hosts("*") is None  # any host: only behind a proxy that checks Host itself
    with pytest.raises(ValueError):
        trusted_hosts(" , ")  # Flask would read an empty list as "any host"
    assert trusted_hosts(TestConfig.KEPU_TRUSTED_HOSTS) == ["localhost", "127.0.0.1"]


# -- long URLs ----------------------------------------------------------------------------------


def test_a_long_url_gets_the_apps_own_414(client):
    long_query = "科" * 2000  # 18 KB percent-encoded
    api = client.get("/api/v1/search", query_string={"q": long_query})
    assert api.status_code == 414 and api.is_json
    assert api.get_json()["error"] == {"code": "uri_too_long", "message": "请求的网址过长"}
    page = client.get("/resources", query_string={"q": long_query})
    assert page.status_code == 414 and "请求的网址过长" in page.get_data(as_text=True)
    assert_secure(page)
    # Just under the limit is answered normally.
    assert client.get("/api/v1/search", query_string={"q": "a" * 4000}).status_code == 200


def test_a_long_url_is_refused_before_any_other_work(client, auth):
    auth.create_uploader()
    token = auth.token()
    # Not even authentication or the CSRF check runs (and nothing is written).
    response = client.post("/api/v1/resources?" + "x" * 5000, json={"kind": "article"}, headers=token)
    assert response.status_code == 414 and response.get_json()["error"]["code"] == "uri_too_long"
