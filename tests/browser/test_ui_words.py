"""The words and widths people meet: the filter panel, the upload hint, the article editor, the
review page's file list — all Chinese, all usable at the old county PC's size and on a phone."""

import io
import re

import pytest
from playwright.sync_api import expect

from cloud.resources.kinds import FILE_KINDS, KINDS
from cloud.units import human_size
from tests.browser.conftest import ARTIFACTS, LIVE_MAX_IMAGE_BYTES
from tests.browser.test_upload_journey import log_in
from tests.conftest import TESTDATA

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


LATIN = re.compile(r"[A-Za-z]")

TOOLBAR_WORDS = """() => {
  const words = [];
  for (const el of document.querySelectorAll('.ql-toolbar, .ql-toolbar *, .ql-tooltip, .ql-tooltip *')) {
    for (const pseudo of ['::before', '::after']) {
      const content = getComputedStyle(el, pseudo).content;
      if (content && content !== 'none' && content !== 'normal') {
        words.push(content.startsWith('attr(') ? '' : content.replace(/^"|"$/g, ''));
      }
    }
    for (const name of ['aria-label', 'title', 'placeholder', 'data-label']) {
      if (el.getAttribute(name)) words.push(el.getAttribute(name));
    }
    for (const node of el.childNodes) if (node.nodeType === 3) words.push(node.textContent);
  }
  return words.map(w => w.trim()).filter(Boolean);
}"""


def test_the_article_editor_speaks_chinese_and_what_it_makes_survives_sanitising(page, auth):
    _uploader(auth)
    log_in(page, UPLOADER, PASSWORD)
    page.goto("/upload/article")
    page.get_by_label("标题").fill("夏季防溺水")
    editor = page.locator("#editor .ql-editor")
    # the editor's text is the page's size, in the page's font
    sizes = page.evaluate(
        "[getComputedStyle(document.querySelector('.ql-editor')).fontSize,"
        " getComputedStyle(document.querySelector('#title')).fontSize]"
    )
    assert sizes[0] == sizes[1], sizes
    editor.click()
    page.keyboard.type("防溺水要点")
    page.get_by_role("button", name="段落样式").click()
    item = page.get_by_role("button", name="一级标题")
    expect(item).to_be_visible()
    # the picker is Quill's, not a row of Pico buttons: no filled background, one line each
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "article-editor-heading-picker.png"))
    box = item.bounding_box()
    assert box["height"] < 64 and box["width"] >= 100, box
    assert page.evaluate(
        "getComputedStyle(document.querySelector('.ql-picker-item[data-value=\"2\"]')).backgroundColor"
    ) in ("rgba(0, 0, 0, 0)", "transparent")
    item.click()
    expect(editor.locator("h2")).to_have_text("防溺水要点")
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="项目符号列表").click()
    page.keyboard.type("不去野外游泳")
    page.keyboard.press("Enter")
    page.keyboard.type("结伴而行")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # leaves the list
    page.keyboard.type("详见官网")
    for _ in range(4):
        page.keyboard.press("Shift+ArrowLeft")
    page.get_by_role("button", name="插入链接").click()
    link_box = page.get_by_label("链接网址")
    expect(link_box).to_be_visible()
    assert link_box.get_attribute("placeholder") == "请输入网址"
    words = page.evaluate(TOOLBAR_WORDS)
    assert words and not [w for w in words if LATIN.search(w)], words
    link_box.fill("https://www.kepuchina.cn/")
    link_box.press("Enter")
    expect(editor.locator("a")).to_have_text("详见官网")
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="插入图片").click()
    chooser.value.set_files(f"{TESTDATA}/images/pillow_flower.jpg")
    expect(page.get_by_test_id("article-status")).to_have_text("图片已插入")
    page.get_by_role("button", name="保存并处理").click()
    expect(page).to_have_url(re.compile(r"/my/uploads/\d+$"), timeout=60_000)

    body = page.get_by_test_id("article-body")
    expect(body.locator("h2")).to_have_text("防溺水要点")
    expect(body.locator("ul > li")).to_have_text(["不去野外游泳", "结伴而行"])  # a bullet list, not numbered
    link = body.get_by_role("link", name="详见官网")
    assert link.get_attribute("href") == "https://www.kepuchina.cn/"
    assert "nofollow" in link.get_attribute("rel")
    image = body.locator("img")
    expect(image).to_have_count(1)
    assert image.get_attribute("src").startswith("/media/article-images/")
    assert "&nbsp;" not in body.inner_html() and "ql-" not in body.inner_html()


