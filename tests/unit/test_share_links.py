"""传播量 share links (issue 10, item 2): each informant or station person gets their own link and
QR code on a resource page; the public page needs no login, sets no cookie, stores no address,
links no source file, counts a visitor once a day toward the sharer, and says 已下架 once the
resource is withdrawn; 我的传播 shows the visits per month and resource."""

import io
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import inspect, select, text

from cloud.accounts.models import User
from cloud.extensions import db
from cloud.resources.models import Resource, ResourceFile
from cloud.stats import service, sharing
from cloud.stats.models import ShareLink, UsageEvent, UserUsageDaily
from tests.conftest import TESTDATA, post_multipart
from tests.unit import test_stats as stats_tests
from tests.unit.test_stats import COUNTY, INFORMANT, LONER, OWNER, STATION, publish, upload_image

people = stats_tests.people  # the same cast: informants of a recognised station, and of none

BROWSER = {"User-Agent": "Mozilla/5.0 (Linux; Android 14) 测试浏览器"}
ADDRESS = "203.0.113.77"


def share_url(client, rid):
    """The logged-in user's share link as the resource page shows it (None when it shows none)."""
    page = client.get(f"/resources/{rid}").get_data(as_text=True)
    found = re.search(r'<input type="text" readonly value="([^"]+)" data-testid="share-url"', page)
    return found.group(1) if found else None


def token_of(url):
    return urlsplit(url).path.rsplit("/", 1)[-1]


def visit(app, url, address=ADDRESS, headers=BROWSER):
    """A stranger's visit: a fresh client (no cookies) from ``address``."""
    anonymous = app.test_client()
    return anonymous.get(urlsplit(url).path, headers=headers, environ_base={"REMOTE_ADDR": address})


def share_visits(app, user_id=None):
    with app.app_context():
        stmt = select(UsageEvent.user_id, UsageEvent.is_counted).where(UsageEvent.kind == "share_visit")
        if user_id is not None:
            stmt = stmt.where(UsageEvent.user_id == user_id)
        return db.session.execute(stmt.order_by(UsageEvent.id)).all()


@pytest.fixture
def image(client, people):
    return publish(client, people["tokens"], upload_image(client, people["tokens"][OWNER], "春天的花"))


def test_an_informant_gets_one_own_link_and_a_qr_code_that_decodes_to_it(app, auth, client, people, image):
    auth.login(INFORMANT)
    url = share_url(client, image)
    assert url and re.fullmatch(r"http://localhost/s/[A-Za-z0-9_-]{24}", url)
    assert share_url(client, image) == url  # the same link every time: it is stored
    with app.app_context():
        stored = db.session.scalars(select(ShareLink)).one()
        assert stored.token == token_of(url) and stored.user_id == auth.user_id(INFORMANT)
    qr = client.get(f"/resources/{image}/share/qr.png")
    assert qr.status_code == 200 and qr.mimetype == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.data)))
    assert [code.text for code in decoded] == [url]
    assert decoded[0].format == zxingcpp.BarcodeFormat.QRCode


def test_only_informants_and_station_people_share(app, auth, client, people, image):
    assert share_url(client, image) is None  # anonymous
    assert client.get(f"/resources/{image}/share/qr.png").status_code == 302  # to the login page
    auth.login(OWNER)  # an institution's uploader
    assert share_url(client, image) is None
    assert client.get(f"/resources/{image}/share/qr.png").status_code == 403
    auth.logout()
    auth.login(STATION)
    assert share_url(client, image) is not None
    with app.app_context():
        assert db.session.scalar(select(ShareLink.user_id)) == auth.user_id(STATION)


