"""Search quality on 2,010 real news titles (TNEWS): exact recall and precision, phrase ranking.

For every query the expected result is computed by brute force over the raw titles, with rules
written independently of ``search_index.analysis`` (``tests/support/search_oracle.py``).
"""

import json
import re

import pytest

from search_index import SearchIndex, rebuild
from tests.support.search_oracle import TNEWS, brute_force, query_words

pytestmark = pytest.mark.once  # the database does not matter here: SQLite pass only

PER_PAGE = 100

ONE_WORD = ["农村", "中国", "美国", "手机", "房价", "游戏", "股票", "为什么", "什么", "世界杯", "区块链"]
INSIDE_LONGER_WORDS = ["国人", "本人", "学生", "价格", "比特"]  # 中国人/日本人/大学生/房价格…
MIXED = ["5G", "iPhone", "NBA", "nba", "ＮＢＡ", "2018", "2018年", "A股", "5月", "SUV", "LOL", "奥迪A6"]
MIXED += ["复联3", "传祺GS8"]
# Letters glued to digits or Chinese (finding 20): found at the letter/digit boundaries, typed
# either way (EXTRA_TITLES has them).
GLUED = ["iPhone7", "iPhone 7", '"iPhone 7"', "iphone6s", "A型", "8A型", "7 Plus", "S7", "GS 8", "x21"]
SINGLE_CHARACTER = ["猫", "狗", "人", "国"]  # 人, 国: hundreds of titles, several pages
SEVERAL_WORDS = [
    "中国 美国",
    "中国 发展",
    "为什么 现在",
    "什么 手机",
    "未来 发展",
    "游戏 手机",
    "中国 为什么",
    "美国 为什么",
    "中国 日本 人",
    "为什么 什么 现在",
    "什么 未来 是",
    "中国 为什么 什么 人",
    "为什么 什么 农村 人",
    "A股 市场",
    "2018年 5月",
    "中 国",
]
QUOTED = ['"中国人"', '"为什么 现在"', "“美国 为什么”"]
QUERIES = ONE_WORD + INSIDE_LONGER_WORDS + MIXED + GLUED + SINGLE_CHARACTER + SEVERAL_WORDS + QUOTED
# Pieces that must stay whole: letters inside letters, digits inside digits.
NOT_FOUND = ["phone", "5g黄金", "hone7", "iphone777", "phone7", "6s7"]
# Queries whose words occur both as one contiguous phrase and apart in different titles.
PHRASE_VS_APART = ["中国 发展", "为什么 现在", "什么 手机", "未来 发展", "游戏 手机", "美国 为什么"]
PHRASE_VS_APART += ["什么 现在", "中国 市场", "投资 什么", "中国 科技"]


def all_hits(index, query):
    """Every hit of a query, in rank order, paging through the results."""
    first = index.search(query, per_page=PER_PAGE)
    hits = list(first.hits)
    for page in range(2, first.pages + 1):
        hits.extend(index.search(query, per_page=PER_PAGE, page=page).hits)
    assert len(hits) == first.total
    return [hit.id for hit in hits], first.total


# Titles as uploaders write them, beside the news titles: Latin glued to digits and Chinese.
EXTRA_TITLES = {
    90001: "iPhone7发布会回顾",
    90002: "iPhone 7 Plus 拍照评测",
    90003: "iphone7电池不耐用怎么办",
    90004: "iPhone6s还值得买吗",
    90005: "iPhone X与iPhone8对比",
    90006: "苹果iPhone新品发布",
    90007: "8A型电梯安全标准",
    90008: "A型血的人更容易被蚊子叮吗",
    90009: "15g黄金现在多少钱",
    90010: "IPHONE７和ｉＰｈｏｎｅ　７Ｐｌｕｓ",
    90011: "iPhones的名字从哪来",
    90012: "iPhone 77周年纪念版？",
}


