"""资源中心: only published resources are found; pages per type; downloads with links and Range."""

import io
import time
import zipfile

import pytest
from sqlalchemy import func, select, update

from cloud.accounts.models import Role, UserRole
from cloud.catalog import pagecache, searchlog
from cloud.catalog.models import DownloadEvent, SearchLog
from cloud.extensions import db
from cloud.resources.models import Resource
from tests.conftest import CREDIT_CODES, TESTDATA, post_multipart

OWNER, REVIEWER, STATION, OTHER = "13800138000", "13700137000", "13600136000", "13500135000"


@pytest.fixture
def people(app, auth):
    auth.create_uploader(phone=OWNER)
    reviewer_id = auth.create(Role.STATION, phone=REVIEWER)
    with app.app_context():
        db.session.add(UserRole(user_id=reviewer_id, role=Role.REVIEWER))
        db.session.commit()
    auth.create(Role.STATION, phone=STATION, region_code="430102")
    auth.create_uploader(phone=OTHER, institution="另一机构", credit_code=CREDIT_CODES[1])
    return {p: auth.token(p) for p in (OWNER, REVIEWER, STATION, OTHER)}


def upload(client, headers, kind, path, title, tags="科普"):
    with open(path, "rb") as fh:
        data = {"kind": kind, "title": title, "channel": "健康", "tags": tags,
                "file": (io.BytesIO(fh.read()), path.rsplit("/", 1)[-1])}  # fmt: skip
    body = post_multipart(client, "/api/v1/resources", data, headers).get_json()
    assert body["state"] == "processed", body
    return body["id"]


def publish(client, people, rid, owner=OWNER):
    assert client.post(f"/api/v1/resources/{rid}/submit", headers=people[owner]).status_code == 200
    client.post(f"/api/v1/review/{rid}/claim", headers=people[REVIEWER])
    assert client.post(f"/api/v1/review/{rid}/approve", headers=people[REVIEWER]).status_code == 200


