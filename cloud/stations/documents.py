"""Files made about stations: the plaque PDF and the station list as CSV/XLSX."""

from flask import Response, current_app

from cloud.media.plaque import PlaqueText, render_plaque
from cloud.media.spreadsheet import write_csv, write_xlsx
from cloud.regions.service import full_name
from cloud.stations.service import BEIJING, association_name
from storage import content_disposition

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PLAQUE_SIZE_MM = (600, 400)

COLUMNS = (
    ("站点编号", 18),
    ("站点名称", 30),
    ("状态", 10),
    ("依托场所类型", 22),
    ("区县代码", 10),
    ("所在地区", 24),
    ("详细地址", 36),
    ("管理员姓名", 12),
    ("管理员手机", 14),
    ("终端设备", 24),
    ("认定日期", 12),
)


def plaque_pdf(station):
    """The recognised station's sign at its real size (600×400 mm)."""
    day = station.recognised_at.astimezone(BEIJING) if station.recognised_at else None
    text = PlaqueText(
        station_name=station.name,
        station_number=station.number or "",
        association=association_name(station.recognised_by_code) or "科学技术协会",
        recognised_on=f"{day.year}年{day.month}月{day.day}日" if day else "",
    )
    width, height = PLAQUE_SIZE_MM
    font = current_app.config["KEPU_PLAQUE_FONT"]
    return render_plaque(text, width_mm=width, height_mm=height, font_path=font)


def station_rows(stations):
    names = {}
    for s in stations:
        if s.region_code not in names:
            names[s.region_code] = full_name(s.region_code)
        yield (
            s.number or "",
            s.name,
            s.state_label,
            s.facility_type,
            s.region_code,
            names[s.region_code],
            s.address,
            s.manager_name,
            s.manager_phone,
            s.terminal_labels,
            s.recognised_at.astimezone(BEIJING).date().isoformat() if s.recognised_at else "",
        )


def station_table(stations, fmt):
    header = [name for name, _width in COLUMNS]
    if fmt == "csv":
        return write_csv(header, station_rows(stations))
    return write_xlsx([("科普中国e站", header, station_rows(stations), [w for _n, w in COLUMNS])])


def attachment(data, filename, mimetype):
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["Cache-Control"] = "private, no-store"
    return response
