"""Files about stations: ``flask stations import`` (CSV in UTF-8 or GBK, XLSX), the plaque PDF, the
station list export (which never lets a cell run as a formula)."""

import io
from datetime import date

import pytest
from openpyxl import Workbook, load_workbook
from pypdf import PdfReader
from sqlalchemy import func, select

from cloud.extensions import db
from cloud.media.plaque import PlaqueText, render_plaque
from cloud.stations import service
from cloud.stations.importer import import_stations
from cloud.stations.models import Station, StationEvent
from cloud.stations.service import today
from cloud.stations.states import State
from tests.conftest import PASSWORD
from tests.support.stations import application, make_staff_tree, manager

HEADER = "站点编号,站点名称,依托场所类型,区县代码,详细地址,管理员姓名,管理员手机,终端设备,认定日期"
ROWS = [
    "410102-0007,林山寨社区e站,社区综合性文化服务中心,410102,建设路1号,王一,13900000001,电子屏、电视,2024-05-01",
    ",二七区实验小学e站,学校,410103,大学路2号,李二,+86 139-0000-0002,台式电脑,2025/03/15",
    ",中原区中心医院e站,医院,410102,中原路3号,张三,13900000003,,",
]
BAD = [
    ",缺少区县e站,学校,,路1号,赵四,13900000004,,",  # no county
    ",市级代码e站,学校,4101,路1号,赵五,13900000005,,",  # a city, not a county
    ",坏手机e站,学校,410102,路1号,赵六,1390000000,,",  # 10 digits
    ",坏终端e站,学校,410102,路1号,赵七,13900000007,传真机,",
    ",将来e站,学校,410102,路1号,赵八,13900000008,,2999-01-01",
    "410102-0007,重复编号,学校,410102,路1号,赵九,13900000009,,",  # same number as line 2
    ",手机重复e站,学校,410102,路9号,另一人,139-0000-0001,,",  # line 2's manager, other spelling
]


def csv_bytes(rows, encoding="utf-8"):
    return ("\n".join([HEADER, *rows]) + "\n").encode(encoding)


def test_import_is_idempotent_and_reports_bad_rows_by_line(ctx):
    report = import_stations(csv_bytes(ROWS + BAD), "e站.csv")
    db.session.commit()
    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    lines = dict(report.errors)
    assert sorted(lines) == [5, 6, 7, 8, 9, 10, 11]
    assert "区县" in lines[5] and "市级" in lines[6] and "手机号" in lines[7]
    assert (
        "传真机" in lines[8] and "晚于今天" in lines[9] and "重复" in lines[10] and "另一个e站" in lines[11]
    )
    stations = {s.name: s for s in db.session.scalars(select(Station))}
    assert set(stations) == {"林山寨社区e站", "二七区实验小学e站", "中原区中心医院e站"}
    assert all(s.state == State.RECOGNISED and s.is_recognised for s in stations.values())
    # Numbers given are kept; missing ones are assigned and skip any number already taken.
    assert stations["林山寨社区e站"].number == "410102-0007"
    assert stations["二七区实验小学e站"].number == "410103-0001"
    assert stations["中原区中心医院e站"].number == "410102-0001"
    assert stations["二七区实验小学e站"].manager_phone == "13900000002"
    assert stations["林山寨社区e站"].terminal_list == ["screen", "tv"]
    assert stations["林山寨社区e站"].recognised_at.date() == date(2024, 5, 1)

    again = import_stations(csv_bytes(ROWS), "e站.csv")
    db.session.commit()
    assert (again.created, again.updated, again.unchanged, again.errors) == (0, 0, 3, [])
    assert db.session.scalar(select(func.count()).select_from(Station)) == 3
    assert db.session.scalar(select(func.count()).select_from(StationEvent)) == 3

    changed = [ROWS[0], ROWS[1].replace("大学路2号", "大学路22号")]
    third = import_stations(csv_bytes(changed), "e站.csv")
    assert (third.created, third.updated, third.unchanged) == (0, 1, 1)
    db.session.commit()
    assert stations["二七区实验小学e站"].address == "大学路22号"