def test_the_review_page_names_every_file_in_chinese_and_search_marks_matches_in_red(
    page, app, auth, client, live_server
):
    from cloud.accounts.models import Role as AccountRole
    from cloud.accounts.models import UserRole
    from cloud.extensions import db
    from cloud.resources.models import ROLE_LABELS
    from tests.conftest import post_multipart

    auth.create_uploader(phone="13600136021")
    reviewer_id = auth.create(AccountRole.STATION, phone="13600136022", password=PASSWORD)
    with app.app_context():
        db.session.add(UserRole(user_id=reviewer_id, role=AccountRole.REVIEWER))
        db.session.commit()
    owner = auth.token("13600136021")
    app.config["KEPU_STORAGE_DIR"] = live_server.storage_dir
    app.config["KEPU_INDEX_DIR"] = live_server.index_dir
    app.extensions["kepu_storage"] = None
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        data = {
            "kind": "wallchart",
            "title": "花的结构挂图",
            "channel": "科技",
            "file": (io.BytesIO(fh.read()), "花.jpg"),
        }
    rid = post_multipart(client, "/api/v1/resources", data, owner).get_json()["id"]
    assert client.post(f"/api/v1/resources/{rid}/submit", headers=owner).status_code == 200

    log_in(page, "13600136022", PASSWORD)
    page.goto(f"/review/{rid}")
    rows = page.get_by_test_id("review-files").locator("tbody tr")
    roles = rows.evaluate_all("rows => rows.map(r => r.dataset.role)")
    assert {"source", "preview", "thumbnail", "print"} <= set(roles)
    for role, row in zip(roles, rows.all(), strict=True):
        first, size = row.locator("td").nth(0).inner_text(), row.locator("td").nth(1).inner_text()
        assert first == ROLE_LABELS[role] and not LATIN.search(first)
        assert re.fullmatch(r"\d+(\.\d)? (B|KB|MB|GB)", size) and not size.startswith("0"), size
    expect(rows.filter(has=page.locator("td", has_text="打印版"))).to_have_count(1)

    # published, it is found; the match is marked the way Chinese search pages mark it
    reviewer = auth.token("13600136022", PASSWORD)
    client.post(f"/api/v1/review/{rid}/claim", headers=reviewer)
    assert client.post(f"/api/v1/review/{rid}/approve", headers=reviewer).status_code == 200
    page.goto("/resources?q=结构")
    match = page.get_by_test_id("result").locator("h3 em")
    expect(match).to_have_text("结构")
    style = match.evaluate(
        "e => { const s = getComputedStyle(e); return [s.fontStyle, s.fontWeight, s.color]; }"
    )
    assert style == ["normal", "700", "rgb(204, 0, 0)"], style


def test_a_file_input_says_choose_file_and_the_chosen_name_in_chinese(page, auth):
    from cloud.accounts.models import Role as AccountRole

    auth.create(AccountRole.INSTITUTION, phone="13600136031", password=PASSWORD)
    log_in(page, "13600136031", PASSWORD)
    page.goto("/institution")
    picker = page.get_by_test_id("file-picker")
    expect(picker).to_have_class(re.compile(r"\benhanced\b"))
    expect(picker.locator(".file-picker-button")).to_have_text("选择文件")
    expect(picker.locator(".file-picker-name")).to_have_text("未选择文件")
    # the browser's own button ("Choose file / No file chosen") is out of sight but still the input
    native = page.get_by_label("营业执照或授权书")
    assert native.bounding_box()["width"] <= 1
    with page.expect_file_chooser() as chooser:
        picker.locator(".file-picker-button").click()
    chooser.value.set_files(f"{TESTDATA}/images/pillow_flower.jpg")
    expect(picker.locator(".file-picker-name")).to_have_text("已选择：pillow_flower.jpg")
    # reachable by keyboard (Tab from the field before it), and the focus shows on the button
    page.locator("#contact_phone").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.type") == "file"
    outline = page.evaluate("getComputedStyle(document.querySelector('.file-picker-button')).outlineStyle")
    assert outline == "solid"