@pytest.fixture(scope="module")
def titles():
    with open(TNEWS, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    by_id = {row["id"]: row["sentence"] for row in rows}
    channels = {row["id"]: row["label_desc"] for row in rows}
    assert not set(by_id) & set(EXTRA_TITLES)
    return by_id | EXTRA_TITLES, channels | dict.fromkeys(EXTRA_TITLES, "news_tech")


@pytest.fixture(scope="module")
def index(tmp_path_factory, titles):
    by_id, channels = titles
    path = tmp_path_factory.mktemp("quality") / "index"
    rebuild(({"id": i, "title": t, "channel": channels[i]} for i, t in by_id.items()), path)
    index = SearchIndex(path)
    yield index
    index.close()


def test_the_query_set_is_broad_enough(titles):
    by_id, _channels = titles
    assert len(by_id) == 2010 + len(EXTRA_TITLES)
    assert len(QUERIES) >= 30
    counts = {q: len(brute_force(by_id, query_words(q))) for q in QUERIES}
    assert all(counts.values()), [q for q, n in counts.items() if not n]
    assert any(n > PER_PAGE for n in counts.values())  # some need more than one page
    assert {len(query_words(q)) for q in SEVERAL_WORDS} == {2, 3, 4}


@pytest.mark.parametrize("query", QUERIES)
def test_finds_exactly_the_titles_containing_every_word(index, titles, query):
    by_id, _channels = titles
    expected = brute_force(by_id, query_words(query))
    found, total = all_hits(index, query)
    assert len(found) == len(set(found))
    missing, extra = expected - set(found), set(found) - expected
    assert not missing, [by_id[i] for i in missing]
    assert not extra, [by_id[i] for i in extra]
    assert total == len(expected)


@pytest.mark.parametrize("query", NOT_FOUND)
def test_pieces_are_whole(index, titles, query):
    by_id, _channels = titles
    assert brute_force(by_id, query_words(query)) == set()
    assert index.search(query).total == 0


# Written out by hand, so that the oracle's rule for glued words is checked too.
GLUED_EXPECTED = {
    "iPhone": {90001, 90002, 90003, 90004, 90005, 90006, 90010, 90012},
    "iPhone7": {90001, 90002, 90003, 90010},
    "iphone 7": {90001, 90002, 90003, 90010},  # two words: both anywhere (90005 has no 7)
    "iphone6s": {90004},
    "iphone6": {90004},  # 6 then letters: the digits are whole
    "A型": {90007, 90008},
    "5G": set(),
    "g": {90009},
    "plus": {90002, 90010},
}


@pytest.mark.parametrize("query", sorted(GLUED_EXPECTED))
def test_letters_glued_to_digits_or_chinese_are_found(index, query):
    extra = set(EXTRA_TITLES)
    assert brute_force(EXTRA_TITLES, query_words(query)) == GLUED_EXPECTED[query]
    found, _total = all_hits(index, query)
    assert set(found) & extra == GLUED_EXPECTED[query]


def test_glued_words_are_highlighted(index):
    hits = {hit.id: hit.title_html for hit in index.search("iPhone7").hits}
    assert hits[90001] == "<em>iPhone7</em>发布会回顾"
    assert hits[90002] == "<em>iPhone 7</em> Plus 拍照评测"
    assert hits[90010] == "<em>IPHONE７</em>和<em>ｉＰｈｏｎｅ　７</em>Ｐｌｕｓ"
    hits = {hit.id: hit.title_html for hit in index.search("A型").hits}
    assert hits == {90007: "8<em>A型</em>电梯安全标准", 90008: "<em>A型</em>血的人更容易被蚊子叮吗"}
    hits = {hit.id: hit.title_html for hit in index.search("iphone").hits}
    assert hits[90004] == "<em>iPhone</em>6s还值得买吗"
    assert 90011 not in hits  # iPhones is another word


def test_words_inside_longer_words_are_found(index, titles):
    by_id, _channels = titles
    found, _total = all_hits(index, "国人")
    assert {"中国人", "泰国人", "外国人", "德国人"} <= {
        m for i in found for m in re.findall(r".国人", by_id[i])
    }


@pytest.mark.parametrize("query", PHRASE_VS_APART)
def test_titles_with_the_exact_phrase_rank_above_titles_with_the_words_apart(index, titles, query):
    by_id, _channels = titles
    words = query_words(query)
    with_words = brute_force(by_id, words)
    with_phrase = brute_force(by_id, ["".join(words)])
    apart = with_words - with_phrase
    assert with_phrase and apart, "the query must have both kinds of titles"
    found, _total = all_hits(index, query)
    ranks = {doc_id: rank for rank, doc_id in enumerate(found)}
    worst_phrase = max(ranks[i] for i in with_phrase)
    best_apart = min(ranks[i] for i in apart)
    assert worst_phrase < best_apart, (
        [by_id[i] for i in found[: best_apart + 1]],
        [by_id[i] for i in with_phrase],
    )


def test_channel_filter_on_real_categories(index, titles):
    by_id, channels = titles
    expected = {i for i in brute_force(by_id, ["中国"]) if channels[i] == "news_military"}
    results = index.search("中国", channel="news_military", per_page=PER_PAGE)
    assert {h.id for h in results.hits} == expected
    assert results.total == len(expected) > 0