def test_import_reads_gbk_csv_and_xlsx(ctx):
    assert import_stations(csv_bytes(ROWS, "gbk"), "e站.csv").created == 3
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER.split(","))
    sheet.append(
        ["", "龙亭区e站", "学校", 410202, "龙亭路1号", "钱一", 13900000011, "手机", date(2025, 1, 2)]
    )
    sheet.append([None, "", None, "", "", "", "", "", ""])  # an empty row is skipped
    sheet.append(["", "坏行", "学校", "410202", "", "钱二", "13900000012", "", ""])
    buffer = io.BytesIO()
    workbook.save(buffer)
    report = import_stations(buffer.getvalue(), "名单.xlsx")
    assert report.created == 1 and [line for line, _m in report.errors] == [4]
    station = db.session.scalar(select(Station).where(Station.name == "龙亭区e站"))
    assert (station.region_code, station.manager_phone, station.number) == (
        "410202",
        "13900000011",
        "410202-0001",
    )


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "x.csv", "空"),
        (b"\x81\x30\xff\xfe\xfd" * 10, "x.csv", "编码"),
        (b"PK\x03\x04garbage", "x.xlsx", "XLSX"),
        ("名称,地址\n甲,乙\n".encode(), "x.csv", "表头缺少列"),
    ],
)
def test_unreadable_files_are_one_clear_error(ctx, data, name, message):
    report = import_stations(data, name)
    assert report.created == 0 and len(report.errors) == 1
    assert report.errors[0][0] == 1 and message in report.errors[0][1]


def test_the_import_command(app, runner, tmp_path):
    path = tmp_path / "e站.csv"
    path.write_bytes(csv_bytes(ROWS + BAD[:1]))
    result = runner.invoke(args=["stations", "import", str(path)])
    assert result.exit_code == 1
    assert "3 created" in result.output and "第 5 行" in result.output
    result = runner.invoke(args=["stations", "import", str(path)])
    assert "0 created, 0 updated, 3 unchanged" in result.output


def test_the_add_staff_command(app, runner):
    assert runner.invoke(args=["stations", "add-staff", "--region", "41", "--phone", "13700000099",
                               "--password", PASSWORD]).exit_code == 1  # fmt: skip
    runner.invoke(
        args=["users", "create", "--role", "admin", "--phone", "13700000001", "--password", PASSWORD]
    )
    result = runner.invoke(
        args=["stations", "add-staff", "--region", "4101", "--phone", "13700000099", "--password", PASSWORD]
    )
    assert result.exit_code == 0, result.output
    assert "郑州市科协" in result.output


def test_the_plaque_is_a_real_size_pdf_with_the_text(ctx):
    name = "中原区林山寨社区科普中国e站 <b>&amp;</b>"
    pdf = render_plaque(PlaqueText(name, "410102-0001", "郑州市科学技术协会", "2026年11月30日"))
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert round(float(box.width) / 72 * 25.4) == 600 and round(float(box.height) / 72 * 25.4) == 400
    text = reader.pages[0].extract_text()
    for expected in ("科普中国e站", name, "410102-0001", "郑州市科学技术协会", "2026年11月30日"):
        assert expected in text
    fonts = reader.pages[0]["/Resources"]["/Font"]
    embedded = [
        f.get_object()["/FontDescriptor"] for f in fonts.values() if "/FontDescriptor" in f.get_object()
    ]
    descendants = [
        d.get_object()["/FontDescriptor"]
        for f in fonts.values()
        for d in f.get_object().get("/DescendantFonts", [])
    ]
    assert any(d is not None and "/FontFile2" in d for d in embedded + descendants)


def test_the_station_page_hands_out_the_plaque(app, client, auth, ctx):
    people = make_staff_tree()
    station, _ = service.apply(manager(), application())
    from cloud.accounts.models import User

    county, city = db.session.get(User, people["zhongyuan"]), db.session.get(User, people["zhengzhou"])
    check = {"checked_on": today().isoformat(), "checkers": "甲", "notes": "乙"}
    db.session.commit()
    auth.login("13900139000")
    assert client.get(f"/stations/{station.id}/plaque.pdf").status_code == 404  # not recognised yet
    service.decide(county, station, service.Decision("county_approve", field_check=check))
    service.decide(city, station, service.Decision("city_recognise"))
    db.session.commit()
    response = client.get(f"/stations/{station.id}/plaque.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    text = PdfReader(io.BytesIO(response.data)).pages[0].extract_text()
    assert "410102-0001" in text and "郑州市科协" in text and station.name in text


def test_the_export_never_runs_a_formula(app, client, auth, ctx):
    people = make_staff_tree()
    from cloud.accounts.models import User

    service.apply(
        db.session.get(User, people["zhongyuan"]), application(name='=HYPERLINK("http://x","点我")')
    )
    db.session.commit()
    auth.login("staff410102", PASSWORD)
    csv = client.get("/stations/export.csv")
    assert csv.data.startswith(b"\xef\xbb\xbf")
    assert "'=HYPERLINK" in csv.data.decode("utf-8-sig")
    sheet = load_workbook(io.BytesIO(client.get("/stations/export.xlsx").data)).active
    assert sheet.freeze_panes == "A2"
    names = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert names == ['\'=HYPERLINK("http://x","点我")']
    assert sheet.cell(row=2, column=2).data_type == "s"
