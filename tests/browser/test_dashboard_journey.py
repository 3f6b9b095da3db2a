"""The staff dashboard in Chromium under the strict CSP: city staff open 使用统计 from the menu,
the vendored ECharts draws its canvases (bar by type, line by day, bar per county), a tooltip
shows on hover without an inline style, the figures match the tables, and a drill-down reaches a
county and a station's own month-by-month page. Any console error fails the test."""

from playwright.sync_api import expect
from sqlalchemy import select

from cloud.accounts import service as accounts
from cloud.accounts.models import Role, User
from cloud.extensions import db
from cloud.models_base import utcnow
from cloud.resources.models import Resource
from cloud.stations.models import Station
from cloud.stats import service, sharing
from tests.browser.conftest import wait_until
from tests.browser.test_station_journey import login
from tests.conftest import PASSWORD
from tests.support.stations import make_staff_tree

OWNER = "13300133201"


def canvas_drawn(chart_id):
    """True once ECharts has drawn a canvas of non-zero size inside the chart container."""
    return (
        "(() => { const c = document.querySelector('#" + chart_id + " canvas');"
        " return !!c && c.width > 0 && c.height > 0 && c.getBoundingClientRect().width > 0; })()"
    )


def seed(app, auth):
    """A recognised station in 中原区 with an informant who downloads, views and is visited."""
    auth.create_uploader(phone=OWNER)
    with app.app_context():
        make_staff_tree()
        uploader = db.session.scalar(select(User).where(User.phone == OWNER))
        station = Station(
            name="林山寨社区科普中国e站",
            facility_type="学校",
            region_code="410102",
            address="建设路 1 号",
            manager_name="王站长",
            manager_phone="13900139000",
            state="recognised",
        )
        db.session.add(station)
        db.session.flush()
        informant = accounts.create_user(Role.INFORMANT, phone="13300133202", password=PASSWORD)
        informant.station_id = station.id
        resources = [
            Resource(
                kind=kind,
                title=f"科普{kind}",
                institution_id=uploader.institution_id,
                uploader_id=uploader.id,
                state="published",
                published_at=utcnow(),
            )
            for kind in ("article", "video", "audio")
        ]
        db.session.add_all(resources)
        db.session.flush()
        for resource in resources:
            service.record_download(informant, resource, counted=True)
            service.record_view(informant, resource)
        link = sharing.link_for(informant, resources[0])
        for n in range(3):
            service.record_share_visit(link, resources[0], remote_addr=f"198.51.100.{n}", user_agent="UA")
        db.session.commit()
        return station.id


def test_city_staff_see_the_dashboard_charts_drawn_under_the_policy(page, app, auth):
    station_id = seed(app, auth)
    login(page, "staff4101")
    page.get_by_test_id("nav-stats").click()
    expect(page.get_by_test_id("dashboard-region")).to_have_text("郑州市")
    expect(page.get_by_test_id("total-download")).to_have_text("3")
    expect(page.get_by_test_id("total-view")).to_have_text("3")
    expect(page.get_by_test_id("total-share_visit")).to_have_text("3")
    expect(page.get_by_test_id("stations-active")).to_have_text("1")
    for chart in ("chart-by-kind", "chart-by-day", "chart-by-child"):
        wait_until(page, canvas_drawn(chart))
    # The chart reads the same numbers as the table: ECharts' own model of the bar by type.
    series = page.evaluate(
        "echarts.getInstanceByDom(document.getElementById('chart-by-kind')).getOption().series"
        ".map(s => [s.name, s.data])"
    )
    assert dict(series)["下载"] == [1, 0, 1, 0, 1]  # 图文, 图片, 视频, 挂图, 音频
    assert dict(series)["传播"] == [3, 0, 0, 0, 0]
    # A tooltip on hover is drawn on the canvas: no inline style for the policy to refuse.
    box = page.locator("#chart-by-kind").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.6)
    page.wait_for_timeout(300)

    # Drill down to the county, then to the station's own page.
    page.get_by_test_id("by-child").get_by_role("link", name="中原区").click()
    expect(page.get_by_test_id("dashboard-region")).to_have_text("中原区")
    wait_until(page, canvas_drawn("chart-by-kind"))
    expect(page.get_by_test_id(f"station-{station_id}-total")).to_have_text("9")
    page.get_by_test_id("station-ranking").get_by_role("link", name="林山寨社区科普中国e站").click()
    month = page.evaluate("document.querySelector('[data-testid^=month-]').dataset.testid").removeprefix(
        "month-"
    )
    expect(page.get_by_test_id(f"month-{month}-total")).to_have_text("9")
    wait_until(page, canvas_drawn("chart-station-months"))
