"""Reading the figures a dashboard page shows (tests/unit/test_dashboard*.py)."""

import json
from html.parser import HTMLParser


class PageFigures(HTMLParser):
    """The text of every element with a ``data-testid``, and the JSON the charts read."""

    def __init__(self, html):
        super().__init__()
        self.texts, self.stack, self.json = {}, [], None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id") == "dashboard-data":
            self.json = json.loads(attrs["data-json"])
        self.stack.append((tag, attrs.get("data-testid"), []))

    def handle_endtag(self, tag):
        while self.stack:
            name, testid, parts = self.stack.pop()
            text = "".join(parts).strip()
            if testid:
                self.texts[testid] = text
            if self.stack:
                self.stack[-1][2].append(text)
            if name == tag:
                break

    def handle_data(self, data):
        if self.stack:
            self.stack[-1][2].append(data)

    def number(self, testid):
        return int(self.texts[testid])
