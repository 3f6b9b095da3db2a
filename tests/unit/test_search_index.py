"""The search index as the app uses it: filters, sorting, pages, highlighting, writes, rebuilds."""

import datetime as dt
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from search_index import IndexBusyError, IndexMissingError, SearchIndex, rebuild
from search_index import index as index_module

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UTC = dt.UTC


def make_docs():
    def doc(i, title, **fields):
        base = {
            "id": i,
            "title": title,
            "summary": f"第{i}号资源的简介",
            "kind": "article",
            "channel": "科技",
            "institution": "福建省科协",
            "institution_id": 1,
            "region_code": "350100",
            "published_at": dt.datetime(2024, 5, i, 8, 0, tzinfo=UTC),
            "downloads": 10 * i,
        }
        return base | fields

    return [
        doc(1, "科普中国e站建设指南", tags=["科普", "e站"], downloads=30),
        doc(2, "5G手机的辐射安全吗", kind="video", channel="健康", summary="谣言粉碎：5G 手机辐射很弱"),
        doc(3, "iPhone 拍照技巧", kind="image", institution_id=2, institution="上海科技馆"),
        doc(4, "农村饮水安全挂图", kind="wallchart", channel="农业", region_code="620100", downloads=30),
        doc(5, "中国人的饮食与健康", kind="audio", channel="健康", institution_id=2),
        doc(6, "<script>alert(1)</script>科普防骗", summary="防骗<b>要点</b>"),
        doc(7, "新冠疫苗接种问答", kind="video", channel="健康", body="疫苗接种后注意事项：多喝水。"),
        doc(8, "地震来了怎么办", kind="wallchart", channel="安全", published_at=dt.date(2024, 6, 1)),
        doc(9, "人工智能科普讲座", kind="video", tags="人工智能,讲座", downloads=0, published_at=None),
        # 2024-05-10 17:30 UTC is already 2024-05-11 in China: date filters use China's days.
        doc(10, "科普 夜 观星", published_at=dt.datetime(2024, 5, 10, 17, 30, tzinfo=UTC)),
    ]


@pytest.fixture
def docs():
    return make_docs()


@pytest.fixture
def index(tmp_path, docs):
    rebuild(docs, tmp_path / "index")
    index = SearchIndex(tmp_path / "index")
    yield index
    index.close()


def ids(results):
    return [hit.id for hit in results.hits]


def snapshot(index, queries):
    """Everything a results page shows, for a list of (query, options)."""
    out = []
    for text, options in queries:
        r = index.search(text, **options)
        out.append(
            (r.total, r.pages, [(h.id, round(h.score, 6), h.title_html, h.summary_html) for h in r.hits])
        )
    return out


QUERIES = [
    ("科普", {}),
    ("5G手机", {}),
    ("健康", {"sort": "newest"}),
    ("", {"sort": "downloads"}),
    ("疫苗 接种", {}),
    ("国人", {}),
]


# -- state ----------------------------------------------------------------------------------------


def test_an_index_that_does_not_exist_yet(tmp_path):
    index = SearchIndex(tmp_path / "nothing")
    assert not index.exists()
    with pytest.raises(IndexMissingError):
        index.search("科普")
    index.create()
    assert index.exists()
    index.create()  # a second create changes nothing
    assert index.search("科普").total == 0
    assert os.path.islink(tmp_path / "nothing" / "current")
    assert not os.path.isabs(os.readlink(tmp_path / "nothing" / "current"))
    index.close()


def test_the_first_write_creates_the_index(tmp_path):
    index = SearchIndex(tmp_path / "index")
    index.upsert({"id": 1, "title": "科普"})
    assert ids(index.search("科普")) == [1]
    index.close()


def test_bad_documents_are_refused(index):
    with pytest.raises(ValueError):
        index.upsert({"title": "没有编号"})
    with pytest.raises(ValueError):
        index.upsert({"id": 99, "title": ""})
    with pytest.raises(TypeError):
        index.upsert({"id": 99, "title": "坏日期", "published_at": "2024-05-01"})
    assert index.search("坏日期").total == 0


# -- matching and filters ------------------------------------------------------------------------


