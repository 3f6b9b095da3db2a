"""The monthly report (issue 10, item 4): exact figures of a region and month, rolled up county →
city → province with each level equal to the sum of its children, as XLSX (read back with
openpyxl) and CSV with BOM; a rebuild of the roll-ups gives the same report."""

import io
from datetime import UTC, date, datetime
from urllib.parse import unquote

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from cloud.accounts.models import Role, User
from cloud.errors import ValidationFailed
from cloud.extensions import db
from cloud.institutions.models import Institution
from cloud.resources.models import Resource
from cloud.stations.models import Station, StationActivity, StationEvent
from cloud.stats import report, reports, service, sharing
from tests.conftest import csrf_token

MONTH = "2026-10"


def at(*parts):
    return datetime(*parts, tzinfo=UTC)


def make_station(name, county, number, history):
    """A station with its audit trail: ``history`` is [(action, to_state, at)], oldest first."""
    station = Station(
        name=name,
        number=number,
        facility_type="学校",
        region_code=county,
        address="某路 1 号",
        manager_name="张三",
        manager_phone="13900139000",
        state="applied",
    )
    db.session.add(station)
    db.session.flush()
    state = "applied"
    for action, to_state, moment in history:
        db.session.add(
            StationEvent(
                station=station, action=action, from_state=state, to_state=to_state, created_at=moment
            )
        )
        state = to_state
    station.state = state
    db.session.flush()
    return station


def set_state(station, action, to_state, moment):
    db.session.add(
        StationEvent(
            station=station, action=action, from_state=station.state, to_state=to_state, created_at=moment
        )
    )
    station.state = to_state
    db.session.flush()


def person(role, phone, region, station=None):
    from cloud.accounts import service as accounts

    user = accounts.create_user(role, phone=phone, password="secret123", region_code=region)
    user.station_id = station.id if station else None
    user.created_at = at(2026, 8, 1)  # registered before the months the test reports on
    db.session.flush()
    return user


def resource(owner, inst, kind, title, state="approved"):
    row = Resource(kind=kind, title=title, institution_id=inst.id, uploader_id=owner.id, state=state)
    db.session.add(row)
    db.session.flush()
    return row


def activity(station, held_on, title, highlighted=False):
    row = StationActivity(
        station_id=station.id,
        held_on=held_on,
        title=title,
        kind="日常科普",
        participants=30,
        highlighted_at=at(2026, 11, 1, 2) if highlighted else None,
    )
    db.session.add(row)
    db.session.flush()
    return row


