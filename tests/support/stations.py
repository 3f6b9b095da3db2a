"""Test helpers for the e站 registry: a small region tree of staff, and application fields."""

from cloud.accounts import service as accounts
from cloud.accounts.models import Role
from cloud.extensions import db
from cloud.stations import service
from tests.conftest import PASSWORD

# 河南 41 → 郑州 4101 (中原区 410102, 二七区 410103), 开封 4102 (龙亭区 410202);
# 湖北 42 → 武汉 4201 (江岸区 420102)
REGIONS = {
    "henan": "41",
    "zhengzhou": "4101",
    "zhongyuan": "410102",
    "erqi": "410103",
    "kaifeng": "4102",
    "longting": "410202",
    "hubei": "42",
    "wuhan": "4201",
    "jiangan": "420102",
}


def application(region_code="410102", phone="13900139000", **overrides):
    fields = {
        "name": "中原区林山寨社区科普中国e站",
        "facility_type": "社区综合性文化服务中心",
        "region_code": region_code,
        "address": "中原区林山寨街道建设路 1 号",
        "manager_name": "王站长",
        "manager_phone": phone,
        "network": "光纤宽带 100M，无线网络全覆盖",
        "staff": "专职管理员 1 名，信息员 5 名",
        "venue": "一楼科普活动室 60 平方米",
        "activity": "每月一次科普讲座",
        "terminal": "电子屏 1 块、电脑 2 台",
        "terminals": ["screen", "desktop"],
    }
    fields.update(overrides)
    return fields


def make_staff_tree():
    """Admin → province → city → county staff for every region in REGIONS; returns {name: user id}."""
    admin = accounts.create_user(Role.ADMIN, username="admin1", phone="13700000000", password=PASSWORD)
    ids = {"admin": admin.id}
    made = {}
    for number, (name, code) in enumerate(REGIONS.items(), start=1):
        parent = {2: None, 4: code[:2], 6: code[:4]}[len(code)]
        actor = admin if parent is None else made[parent]
        user = service.create_staff(
            actor, code, username=f"staff{code}", phone=f"137000000{number:02d}", password=PASSWORD, name=name
        )
        made[code] = user
        ids[name] = user.id
    db.session.commit()
    return ids


def manager(phone="13900139000"):
    user = accounts.create_user(Role.STATION_MANAGER, phone=phone, password=PASSWORD)
    db.session.commit()
    return user