def test_chinese_words_inside_text_and_mixed_scripts(index):
    assert set(ids(index.search("科普"))) == {1, 6, 9, 10}  # title, tags, summary all count
    assert ids(index.search("5G手机")) == [2]
    assert ids(index.search("5g 手机")) == [2]
    assert ids(index.search("ｉｐｈｏｎｅ")) == [3]  # full-width, upper/lower case folded
    assert ids(index.search("国人")) == [5]  # inside 中国人
    assert ids(index.search("注意事项")) == [7]  # body text
    assert set(ids(index.search("上海科技馆"))) == {3}  # institution name
    assert ids(index.search("科普 安全")) == []  # AND: no document has both
    assert ids(index.search('"饮水 安全"')) == [4]  # Chinese is written without spaces: 饮水安全
    assert ids(index.search('"夜观星"')) == []  # …but the text must have it so: 夜 观星 is apart
    assert ids(index.search("夜 观星")) == [10]
    assert ids(index.search("！？")) == []  # nothing to search for matches nothing
    assert index.search("").total == 10  # no query: everything
    # A title pasted with its punctuation: the runs stay apart, as in the index.
    assert ids(index.search("谣言粉碎：5G 手机辐射很弱")) == [2]
    assert ids(index.search("接种后注意事项：多喝水")) == [7]
    assert ids(index.search("注意事项多喝水")) == []  # without the colon the text does not say so


def test_filters(index):
    assert set(ids(index.search("", kind="video"))) == {2, 7, 9}
    assert set(ids(index.search("", channel="健康"))) == {2, 5, 7}
    assert set(ids(index.search("", institution_id=2))) == {3, 5}
    assert set(ids(index.search("", region_code="620100"))) == {4}
    assert set(ids(index.search("科普", kind="video"))) == {9}
    assert set(ids(index.search("健康", kind="audio", channel="健康"))) == {5}
    assert ids(index.search("科普", kind="audio")) == []
    assert index.search("", kind="nonexistent").total == 0


def test_date_range_is_inclusive_in_china_days(index):
    may = index.search("", date_from=dt.date(2024, 5, 3), date_to=dt.date(2024, 5, 5))
    assert set(ids(may)) == {3, 4, 5}
    assert set(ids(index.search("", date_from=dt.date(2024, 5, 31)))) == {8}
    assert set(ids(index.search("", date_to=dt.date(2024, 5, 1)))) == {1}
    # Published 2024-05-10 17:30 UTC = 2024-05-11 01:30 in China.
    assert 10 not in ids(index.search("", date_to=dt.date(2024, 5, 10)))
    assert 10 in ids(index.search("", date_from=dt.date(2024, 5, 11), date_to=dt.date(2024, 5, 11)))
    aware = dt.datetime(2024, 5, 10, 20, 0, tzinfo=UTC)  # a datetime means its day in China
    assert set(ids(index.search("", date_from=aware, date_to=aware))) == {10}
    assert 9 not in ids(index.search("", date_from=dt.date(2000, 1, 1)))  # never published: no date


# -- ordering and pages --------------------------------------------------------------------------


def test_sort_newest_and_downloads(index):
    newest = ids(index.search("", sort="newest"))
    assert newest[:3] == [8, 10, 7] and newest[-1] == 9  # no date: last
    # 1, 3 and 4 have 30 downloads each: newer first.
    assert ids(index.search("", sort="downloads")) == [10, 8, 7, 6, 5, 4, 3, 1, 2, 9]
    assert ids(index.search("科普", sort="newest")) == [10, 6, 1, 9]
    assert [h.score for h in index.search("科普", sort="newest").hits] == [0.0] * 4
    assert ids(index.search("", sort="relevance")) == newest  # no query: newest first


def test_title_matches_rank_first(index):
    with index.writer() as w:
        w.upsert({"id": 50, "title": "地理知识", "summary": "火山喷发的原因", "tags": "火山"})
        w.upsert({"id": 51, "title": "火山喷发", "summary": "地理知识"})
        w.upsert({"id": 52, "title": "地理知识讲座", "body": "火山"})
    results = index.search("火山")
    assert ids(results)[0] == 51
    assert set(ids(results)) == {50, 51, 52}
    scores = [h.score for h in results.hits]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0


def test_pagination(index):
    first = index.search("", sort="newest", per_page=4)
    second = index.search("", sort="newest", per_page=4, page=2)
    third = index.search("", sort="newest", per_page=4, page=3)
    assert (first.total, first.pages, first.page, first.per_page) == (10, 3, 1, 4)
    assert len(first.hits) == len(second.hits) == 4 and len(third.hits) == 2
    assert ids(first) + ids(second) + ids(third) == ids(index.search("", sort="newest"))
    beyond = index.search("", per_page=4, page=9)
    assert beyond.hits == [] and beyond.total == 10
    assert index.search("不存在的词").pages == 0
    for bad in ({"page": 0}, {"per_page": 0}, {"per_page": 101}, {"sort": "random"}, {"page": 501}):
        with pytest.raises(ValueError):
            index.search("科普", **bad)