@pytest.fixture
def world(app, client, auth):
    """Two provinces, three cities, four counties, stations recognised, rectifying, revoked and
    unrecognised, informants with and without stations, use in September and October."""
    owner_id = auth.create_uploader(phone="13800138000")
    with app.app_context():
        owner = db.session.get(User, owner_id)
        inst = db.session.get(Institution, owner.institution_id)
        r1 = resource(owner, inst, "article", "科学防疫")
        r2 = resource(owner, inst, "video", "地震自救")
        r3 = resource(owner, inst, "image", "节水挂图", state="withdrawn")

        a = make_station(
            "中原区甲e站", "410102", "410102001", [("city_recognise", "recognised", at(2026, 9, 15))]
        )
        b = make_station("中原区乙e站", "410102", "410102002", [])
        c = make_station("二七区丙e站", "410103", "410103001", [("import", "recognised", at(2026, 8, 1))])
        d = make_station("二七区丁e站", "410103", None, [])  # applied, never recognised
        e = make_station(
            "顺河区戊e站", "410203", "410203001", [("city_recognise", "recognised", at(2026, 9, 1))]
        )
        g = make_station("顺河区己e站", "410203", None, [])
        f = make_station(
            "芙蓉区庚e站", "430102", "430102001", [("city_recognise", "recognised", at(2026, 9, 1))]
        )

        a1 = person(Role.STATION, "13100000001", "410102", a)
        i1 = person(Role.INFORMANT, "13100000002", "430102", a)  # own region elsewhere: the station's counts
        c1 = person(Role.STATION, "13100000003", "410103", c)
        d1 = person(Role.STATION, "13100000004", "410103", d)
        e1 = person(Role.STATION, "13100000005", "410203", e)
        i2 = person(Role.INFORMANT, "13100000006", "410203", e)  # registered, never active
        i3 = person(Role.INFORMANT, "13100000007", "410103")  # no station
        f1 = person(Role.STATION, "13100000008", "430102", f)
        i4 = person(Role.INFORMANT, "13100000009", "430102")

        # September: must not appear in October.
        service.record_download(a1, r1, counted=True, at=at(2026, 9, 20, 3))
        service.record_view(i2, r1, at=at(2026, 9, 30, 15, 59))  # Beijing 23:59 on 30 Sep
        # October (Beijing time).
        service.record_download(a1, r1, counted=True, at=at(2026, 10, 3, 2))
        service.record_download(a1, r1, counted=True, at=at(2026, 10, 3, 2, 1))
        service.record_download(a1, r1, counted=False, at=at(2026, 10, 3, 2, 2))  # a repeat: not counted
        service.record_view(a1, r2, at=at(2026, 10, 4, 2))
        service.record_view(a1, r2, at=at(2026, 10, 4, 3))  # same day: once
        service.record_download(i1, r3, counted=True, at=at(2026, 10, 5, 2))
        link = sharing.link_for(i1, r1)
        for visitor in ("1.1.1.1", "2.2.2.2", "3.3.3.3", "1.1.1.1"):
            service.record_share_visit(link, r1, remote_addr=visitor, user_agent="UA", at=at(2026, 10, 6, 2))
        service.record_share_visit(link, r1, remote_addr="9.9.9.9", user_agent="UA", viewer_id=i1.id,
                                   at=at(2026, 10, 6, 3))  # the sharer's own visit  # fmt: skip
        withdrawn_token = sharing.link_for(i1, r3).token
        service.record_download(c1, r2, counted=True, at=at(2026, 10, 10, 2))
        service.record_download(d1, r1, counted=True, at=at(2026, 10, 11, 2))
        service.record_view(i3, r3, at=at(2026, 10, 12, 2))
        service.record_view(e1, r1, at=at(2026, 9, 30, 17))  # Beijing 01:00 on 1 Oct
        service.record_download(f1, r1, counted=True, at=at(2026, 10, 13, 2))
        service.record_view(i4, r1, at=at(2026, 10, 13, 2))
        service.record_view(a1, r1, at=at(2026, 10, 31, 16))  # Beijing 00:00 on 1 Nov: November

        set_state(b, "city_recognise", "recognised", at(2026, 10, 5))
        set_state(b, "rectify", "rectifying", at(2026, 10, 20))
        set_state(c, "revoke", "revoked", at(2026, 10, 25))
        set_state(g, "city_recognise", "recognised", at(2026, 10, 31, 16, 30))  # 1 Nov in Beijing

        activity(a, date(2026, 10, 8), "秋季防疫讲座", highlighted=True)
        activity(a, date(2026, 10, 9), "科普电影")
        activity(a, date(2026, 9, 9), "九月活动", highlighted=True)
        activity(e, date(2026, 10, 31), "月末展览", highlighted=True)
        db.session.commit()
        ids = {
            "r1": r1.id,
            "r2": r2.id,
            "r3": r3.id,
            "stations": {s.name[3]: s.id for s in (a, b, c, d, e, g, f)},
        }
    # A visit of the withdrawn resource's share link: the neutral 已下架 page, not counted.
    assert client.get(f"/s/{withdrawn_token}").status_code == 410
    return ids


def figures(**given):
    values = dict.fromkeys(report.SUMMARY_FIELDS, 0)
    values.update(given)
    return values


EXPECTED = {
    "410102": figures(
        recognised_in_month=1, rectified_in_month=1,
        recognised_total=2, active_stations=1, inactive_stations=1,
        downloads=3, downloads_article=2, downloads_image=1, station_downloads=3,
        views=1, views_video=1, station_views=1,
        share_visits=3, share_visits_article=3, station_share_visits=3,
        activities=2, highlights=1, active_informants=1, registered_informants=1,
    ),
    "410103": figures(
        revoked_in_month=1, downloads=2, downloads_video=1, downloads_article=1, station_downloads=1,
        views=1, views_image=1, active_informants=1, registered_informants=1,
    ),
    "410203": figures(
        recognised_total=1, active_stations=1, views=1, views_article=1, station_views=1,
        activities=1, highlights=1, registered_informants=1,
    ),
}  # fmt: skip


def add(*many):
    return {key: sum(f[key] for f in many) for key in report.SUMMARY_FIELDS}


