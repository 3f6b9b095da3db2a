"""Search quality on 2,010 real news titles (TNEWS): exact recall and precision, phrase ranking.

For every query the expected result is computed by brute force over the raw titles, with rules
written independently of ``search_index.analysis`` (``tests/support/search_oracle.py``).
"""

import json
import re

import pytest

from search_index import SearchIndex, rebuild
from tests.support.search_oracle import TNEWS, brute_force, query_words

PER_PAGE = 100

ONE_WORD = ["农村", "中国", "美国", "手机", "房价", "游戏", "股票", "为什么", "什么", "世界杯", "区块链"]
INSIDE_LONGER_WORDS = ["国人", "本人", "学生", "价格", "比特"]  # 中国人/日本人/大学生/房价格…
MIXED = ["5G", "iPhone", "NBA", "nba", "ＮＢＡ", "2018", "2018年", "A股", "5月", "SUV", "LOL", "奥迪A6"]
MIXED += ["复联3", "传祺GS8"]
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
QUERIES = ONE_WORD + INSIDE_LONGER_WORDS + MIXED + SINGLE_CHARACTER + SEVERAL_WORDS + QUOTED
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


@pytest.fixture(scope="module")
def titles():
    with open(TNEWS, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    return {row["id"]: row["sentence"] for row in rows}, {row["id"]: row["label_desc"] for row in rows}


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
    assert len(by_id) == 2010
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