def test_totals_are_exact_when_the_top_is_settled_early(index):
    # Whoosh's collector stops counting the documents that can no longer reach the top N unless
    # told not to: here, once two exact-phrase titles fill the page, the ones with the words apart.
    with index.writer() as w:
        for i in range(30):
            w.upsert({"id": f"phrase{i}", "title": f"火山喷发 第{i}次"})
            w.upsert({"id": f"apart{i}", "title": f"火山 与 喷发 第{i}次"})
    results = index.search("火山 喷发", per_page=2)
    assert results.total == 60 and results.pages == 30
    assert all(hit.id.startswith("phrase") for hit in results.hits)
    assert index.search("火", per_page=1).total == 60


# -- highlighting --------------------------------------------------------------------------------


def test_highlights_are_escaped_except_our_marks(index):
    (hit,) = index.search("科普 防骗").hits
    assert hit.title_html == "&lt;script&gt;alert(1)&lt;/script&gt;<em>科普防骗</em>"
    assert hit.summary_html == "<em>防骗</em>&lt;b&gt;要点&lt;/b&gt;"
    (hit,) = index.search("script").hits
    assert hit.title_html == "&lt;<em>script</em>&gt;alert(1)&lt;/<em>script</em>&gt;科普防骗"


def test_highlights_mixed_words_and_long_summaries(index):
    summary = "很长的开头。" * 40 + "5G 手机其实很安全。" + "结尾" * 100
    index.upsert({"id": 20, "title": "什么是5G", "summary": summary})
    hit = index.search("5G手机").hits[0]
    assert hit.id in (2, 20)
    hits = {h.id: h for h in index.search("5G手机").hits}
    assert hits[2].title_html == "<em>5G手机</em>的辐射安全吗"
    assert hits[2].summary_html == "谣言粉碎：<em>5G 手机</em>辐射很弱"
    snippet = hits[20].summary_html
    assert snippet.startswith("…") and snippet.endswith("…") and "<em>5G 手机</em>" in snippet
    assert len(snippet.replace("<em>", "").replace("</em>", "")) <= 122
    assert hits[20].title_html == "什么是5G"  # the word is 5G手机, not 5G alone


# -- writing -------------------------------------------------------------------------------------


def test_upsert_replaces_and_delete_removes(index):
    index.upsert({"id": 1, "title": "月球探测科普"})
    assert ids(index.search("e站")) == []
    assert ids(index.search("月球")) == [1]
    assert index.search("").total == 10
    index.delete(1)
    index.delete(1)  # deleting what is not there is not an error
    assert ids(index.search("月球")) == []
    assert index.search("").total == 9


def test_one_writer_applies_the_last_operation_per_id_or_nothing(index):
    with index.writer() as w:
        w.upsert({"id": 30, "title": "第一版标题"})
        w.upsert({"id": 30, "title": "第二版标题"})
        w.upsert({"id": 31, "title": "会被删除的标题"})
        w.delete(31)
    assert ids(index.search("标题")) == [30]
    assert index.search("第一版").total == 0
    with pytest.raises(RuntimeError), index.writer() as w:
        w.upsert({"id": 32, "title": "不会写入的标题"})
        raise RuntimeError("the caller failed")
    assert ids(index.search("标题")) == [30]


def test_writers_in_threads_wait_for_each_other(index):
    errors = []

    def write(n):
        try:
            for i in range(5):
                with index.writer() as w:
                    w.upsert({"id": 1000 + n * 10 + i, "title": f"线程写入 {n} {i}"})
                    time.sleep(0.01)  # hold the lock while others try
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert index.search("线程写入", per_page=100).total == 20


CHILD_WRITER = """
import sys, time
from search_index import SearchIndex
index = SearchIndex(sys.argv[1])
with index.writer() as w:
    w.upsert({"id": "child", "title": "子进程写入的科普资源"})
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
print("done", flush=True)
"""


