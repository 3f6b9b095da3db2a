"""图文: sanitized HTML, inline pictures through the pipeline, only our own images allowed."""

import io

import pytest
from PIL import Image

from tests.conftest import CREDIT_CODES, TESTDATA, post_multipart


@pytest.fixture
def uploader(auth):
    auth.create_uploader()
    return auth.token()


def upload_picture(client, headers, path=f"{TESTDATA}/images/pillow_flower.jpg", name="花.jpg"):
    with open(path, "rb") as fh:
        return post_multipart(
            client, "/api/v1/article-images", {"file": (io.BytesIO(fh.read()), name)}, headers
        )


def create_article(client, headers, body_html, title="流感防治小知识"):
    return client.post(
        "/api/v1/resources",
        json={"kind": "article", "title": title, "channel": "健康", "tags": ["流感"], "body_html": body_html},
        headers=headers,
    )


def test_article_with_inline_picture_is_sanitized_and_processed(auth, client, uploader):
    picture = upload_picture(client, uploader)
    assert picture.status_code == 201, picture.get_json()
    url = picture.get_json()["url"]
    html = (
        f'<h2>预防</h2><p onclick="x()">勤洗手<script>alert(1)</script></p><img src="{url}" onerror="x()">'
        '<img src="https://tracker.example/p.gif"><a href="javascript:alert(1)">链接</a>'
    )
    response = create_article(client, uploader, html)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["state"] == "processed", body["processing"]
    stored_html = body["body_html"]
    for bad in ("<script", "onclick", "onerror", "tracker.example", "javascript:"):
        assert bad not in stored_html
    assert f'src="{url}"' in stored_html and "<h2>预防</h2>" in stored_html
    roles = sorted(f["role"] for f in body["files"])
    assert roles == ["inline-image", "inline-source", "thumbnail"]
    # readers get the re-encoded picture: JPEG without EXIF
    auth.login()
    served = client.get(url)
    assert served.status_code == 200
    image = Image.open(io.BytesIO(served.data))
    assert image.format == "JPEG" and "exif" not in image.info


def test_another_institutions_picture_cannot_be_embedded(auth, client, uploader):
    url = upload_picture(client, uploader).get_json()["url"]
    auth.create_uploader(phone="13900139000", institution="另一机构", credit_code=CREDIT_CODES[1])
    other = auth.token("13900139000")
    body = create_article(client, other, f'<p>借用图片</p><img src="{url}">').get_json()
    assert "<img" not in body["body_html"]
    auth.login("13900139000")
    assert client.get(url).status_code == 404


def test_forged_image_urls_are_removed(client, uploader):
    forged = '<img src="/media/article-images/1.0000000000000000000a">'
    html = f'<p>文字</p>{forged}<img src="data:image/png;base64,AAAA">'
    body = create_article(client, uploader, html).get_json()
    assert "<img" not in body["body_html"]


def test_empty_article_is_refused(client, uploader):
    response = create_article(client, uploader, "<p>   </p><script>x</script>")
    assert response.status_code == 422
    assert response.get_json()["error"]["message"] == "正文不能为空"


def test_editing_drops_pictures_no_longer_used(client, uploader):
    first = upload_picture(client, uploader).get_json()["url"]
    second = upload_picture(client, uploader, name="第二张.jpg").get_json()["url"]
    rid = create_article(client, uploader, f'<p>两张</p><img src="{first}"><img src="{second}">').get_json()[
        "id"
    ]
    edited = f'<p>一张</p><img src="{second}">'
    response = client.patch(f"/api/v1/resources/{rid}", json={"body_html": edited}, headers=uploader)
    body = response.get_json()
    assert response.status_code == 200 and body["state"] == "processed", body
    assert sorted(f["role"] for f in body["files"]) == ["inline-image", "inline-source", "thumbnail"]


def test_non_image_is_refused_as_inline_picture(client, uploader):
    response = upload_picture(client, uploader, f"{TESTDATA}/video/moviepy_fire2.mp4", "伪装.jpg")
    assert response.status_code == 422
    assert "文件内容" in response.get_json()["error"]["message"]


def test_reviewers_see_the_pictures_of_the_article_they_judge_and_nobody_else_does(
    app, auth, client, uploader
):
    import re

    from cloud.accounts.models import Role, UserRole
    from cloud.extensions import db

    url = upload_picture(client, uploader).get_json()["url"]
    rid = create_article(client, uploader, f'<p>花粉季节</p><img src="{url}">').get_json()["id"]
    assert client.post(f"/api/v1/resources/{rid}/submit", headers=uploader).status_code == 200
    reviewer_id = auth.create(Role.STATION, phone="13700137000")
    with app.app_context():
        db.session.add(UserRole(user_id=reviewer_id, role=Role.REVIEWER))
        db.session.commit()
    auth.create(Role.STATION, phone="13600136000")
    auth.create_uploader(phone="13900139000", institution="另一机构", credit_code=CREDIT_CODES[1])

    # The reviewer opens the review page: every picture in it loads.
    auth.login("13700137000")
    page = client.get(f"/review/{rid}").get_data(as_text=True)
    pictures = [src for src in re.findall(r'<img[^>]* src="([^"]+)"', page) if not src.startswith("/static/")]
    assert url in pictures
    for src in pictures:
        served = client.get(src)
        assert served.status_code == 200, src
        assert Image.open(io.BytesIO(served.data)).format == "JPEG"
    auth.logout()

    # Stations, other institutions and anonymous callers still get 404 for the unpublished article.
    for phone in ("13600136000", "13900139000"):
        auth.login(phone)
        assert client.get(url).status_code == 404, phone
        auth.logout()
    assert client.get(url).status_code == 404

    # Rejected, it is no longer the reviewer's to judge: 404 again; the owner still sees it.
    api_reviewer = auth.token("13700137000")
    client.post(f"/api/v1/review/{rid}/claim", headers=api_reviewer)
    rejected = client.post(
        f"/api/v1/review/{rid}/reject", json={"reason": "图片不清楚"}, headers=api_reviewer
    )
    assert rejected.status_code == 200
    auth.login("13700137000")
    assert client.get(url).status_code == 404
    auth.logout()
    auth.login()
    assert client.get(url).status_code == 200