def test_visits_count_once_per_visitor_per_day_toward_the_sharer_and_their_station(
    app, auth, client, people, image
):
    auth.login(INFORMANT)
    url = share_url(client, image)
    for _ in range(3):
        assert visit(app, url).status_code == 200
    assert visit(app, url, headers={"User-Agent": "另一种浏览器"}).status_code == 200
    assert visit(app, url, address="198.51.100.9").status_code == 200
    informant = auth.user_id(INFORMANT)
    counted = [c for _u, c in share_visits(app)]
    assert counted == [True, False, False, True, True]
    with app.app_context():
        rows = db.session.execute(
            select(UsageEvent.station_id, UsageEvent.region_code, UsageEvent.resource_id).where(
                UsageEvent.kind == "share_visit"
            )
        ).all()
        assert set(rows) == {(people["station_id"], COUNTY, image)}
        today = service.today_beijing()
        # (the sharer's own view of the resource page is a view, not 传播)
        assert service.totals(today, today, region_prefix="4101") == {("share_visit",): 3, ("view",): 1}
        mine = db.session.scalars(
            select(UserUsageDaily).where(UserUsageDaily.event_kind == "share_visit")
        ).one()
        assert (mine.user_id, mine.count) == (informant, 3)
        # The same visitor counts again the next Beijing day.
        link = db.session.scalars(select(ShareLink)).one()
        resource = db.session.get(Resource, image)
        for moment in ("2026-10-31T15:00:00", "2026-10-31T15:30:00", "2026-10-31T16:30:00"):
            at = datetime.fromisoformat(moment).replace(tzinfo=UTC)
            service.record_share_visit(link, resource, remote_addr=ADDRESS, user_agent="UA", at=at)
        db.session.commit()
    assert [c for _u, c in share_visits(app)][5:] == [True, False, True]


def test_a_visit_counts_for_the_owner_of_the_token_not_for_whoever_opens_it(app, auth, client, people, image):
    auth.login(INFORMANT)
    mine = share_url(client, image)
    auth.logout()
    auth.login(LONER)
    theirs = share_url(client, image)
    assert theirs != mine
    assert client.get(urlsplit(mine).path, headers=BROWSER).status_code == 200  # LONER opens the other's link
    assert client.get(urlsplit(theirs).path, headers=BROWSER).status_code == 200  # and their own: not counted
    informant, loner = auth.user_id(INFORMANT), auth.user_id(LONER)
    assert share_visits(app) == [(informant, True), (loner, False)]
    page = client.get("/my/shares").get_data(as_text=True)
    assert "还没有人打开过您的分享链接" in page  # LONER: nothing
    auth.logout()
    auth.login(INFORMANT)
    page = client.get("/my/shares").get_data(as_text=True)
    assert f'data-testid="visits-{image}">1<' in page


def test_my_shares_lists_visits_per_month_and_resource(app, auth, client, people, image):
    second = publish(client, people["tokens"], upload_image(client, people["tokens"][OWNER], "夏天的树"))
    auth.login(INFORMANT)
    share_url(client, image)
    share_url(client, second)
    with app.app_context():
        links = {link.resource_id: link for link in db.session.scalars(select(ShareLink))}
        visits = [
            (image, "2026-10-03", 1),
            (image, "2026-10-20", 2),
            (second, "2026-10-21", 3),
            (image, "2026-11-02", 4),
        ]
        for rid, day, number in visits:
            for n in range(number):
                at = datetime.fromisoformat(f"{day}T04:00:00").replace(tzinfo=UTC)
                service.record_share_visit(
                    links[rid], links[rid].resource, remote_addr=f"192.0.2.{n}", user_agent="UA", at=at
                )
        db.session.commit()
        user = db.session.get(User, auth.user_id(INFORMANT))
        assert service.shares_by_month(user) == [
            ("2026-11", [(image, 4)], 4),
            ("2026-10", [(image, 3), (second, 3)], 6),  # a tie: in order of the resources
        ]
    assert 'data-testid="my-shares"' in client.get("/account/").get_data(as_text=True)
    page = client.get("/my/shares").get_data(as_text=True)
    assert "2026 年 11 月 · 共 4 次" in page and "2026 年 10 月 · 共 6 次" in page
    assert "夏天的树" in page and "春天的花" in page


