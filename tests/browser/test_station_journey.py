"""An e站 from application to plaque in Chromium: the manager applies with 五有 photos, the county
reviews with a 实地核查 record, the city re-reviews and recognises, the station's own login records
an activity that used a cloud resource, and the plaque PDF is downloaded."""

import io

from playwright.sync_api import expect
from pypdf import PdfReader

from cloud.accounts.models import Role, UserRole
from cloud.extensions import db
from cloud.stations.service import today
from tests.browser.conftest import wait_until
from tests.browser.test_resource_center_journey import publish
from tests.conftest import TESTDATA
from tests.support.stations import make_staff_tree

MANAGER, OWNER, REVIEWER = "13300133101", "13300133102", "13300133103"
PASSWORD = "Secret123"
PHOTO = f"{TESTDATA}/images/pillow_flower.jpg"


def login(page, who, password=PASSWORD):
    page.context.clear_cookies()
    page.goto("/account/login")
    page.get_by_label("手机号/用户名").fill(who)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_test_id("nav-me")).to_be_visible()


def test_an_e_station_from_application_to_plaque(page, app, auth, client, live_server):
    with app.app_context():
        make_staff_tree()
    auth.create(Role.STATION_MANAGER, phone=MANAGER)
    auth.create_uploader(phone=OWNER)
    reviewer_id = auth.create(Role.STATION, phone=REVIEWER)
    with app.app_context():
        db.session.add(UserRole(user_id=reviewer_id, role=Role.REVIEWER))
        db.session.commit()
    app.config["KEPU_STORAGE_DIR"] = live_server.storage_dir
    app.config["KEPU_INDEX_DIR"] = live_server.index_dir
    app.extensions["kepu_storage"] = None
    rid = publish(client, auth.token(OWNER), auth.token(REVIEWER), "image", PHOTO, "植物的花朵结构科普图")

    # 1. The manager applies, with photos of the venue and the terminals.
    login(page, MANAGER)
    page.get_by_test_id("nav-station").click()
    expect(page.get_by_role("heading", name="申报科普中国e站")).to_be_visible()
    page.get_by_label("站点名称").fill("林山寨社区科普中国e站")
    page.get_by_label("依托场所类型").select_option("社区综合性文化服务中心")
    page.get_by_label("省", exact=True).select_option(label="河南省")
    page.get_by_label("市", exact=True).select_option(label="郑州市")
    page.get_by_label("区县", exact=True).select_option(label="中原区")
    page.get_by_label("详细地址").fill("建设路 1 号社区服务中心")
    page.get_by_label("管理员姓名").fill("王站长")
    expect(page.get_by_label("管理员手机号")).to_have_value(MANAGER)
    for label, text in (
        ("有网络", "光纤 100M"),
        ("有人员", "管理员 1 名"),
        ("有场所", "活动室 60 平方米"),
        ("有活动", "每月一次讲座"),
        ("有终端", "电子屏 1 块"),
    ):
        page.get_by_label(label, exact=True).fill(text)
    page.get_by_label("有场所的照片（可选）").set_input_files(PHOTO)
    page.get_by_label("有终端的照片（可选）").set_input_files(PHOTO)
    page.get_by_label("电子屏").check()
    page.get_by_role("button", name="提交申请").click()
    expect(page.get_by_test_id("station-state")).to_have_text("待县级审核")
    expect(page.locator("img[alt='有场所的照片 1']")).to_be_visible()
    expect(page.locator("img[alt='有活动的照片 1']")).to_have_count(0)
    wait_until(page, "document.querySelector(\"img[alt='有场所的照片 1']\").naturalWidth > 0")

    # 2. The county reviews, with its on-site check.
    login(page, "staff410102")
    page.goto("/stations/queue")
    page.get_by_test_id("station-queue").get_by_role("link", name="林山寨社区科普中国e站").click()
    page.get_by_label("实地核查日期").fill(today().isoformat())
    page.get_by_label("核查人员").fill("张三、李四")
    page.get_by_label("核查情况").fill("场所、网络、终端与申报一致")
    page.get_by_label("核查照片（可选）").set_input_files(PHOTO)
    page.get_by_test_id("submit-county_approve").click()
    expect(page.get_by_test_id("station-state")).to_have_text("待市级复核")
    expect(page.get_by_test_id("field-check")).to_contain_text("张三、李四")

    # 3. The city re-reviews and recognises.
    login(page, "staff4101")
    page.goto("/stations/queue")
    page.get_by_test_id("station-queue").get_by_role("link", name="林山寨社区科普中国e站").click()
    page.get_by_test_id("submit-city_recognise").click()
    expect(page.get_by_test_id("station-state")).to_have_text("已认定")
    expect(page.get_by_test_id("station-number")).to_have_text("410102-0001")

    # 4. The manager opens the station's own login; the station records an activity.
    login(page, MANAGER)
    page.get_by_test_id("nav-station").click()
    page.get_by_label("用户名", exact=True).fill("linshanzhai-e")
    page.get_by_label("初始密码").fill("Station2026")
    page.get_by_role("button", name="开设站点账号").click()
    expect(page.get_by_test_id("person").filter(has_text="linshanzhai-e")).to_be_visible()

    login(page, "linshanzhai-e", "Station2026")
    page.get_by_test_id("nav-station").click()
    page.get_by_role("button", name="活动记录").click()
    page.get_by_label("从资源中心查找本次活动使用的资源").fill("花朵")
    page.get_by_role("button", name="查找资源").click()
    expect(page.get_by_test_id("resource-search-results")).to_contain_text("植物的花朵结构科普图")
    page.get_by_label("活动日期").fill(today().isoformat())
    page.get_by_label("活动名称").fill("全国科普日·走进植物世界")
    page.get_by_label("活动类型").select_option("全国科普日")
    page.get_by_label("活动地点").fill("社区科普活动室")
    page.get_by_label("参与人数").fill("45")
    page.get_by_label("使用的资源", exact=True).fill(str(rid))
    page.get_by_label("活动照片（可选）").set_input_files(PHOTO)
    page.get_by_role("button", name="保存活动记录").click()
    row = page.get_by_test_id("activity").filter(has_text="全国科普日·走进植物世界")
    expect(row).to_contain_text("植物的花朵结构科普图")
    expect(row.locator("img")).to_have_count(1)

    # 5. The plaque, print-ready. (The activity's photo is not 有活动 evidence.)
    page.get_by_role("link", name="林山寨社区科普中国e站").click()
    expect(page.locator("img[alt='有活动的照片 1']")).to_have_count(0)
    with page.expect_download() as info:
        page.get_by_test_id("plaque-link").click()
    assert info.value.suggested_filename == "科普中国e站匾牌-410102-0001.pdf"
    with open(info.value.path(), "rb") as fh:
        reader = PdfReader(io.BytesIO(fh.read()))
    box = reader.pages[0].mediabox
    assert round(float(box.width) / 72 * 25.4) == 600
    assert "410102-0001" in reader.pages[0].extract_text()
