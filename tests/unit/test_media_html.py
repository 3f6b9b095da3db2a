"""Article HTML: SECURITY.md item 15 attacks are removed, rich text survives, sanitising is idempotent."""

import re
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.media.html import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, extract_text, sanitize_article

pytestmark = pytest.mark.once  # the database does not matter here: SQLite pass only

OUR_IMAGE = re.compile(r"/media/i/[0-9a-f]{8,64}")


def ours(src: str) -> bool:
    return OUR_IMAGE.fullmatch(src) is not None


def clean(html: str) -> str:
    return sanitize_article(html, ours)


class _Structure(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def structure(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Structure()
    parser.feed(html)
    parser.close()
    return parser.tags


def assert_only_allowed_markup(html: str):
    for tag, attrs in structure(html):
        assert tag in ALLOWED_TAGS, tag
        allowed = set(ALLOWED_ATTRIBUTES.get(tag, ())) | ({"rel"} if tag == "a" else set())
        assert set(attrs) <= allowed, (tag, attrs)
        if tag == "img":
            assert ours(attrs["src"] or ""), attrs
        if tag == "a" and "href" in attrs:
            assert re.match(r"(https?://|mailto:)", attrs["href"] or "", re.IGNORECASE), attrs
            assert attrs["rel"] == "noopener noreferrer nofollow"


ATTACKS = [
    ("script", "<p>前</p><script>alert(1)</script><p>后</p>", ["<script", "alert"]),
    ("script in attribute-less tag soup", "<scr<script>ipt>alert(1)</script>", ["<script"]),
    ("onerror", '<img src="/media/i/abcdef12" onerror="alert(1)">', ["onerror", "alert"]),
    ("onclick on allowed tag", '<p onclick="alert(1)">点</p>', ["onclick"]),
    ("onmouseover uppercase", '<P ONMOUSEOVER="alert(1)">x</P>', ["onmouseover", "alert"]),
    ("javascript link", '<a href="javascript:alert(1)">x</a>', ["javascript", "href"]),
    ("javascript link, entity-encoded", '<a href="&#106;avascript:alert(1)">x</a>', ["avascript", "href"]),
    ("javascript link, tab inside", '<a href="java\tscript:alert(1)">x</a>', ["script", "href"]),
    ("javascript link, leading space", '<a href=" javascript:alert(1)">x</a>', ["javascript", "href"]),
    ("vbscript link", '<a href="vbscript:msgbox(1)">x</a>', ["vbscript"]),
    ("data link", '<a href="data:text/html,<script>alert(1)</script>">x</a>', ["data:", "<script"]),
    ("relative link", '<a href="//evil.example/x">x</a>', ["evil.example"]),
    ("iframe", '<iframe src="https://evil.example"></iframe><p>ok</p>', ["<iframe", "evil.example"]),
    ("svg onload", '<svg onload="alert(1)"><circle r="1"/></svg>', ["<svg", "onload", "alert"]),
    ("svg script", "<svg><script>alert(1)</script></svg>", ["<svg", "<script", "alert"]),
    ("math href", '<math><mi xlink:href="javascript:alert(1)">x</mi></math>', ["javascript", "<math"]),
    ("inline style", '<p style="background:url(javascript:alert(1))">x</p>', ["style", "javascript"]),
    ("style element", "<style>body{display:none}</style><p>x</p>", ["<style", "display"]),
    ("data image", '<img src="data:image/png;base64,iVBORw0KGgo=">', ["<img", "data:"]),
    ("svg data image", '<img src="data:image/svg+xml,<svg onload=alert(1)>">', ["<img", "onload"]),
    ("tracking pixel", '<img src="https://tracker.example/p.gif" width="1" height="1">', ["<img", "tracker"]),
    ("protocol-relative image", '<img src="//tracker.example/p.gif">', ["<img", "tracker"]),
    ("lookalike of our path", '<img src="/media/i/../../admin">', ["<img", "admin"]),
    ("object", '<object data="x.swf"></object><embed src="x.swf">', ["<object", "<embed", "swf"]),
    ("form", '<form action="https://evil.example"><input name="pw"></form>', ["<form", "<input"]),
    ("meta refresh", '<meta http-equiv="refresh" content="0;url=https://evil.example">', ["<meta", "evil"]),
    ("base", '<base href="https://evil.example/">', ["<base", "evil"]),
    ("link stylesheet", '<link rel="stylesheet" href="https://evil.example/x.css">', ["<link", "evil"]),
    ("comment", "<!-- <script>alert(1)</script> --><p>x</p>", ["<!--", "<script"]),
    ("noscript breakout", '<noscript><p title="</noscript><img src=x onerror=alert(1)>">', ["onerror"]),
    ("class and id", '<p class="x" id="y">x</p>', ["class", "id="]),
    ("target blank", '<a href="https://kepu.example" target="_blank">x</a>', ["target"]),
]


@pytest.mark.parametrize(("label", "html", "forbidden"), ATTACKS, ids=[label for label, _, _ in ATTACKS])
def test_attacks_are_removed(label, html, forbidden):
    out = clean(html)
    for fragment in forbidden:
        assert fragment.lower() not in out.lower(), (label, out)
    assert_only_allowed_markup(out)
    assert clean(out) == out


def test_rich_text_survives_unchanged():
    html = (
        "<h2>科学小知识</h2>"
        "<p>水在 <strong>100</strong> 摄氏度<b>沸腾</b>，<em>冰</em>在<i>0</i>度<u>融化</u>，"
        "<s>错误说法</s>。<br>换行</p>"
        "<h3>要点</h3><ul><li>第一</li><li>第二</li></ul><ol><li>步骤</li></ol>"
        "<h4>数据</h4><blockquote>引用</blockquote>"
        "<table><thead><tr><th>物质</th><th>沸点</th></tr></thead>"
        "<tbody><tr><td>水</td><td>100</td></tr></tbody></table>"
        '<p><img src="/media/i/0123abcd" alt="示意图" width="640" height="480"></p>'
    )
    assert clean(html) == html


def test_links_keep_their_address_and_get_rel():
    out = clean(
        '<a href="https://www.kepu.example/a?b=1&amp;c=2">科普</a> <a href="mailto:a@b.example">信</a>'
    )
    assert out == (
        '<a href="https://www.kepu.example/a?b=1&amp;c=2" rel="noopener noreferrer nofollow">科普</a> '
        '<a href="mailto:a@b.example" rel="noopener noreferrer nofollow">信</a>'
    )


def test_image_dimensions_must_be_numbers():
    out = clean('<img src="/media/i/abcdef12" width="100%;x" height="50" alt="a">')
    assert structure(out) == [("img", {"src": "/media/i/abcdef12", "height": "50", "alt": "a"})]


def test_disallowed_tags_lose_the_tag_keep_the_text():
    assert clean("<div><span>科普</span><h1>标题</h1></div>") == "科普标题"


def test_a_failing_predicate_removes_the_image_and_does_not_raise(caplog):
    def broken(src):
        raise RuntimeError("storage lookup failed")

    assert sanitize_article('<p>x<img src="/media/i/abcdef12"></p>', broken) == "<p>x</p>"
    assert "allowed_image_src failed" in caplog.text


TRICKY = [
    "",
    "<",
    "<<p>>",
    "<p",
    "</p>",
    "<p><p></p>",
    "<img>",
    '<img src="/media/i/abcdef12"',
    "<a href=https://x.example>x",
    "&lt;script&gt;",
    "&amp;lt;",
    "<table><td>x",
    "<ul><p>y</ul>",
    "<li>z",
    '<img alt="a>b" src="/media/i/abcdef12">',
    '<img alt="<img src=/media/i/abcdef12>" src="https://t.example/x">',
    "<svg><p>a</p></svg>",
    "<template><p>t</p></template>",
    "<textarea><p>t</p></textarea>",
    "<title><p>t</p></title>",
    "\x00<p>\x00</p>",
    "<p>\u202e</p>",
    "<!--<p>-->",
    "<![CDATA[<p>x</p>]]>",
    "<?xml version='1.0'?><p>x</p>",
    "<p>a</p\n>",
    "<br/><br /><br>",
]


@pytest.mark.parametrize("html", TRICKY)
def test_sanitising_is_idempotent_on_tricky_strings(html):
    once = clean(html)
    assert clean(once) == once
    assert_only_allowed_markup(once)


FRAGMENTS = st.sampled_from(
    [
        "<p>", "</p>", "<a href=\"https://k.example/x\">", "<a href='javascript:x'>", "</a>", "<img src=",
        '"/media/i/abcdef12"', "'https://t.example/p.gif'", " alt=", " width=10", " onerror=alert(1)", ">",
        "<script>", "</script>", "<svg", "<table>", "<tr>", "<td>", "</table>", "<li>", "<!--", "-->",
        "&amp;", "&lt;", "&#106;", "\"", "'", "<", "/", "科普", " ", "\n", "<br>", "<style>", "<h2>",
        "</h2>", "<b>",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(FRAGMENTS | st.text(max_size=5), max_size=30).map("".join))
def test_sanitising_is_idempotent_and_safe_on_generated_html(html):
    once = clean(html)
    assert clean(once) == once
    assert_only_allowed_markup(once)
    extract_text(once)


# --- plain text ----------------------------------------------------------------------------


def test_extract_text_blocks_entities_and_whitespace():
    html = (
        "<h2>什么是 &amp; 为什么</h2>\n"
        "<p>第一段   有\t多余  空白&nbsp;和&lt;符号&gt;</p>"
        "<ul><li>一</li><li>二</li></ul>"
        "<table><tr><th>物质</th><th>沸点</th></tr><tr><td>水</td><td>100℃</td></tr></table>"
        "<p>换<br>行</p><script>var x = '不应出现';</script><style>p{}</style>"
    )
    assert extract_text(html) == (
        "什么是 & 为什么\n第一段 有 多余 空白 和<符号>\n一\n二\n物质 沸点\n水 100℃\n换\n行"
    )


def test_extract_text_joins_chinese_split_across_source_lines():
    # Between two Chinese characters a source line break vanishes; next to Latin text it is a space.
    assert extract_text("<p>科学\n   普及，\nscience\nday</p>") == "科学普及， science day"


def test_extract_text_of_plain_and_broken_input():
    assert extract_text("") == ""
    assert extract_text("只有文字") == "只有文字"
    assert extract_text("<p>未闭合 <b>标签") == "未闭合 标签"
    assert extract_text("a &#0; b \x07 c") == "a \ufffd b c"