class Links(HTMLParser):
    """Every URL in a page: links, sources, posters, forms, objects."""

    ATTRIBUTES = frozenset({"href", "src", "poster", "action", "data", "formaction", "background", "cite"})

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value and name in self.ATTRIBUTES:
                self.urls.append(value)
            elif value and name == "srcset":
                self.urls.extend(part.split()[0] for part in value.split(","))
            elif value and name == "content" and "url=" in value.lower():
                self.urls.append(value.split("=", 1)[1])


def upload_file(client, headers, kind, path, title):
    with open(path, "rb") as fh:
        data = {"kind": kind, "title": title, "file": (io.BytesIO(fh.read()), path.rsplit("/", 1)[-1])}
    body = post_multipart(client, "/api/v1/resources", data, headers).get_json()
    assert body["state"] == "processed", body
    return body["id"]


def publish_article(client, tokens):
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        fields = {"file": (io.BytesIO(fh.read()), "花.jpg")}
    picture = post_multipart(client, "/api/v1/article-images", fields, tokens[OWNER]).get_json()["url"]
    body = client.post(
        "/api/v1/resources",
        json={
            "kind": "article",
            "title": "春季花粉过敏",
            "body_html": f'<p>花粉季节要当心</p><img src="{picture}">',
        },
        headers=tokens[OWNER],
    ).get_json()
    return publish(client, tokens, body["id"])


def test_the_public_page_shows_each_type_without_login_cookie_or_any_source_file(app, auth, client, people):
    tokens = people["tokens"]
    resources = {
        "article": publish_article(client, tokens),
        "image": publish(client, tokens, upload_image(client, tokens[OWNER], "春天的花")),
        "wallchart": publish(
            client,
            tokens,
            upload_file(client, tokens[OWNER], "wallchart", f"{TESTDATA}/images/pillow_flower.jpg", "挂图"),
        ),
        "audio": publish(
            client,
            tokens,
            upload_file(client, tokens[OWNER], "audio", f"{TESTDATA}/audio/moviepy_crunching.mp3", "音频"),
        ),
        "video": publish(
            client,
            tokens,
            upload_file(
                client,
                tokens[OWNER],
                "video",
                f"{TESTDATA}/video/moviepy_big_buck_bunny_432_433.webm",
                "视频",
            ),
        ),
    }
    shown = {"article": "article-body", "image": "image-preview", "wallchart": "wallchart-preview",
             "audio": "audio-player", "video": "sd-player"}  # fmt: skip
    auth.login(INFORMANT)
    for kind, rid in resources.items():
        url = share_url(client, rid)
        token = token_of(url)
        response = visit(app, url)
        assert response.status_code == 200, kind
        assert "Set-Cookie" not in response.headers, kind
        html = response.get_data(as_text=True)
        assert "来自" in html and "科普资源云" in html and 'data-testid="shared-footer"' in html
        assert f'data-testid="{shown[kind]}"' in html, kind
        assert "下载" not in html and "登录" not in html, kind
        with app.app_context():
            files = {
                f.id: f.role
                for f in db.session.scalars(select(ResourceFile).where(ResourceFile.resource_id == rid))
            }
        parser = Links()
        parser.feed(html)
        media = []
        for found in parser.urls:
            parts = urlsplit(found)
            assert parts.scheme == "" and parts.netloc == "", (kind, found)  # nothing off the site
            match = re.fullmatch(rf"/s/{re.escape(token)}/media/(\d+)", parts.path)
            if match:
                file_id = int(match.group(1))
                assert files[file_id] in sharing.SHARED_ROLES, (kind, found, files[file_id])
                media.append(file_id)
            else:
                assert parts.path == "/" or parts.path.startswith("/static/"), (kind, found)
        assert media, kind  # the page does show the resource
        for file_id in media:  # and a stranger can load what it shows, through the token only
            fetched = visit(app, f"/s/{token}/media/{file_id}")
            assert fetched.status_code == 200 and "Set-Cookie" not in fetched.headers, (kind, file_id)
        if kind == "article":
            assert "花粉季节要当心" in html and "/media/article-images/" not in html
        for file_id, role in files.items():  # nothing else of the resource, the source least of all
            if role not in sharing.SHARED_ROLES:
                assert visit(app, f"/s/{token}/media/{file_id}").status_code == 404, (kind, role)
        other = next(fid for r, fid in _any_file_of_other(app, rid))
        assert visit(app, f"/s/{token}/media/{other}").status_code == 404  # another resource's file