def search(client, headers, **params):
    response = client.get("/api/v1/search", query_string=params, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_only_published_resources_are_found(app, client, people):
    flower = f"{TESTDATA}/images/pillow_flower.jpg"
    published = upload(client, people[OWNER], "image", flower, "流感疫苗接种指南")
    publish(client, people, published)
    upload(client, people[OWNER], "image", flower, "流感疫苗草稿")  # processed, never submitted
    pending = upload(client, people[OWNER], "image", flower, "流感疫苗待审")
    client.post(f"/api/v1/resources/{pending}/submit", headers=people[OWNER])
    rejected = upload(client, people[OWNER], "image", flower, "流感疫苗退回")
    client.post(f"/api/v1/resources/{rejected}/submit", headers=people[OWNER])
    client.post(f"/api/v1/review/{rejected}/claim", headers=people[REVIEWER])
    client.post(f"/api/v1/review/{rejected}/reject", json={"reason": "不准确"}, headers=people[REVIEWER])
    upload(client, people[OTHER], "image", flower, "流感疫苗别家草稿")
    withdrawn = upload(client, people[OWNER], "image", flower, "流感疫苗撤回")
    publish(client, people, withdrawn)

    found = search(client, people[STATION], q="流感疫苗")
    assert found["total"] == 2
    client.post(f"/api/v1/resources/{withdrawn}/withdraw", json={"reason": "过时"}, headers=people[OWNER])
    found = search(client, people[STATION], q="流感疫苗")
    assert found["total"] == 1 and [i["id"] for i in found["items"]] == [published]
    assert "<mark>" in found["items"][0]["title_html"] or "<em" in found["items"][0]["title_html"]
    html = client.get("/resources?q=流感疫苗", headers=people[STATION]).get_data(as_text=True)
    for hidden in ("草稿", "待审", "退回", "别家", "撤回"):
        assert f"流感疫苗{hidden}" not in html
    assert "共找到 1 个资源" in html
    assert f'src="/resources/{published}/media/' in html  # its thumbnail
    # the unpublished ones answer 404 everywhere a station could look
    for rid in (pending, rejected, withdrawn):
        assert client.get(f"/api/v1/resources/{rid}", headers=people[STATION]).status_code == 404
        assert client.get(f"/resources/{rid}").status_code == 404
        for rendition in ("source", "sd", "print"):
            assert client.get(f"/api/v1/resources/{rid}/download?rendition={rendition}",
                              headers=people[STATION]).status_code == 404  # fmt: skip
    # Withdrawn in the database a moment before the worker removes it from the index: the hit is
    # dropped from the page, the API and the counts.
    with app.app_context():
        db.session.execute(update(Resource).where(Resource.id == published).values(state="withdrawn"))
        pagecache.bump()  # as the withdrawal's own transaction does
        db.session.commit()
    assert search(client, people[STATION], q="流感疫苗")["total"] == 0
    html = client.get("/resources?q=流感疫苗").get_data(as_text=True)
    assert "共找到 0 个资源" in html and "流感疫苗接种指南" not in html


def test_filters_sorting_and_zero_result_log(app, auth, client, people):
    flower = f"{TESTDATA}/images/pillow_flower.jpg"
    image = upload(client, people[OWNER], "image", flower, "防溺水安全知识")
    publish(client, people, image)
    time.sleep(1.1)  # published a second apart, so "newest" has an order to show
    chart = upload(
        client, people[OWNER], "wallchart", f"{TESTDATA}/psd/psdtools_300dpi.psb", "防溺水宣传挂图"
    )
    publish(client, people, chart)
    assert search(client, people[STATION], q="防溺水")["total"] == 2
    only_charts = search(client, people[STATION], q="防溺水", type="wallchart")
    assert [i["id"] for i in only_charts["items"]] == [chart]
    newest = search(client, people[STATION], q="防溺水", sort="newest")
    assert [i["id"] for i in newest["items"]] == [chart, image]
    assert search(client, people[STATION], q="火星移民")["total"] == 0
    assert client.get("/api/v1/search?from=昨天").status_code == 422
    with app.app_context():
        searchlog.flush()  # the batch this process has not written yet
        logged = dict(db.session.execute(select(SearchLog.query, SearchLog.result_count)).all())
        assert logged["火星移民"] == 0 and logged["防溺水"] == 2
    page = client.get("/resources?q=火星移民").get_data(as_text=True)
    assert "没有找到相关资源" in page and "大家都在搜" in page
    auth.create(Role.ADMIN, phone="13900139000")
    auth.login("13900139000")
    admin_page = client.get("/admin").get_data(as_text=True)
    assert "火星移民 <small>2 次</small>" in admin_page  # in 无结果搜索 (and 热门搜索)


def test_wallchart_downloads_original_and_print_pdf_with_range(app, auth, client, people):
    path = f"{TESTDATA}/psd/psdtools_300dpi.psb"
    rid = upload(client, people[OWNER], "wallchart", path, "高精度挂图")
    publish(client, people, rid)
    auth.login(STATION)
    page = client.get(f"/resources/{rid}").get_data(as_text=True)
    assert "缩略图预览" in page and "原文件下载" in page and "打印版PDF下载" in page and "300 dpi" in page
    link = client.get(f"/resources/{rid}/download/source")
    assert link.status_code == 302 and link.headers["Cache-Control"] == "no-store"
    original = client.get(link.headers["Location"])
    with open(path, "rb") as fh:
        source_bytes = fh.read()
    assert original.data == source_bytes  # byte-identical
    disposition = original.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and "filename*=UTF-8''" in disposition
    assert original.headers["X-Content-Type-Options"] == "nosniff"
    ranged = client.get(link.headers["Location"], headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206 and ranged.data == source_bytes[100:200]
    pdf = client.get(client.get(f"/resources/{rid}/download/print").headers["Location"])
    assert (
        pdf.data.startswith(b"%PDF") and "%E6%89%93%E5%8D%B0%E7%89%88" in pdf.headers["Content-Disposition"]
    )
    with app.app_context():
        events = db.session.execute(select(DownloadEvent.rendition, DownloadEvent.region_code)).all()
        assert sorted(events) == [("print", "430102"), ("source", "430102")]
        from cloud.resources.models import Resource

        assert db.session.get(Resource, rid).download_count == 2


@pytest.mark.parametrize("app_settings", [{"KEPU_DOWNLOAD_URL_SECONDS": 1}])
def test_download_links_expire_and_die_with_withdrawal(auth, client, people):
    flower = f"{TESTDATA}/images/pillow_flower.jpg"
    rid = upload(client, people[OWNER], "image", flower, "会过期的链接")
    publish(client, people, rid)
    auth.login(STATION)
    expired = client.get(f"/resources/{rid}/download/source").headers["Location"]
    time.sleep(2.1)
    assert client.get(expired).status_code == 404
    fresh = client.get(f"/resources/{rid}/download/source").headers["Location"]
    client.post(f"/api/v1/resources/{rid}/withdraw", json={"reason": "下架"}, headers=people[OWNER])
    assert client.get(fresh).status_code == 404
    assert client.get(f"/resources/{rid}/download/source").status_code == 404


def test_downloads_need_login(client, people):
    rid = upload(client, people[OWNER], "image", f"{TESTDATA}/images/pillow_flower.jpg", "要登录")
    publish(client, people, rid)
    assert client.get(f"/resources/{rid}").status_code == 200
    assert client.get(f"/resources/{rid}/download/source").status_code == 302  # to the login page
    assert "/account/login" in client.get(f"/resources/{rid}/download/source").headers["Location"]
    assert client.get(f"/api/v1/resources/{rid}/download?rendition=source").status_code == 401


def test_article_reads_copies_and_downloads_as_zip(auth, client, people):
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        fields = {"file": (io.BytesIO(fh.read()), "花.jpg")}
    picture = post_multipart(client, "/api/v1/article-images", fields, people[OWNER]).get_json()["url"]
    body = client.post(
        "/api/v1/resources",
        json={
            "kind": "article",
            "title": "春季花粉过敏",
            "body_html": f'<p>花粉季节</p><img src="{picture}">',
        },
        headers=people[OWNER],
    ).get_json()
    publish(client, people, body["id"])
    auth.login(STATION)
    page = client.get(f"/resources/{body['id']}").get_data(as_text=True)
    assert "复制文字" in page and "花粉季节" in page
    assert client.get(picture).status_code == 200  # readers get the re-encoded picture
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/resources/{body['id']}/download/zip").data))
    assert sorted(archive.namelist()) == ["images/1.jpg", "index.html", "正文.txt"]
    assert "images/1.jpg" in archive.read("index.html").decode()


def test_reindex_command_restores_identical_results(app, client, runner, people):
    import shutil

    for title in ("垃圾分类小知识", "垃圾分类挂图", "节约用水"):
        publish(
            client,
            people,
            upload(client, people[OWNER], "image", f"{TESTDATA}/images/pillow_flower.jpg", title),
        )
    before = search(client, people[STATION], q="垃圾分类")
    shutil.rmtree(app.config["KEPU_INDEX_DIR"])
    # Searches keep answering from the database until the index is rebuilt.
    lost = search(client, people[STATION], q="垃圾分类")
    assert sorted(i["id"] for i in lost["items"]) == sorted(i["id"] for i in before["items"])
    assert lost["total"] == 2
    assert search(client, people[STATION], q="不存在的词")["total"] == 0
    result = runner.invoke(args=["search", "reindex"])
    assert "indexed 3 published resource(s)" in result.output
    after = search(client, people[STATION], q="垃圾分类")
    assert [i["id"] for i in after["items"]] == [i["id"] for i in before["items"]] and after["total"] == 2
    with app.app_context():
        searchlog.flush()
        assert db.session.scalar(select(func.count()).select_from(SearchLog)) == 2  # no index: not logged


def test_players_media_need_login_but_previews_do_not(client, people):
    rid = upload(
        client, people[OWNER], "video", f"{TESTDATA}/video/moviepy_big_buck_bunny_432_433.webm", "片段"
    )
    publish(client, people, rid)
    files = {
        f["role"]: f
        for f in client.get(f"/api/v1/resources/{rid}", headers=people[OWNER]).get_json()["files"]
    }
    assert client.get(f"/resources/{rid}/media/{files['poster']['id']}").status_code == 200
    assert client.get(f"/resources/{rid}/media/{files['sd']['id']}").status_code == 302  # to log in
    assert client.get(f"/resources/{rid}/media/{files['source']['id']}").status_code == 404
    assert "登录后即可在线观看" in client.get(f"/resources/{rid}").get_data(as_text=True)


def test_browsing_anonymously_sets_no_cookie_but_the_sms_forms_get_their_token(app):
    client = app.test_client()
    for url in ("/", "/resources", "/resources?q=科普"):
        response = client.get(url)
        assert response.status_code == 200 and "Set-Cookie" not in response.headers, url
    for url in ("/account/register", "/account/reset"):
        assert 'name="csrf-token"' in client.get(url).get_data(as_text=True), url


def test_a_search_result_says_what_the_resource_view_says(client, people):
    chart = upload(
        client, people[OWNER], "wallchart", f"{TESTDATA}/psd/psdtools_300dpi.psb", "防震减灾挂图", "地震,安全"
    )
    publish(client, people, chart)
    [item] = search(client, people[STATION], q="防震减灾")["items"]
    view = client.get(f"/api/v1/resources/{chart}", headers=people[STATION]).get_json()
    assert set(item["renditions"]) == {"source", "print"} and item["thumbnail_url"]
    assert item["tags"] == ["地震", "安全"] and item["institution"]
    # The list is read without the ORM, the view with it: the same builder, the same answer.
    assert {k: v for k, v in item.items() if k not in ("title_html", "summary_html", "score")} == {
        k: v for k, v in view.items() if k in item
    }
