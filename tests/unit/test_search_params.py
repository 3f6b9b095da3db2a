"""资源中心 and /api/v1/search with odd queries: each bad parameter gets its own Chinese message,
and a query cut to its first 100 characters or 10 words says so (the API and the page)."""

import pytest

from search_index.query import MAX_WORDS, query_is_cut, split_words


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        ({"page": "abc"}, "page", "页码须为正整数"),
        ({"page": "-2"}, "page", "页码须为正整数"),
        ({"page": "1e3"}, "page", "页码须为正整数"),
        ({"institution": "abc"}, "institution", "机构编号须为正整数"),
        ({"institution": "12abc"}, "institution", "机构编号须为正整数"),
        ({"from": "昨天"}, "from", "开始日期格式有误，请按 2026-01-31 的格式填写"),
        ({"from": "20260131"}, "from", "开始日期格式有误，请按 2026-01-31 的格式填写"),
        ({"to": "2026-02-30"}, "to", "结束日期格式有误，请按 2026-01-31 的格式填写"),
        ({"from": "2026-03-01", "to": "2026-02-01"}, "from", "开始日期不能晚于结束日期"),
    ],
)
def test_each_bad_parameter_gets_its_own_message(client, args, field, message):
    answer = client.get("/api/v1/search", query_string={"q": "科普", **args})
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert error["message"] == message and error["details"] == {"field": field}
    page = client.get("/resources", query_string={"q": "科普", **args})
    assert page.status_code == 200 and message in page.get_data(as_text=True)
    if field in ("page", "institution"):
        assert "日期" not in message


def test_good_parameters_still_pass(client):
    answer = client.get(
        "/api/v1/search",
        query_string={"q": "科普", "page": "2", "institution": "7", "from": "2026-01-01", "to": "2026-01-31"},
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["page"] == 2
    assert client.get("/api/v1/search?page=0").get_json()["page"] == 1  # clamped to the first page
    # Ids no institution can have are no error, they just find nothing.
    assert client.get("/api/v1/search", query_string={"institution": "9" * 30}).get_json()["total"] == 0


def test_a_short_query_is_not_truncated(client):
    answer = client.get("/api/v1/search", query_string={"q": "防溺水 安全"}).get_json()
    assert answer["truncated"] is False and answer["query"] == "防溺水 安全"
    assert "搜索词过长" not in client.get("/resources?q=防溺水").get_data(as_text=True)


@pytest.mark.parametrize(
    "typed",
    [
        "科" * 150,  # past 100 characters
        " ".join(f"词{n}" for n in range(MAX_WORDS + 2)),  # 12 words in 47 characters
    ],
    ids=["characters", "words"],
)
def test_a_cut_query_says_so(client, typed):
    answer = client.get("/api/v1/search", query_string={"q": typed}).get_json()
    assert answer["truncated"] is True
    assert len(answer["query"]) <= 100 and typed.startswith(answer["query"])
    page = client.get("/resources", query_string={"q": typed}).get_data(as_text=True)
    assert 'data-testid="query-truncated"' in page
    assert "搜索词过长，只按前 100 个字、前 10 个词搜索" in page


def test_exactly_the_limits_are_not_a_cut():
    ten = " ".join(f"词{n}" for n in range(MAX_WORDS))
    assert len(split_words(ten)) == MAX_WORDS and not query_is_cut(ten)
    assert query_is_cut(ten + " 再来一个")
    assert not query_is_cut(ten + " ，，， !!!")  # words without a letter or character are dropped anyway


def test_the_openapi_document_describes_the_answer(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    schema = doc["paths"]["/search"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["properties"]["truncated"]["type"] == "boolean"
    assert "100" in schema["properties"]["truncated"]["description"]
    assert {"truncated", "query"} <= set(schema["required"])