def test_every_figure_of_a_county_city_and_province(app, world):
    with app.app_context():
        for county, expected in EXPECTED.items():
            built = report.build(county, MONTH)
            assert built.totals == expected, county
            assert built.children == []
        city = report.build("4101", MONTH)
        assert city.totals == add(EXPECTED["410102"], EXPECTED["410103"])
        province = report.build(report.parse_region("410000"), MONTH)
        assert province.region_code == "41" and province.region_name == "河南省"
        assert province.totals == add(*EXPECTED.values())
        # Hunan's use is not Henan's.
        assert report.build("43", MONTH).totals["downloads"] == 1


def test_each_level_is_the_sum_of_its_children(app, world):
    with app.app_context():
        province = report.build("41", MONTH)
        cities = {code: f for code, _name, f in province.children}
        assert set(cities) >= {"4101", "4102"} and all(len(code) == 4 for code in cities)
        assert province.totals == add(*cities.values())
        for code, figures_of_city in cities.items():
            city = report.build(code, MONTH)
            assert city.totals == figures_of_city
            assert city.totals == add(*(f for _c, _n, f in city.children))
            for county_code, _name, figures_of_county in city.children:
                assert report.build(county_code, MONTH).totals == figures_of_county
        assert cities["4102"] == EXPECTED["410203"]


def test_tables_of_the_report(app, world):
    with app.app_context():
        city = report.build("4101", MONTH)
        rows = {s.name: s for s in city.stations}
        # A recognised at month's end (active), B rectifying (inactive), C revoked but used while recognised.
        assert set(rows) == {"中原区甲e站", "中原区乙e站", "二七区丙e站"}
        a, b, c = rows["中原区甲e站"], rows["中原区乙e站"], rows["二七区丙e站"]
        assert (a.number, a.county_name, a.state_label) == ("410102001", "中原区", "已认定")
        assert (a.downloads, a.views, a.share_visits, a.activities) == (3, 1, 3, 2)
        assert (b.state_label, b.downloads, b.views, b.share_visits, b.activities) == ("整改中", 0, 0, 0, 0)
        assert (c.state_label, c.downloads, c.views) == ("已撤销", 1, 0)
        assert city.by_kind[0][:2] == ("article", "图文")
        by_kind = {row[0]: row[2:] for row in city.by_kind}
        assert by_kind == {"article": (3, 0, 3), "image": (1, 1, 0), "video": (1, 1, 0),
                           "wallchart": (0, 0, 0), "audio": (0, 0, 0)}  # fmt: skip
        top = [(row[1], row[4:]) for row in report.build("41", MONTH).top_resources]
        assert top == [
            (world["r1"], (3, 1, 3, 7)),
            (world["r2"], (1, 1, 0, 2)),
            (world["r3"], (1, 1, 0, 2)),
        ]
        highlights = report.build("41", MONTH).highlights
        assert [(h["title"], h["station_number"]) for h in highlights] == [
            ("秋季防疫讲座", "410102001"),
            ("月末展览", "410203001"),
        ]
        assert report.build("4101", MONTH).informants == [
            (code, name, f["active_informants"], f["registered_informants"])
            for code, name, f in city.children
        ]


def test_a_station_without_an_audit_trail_counts_as_it_is_now(app, world):
    with app.app_context():
        common = {"facility_type": "学校", "region_code": "410102", "address": "某路", "manager_name": "李四",
                  "manager_phone": "13900139001", "state": "recognised"}  # fmt: skip
        old = Station(name="旧e站", number="410102009", created_at=at(2026, 7, 1), **common)
        new = Station(name="新e站", number="410102010", **common)
        db.session.add_all([old, new])
        db.session.commit()
        totals = report.build("410102", MONTH).totals
        assert (
            totals["recognised_total"] == EXPECTED["410102"]["recognised_total"] + 1
        )  # not the one made today
        assert totals["inactive_stations"] == EXPECTED["410102"]["inactive_stations"] + 1


def test_september_is_its_own_month(app, world):
    with app.app_context():
        september = report.build("41", "2026-09").totals
        assert september["downloads"] == 1 and september["views"] == 1
        assert september["recognised_in_month"] == 2  # A and E; C was imported in August
        assert september["recognised_total"] == 3  # A, C, E
        assert september["active_stations"] == 2  # A downloaded, E's informant viewed at 23:59 on 30 Sep
        assert report.build("410203", "2026-09").totals["views"] == 1  # e1's view fell on 1 Oct in Beijing
        assert september["highlights"] == 1


