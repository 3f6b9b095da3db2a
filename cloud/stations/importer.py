"""``flask stations import``: stations recognised before the cloud existed, loaded in bulk.

A row is matched by its 站点编号 when it has one, else by county + name, so importing the same file
again changes nothing. Each row is checked completely and written inside its own savepoint: a bad
row is reported with its line number (as Excel shows it) and leaves no trace; good rows still load.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select

from cloud.errors import DomainError, ValidationFailed
from cloud.extensions import db
from cloud.media.spreadsheet import TableUnreadable, read_table
from cloud.models_base import utcnow
from cloud.stations import service
from cloud.stations.models import CONDITIONS, TERMINALS, Station, StationEvent
from cloud.stations.states import State

#: Column headers (as a county office writes them) -> field.
COLUMNS = {
    "站点编号": "number",
    "站点名称": "name",
    "依托场所类型": "facility_type",
    "区县代码": "region_code",
    "详细地址": "address",
    "管理员姓名": "manager_name",
    "管理员手机": "manager_phone",
    "终端设备": "terminals",
    "认定日期": "recognised_on",
    **{label: key for key, (label, _hint) in CONDITIONS.items()},
}
REQUIRED = ("站点名称", "依托场所类型", "区县代码", "详细地址", "管理员姓名", "管理员手机")
NUMBER = re.compile(r"[0-9A-Za-z-]{1,16}")
TERMINAL_BY_LABEL = {label: key for key, label in TERMINALS.items()}
IMPORTED = "（批量导入，未填写）"


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list = field(default_factory=list)  # (line, message)


def import_stations(data, filename):
    """Load stations from CSV (UTF-8 or GBK) or XLSX bytes. Returns an ImportReport; never raises
    for bad content (a file that cannot be read is one error on line 1)."""
    report = ImportReport()
    try:
        header, rows = read_table(data, filename)
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            report.errors.append((1, "表头缺少列：" + "、".join(missing)))
            return report
        seen = set()
        for row in rows:
            try:
                with db.session.begin_nested():
                    outcome = _import_row(row.values, seen)
            except DomainError as exc:
                report.errors.append((row.line, exc.message))
                continue
            setattr(report, outcome, getattr(report, outcome) + 1)
    except TableUnreadable as exc:
        report.errors.append((1, exc.message))
    return report


def _terminals(text):
    keys = []
    for part in re.split(r"[、,，;；/\s]+", text or ""):
        if not part:
            continue
        key = TERMINAL_BY_LABEL.get(part, part if part in TERMINALS else None)
        if key is None:
            raise ValidationFailed(f"终端设备无效：{part}（可填：{'、'.join(TERMINALS.values())}）")
        keys.append(key)
    return keys or ["phone"]


def _recognised_on(text):
    if not text:
        return utcnow()
    try:
        day = date.fromisoformat(text.replace("/", "-").replace(".", "-")[:10])
    except ValueError:
        raise ValidationFailed(f"认定日期无效：{text}（格式如 2025-06-30）") from None
    if day > service.today():
        raise ValidationFailed(f"认定日期不能晚于今天：{text}")
    return datetime(day.year, day.month, day.day, tzinfo=utcnow().tzinfo)


def _import_row(raw, seen):
    values = {COLUMNS[k]: v for k, v in raw.items() if k in COLUMNS}
    for key in CONDITIONS:
        values[key] = values.get(key) or IMPORTED
    values["terminals"] = _terminals(values.get("terminals"))
    cleaned = service.clean_application(values)
    number = (values.get("number") or "").strip()
    if number and not NUMBER.fullmatch(number):
        raise ValidationFailed(f"站点编号无效：{number}（只能含字母、数字和短横线，最多 16 位）")
    key = number or (cleaned["region_code"], cleaned["name"])
    if key in seen:
        raise ValidationFailed("与文件中前面的行重复")
    seen.add(key)
    if number:
        station = db.session.scalar(select(Station).where(Station.number == number))
    else:
        station = db.session.scalar(
            select(Station).where(
                Station.region_code == cleaned["region_code"], Station.name == cleaned["name"]
            )
        )
    if station is not None:
        changed = {k: v for k, v in cleaned.items() if getattr(station, k) != v and v != IMPORTED}
        if changed:
            service.check_manager_phone(cleaned["manager_phone"], station)
            for k, v in changed.items():
                setattr(station, k, v)
            station.updated_at = utcnow()
            db.session.flush()
        return "updated" if changed else "unchanged"
    service.check_manager_phone(cleaned["manager_phone"])
    recognised_at = _recognised_on(values.get("recognised_on"))
    station = Station(
        state=State.RECOGNISED, recognised_at=recognised_at, submitted_at=recognised_at, **cleaned
    )
    station.recognised_by_code = cleaned["region_code"][:4]
    db.session.add(station)
    db.session.flush()
    station.number = number or service.next_number(station.region_code)
    db.session.add(
        StationEvent(
            station=station,
            action="import",
            from_state=None,
            to_state=State.RECOGNISED,
            reason="批量导入已认定的e站",
        )
    )
    db.session.flush()
    return "created"