def run_child(code, *args):
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_writer_in_another_process_makes_us_wait_not_fail(index, tmp_path):
    with run_child(CHILD_WRITER, tmp_path / "index", 1.5) as child:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(IndexBusyError):
            SearchIndex(tmp_path / "index", lock_timeout=0.2).upsert({"id": "x", "title": "等不及"})
        started = time.monotonic()
        index.upsert({"id": "parent", "title": "父进程写入的科普资源"})
        waited = time.monotonic() - started
        out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out.strip() == "done"
    assert waited > 0.5  # it waited for the child's lock instead of failing
    assert set(ids(index.search("写入的科普资源"))) == {"child", "parent"}
    assert index.search("等不及").total == 0


CHILD_READER = """
import os, sys
from whoosh.index import open_dir
from search_index import SearchIndex
path = sys.argv[1]
ix = open_dir(os.path.realpath(os.path.join(path, "current")))
print(type(ix.schema["text"].analyzer).__module__)
with ix.searcher() as s:
    print(s.doc_count())
ix.close()
print(" ".join(str(h.id) for h in SearchIndex(path).search("科普").hits))
"""


def test_another_process_opens_the_index(index, tmp_path):
    with run_child(CHILD_READER, tmp_path / "index") as child:
        out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    module, count, found = out.splitlines()
    assert module == "search_index.analysis"  # the pickled analyzer is importable
    assert count == "10"
    assert found.split() == [str(i) for i in ids(index.search("科普"))]


def test_cached_searchers_see_new_writes(index, tmp_path):
    assert index.search("火星").total == 0
    other = SearchIndex(tmp_path / "index")  # e.g. the worker's
    other.upsert({"id": 40, "title": "火星探测"})
    assert ids(index.search("火星")) == [40]


# -- rebuilding ----------------------------------------------------------------------------------


def test_rebuild_while_searching(index, tmp_path, docs):
    expected = snapshot(index, QUERIES)
    errors, rounds = [], []
    stop = threading.Event()

    def search_loop():
        while not stop.is_set():
            try:
                assert snapshot(index, QUERIES) == expected
                rounds.append(1)
            except Exception as exc:
                errors.append(exc)
                return

    searchers = [threading.Thread(target=search_loop) for _ in range(2)]
    for t in searchers:
        t.start()
    for _ in range(3):
        assert rebuild(docs, tmp_path / "index") == 10
    while len(rounds) < 6 and not errors:
        time.sleep(0.01)
    stop.set()
    for t in searchers:
        t.join()
    assert errors == []
    assert snapshot(index, QUERIES) == expected
    assert len([n for n in os.listdir(tmp_path / "index") if n.startswith("index-")]) == 1


def test_a_search_open_before_a_rebuild_finishes_on_the_old_files(index, tmp_path, docs):
    with index_module._pool(index).searcher() as (searcher, snapshot):
        old_dir = os.path.realpath(tmp_path / "index" / "current")
        rebuild(docs[:3], tmp_path / "index")
        assert not os.path.exists(old_dir)
        assert searcher.doc_count() == 10
        assert len(list(searcher.documents())) == 10
        reader = searcher.reader()
        total, _page = index_module.matching.find(snapshot, reader, ["科普"], [], None, "relevance", 0, 20)
        assert total == 4  # the old index's answer, from the old files
    assert index.search("").total == 3


def test_deleting_the_directory_and_rebuilding_gives_identical_results(index, tmp_path, docs):
    before = snapshot(index, QUERIES)
    shutil.rmtree(tmp_path / "index")
    with pytest.raises(IndexMissingError):
        index.search("科普")
    rebuild(iter(docs), tmp_path / "index")
    assert snapshot(index, QUERIES) == before


def test_a_failed_rebuild_leaves_the_live_index_alone(index, tmp_path, docs):
    before = snapshot(index, QUERIES)
    with pytest.raises(ValueError):
        rebuild([*docs, {"id": 99, "title": ""}], tmp_path / "index")
    with pytest.raises(ValueError, match="duplicate"):
        rebuild([*docs, docs[0]], tmp_path / "index")
    assert snapshot(index, QUERIES) == before
    assert len([n for n in os.listdir(tmp_path / "index") if n.startswith("index-")]) == 1


def test_highlights_keep_the_original_characters_where_folding_changes_them():
    from search_index.query import highlight, patterns_for

    patterns = patterns_for(["5G", "面积"])
    # Full-width letters and punctuation (one character each once folded), and ㎡, which folds
    # into two: the marks land on the original characters either way.
    assert highlight("５Ｇ手机，面积１００㎡。", patterns) == "<em>５Ｇ</em>手机，<em>面积</em>１００㎡。"
    assert highlight("１００㎡的面积，５Ｇ", patterns) == "１００㎡的<em>面积</em>，<em>５Ｇ</em>"