def test_xlsx_reads_back_with_numbers_as_numbers(app, world, runner, tmp_path):
    out = tmp_path / "r.xlsx"
    result = runner.invoke(args=["stats", "monthly-report", "--month", MONTH, "--region", "410000",
                                 "--format", "xlsx", "--output", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    book = load_workbook(io.BytesIO(out.read_bytes()))
    assert book.sheetnames == [
        "汇总",
        "下级汇总（市）",
        "资源类型",
        "资源排行",
        "e站明细",
        "信息员",
        "亮点活动",
    ]
    summary = {row[0]: row[1] for row in book["汇总"].iter_rows(min_row=2, values_only=True)}
    assert summary["月份"] == MONTH
    assert summary["下载量"] == 5 and isinstance(summary["下载量"], int)
    assert summary["传播量"] == 3 and summary["累计认定e站（月末）"] == 3 and summary["活跃e站"] == 2
    children = book["下级汇总（市）"]
    assert children.freeze_panes == "A2"
    header = [cell.value for cell in children[1]]
    rows = list(children.iter_rows(min_row=2, values_only=True))
    column = header.index("下载量")
    assert rows[-1][0] == "合计" and rows[-1][column] == sum(r[column] for r in rows[:-1]) == 5
    stations = list(book["e站明细"].iter_rows(values_only=True))
    assert stations[0][0] == "e站编号"
    assert ("410102001", "中原区甲e站", "中原区", "已认定", 3, 1, 3, 2) in stations
    assert book["e站明细"].column_dimensions["B"].width == 36
    highlights = list(book["亮点活动"].iter_rows(min_row=2, values_only=True))
    assert [h[5] for h in highlights] == ["秋季防疫讲座", "月末展览"]


def test_csv_has_a_bom_and_the_station_table(app, world, runner, tmp_path):
    out = tmp_path / "r.csv"
    result = runner.invoke(args=["stats", "monthly-report", "--month", MONTH, "--region", "4101",
                                 "--format", "csv", "--output", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert "下载量,5" in lines
    assert "410102001,中原区甲e站,中原区,已认定,3,1,3,2" in lines
    child = next(line for line in lines if line.startswith("410103,"))
    values = child.split(",")[2:]
    assert [int(v) for v in values] == list(EXPECTED["410103"].values())


def test_bad_arguments_get_a_clear_message(app, runner):
    result = runner.invoke(args=["stats", "monthly-report", "--month", "2026-13", "--region", "41"])
    assert result.exit_code != 0 and "月份" in result.output
    result = runner.invoke(args=["stats", "monthly-report", "--month", MONTH, "--region", "99"])
    assert result.exit_code != 0 and "地区不存在" in result.output
    with app.app_context():
        assert report.parse_region("410100") == "4101" and report.parse_region("4101") == "4101"


def test_a_rebuild_of_the_roll_ups_gives_the_same_report(app, world, runner):
    with app.app_context():
        before = report.to_csv(report.build("41", MONTH)), report.summary(report.build("41", MONTH))
    result = runner.invoke(args=["stats", "rebuild", "--from", "2026-09-01", "--to", "2026-11-30"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert (report.to_csv(report.build("41", MONTH)), report.summary(report.build("41", MONTH))) == before
        ids = db.session.scalars(select(Station.id)).all()
        assert len(ids) == 7


def staff(app, auth, phone, region):
    from cloud.stations.models import StaffAssignment

    user_id = auth.create(Role.STAFF, phone=phone)
    with app.app_context():
        db.session.add(StaffAssignment(user_id=user_id, region_code=region))
        db.session.commit()
    return auth.token(phone)


def test_the_periodic_task_runs_on_the_first_of_the_month():
    from cloud.stats import tasks

    task = tasks.monthly_reports_periodically.task_class()
    assert task.validate_datetime(datetime(2026, 11, 1, 1, 10))
    assert not task.validate_datetime(datetime(2026, 11, 2, 1, 10))
    assert not task.validate_datetime(datetime(2026, 11, 1, 2, 10))


def test_the_periodic_task_twice_leaves_one_report_per_region_and_month(app, world, auth, monkeypatch):
    from cloud.messages.models import Message
    from cloud.stats import reports, tasks
    from cloud.stats.models import MonthlyReport

    staff(app, auth, "13200000001", "4101")
    monkeypatch.setattr(tasks, "today", lambda: date(2026, 11, 1))
    with app.app_context():
        assert tasks.make_last_months_reports() == ["41", "43", "4101", "4102", "4301"]
        assert tasks.make_last_months_reports() == []
        kept = reports.find("4101", MONTH)
        # A second worker that looked before the first one's row was there: the UNIQUE
        # constraint refuses its row, and it answers with the first one's.
        real_find, looks = reports.find, []

        def find_late(*args):
            looks.append(args)
            return None if len(looks) == 1 else real_find(*args)

        monkeypatch.setattr(reports, "find", find_late)
        row, created = reports.generate("4101", MONTH)
        assert (row.id, created, len(looks)) == (kept.id, False, 2)
        monkeypatch.undo()
        db.session.commit()
        # The loser's file is left to the storage sweep; every kept report's file is not.
        from datetime import timedelta

        from cloud.files.models import StoredFile
        from cloud.files.service import unreferenced_files

        swept = unreferenced_files(timedelta(seconds=-60))
        assert len(swept) == 1
        kept_files = set(db.session.scalars(select(MonthlyReport.stored_file_id)))
        assert len(kept_files) == 5 and not kept_files & set(swept)
        assert db.session.scalar(select(func.count(StoredFile.id))) == 6
        rows = db.session.execute(select(MonthlyReport.region_code, MonthlyReport.month)).all()
        assert sorted(rows) == sorted((code, MONTH) for code in ("41", "43", "4101", "4102", "4301"))
        assert db.session.scalar(select(func.count(Message.id)).where(Message.title.contains(MONTH))) == 1


def test_reports_and_figures_through_the_api_stay_in_scope(app, client, world, auth):
    from cloud.stats import reports

    county = staff(app, auth, "13200000002", "410102")
    other = staff(app, auth, "13200000003", "410103")
    with app.app_context():
        own, _ = reports.generate("410102", MONTH)
        theirs, _ = reports.generate("410103", MONTH, "csv")
        db.session.commit()
        own_id, theirs_id = own.id, theirs.id
    listed = client.get("/api/v1/reports", headers=county).get_json()["items"]
    assert [item["id"] for item in listed] == [own_id]
    response = client.get(f"/api/v1/reports/{own_id}/file", headers=county)
    assert response.status_code == 200
    assert (
        load_workbook(io.BytesIO(response.data))["汇总"]["B5"].value
        == EXPECTED["410102"]["recognised_in_month"]
    )
    assert client.get(f"/api/v1/reports/{theirs_id}/file", headers=county).status_code == 404
    assert client.get(f"/api/v1/reports/{theirs_id}/file", headers=other).data.startswith(b"\xef\xbb\xbf")
    assert client.get("/api/v1/reports?region=410103", headers=county).status_code == 404
    summary = client.get(f"/api/v1/stats/summary?region=410102&month={MONTH}", headers=county)
    assert summary.status_code == 200 and summary.get_json()["totals"] == EXPECTED["410102"]
    assert client.get(f"/api/v1/stats/summary?region=4101&month={MONTH}", headers=county).status_code == 404
    assert client.get(f"/api/v1/stats/summary?region=410103&month={MONTH}", headers=county).status_code == 404
    assert client.get("/api/v1/stats/summary?region=410102&month=10", headers=county).status_code == 422


def login_staff(app, auth, phone, region):
    staff(app, auth, phone, region)
    assert auth.login(phone).status_code == 302


def test_a_countys_staff_cannot_read_another_countys_report_on_the_pages(app, client, world, auth):
    from cloud.stats import reports

    with app.app_context():
        own, _ = reports.generate("410102", MONTH)
        theirs, _ = reports.generate("410103", MONTH)
        city, _ = reports.generate("4101", MONTH)
        db.session.commit()
        own_id, theirs_id, city_id = own.id, theirs.id, city.id
    login_staff(app, auth, "13200000004", "410102")
    page = client.get("/stats/reports")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="nav-reports"' in client.get("/stations").get_data(as_text=True)
    assert f'data-testid="report-{own_id}"' in html
    assert f'data-testid="report-{theirs_id}"' not in html and f'data-testid="report-{city_id}"' not in html
    assert "<script>" not in html and "style=" not in html
    assert client.get(f"/stats/reports/{own_id}/file").status_code == 200
    assert client.get(f"/stats/reports/{theirs_id}/file").status_code == 404
    assert client.get(f"/stats/reports/{city_id}/file").status_code == 404
    token = csrf_token(client, "/stats/reports")
    response = client.post(
        "/stats/reports/generate", data={"csrf_token": token, "month": MONTH, "region": "410103"}
    )
    assert response.status_code == 302
    assert "地区不存在" in client.get("/stats/reports").get_data(as_text=True)
    with app.app_context():
        assert reports.find("410103", MONTH).id == theirs_id  # nothing new was made for them


def test_nobody_but_staff_sees_the_reports_page(app, client, world, auth):
    assert auth.login("13100000001", "secret123").status_code == 302  # a station login
    assert client.get("/stats/reports").status_code == 404


def test_the_city_generates_and_submits_and_the_province_sees_it(app, client, world, auth, monkeypatch):
    from cloud.stations import service as stations_service
    from cloud.stats.models import MonthlyReport

    login_staff(app, auth, "13200000005", "4101")
    token = csrf_token(client, "/stats/reports")
    response = client.post(
        "/stats/reports/generate", data={"csrf_token": token, "month": MONTH, "format": "csv"}
    )
    assert response.status_code == 302
    html = client.get("/stats/reports").get_data(as_text=True)
    assert "报送省科协" in html and "秋季防疫讲座" in html and "月末展览" not in html  # 月末展览 is 4102's
    with app.app_context():
        row = db.session.scalar(select(MonthlyReport).where(MonthlyReport.region_code == "4101"))
        row_id = row.id
        highlight = db.session.scalar(
            select(StationActivity.id).where(StationActivity.title == "秋季防疫讲座")
        )
        foreign = db.session.scalar(select(StationActivity.id).where(StationActivity.title == "月末展览"))
    client.post(
        f"/stats/reports/{row_id}/submit", data={"csrf_token": token, "highlight_ids": [str(foreign)]}
    )
    with app.app_context():
        assert db.session.get(MonthlyReport, row_id).submitted_at is None
    client.post(
        f"/stats/reports/{row_id}/submit",
        data={"csrf_token": token, "note": "本月情况良好", "highlight_ids": [str(highlight)]},
    )
    with app.app_context():
        row = db.session.get(MonthlyReport, row_id)
        assert row.submitted_at is not None and row.submission_note == "本月情况良好"
        assert row.highlight_ids == str(highlight)
    response = client.post(f"/stats/reports/{row_id}/submit", data={"csrf_token": token})
    assert "已报送" in client.get(response.headers["Location"]).get_data(as_text=True)

    monkeypatch.setattr(stations_service, "today", lambda: date(2026, 11, 3))
    auth.logout()
    login_staff(app, auth, "13200000006", "41")
    html = client.get(f"/stats/reports?month={MONTH}").get_data(as_text=True)
    row_4101 = html.split('data-testid="status-4101"')[1].split("</tr>")[0]
    row_4102 = html.split('data-testid="status-4102"')[1].split("</tr>")[0]
    assert "已报送" in row_4101 and "本月情况良好" in row_4101
    assert "未报送" in row_4102 and "逾期" not in row_4102
    monkeypatch.setattr(stations_service, "today", lambda: date(2026, 11, 4))
    html = client.get(f"/stats/reports?month={MONTH}").get_data(as_text=True)
    assert "逾期未报送" in html.split('data-testid="status-4102"')[1].split("</tr>")[0]
    assert "已报送" in html.split('data-testid="status-4101"')[1].split("</tr>")[0]


def test_the_current_month_is_a_download_of_the_figures_so_far_never_a_kept_report(
    app, client, world, auth, monkeypatch
):
    """A report kept in the middle of its month would go stale and stop the 1st's from being
    made: this month's figures download as 截至今日 and nothing is kept; a future month is refused."""
    from cloud.stations import service as stations_service
    from cloud.stats.models import MonthlyReport

    monkeypatch.setattr(stations_service, "today", lambda: date(2026, 10, 20))
    login_staff(app, auth, "13200000005", "4101")
    token = csrf_token(client, "/stats/reports")
    response = client.post("/stats/reports/generate", data={"csrf_token": token, "month": MONTH})
    assert response.status_code == 200
    assert "截至10月20日" in unquote(response.headers["Content-Disposition"])
    sheets = load_workbook(io.BytesIO(response.data))
    assert "汇总" in sheets.sheetnames
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MonthlyReport)) == 0
        with pytest.raises(ValidationFailed, match="尚未结束"):
            reports.generate("4101", MONTH)
    response = client.post("/stats/reports/generate", data={"csrf_token": token, "month": "2026-11"})
    assert response.status_code == 302
    assert "尚未开始" in client.get(response.headers["Location"]).get_data(as_text=True)

    monkeypatch.setattr(stations_service, "today", lambda: date(2026, 11, 1))
    response = client.post("/stats/reports/generate", data={"csrf_token": token, "month": MONTH})
    assert response.status_code == 302  # October is over: kept
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MonthlyReport)) == 1