def _any_file_of_other(app, rid):
    with app.app_context():
        stmt = select(ResourceFile.resource_id, ResourceFile.id).where(
            ResourceFile.resource_id != rid, ResourceFile.role == "preview"
        )
        return db.session.execute(stmt).all()


def test_no_address_or_browser_is_stored_anywhere(app, auth, client, people, image):
    auth.login(INFORMANT)
    url = share_url(client, image)
    agent = "Mozilla/5.0 独特的浏览器标识 9f3c"
    assert visit(app, url, headers={"User-Agent": agent}).status_code == 200
    with app.app_context():
        columns = {c["name"] for c in inspect(db.engine).get_columns("usage_event")}
        assert not {name for name in columns if re.search(r"ip|addr|agent|cookie", name)}
        event = db.session.scalars(select(UsageEvent).where(UsageEvent.kind == "share_visit")).one()
        assert re.fullmatch(r"[0-9a-f]{64}", event.visitor_hash)
        # Every text value of every table: neither the address nor the browser, in any form.
        needles = [ADDRESS, ADDRESS.replace(".", ""), agent, "独特的浏览器标识"]
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(table.select()):
                for value in row:
                    if isinstance(value, str | bytes):
                        shown = value if isinstance(value, str) else value.decode("utf-8", "replace")
                        assert not any(needle in shown for needle in needles), (table.name, shown)
        # The pseudonym changes with the day, so it links nobody across days.
        first = service.visitor_hash(ADDRESS, agent, datetime(2026, 10, 1).date())
        assert first != service.visitor_hash(ADDRESS, agent, datetime(2026, 10, 2).date())
        total = db.session.execute(
            text("SELECT COUNT(*) FROM usage_event WHERE visitor_hash IS NOT NULL")
        ).scalar()
        assert total == 1


def test_a_withdrawn_resource_shows_a_neutral_page_and_counts_nothing(app, auth, client, people, image):
    auth.login(INFORMANT)
    url = share_url(client, image)
    token = token_of(url)
    with app.app_context():
        preview = db.session.scalar(
            select(ResourceFile.id).where(ResourceFile.resource_id == image, ResourceFile.role == "preview")
        )
    assert visit(app, f"/s/{token}/media/{preview}").status_code == 200
    answer = client.post(
        f"/api/v1/resources/{image}/withdraw", json={"reason": "内容过时"}, headers=people["tokens"][OWNER]
    )
    assert answer.status_code == 200, answer.get_json()
    response = visit(app, url)
    html = response.get_data(as_text=True)
    assert response.status_code == 410 and "已下架" in html
    assert "春天的花" not in html and "内容过时" not in html and "Set-Cookie" not in response.headers
    assert visit(app, f"/s/{token}/media/{preview}").status_code == 410
    assert share_visits(app) == []
    assert visit(app, "/s/no-such-token").status_code == 404


def test_the_share_templates_have_no_inline_script_or_style(app):
    import os

    folder = os.path.join(app.root_path, "templates", "stats")
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), encoding="utf-8") as fh:
            source = fh.read()
        assert not re.search(r"<script(?![^>]*\bsrc=)", source), name
        assert not re.search(r"\sstyle=|\son[a-z]+=|<style", source), name
