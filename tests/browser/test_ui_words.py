"""The words and widths people meet: the filter panel, the upload hint, the article editor, the
review page's file list — all Chinese, all usable at the old county PC's size and on a phone."""

import re

import pytest
from playwright.sync_api import expect

from cloud.resources.kinds import FILE_KINDS, KINDS
from cloud.units import human_size
from tests.browser.conftest import ARTIFACTS, LIVE_MAX_IMAGE_BYTES
from tests.browser.test_upload_journey import log_in

SIZES = {"pc": (1366, 768), "phone": (390, 844)}
UPLOADER, PASSWORD = "13600136011", "Words2026"

MEASURE = """() => {
  const box = e => e.getBoundingClientRect();
  const bar = box(document.querySelector('.search-bar'));
  return {
    barBottom: bar.bottom,
    viewport: document.documentElement.clientWidth,
    controls: [...document.querySelectorAll('.filter-panel select, .filter-panel input')].map(e => {
      const b = box(e);
      return {name: e.name, width: b.width, left: b.left, right: b.right, top: b.top};
    }),
  };
}"""


@pytest.mark.parametrize("size", SIZES, ids=str)
def test_the_filter_panel_sits_below_the_search_bar_with_usable_controls(browser, live_server, size):
    width, height = SIZES[size]
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport={"width": width, "height": height}
    )
    page = context.new_page()
    try:
        page.goto("/resources")
        page.get_by_text("筛选与排序").click()
        expect(page.get_by_label("频道")).to_be_visible()
        found = page.evaluate(MEASURE)
        controls = {c["name"]: c for c in found["controls"]}
        assert set(controls) == {"channel", "sort", "from", "to"}
        for control in controls.values():
            # ~45 px before: wide enough for 全部频道 / 最新发布 and a date with its picker
            assert control["width"] >= min(200, width * 0.4), control
            assert control["top"] >= found["barBottom"], control  # below the search bar, not beside it
            assert control["left"] >= 0 and control["right"] <= found["viewport"], control
        if size == "phone":  # one column: each control takes the row
            assert all(c["width"] >= 300 for c in controls.values())
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"filter-panel-{size}.png"))
        page.get_by_label("排序").select_option(label="最新")
        page.get_by_role("button", name="应用筛选").click()
        expect(page).to_have_url(re.compile(r"sort=newest"))
    finally:
        context.close()


def _uploader(auth):
    from cloud.accounts.models import User
    from cloud.accounts.passwords import hash_password
    from cloud.extensions import db

    auth.create_uploader(phone=UPLOADER)
    with auth.app.app_context():
        user = db.session.query(User).filter_by(phone=UPLOADER).one()
        user.password_hash = hash_password(PASSWORD)
        db.session.commit()


def test_the_upload_hint_follows_the_chosen_kind_and_the_configured_limit(page, auth, live_server):
    _uploader(auth)
    log_in(page, UPLOADER, PASSWORD)
    page.goto("/upload")
    hint = page.locator('[data-testid="kind-hint"]:not([hidden])')
    # The live server runs with KEPU_MAX_IMAGE_BYTES changed; its API says what it enforces.
    served = {item["kind"]: item for item in page.request.get("/api/v1/resource-kinds").json()["items"]}
    assert served["image"]["max_bytes"] == LIVE_MAX_IMAGE_BYTES
    expected = {
        KINDS[k].label: (KINDS[k].formats, human_size(served[k.value]["max_bytes"])) for k in FILE_KINDS
    }
    assert expected["图片"][1] == "48 MB"
    expect(page.get_by_label("图片", exact=True)).to_be_checked()
    for label, (formats, limit) in expected.items():
        page.get_by_label(label, exact=True).check()
        expect(hint).to_have_count(1)
        expect(hint).to_contain_text(formats)
        expect(hint).to_contain_text(f"最大 {limit}")
    page.get_by_label("图片", exact=True).check()
    expect(hint).to_contain_text("jpg、png、gif、webp")
    expect(hint).not_to_contain_text("4 GB")
