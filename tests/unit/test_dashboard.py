"""The staff dashboards (issue 10, item 3): every figure on the page and in the JSON its charts
read equals ``service.totals`` and a plain GROUP BY over the counted raw events; staff see their
own region only (404 outside); bad parameters answer a Chinese message, never a 500."""

import math
import random
import re
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from cloud.accounts import service as accounts
from cloud.accounts.models import Role, User
from cloud.extensions import db
from cloud.institutions.models import Institution
from cloud.resources.models import KIND_LABELS, Resource
from cloud.stations.models import Station
from cloud.stats import dashboard, service, sharing
from cloud.stats.models import NO_STATION, UsageEvent
from tests.conftest import PASSWORD, Accounts, Outbox, app_on_empty_tables, csrf_token
from tests.support.pages import PageFigures
from tests.support.stations import make_staff_tree

OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))
# county -> [(station name, state)]
STATIONS = {
    "410102": [("中原一站", "recognised"), ("中原二站", "recognised"), ("中原撤销站", "revoked")],
    "410103": [("二七一站", "recognised"), ("二七申请站", "applied")],
    "410202": [("龙亭整改站", "rectifying")],
    "420102": [("江岸一站", "recognised")],
}


def make_resource(uploader, kind, title):
    resource = Resource(
        kind=kind,
        title=title,
        institution_id=uploader.institution_id,
        uploader_id=uploader.id,
        state="published",
    )
    db.session.add(resource)
    db.session.flush()
    return resource


