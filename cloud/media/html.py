"""Article (图文) HTML: sanitise what institutions submit, extract plain text for search.

Sanitising is an allow-list applied by nh3 (ammonia, a real HTML5 parser): anything not listed is
dropped, so new browser features do not open new holes. Images may only point at our own stored
objects, which the caller decides with ``allowed_image_src``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from html import escape as html_escape
from html.parser import HTMLParser

import nh3

log = logging.getLogger(__name__)

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "h2", "h3", "h4", "strong", "b", "em", "i", "u", "s", "blockquote",
        "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "a", "img",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href"}, "img": {"src", "alt", "width", "height"}}
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"

#: Tags removed together with everything inside them (the rest lose the tag and keep their text).
CLEAN_CONTENT_TAGS = frozenset(
    {
        "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math",
        "template", "noscript", "noembed", "noframes", "title", "textarea", "select", "xmp",
    }
)  # fmt: skip

_LINK = re.compile(r"(?:https?://|mailto:)[^\s\x00-\x1f\x7f]+", re.IGNORECASE)
_DIMENSION = re.compile(r"[0-9]{1,4}")
# nh3 serialises every attribute double-quoted with '"', '<' and '>' escaped, so inside its output
# this matches exactly one <img> tag.
_IMG_TAG = re.compile(r"<img\b[^>]*>")
_HAS_SRC = re.compile(r'\ssrc="')


def _attribute_filter(allowed_image_src: Callable[[str], bool]) -> Callable[[str, str, str], str | None]:
    def keep(tag: str, attribute: str, value: str) -> str | None:
        if tag == "a" and attribute == "href":
            # The whole value must be one absolute http(s)/mailto URL: browsers ignore tabs and
            # newlines inside URLs, so "java\tscript:" would otherwise run.
            return value if _LINK.fullmatch(value) else None
        if tag == "img" and attribute == "src":
            try:
                return value if allowed_image_src(value) else None
            except Exception:
                # nh3 would swallow the error and keep going; refuse the image and leave a trace.
                log.exception("allowed_image_src failed for %r; image removed", value)
                return None
        if tag == "img" and attribute in ("width", "height"):
            return value if _DIMENSION.fullmatch(value) else None
        return value

    return keep


def _drop_images_without_src(html: str) -> str:
    return _IMG_TAG.sub(lambda match: match.group(0) if _HAS_SRC.search(match.group(0)) else "", html)


_MAX_PASSES = 4


def sanitize_article(html: str, allowed_image_src: Callable[[str], bool]) -> str:
    """Return ``html`` reduced to the article allow-list; safe to render on our pages.

    Kept: p, br, h2-h4, strong/b, em/i, u, s, blockquote, lists, tables, ``<a href>`` with an
    absolute http/https/mailto URL (given ``rel="noopener noreferrer nofollow"``), and ``<img>`` whose
    ``src`` satisfies ``allowed_image_src`` (with alt, numeric width/height). Everything else goes:
    scripts, event handlers, style, iframes, SVG, data: and external images (removed entirely).
    Idempotent: sanitising the result again returns it unchanged. Never raises for any input string.
    """
    # Mis-nested markup (an <a> holding a <table> holding an <a>…) is re-nested by the HTML5
    # parser each time it is read, so one pass is not always a fixed point: clean until stable.
    for _ in range(_MAX_PASSES):
        cleaned = _drop_images_without_src(
            nh3.clean(
                html,
                tags=set(ALLOWED_TAGS),
                clean_content_tags=set(CLEAN_CONTENT_TAGS),
                attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
                attribute_filter=_attribute_filter(allowed_image_src),
                url_schemes=set(LINK_SCHEMES),
                link_rel=LINK_REL,
                strip_comments=True,
            )
        )
        if cleaned == html:
            break
        html = cleaned
    return cleaned


_BLOCK_TAGS = frozenset(
    {
        "p", "div", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd",
        "blockquote", "pre", "table", "thead", "tbody", "tfoot", "tr", "caption", "section", "article",
        "header", "footer", "aside", "nav", "figure", "figcaption", "address", "main", "details", "summary",
    }
)  # fmt: skip
_CELL_TAGS = frozenset({"td", "th"})
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "head", "title", "svg", "math"})
# CJK characters (and full-width punctuation): a line break between two of them is not a word gap.
_CJK = (
    r"\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u31ff"
    r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
)
_CJK_BREAK = re.compile(rf"(?<=[{_CJK}])[^\S\n]*\n\s*(?=[{_CJK}])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_WHITESPACE = re.compile(r"\s+")
# Markers that cannot occur in the text once control characters are removed from it.
_BLOCK = "\x02"
_CELL = "\x03"


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(_BLOCK)
        elif tag in _CELL_TAGS:
            self.parts.append(_CELL)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(_BLOCK)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(_BLOCK)
        elif tag in _CELL_TAGS:
            self.parts.append(_CELL)

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.parts.append(_CONTROL.sub("", data))


def extract_text(html: str) -> str:
    """Plain text of an article for search and snippets: one line per block, entities decoded.

    Blocks (paragraphs, headings, list items, table rows, ``<br>``, ...) become lines, table cells
    are separated by spaces, script/style content is dropped, runs of whitespace collapse to one
    space, and a source line break between two Chinese characters disappears (as in the CSS Text
    segment-break rule), so "科学\n普及" stays one word. Never raises for any input string.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = _CJK_BREAK.sub("", "".join(parser.parts)).replace(_CELL, " ")
    lines = (_WHITESPACE.sub(" ", block).strip() for block in text.split(_BLOCK))
    return "\n".join(line for line in lines if line)


# The ZIP's page is opened from disk by stations: it needs no script at all, so it forbids them
# (a second line of defence should anything ever reach it unescaped).
_PACKAGE_CSP = "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"


def article_document(title: str, body_html: str) -> str:
    """The standalone ``index.html`` of an article's ZIP download.

    ``title`` is plain text as the institution typed it and is escaped here; ``body_html`` must be
    the output of :func:`sanitize_article` (it is inserted as it is).
    """
    heading = html_escape(title, quote=True)
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_PACKAGE_CSP}">'
        f"<title>{heading}</title></head><body><h1>{heading}</h1>{body_html}</body></html>"
    )
