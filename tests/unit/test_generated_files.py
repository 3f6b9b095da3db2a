"""Files the service generates from what users typed: the article ZIP's index.html, the print PDF's
metadata, and the download names (``Content-Disposition``) a browser or ``curl -OJ`` saves as."""

import io
import re
import urllib.parse
import zipfile
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import PdfParser

from cloud.accounts.models import Role
from storage import content_disposition
from tests.conftest import TESTDATA, post_multipart

OWNER, REVIEWER, STATION = "13800138000", "13700137000", "13600136000"
XSS_TITLE = "文章</title><script>alert(1)</script>"
DISPOSITION = re.compile(r"attachment; filename=\"([^\"]*)\"; filename\*=UTF-8''(\S+)")
WINDOWS_ILLEGAL = set('<>:"/\\|?*')
WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{d}{n}" for d in ("COM", "LPT") for n in "0123456789¹²³"
}


@pytest.fixture
def people(auth):
    auth.create_uploader(phone=OWNER)
    auth.create(Role.REVIEWER, phone=REVIEWER)
    auth.create(Role.STATION, phone=STATION)
    return {p: auth.token(p) for p in (OWNER, REVIEWER, STATION)}


def publish(client, people, rid):
    assert client.post(f"/api/v1/resources/{rid}/submit", headers=people[OWNER]).status_code == 200
    assert client.post(f"/api/v1/review/{rid}/claim", headers=people[REVIEWER]).status_code == 200
    assert client.post(f"/api/v1/review/{rid}/approve", headers=people[REVIEWER]).status_code == 200


def upload(client, people, kind, path, title):
    with open(path, "rb") as fh:
        fields = {
            "kind": kind,
            "title": title,
            "channel": "健康",
            "file": (io.BytesIO(fh.read()), path.rsplit("/", 1)[-1]),
        }
    body = post_multipart(client, "/api/v1/resources", fields, people[OWNER]).get_json()
    assert body["state"] == "processed", body
    publish(client, people, body["id"])
    return body["id"]


def download_names(header):
    """(ASCII fallback, UTF-8 name) of a Content-Disposition header, which must be well formed."""
    assert header.isascii() and "\r" not in header and "\n" not in header
    match = DISPOSITION.fullmatch(header)
    assert match, header
    return match.group(1), urllib.parse.unquote(match.group(2), errors="strict")


def assert_saveable(name):
    """A name Windows, macOS and Linux all save as given, in the folder it is saved to."""
    assert name and len(name.encode("utf-8")) <= 255
    assert not WINDOWS_ILLEGAL & set(name), name
    assert all(ord(ch) >= 32 and ord(ch) != 127 for ch in name), name
    assert name == name.strip(". "), name  # Windows drops them; a leading dot hides the file
    assert name.partition(".")[0].rstrip(" ").upper() not in WINDOWS_DEVICES, name
    assert "\u202e" not in name and "\u200b" not in name


class Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.title = [], ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def test_the_article_zip_escapes_the_title(auth, client, people):
    article = client.post(
        "/api/v1/resources",
        json={"kind": "article", "title": XSS_TITLE, "body_html": "<p>正文<script>alert(2)</script></p>"},
        headers=people[OWNER],
    ).get_json()
    publish(client, people, article["id"])
    auth.login(STATION)
    response = client.get(f"/resources/{article['id']}/download/zip")
    assert response.status_code == 200
    page = zipfile.ZipFile(io.BytesIO(response.data)).read("index.html").decode("utf-8")
    elements = Elements()
    elements.feed(page)
    assert "script" not in elements.tags  # neither the title's nor the body's
    assert elements.title == XSS_TITLE and elements.tags.count("title") == 1
    assert f"<h1>{XSS_TITLE.replace('<', '&lt;').replace('>', '&gt;')}</h1>" in page
    # Opened from disk it runs no script even if something ever slipped through.
    assert '<meta http-equiv="Content-Security-Policy" content="script-src \'none\';' in page
    for name in download_names(response.headers["Content-Disposition"]):
        assert_saveable(name)
        assert name.endswith(".zip") and "<" not in name


def test_the_print_pdf_keeps_the_title_as_text(app, auth, client, people):
    title = "挂图) /JavaScript (app.alert(1)) \\ <script>"
    rid = upload(client, people, "wallchart", f"{TESTDATA}/psd/psdtools_300dpi.psb", title)
    auth.login(STATION)
    link = client.get(f"/resources/{rid}/download/print").headers["Location"]
    pdf = client.get(link)
    info = PdfParser.PdfParser(buf=pdf.data).info
    stored = info.Title
    if isinstance(stored, bytes | bytearray):  # a UTF-16 string with its byte-order mark
        assert stored[:2] == b"\xfe\xff"
        stored = bytes(stored[2:]).decode("utf-16-be")
    assert stored == title  # one string, parsed back exactly: it closed nothing it was in
    assert b"JavaScript" not in set(info) and set(info) <= {
        b"Title",
        b"Producer",
        b"CreationDate",
        b"ModDate",
    }
    fallback, name = download_names(pdf.headers["Content-Disposition"])
    assert name == "挂图) ／JavaScript (app.alert(1)) ＼ ＜script＞（打印版）.pdf"
    assert fallback == ") _JavaScript (app.alert(1)) _ _script_().pdf"  # （打印版） leaves "()"
    assert_saveable(name) and assert_saveable(fallback)


@pytest.mark.parametrize(
    ("title", "expected_name", "expected_fallback"),
    [
        # the probe: `curl -OJ` saved ":.jpg"; a "/" cut the name at the slash
        ("新冠/流感：防护", "新冠／流感：防护.jpg", "download.jpg"),
        (":", "：.jpg", "download.jpg"),
        ('A/B\\C:D*E?F"G<H>I|J', "A／B＼C：D＊E？F＂G＜H＞I｜J.jpg", "A_B_C_D_E_FG_H_I_J.jpg"),
        ("CON", "CON_.jpg", "CON_.jpg"),
        ("nul.tar", "nul_.tar.jpg", "nul_.tar.jpg"),
        ("...", "download.jpg", "download.jpg"),
        ("科普\u202egpj.exe", "科普gpj.exe.jpg", "gpj.exe.jpg"),
    ],
)
def test_download_names_are_safe_for_hostile_titles(
    auth, client, people, title, expected_name, expected_fallback
):
    rid = upload(client, people, "image", f"{TESTDATA}/images/pillow_flower.jpg", title)
    auth.login(STATION)
    link = client.get(f"/resources/{rid}/download/source")
    assert link.status_code == 302
    response = client.get(link.headers["Location"])
    assert response.status_code == 200
    fallback, name = download_names(response.headers["Content-Disposition"])
    assert (name, fallback) == (expected_name, expected_fallback)
    assert_saveable(name) and assert_saveable(fallback)


@given(st.text(max_size=300))
def test_any_name_becomes_two_saveable_names(text):
    fallback, name = download_names(content_disposition(text))
    assert fallback.isascii()
    assert_saveable(name)
    assert_saveable(fallback)


@given(
    st.text(alphabet=st.sampled_from("CONULPTAXcomlpt$123¹. :/"), max_size=12), st.sampled_from(["", ".mp4"])
)
def test_device_names_never_come_out_whatever_the_spelling(stem, ext):
    fallback, name = download_names(content_disposition(stem + ext))
    assert_saveable(name)
    assert_saveable(fallback)