@pytest.fixture(scope="module")
def app(_schema, database_url, tmp_path_factory):
    """One app for the module: its tests only read the world (logging in adds sessions, nothing
    they count), which takes seconds to build, so it is built once (the empty dashboard is in
    test_dashboard_empty.py)."""
    yield from app_on_empty_tables(database_url, tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(scope="module")
def world(app):
    """Staff of 河南/郑州/中原/二七/开封/龙亭/湖北/武汉/江岸; stations in several states; informants
    and station logins of those stations and of none; resources of all five types; ~600 events
    over October and November (views, downloads with repeats, share visits, some of withdrawn
    resources), recorded through the usage service."""
    Accounts(app, app.test_client(), Outbox(app.config["KEPU_SMS_OUTBOX"])).create_uploader(
        phone="13800138000"
    )
    with app.app_context():
        staff = make_staff_tree()
        uploader = db.session.scalar(select(User).where(User.phone == "13800138000"))
        assert uploader.institution_id and db.session.get(Institution, uploader.institution_id)
        stations = {}
        for county, rows in STATIONS.items():
            for name, state in rows:
                station = Station(
                    name=name,
                    facility_type="学校",
                    region_code=county,
                    address="某路 1 号",
                    manager_name="张三",
                    manager_phone="13900139000",
                    state=state,
                )
                db.session.add(station)
                db.session.flush()
                stations[name] = station
        users = []
        phone = 13500135000
        for station in stations.values():
            for role in (Role.INFORMANT, Role.INFORMANT, Role.STATION):
                phone += 1
                user = accounts.create_user(role, phone=str(phone), password=PASSWORD, region_code="430102")
                user.station_id = station.id
                users.append(user)
        for county in ("410102", "410202", "420102", "430102"):
            phone += 1
            users.append(
                accounts.create_user(Role.INFORMANT, phone=str(phone), password=PASSWORD, region_code=county)
            )
        # One informant who registers only in December: not registered by the end of October.
        late = accounts.create_user(
            Role.INFORMANT, phone="13500139999", password=PASSWORD, region_code="410102"
        )
        late.created_at = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
        kinds = list(KIND_LABELS)
        resources = [make_resource(uploader, kinds[n % 5], f"科普资源{n}") for n in range(12)]
        db.session.flush()
        rng = random.Random(10)
        links = [sharing.link_for(user, resource) for user in users for resource in resources[:4]]
        start = datetime(2026, 9, 30, 15, 0, tzinfo=UTC)  # the first Beijing minute of October
        for _ in range(600):
            at = start + timedelta(minutes=rng.randrange(0, 61 * 24 * 60))
            user, resource = rng.choice(users), rng.choice(resources)
            what = rng.random()
            if what < 0.4:
                service.record_view(user, resource, at=at)
            elif what < 0.7:
                service.record_download(user, resource, counted=rng.random() < 0.8, at=at)
            else:
                link = rng.choice(links)
                address = f"198.51.100.{rng.randrange(1, 6)}"
                service.record_share_visit(link, link.resource, remote_addr=address, user_agent="UA", at=at)
        # An informant who moves from 郑州 to 开封 in October: active in both cities that month.
        mover = accounts.create_user(
            Role.INFORMANT, phone="13500138888", password=PASSWORD, region_code="410102"
        )
        service.record_view(mover, resources[1], at=datetime(2026, 10, 5, 2, 0, tzinfo=UTC))
        mover.region_code = "410202"
        service.record_view(mover, resources[2], at=datetime(2026, 10, 20, 2, 0, tzinfo=UTC))
        resources[0].state = "withdrawn"  # its past use still counts
        db.session.commit()
        return {"staff": staff, "stations": {name: s.id for name, s in stations.items()}}


def logout(client):
    client._cookies.clear()


def login(client, username):
    logout(client)
    response = client.post(
        "/account/login", data={"login": username, "password": PASSWORD, "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def raw(first, last, prefix="", by=("kind",)):
    """The plain GROUP BY over the counted raw events."""
    columns = [getattr(UsageEvent, name) for name in by]
    stmt = (
        select(*columns, func.count())
        .where(UsageEvent.is_counted.is_(True), UsageEvent.day >= first, UsageEvent.day <= last)
        .group_by(*columns)
    )
    if prefix:
        stmt = stmt.where(UsageEvent.region_code.like(f"{prefix}%"))
    return {tuple(row[:-1]): row[-1] for row in db.session.execute(stmt)}


def test_the_province_page_and_its_chart_data_equal_the_roll_ups_and_the_raw_events(app, client, world):
    login(client, "staff41")
    response = client.get("/stats?month=2026-10")
    assert response.status_code == 200
    page = PageFigures(response.get_data(as_text=True))
    assert page.texts["dashboard-region"] == "河南省"
    with app.app_context():
        first, last = OCTOBER
        by_kind = service.totals(first, last, region_prefix="41", by=("resource_kind", "event_kind"))
        assert by_kind == {
            (kind, event): n for (kind, event), n in raw(first, last, "41", ("resource_kind", "kind")).items()
        }
        assert sum(by_kind.values()) > 100
        for kind in KIND_LABELS:
            for event in ("download", "view", "share_visit"):
                assert page.number(f"kind-{kind}-{event}") == by_kind.get((kind, event), 0)
        events = service.totals(first, last, region_prefix="41")
        for event in ("download", "view", "share_visit"):
            assert page.number(f"total-{event}") == events.get((event,), 0)
        data = page.json
        assert data["by_kind"]["labels"] == list(KIND_LABELS.values())
        for event in ("download", "view", "share_visit"):
            assert data["by_kind"]["series"][event] == [by_kind.get((k, event), 0) for k in KIND_LABELS]

        # Per day: every day of October, in the line chart and the table.
        per_day = raw(first, last, "41", ("day", "kind"))
        assert data["by_day"]["labels"][0] == "2026-10-01" and len(data["by_day"]["labels"]) == 31
        for index, label in enumerate(data["by_day"]["labels"]):
            day = date.fromisoformat(label)
            for event in ("download", "view", "share_visit"):
                assert data["by_day"]["series"][event][index] == per_day.get((day, event), 0)
                assert page.number(f"day-{label}-{event}") == per_day.get((day, event), 0)

        # Per city, in the bar chart and the table; the cities add up to the province.
        cities = {}
        for (code, event), n in raw(first, last, "41", ("region_code", "kind")).items():
            cities.setdefault(code[:4], Counter())[event] += n
        assert data["by_child"]["labels"] == ["郑州市", "开封市"]
        for index, code in enumerate(("4101", "4102")):
            for event in ("download", "view", "share_visit"):
                assert data["by_child"]["series"][event][index] == cities[code][event]
                assert page.number(f"child-{code}-{event}") == cities[code][event]
        assert sum(sum(c.values()) for c in cities.values()) == sum(events.values())

        # Stations: recognised now (rectifying included), active when anything counted toward them.
        recognised = db.session.execute(
            select(Station.id, Station.region_code).where(
                Station.state.in_(["recognised", "rectifying"]), Station.region_code.like("41%")
            )
        ).all()
        use = raw(first, last, "41", ("station_id",))
        active = [sid for sid, _code in recognised if use.get((sid,), 0)]
        assert page.number("stations-recognised") == len(recognised) == 4
        assert page.number("stations-active") == len(active)
        assert page.number("stations-inactive") == len(recognised) - len(active)
        for sid, _code in recognised:
            assert page.number(f"station-{sid}-total") == use.get((sid,), 0)

        # Informants: registered (by their recognised station's county, else their own region) by
        # the end of October, and active (any counted use toward the region) in October.
        informants = db.session.scalars(select(User).where(User.role_rows.any(role=Role.INFORMANT))).all()

        def region_of(user):
            station = db.session.get(Station, user.station_id) if user.station_id else None
            return station.region_code if station is not None and station.is_recognised else user.region_code

        registered = [
            u
            for u in informants
            if region_of(u).startswith("41") and u.created_at < datetime(2026, 10, 31, 16, tzinfo=UTC)
        ]
        assert page.number("informants-registered") == len(registered)
        for code in ("4101", "4102"):
            assert page.number(f"child-{code}-registered") == sum(
                region_of(u).startswith(code) for u in registered
            )
        informant_ids = {u.id for u in informants}
        active_informants = db.session.execute(
            select(UsageEvent.user_id, UsageEvent.region_code)
            .where(UsageEvent.is_counted.is_(True), UsageEvent.day >= first, UsageEvent.day <= last)
            .distinct()
        ).all()
        by_city = defaultdict(set)
        for uid, code in active_informants:
            if uid in informant_ids and code.startswith("41"):
                by_city[code[:4]].add(uid)
        # An informant who used it in both cities counts in each and once in the province.
        assert by_city["4101"] & by_city["4102"], "the fixture has an informant active in both cities"
        assert page.number("informants-active") == len(set().union(*by_city.values()))
        for code in ("4101", "4102"):
            assert page.number(f"child-{code}-active-informants") == len(by_city[code])

        # Informants ranked by 传播量.
        shares = db.session.execute(
            select(UsageEvent.user_id, func.count())
            .where(
                UsageEvent.is_counted.is_(True),
                UsageEvent.kind == "share_visit",
                UsageEvent.day >= first,
                UsageEvent.day <= last,
                UsageEvent.region_code.like("41%"),
            )
            .group_by(UsageEvent.user_id)
        ).all()
        visits = {uid: n for uid, n in shares if uid in informant_ids}
        top = sorted(visits.items(), key=lambda item: (-item[1], item[0]))[:20]
        assert top
        for uid, n in top:
            assert page.number(f"informant-{uid}") == n

        # Top resources: the 20 most used, with their counts.
        per_resource = raw(first, last, "41", ("resource_id", "kind"))
        for (rid, event), n in per_resource.items():
            assert page.number(f"resource-{rid}-{event}") == n


def test_a_county_dashboard_ranks_its_stations_and_marks_the_bottom_ones(app, client, world):
    login(client, "staff410102")
    page = PageFigures(client.get("/stats?from=2026-10-01&to=2026-11-30").get_data(as_text=True))
    assert page.texts["dashboard-region"] == "中原区"
    assert "by-child" not in page.texts  # a county's children are its stations
    ids = world["stations"]
    with app.app_context():
        first, last = date(2026, 10, 1), date(2026, 11, 30)
        use = raw(first, last, "410102", ("station_id",))
        totals = service.totals(first, last, region_prefix="410102", by=("station_id",))
        assert {k: v for k, v in totals.items() if k != (NO_STATION,)} == {
            k: v for k, v in use.items() if k != (NO_STATION,)
        }
    ranked = sorted(
        (ids[name] for name in ("中原一站", "中原二站")), key=lambda sid: (-use.get((sid,), 0), sid)
    )
    for sid in ranked:
        assert page.number(f"station-{sid}-total") == use.get((sid,), 0)
    # Two stations: the bottom 10 % rounds up to one, the last.
    assert page.texts[f"station-{ranked[-1]}-bottom"] == "末位"
    assert page.texts[f"station-{ranked[0]}-bottom"] == ("末位" if not use.get((ranked[0],)) else "")
    assert f"station-{ids['中原撤销站']}" not in page.texts  # revoked: not in the statistics
    assert page.number("bottom-count") == sum(
        1 for sid in ranked if sid == ranked[-1] or not use.get((sid,), 0)
    )


def test_ranking_marks_the_bottom_tenth_and_every_station_without_use():
    use = {n: 100 - n for n in range(1, 16)}  # 16..20 have none
    ranked = dashboard.ranking(range(20, 0, -1), use)
    assert ranked.ids[:3] == [1, 2, 3] and ranked.active == 15
    assert {ranked.ids[i] for i in range(20) if ranked.is_bottom(i)} == {16, 17, 18, 19, 20}
    ranked = dashboard.ranking(range(1, 21), {n: 100 - n for n in range(1, 21)})
    assert ranked.bottom == math.ceil(20 * 0.1) == 2
    assert {ranked.ids[i] for i in range(20) if ranked.is_bottom(i)} == {19, 20}


def _listed_by_rows(ids, totals):
    """What the page lists, computed the plain way: a row per station, the 末位 marked one by one,
    the head of the ranking without 末位 rows and then the tail of the 末位 rows."""
    rows = sorted(ids, key=lambda sid: (-totals.get(sid, 0), sid))
    cut = math.ceil(len(rows) * dashboard.BOTTOM_SHARE)
    marked = [(sid, not totals.get(sid, 0) or index >= len(rows) - cut) for index, sid in enumerate(rows)]
    if len(marked) <= dashboard.STATION_ROWS:
        return marked
    head = [row for row in marked[: dashboard.STATION_ROWS // 2] if not row[1]]
    bottom = [row for row in marked if row[1]]
    return head + bottom[-(dashboard.STATION_ROWS - len(head)) :]


@pytest.mark.parametrize("seed", range(40))
def test_the_listed_ranking_equals_ranking_every_station_row_by_row(seed):
    """The ranking is kept as ids only (a province has 10,000 stations); what it lists and marks
    must equal ranking a row per station, for small and large regions, few and many without use."""
    rng = random.Random(seed)
    n = rng.choice([0, 1, 2, 9, 10, 11, 99, 100, 101, 150, 1000, 2345])
    ids = rng.sample(range(1, 10 * n + 2), n)
    unused = rng.random()
    totals = {sid: rng.choice([1, 1, 2, 3, 50, 51]) for sid in ids if rng.random() > unused}
    ranked = dashboard.ranking(ids, totals)
    listed = [(ranked.ids[index], ranked.is_bottom(index)) for index in ranked.shown()]
    assert listed == _listed_by_rows(ids, totals)
    assert ranked.bottom == sum(1 for index in range(n) if ranked.is_bottom(index)) and ranked.active == sum(
        1 for sid in ids if totals.get(sid)
    )
    assert len(listed) <= dashboard.STATION_ROWS


def test_a_city_sees_its_counties_only_and_drills_down_to_a_station(app, client, world):
    login(client, "staff4101")
    page = PageFigures(client.get("/stats?month=2026-10").get_data(as_text=True))
    assert page.json["by_child"]["labels"] == ["中原区", "二七区"]
    assert client.get("/stats?month=2026-10&region=410103").status_code == 200
    assert client.get("/stats?month=2026-10&region=4102").status_code == 404
    assert client.get("/stats?month=2026-10&region=41").status_code == 404
    assert client.get("/stats?month=2026-10&region=410202").status_code == 404
    sid = world["stations"]["中原一站"]
    assert client.get(f"/stats/stations/{sid}").status_code == 200
    assert client.get(f"/stats/stations/{world['stations']['龙亭整改站']}").status_code == 404


def test_a_county_gets_404_for_another_countys_dashboard_and_station(client, world):
    login(client, "staff410102")
    assert client.get("/stats?region=410103").status_code == 404
    assert client.get("/stats?region=4101").status_code == 404
    assert client.get(f"/stats/stations/{world['stations']['二七一站']}").status_code == 404
    assert client.get(f"/stats/stations/{world['stations']['中原一站']}").status_code == 200


def test_people_who_are_not_staff_get_404(app, client, world):
    login(client, "13500135022")  # an informant of no station, in 中原区
    assert client.get("/stats").status_code == 404
    assert client.get(f"/stats/stations/{world['stations']['中原一站']}").status_code == 404
    logout(client)
    assert client.get("/stats").status_code in (302, 401)


@pytest.mark.parametrize(
    "query, message",
    [
        ("month=abc", "月份格式"),
        ("month=2026-13", "月份格式"),
        ("month=2026-1", "月份格式"),
        ("from=2026-11-02&to=2026-11-01", "开始日期不能晚于结束日期"),
        ("from=2026-02-30&to=2026-03-01", "开始日期格式"),
        ("from=2026-01-01", "请同时填写"),
        ("from=2020-01-01&to=2026-01-01", "不能超过"),
        ("from=0001-01-01&to=0001-01-02", "不能早于"),
    ],
)
def test_bad_parameters_answer_a_chinese_message(client, world, query, message):
    login(client, "staff41")
    response = client.get(f"/stats?{query}")
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


@pytest.mark.parametrize("region", ["abc", "9" * 40, "41%", "999999", "410102001", "42"])
def test_a_region_outside_or_unknown_is_404(client, world, region):
    login(client, "staff41")
    assert client.get("/stats", query_string={"region": region}).status_code == 404


def test_admins_see_every_province_and_a_range_in_one_page(app, client, world):
    login(client, "admin1")
    page = PageFigures(client.get("/stats?from=2026-10-15&to=2026-11-14").get_data(as_text=True))
    # 湖南 too: the informants of unrecognised stations count in their own region, 430102.
    assert page.json["by_child"]["labels"] == ["河南省", "湖北省", "湖南省"]
    with app.app_context():
        first, last = date(2026, 10, 15), date(2026, 11, 14)
        everything = service.totals(first, last)
        assert everything == raw(first, last)
        for event in ("download", "view", "share_visit"):
            assert page.number(f"total-{event}") == everything.get((event,), 0)
            provinces = raw(first, last, by=("region_code", "kind"))
            for index, code in enumerate(("41", "42", "43")):
                expected = sum(n for (c, e), n in provinces.items() if c.startswith(code) and e == event)
                assert page.json["by_child"]["series"][event][index] == expected
    assert len(page.json["by_day"]["labels"]) == 31


def test_a_station_page_shows_its_use_month_by_month(app, client, world):
    sid = world["stations"]["中原一站"]
    with app.app_context():
        person = db.session.scalar(
            select(User).where(User.station_id == sid, User.role_rows.any(role=Role.STATION))
        )
        phone = person.phone
        months = Counter()
        for day, kind, n in db.session.execute(
            select(UsageEvent.day, UsageEvent.kind, func.count())
            .where(UsageEvent.is_counted.is_(True), UsageEvent.station_id == sid)
            .group_by(UsageEvent.day, UsageEvent.kind)
        ):
            months[(day.strftime("%Y-%m"), kind)] += n
    login(client, phone)  # the station's own login
    html = client.get(f"/stats/stations/{sid}").get_data(as_text=True)
    page = PageFigures(html)
    for month in ("2026-10", "2026-11"):
        for event in ("download", "view", "share_visit"):
            assert page.number(f"month-{month}-{event}") == months[(month, event)]
    assert page.json["months"]["labels"] == ["2026-10", "2026-11"]
    assert page.json["months"]["series"]["download"] == [
        months[("2026-10", "download")],
        months[("2026-11", "download")],
    ]
    # The station page links to it.
    detail = client.get(f"/stations/{sid}").get_data(as_text=True)
    assert f'href="/stats/stations/{sid}"' in detail
    # Another station's people do not see it.
    with app.app_context():
        other = db.session.scalar(
            select(User.phone).where(
                User.station_id == world["stations"]["二七一站"], User.role_rows.any(role=Role.STATION)
            )
        )
    login(client, other)
    assert client.get(f"/stats/stations/{sid}").status_code == 404


def test_the_staff_menu_links_the_dashboard(client, world):
    login(client, "staff410102")
    html = client.get("/stations").get_data(as_text=True)
    assert re.search(r'href="/stats"[^>]*>使用统计<', html)


def test_the_dashboard_reads_a_fixed_number_of_queries(app, client, world):
    """No query per station or per region: the same number of statements for a county and for
    the whole country (the 200 ms target on 10,000 stations rests on this)."""
    from sqlalchemy import event

    counts = {}
    for who in ("staff410102", "admin1"):
        login(client, who)
        statements = []

        def count(*_args, _statements=statements):
            _statements.append(1)

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert client.get("/stats?month=2026-10").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        counts[who] = len(statements)
    assert counts["admin1"] <= counts["staff410102"] + 3, counts
    assert counts["admin1"] < 30, counts


def test_whole_months_read_the_monthly_roll_ups_and_agree_with_the_daily_ones(app, world, monkeypatch):
    """A whole month is answered from the monthly roll-ups, any other range from the daily ones:
    the same month through both gives the same dashboard, figure for figure."""
    from sqlalchemy import event

    with app.app_context():
        for code in (None, "41", "4101", "410102"):
            region = db.session.get(dashboard.Region, code) if code else None
            period = dashboard.parse_month("2026-10")
            assert period.whole_months
            tables = []

            def seen(_conn, _cursor, statement, *_args, _tables=tables):
                _tables.extend(re.findall(r"FROM (\w+)", statement))

            event.listen(db.engine, "before_cursor_execute", seen)
            try:
                monthly = dashboard.build(region, period)
            finally:
                event.remove(db.engine, "before_cursor_execute", seen)
            assert {"station_monthly", "user_monthly", "kind_monthly", "resource_monthly"} <= set(tables)
            assert not {"usage_daily", "user_usage_daily"} & set(tables)
            with monkeypatch.context() as patch:
                patch.setattr(dashboard.Period, "whole_months", property(lambda _self: False))
                daily = dashboard.build(region, period)
            assert monthly.totals == daily.totals and monthly.totals["total"] > 0
            assert monthly.kinds == daily.kinds
            assert monthly.stations == daily.stations
            assert monthly.children == daily.children
            assert monthly.resources == daily.resources
            assert monthly.informants == daily.informants
            assert monthly.active_informants == daily.active_informants
    assert not dashboard.Period(date(2026, 10, 1), date(2026, 10, 30)).whole_months
    assert dashboard.Period(date(2026, 10, 1), date(2026, 11, 30)).whole_months


def test_the_page_reads_half_of_its_figures_beside_on_a_second_connection(app, world, monkeypatch):
    """``build(beside=True)`` (the page's) reads the informants and the top resources on a
    helper thread with a connection of its own, and gives figure for figure the dashboard read in
    one thread; every connection is back in the pool afterwards."""
    import threading

    seen = []
    informant_use = dashboard.informant_use

    def recording(*args):
        seen.append(
            (threading.current_thread().name, id(db.session.connection().connection.dbapi_connection))
        )
        return informant_use(*args)

    monkeypatch.setattr(dashboard, "informant_use", recording)
    with app.app_context():
        period = dashboard.parse_month("2026-10")
        for code in (None, "41", "410102"):
            region = db.session.get(dashboard.Region, code) if code else None
            here = dashboard.build(region, period)
            checked_out = db.engine.pool.checkedout()
            beside = dashboard.build(region, period, beside=True)
            assert db.engine.pool.checkedout() == checked_out
            assert beside == here and beside.totals["total"] > 0
        own = id(db.session.connection().connection.dbapi_connection)
    assert [name for name, _ in seen] == ["MainThread", "kepu-dashboard"] * 3
    assert all(connection != own for name, connection in seen if name == "kepu-dashboard")


def test_an_error_beside_is_the_requests_error_and_the_connection_goes_back(app, world, monkeypatch):
    """An error of either half is the build's error, raised once the helper has ended and given
    its connection back (none is left checked out)."""

    def failing(*_args):
        raise RuntimeError("the database went away")

    for half in ("informant_use", "station_totals"):  # the helper's half, then this thread's
        with monkeypatch.context() as patch, app.app_context():
            patch.setattr(dashboard, half, failing)
            region = db.session.get(dashboard.Region, "41")  # this thread's connection is out
            checked_out = db.engine.pool.checkedout()
            with pytest.raises(RuntimeError, match="went away"):
                dashboard.build(region, dashboard.parse_month("2026-10"), beside=True)
            assert db.engine.pool.checkedout() == checked_out
