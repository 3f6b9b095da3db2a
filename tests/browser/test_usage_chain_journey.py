"""The statistics chain of the CAST rules in Chromium, end to end: county staff review an e站 and
city staff recognise it; the station downloads a published resource; an informant of the station
shares it and someone without an account opens the link; the city's dashboard (its chart too)
and the month's XLSX show those numbers; the city submits last month's report and the province
sees it as submitted."""

import io

from openpyxl import load_workbook
from playwright.sync_api import expect
from sqlalchemy import select

from cloud.accounts import service as accounts
from cloud.accounts.models import Role, User, UserRole
from cloud.extensions import db
from cloud.stations import service as stations
from cloud.stations.models import Station
from cloud.stats.reports import previous_month
from tests.browser.conftest import wait_until
from tests.browser.test_dashboard_journey import canvas_drawn
from tests.browser.test_resource_center_journey import publish
from tests.browser.test_station_journey import PHOTO, login
from tests.conftest import PASSWORD
from tests.support.stations import application, make_staff_tree

MANAGER, INFORMANT, OWNER, REVIEWER = "13300133301", "13300133302", "13300133303", "13300133304"
STATION_LOGIN = "linshanzhai-e"


def summary_figures(path):
    """{项目: value} of the 汇总 sheet of a report's XLSX."""
    with open(path, "rb") as fh:
        sheet = load_workbook(io.BytesIO(fh.read()))["汇总"]
    return {row[0]: row[1] for row in sheet.iter_rows(min_row=2, values_only=True)}


def test_review_recognise_download_share_dashboard_report_and_submission(
    page, browser, app, auth, client, live_server
):
    with app.app_context():
        make_staff_tree()
        manager = accounts.create_user(Role.STATION_MANAGER, phone=MANAGER, password=PASSWORD)
        stations.apply(manager, application(phone=MANAGER))
        accounts.create_user(Role.INFORMANT, phone=INFORMANT, password=PASSWORD, region_code="410102")
        db.session.commit()
    auth.create_uploader(phone=OWNER)
    reviewer_id = auth.create(Role.STATION, phone=REVIEWER)
    with app.app_context():
        db.session.add(UserRole(user_id=reviewer_id, role=Role.REVIEWER))
        db.session.commit()
    app.config["KEPU_STORAGE_DIR"] = live_server.storage_dir
    app.config["KEPU_INDEX_DIR"] = live_server.index_dir
    app.extensions["kepu_storage"] = None
    rid = publish(client, auth.token(OWNER), auth.token(REVIEWER), "image", PHOTO, "植物的花朵结构科普图")

    # 1. The county reviews (with its on-site check), the city recognises.
    login(page, "staff410102")
    page.goto("/stations/queue")
    page.get_by_test_id("station-queue").get_by_role("link", name="中原区林山寨社区科普中国e站").click()
    page.get_by_label("实地核查日期").fill(stations.today().isoformat())
    page.get_by_label("核查人员").fill("张三、李四")
    page.get_by_label("核查情况").fill("场所、网络、终端与申报一致")
    page.get_by_test_id("submit-county_approve").click()
    expect(page.get_by_test_id("station-state")).to_have_text("待市级复核")
    login(page, "staff4101")
    page.goto("/stations/queue")
    page.get_by_test_id("station-queue").get_by_role("link", name="中原区林山寨社区科普中国e站").click()
    page.get_by_test_id("submit-city_recognise").click()
    expect(page.get_by_test_id("station-state")).to_have_text("已认定")

    # The manager opens the station's login and takes the county's informant into the team.
    with app.app_context():
        station = db.session.scalar(select(Station))
        manager = db.session.scalar(select(User).where(User.phone == MANAGER))
        stations.add_station_account(manager, station, username=STATION_LOGIN, password="Station2026")
        stations.attach_informant(manager, station, INFORMANT)
        db.session.commit()

    # 2. The station downloads the resource (three clicks: one download counted).
    login(page, STATION_LOGIN, "Station2026")
    page.goto(f"/resources/{rid}")
    link = page.locator("[data-testid^=download-]").first
    for _ in range(3):
        with page.expect_download() as info:
            link.click()
        assert info.value.path()

    # 3. The informant shares it; someone without an account opens the link (twice: one visit).
    login(page, INFORMANT)
    page.goto(f"/resources/{rid}")
    url = page.get_by_test_id("share-url").input_value()
    visitor = browser.new_context(locale="zh-CN")
    try:
        shared = visitor.new_page()
        for _ in range(2):
            shared.goto(url)
            expect(shared.get_by_text("来自科普资源云")).to_be_visible()
            expect(shared.get_by_role("heading", name="植物的花朵结构科普图")).to_be_visible()
        assert visitor.cookies() == []
    finally:
        visitor.close()

    # 4. The city's dashboard and its chart: 1 download, 2 views (station and informant), 1 share visit.
    login(page, "staff4101")
    page.get_by_test_id("nav-stats").click()
    expect(page.get_by_test_id("dashboard-region")).to_have_text("郑州市")
    expect(page.get_by_test_id("total-download")).to_have_text("1")
    expect(page.get_by_test_id("total-view")).to_have_text("2")
    expect(page.get_by_test_id("total-share_visit")).to_have_text("1")
    expect(page.get_by_test_id("stations-active")).to_have_text("1")
    wait_until(page, canvas_drawn("chart-by-kind"))
    series = dict(
        page.evaluate(
            "echarts.getInstanceByDom(document.getElementById('chart-by-kind')).getOption().series"
            ".map(s => [s.name, s.data])"
        )
    )
    assert series["下载"] == [0, 1, 0, 0, 0]  # 图文, 图片, 视频, 挂图, 音频
    assert series["传播"] == [0, 1, 0, 0, 0]

    # 5. This month's XLSX, so far: the same numbers.
    this_month = stations.today().strftime("%Y-%m")
    page.goto("/stats/reports")
    page.get_by_label("月份").fill(this_month)
    with page.expect_download() as info:
        page.get_by_role("button", name="生成报表").click()
    assert "截至" in info.value.suggested_filename
    figures = summary_figures(info.value.path())
    assert (figures["下载量"], figures["浏览量"], figures["传播量"]) == (1, 2, 1)
    assert (figures["图片下载量"], figures["活跃e站"], figures["累计认定e站（月末）"]) == (1, 1, 1)
    assert figures["其中e站传播量"] == 1 and figures["活跃信息员"] == 1

    # 6. Last month's report, kept; the city submits it; the province sees it as submitted.
    last_month = previous_month(stations.today())
    page.get_by_label("月份").fill(last_month)
    page.get_by_role("button", name="生成报表").click()
    expect(page.get_by_text("报表已生成")).to_be_visible()
    forms = page.get_by_test_id("submit-forms")
    forms.get_by_label("说明（可选）").fill("本市e站已开展资源下载与传播")
    forms.get_by_role("button", name="报送").click()
    expect(page.get_by_text("已报送省科协")).to_be_visible()
    login(page, "staff41")
    page.goto(f"/stats/reports?month={last_month}")
    row = page.get_by_test_id("status-4101")
    expect(row).to_contain_text("已报送")
    expect(row).to_contain_text("本市e站已开展资源下载与传播")
