"""The e站 registry through its services and pages: application, county 审核 with an on-site check,
city 复核 and 认定, rectification and revocation, numbers, messages, audit rows, bad input."""

import io
import os
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from cloud.accounts.models import User
from cloud.errors import Conflict, DomainError, PermissionDenied, ValidationFailed
from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.messages.models import Message
from cloud.stations import scope, service
from cloud.stations.models import FieldCheck, Station, StationEvent, StationPhoto
from cloud.stations.service import today
from cloud.stations.states import State
from cloud.stations.workflow import IllegalTransition
from tests.conftest import PASSWORD, TESTDATA, csrf_token, post_multipart
from tests.support.stations import application, make_staff_tree, manager

CHECK = {"checked_on": today().isoformat(), "checkers": "张三、李四", "notes": "场所、终端与申报一致"}


@pytest.fixture
def tree(ctx):
    return make_staff_tree()


def user(user_id):
    return db.session.get(User, user_id)


def counts():
    return {
        "stations": db.session.scalar(select(func.count()).select_from(Station)),
        "photos": db.session.scalar(select(func.count()).select_from(StationPhoto)),
        "files": db.session.scalar(select(func.count()).select_from(StoredFile)),
        "events": db.session.scalar(select(func.count()).select_from(StationEvent)),
    }


def objects(app):
    root = app.config["KEPU_STORAGE_DIR"]
    return sorted(os.path.join(d, f) for d, _s, files in os.walk(root) for f in files)


def recognise(tree, station):
    db.session.commit()
    county, city = user(tree["zhongyuan"]), user(tree["zhengzhou"])
    after = service.decide(county, station, service.Decision("county_approve", field_check=CHECK))
    after += service.decide(city, station, service.Decision("city_recognise", reason="材料齐全"))
    db.session.commit()
    for callback in after:
        callback()
    return station


def test_the_workflow_of_article_eight(app, tree, outbox):
    applicant = manager()
    station, _after = service.apply(applicant, application())
    db.session.commit()
    assert station.state == State.APPLIED and station.number is None and not station.is_recognised
    assert applicant.station_id == station.id
    # The county's staff hear of it in 我的消息.
    assert db.session.scalar(select(func.count()).where(Message.user_id == tree["zhongyuan"])) == 1

    recognise(tree, station)
    assert station.state == State.RECOGNISED and station.is_recognised
    assert station.number == "410102-0001"
    assert station.recognised_by_code == "4101"
    assert service.association_name(station.recognised_by_code) == "郑州市科协"
    check = db.session.scalars(select(FieldCheck).where(FieldCheck.station_id == station.id)).one()
    assert (check.checkers, check.notes) == ("张三、李四", "场所、终端与申报一致")

    rows = service.history(station)
    assert [(e.action, e.from_state, e.to_state) for e in rows] == [
        ("apply", None, "applied"),
        ("county_approve", "applied", "county_approved"),
        ("city_recognise", "county_approved", "recognised"),
    ]
    assert [e.actor_id for e in rows] == [applicant.id, tree["zhongyuan"], tree["zhengzhou"]]
    assert rows[2].reason == "材料齐全"
    # Each decision is a message to the manager, and an SMS.
    titles = db.session.scalars(select(Message.title).where(Message.user_id == applicant.id)).all()
    assert titles == ["e站申请已通过县级审核", "e站已被认定"]
    assert len(outbox.messages("13900139000")) == 2
    bodies = db.session.scalars(select(Message.body).where(Message.user_id == applicant.id)).all()
    assert "410102-0001" in bodies[1]


def test_a_county_cannot_skip_the_city(tree):
    station, _ = service.apply(manager(), application())
    county = user(tree["zhongyuan"])
    with pytest.raises(IllegalTransition):
        service.decide(county, station, service.Decision("city_recognise"))
    service.decide(county, station, service.Decision("county_approve", field_check=CHECK))
    with pytest.raises(PermissionDenied, match="市级科协"):
        service.decide(county, station, service.Decision("city_recognise"))
    # Nor can the province, nor a city that is not the county's own.
    for name in ("henan", "kaifeng", "wuhan"):
        with pytest.raises(PermissionDenied):
            service.decide(user(tree[name]), station, service.Decision("city_recognise"))
    assert station.state == State.COUNTY_APPROVED and station.number is None


def test_county_approval_needs_an_on_site_check(tree):
    station, _ = service.apply(manager(), application())
    county = user(tree["zhongyuan"])
    for bad, message in (
        ({}, "实地核查日期"),
        ({**CHECK, "checked_on": (today() + timedelta(days=1)).isoformat()}, "不能晚于今天"),
        ({**CHECK, "checkers": " "}, "核查人员"),
        ({**CHECK, "notes": ""}, "核查情况"),
    ):
        with pytest.raises(ValidationFailed, match=message):
            service.decide(county, station, service.Decision("county_approve", field_check=bad))
    assert station.state == State.APPLIED


def test_returned_and_resubmitted_then_rejected_and_reapplied(tree):
    applicant = manager()
    station, _ = service.apply(applicant, application())
    county = user(tree["zhongyuan"])
    with pytest.raises(ValidationFailed, match="原因"):
        service.decide(county, station, service.Decision("county_return"))
    service.decide(county, station, service.Decision("county_return", reason="请补充活动场所照片"))
    assert station.state == State.RETURNED
    service.edit_and_resubmit(applicant, station, application(venue="二楼活动室 80 平方米"))
    assert (station.state, station.venue) == (State.APPLIED, "二楼活动室 80 平方米")
    service.decide(county, station, service.Decision("county_approve", field_check=CHECK))
    service.decide(user(tree["zhengzhou"]), station, service.Decision("city_return", reason="地址不详"))
    assert station.state == State.RETURNED
    service.edit_and_resubmit(applicant, station, application())
    service.decide(county, station, service.Decision("county_reject", reason="不具备场所条件"))
    assert station.state == State.REJECTED
    # A rejected station comes back only through a new application, through the county again.
    service.edit_and_resubmit(applicant, station, application())
    assert station.state == State.APPLIED
    # Another station's manager cannot touch it.
    other = manager("13900139001")
    with pytest.raises(DomainError):
        service.edit_and_resubmit(other, station, application(phone="13900139001"))


def test_rectification_keeps_counting_revocation_does_not(tree):
    station = recognise(tree, service.apply(manager(), application())[0])
    city, county = user(tree["zhengzhou"]), user(tree["zhongyuan"])
    assert service.recognised_count("4101") == 1
    with pytest.raises(ValidationFailed, match="整改期限"):
        service.decide(city, station, service.Decision("rectify", reason="活动不足", deadline=today()))
    deadline = today() + timedelta(days=30)
    service.decide(city, station, service.Decision("rectify", reason="本季度未开展活动", deadline=deadline))
    assert station.state == State.RECTIFYING and station.is_recognised
    assert (station.rectify_reason, station.rectify_deadline) == ("本季度未开展活动", deadline)
    assert service.recognised_count("4101") == 1
    service.decide(county, station, service.Decision("end_rectification"))
    assert station.state == State.RECOGNISED and station.rectify_deadline is None
    service.decide(county, station, service.Decision("revoke", reason="末位淘汰"))
    assert station.state == State.REVOKED and not station.is_recognised
    assert service.recognised_count("4101") == 0 and service.recognised_count() == 0
    with pytest.raises(IllegalTransition):
        service.decide(city, station, service.Decision("rectify", reason="x", deadline=deadline))
    # Re-applying keeps the number: it is the station's for good.
    service.edit_and_resubmit(station.manager, station, application())
    db.session.commit()
    recognise(tree, station)
    assert station.number == "410102-0001"
    assert db.session.scalar(select(func.count()).where(Message.user_id == station.manager_id)) == 7


def test_numbers_are_per_county_and_never_reused(tree):
    first = recognise(tree, service.apply(manager(), application())[0])
    second = recognise(tree, service.apply(manager("13900139001"), application(phone="13900139001"))[0])
    third, _ = service.apply(user(tree["erqi"]), application("410103", phone="13900139002", name="二七区e站"))
    db.session.commit()
    service.decide(user(tree["erqi"]), third, service.Decision("county_approve", field_check=CHECK))
    service.decide(user(tree["zhengzhou"]), third, service.Decision("city_recognise"))
    assert (first.number, second.number, third.number) == ("410102-0001", "410102-0002", "410103-0001")


def test_county_staff_enter_an_application_the_manager_then_finds(app, tree):
    county = user(tree["zhongyuan"])
    station, _ = service.apply(county, application(phone="+86 139-0013-9000"))
    db.session.commit()
    assert station.manager_id is None and station.manager_phone == "13900139000"
    assert [e.reason for e in station.events] == ["县级科协代为录入"]
    with pytest.raises(ValidationFailed, match="本县"):
        service.apply(county, application("410103", phone="13900139005"))
    applicant = manager()
    assert service.own_station(applicant) is station
    assert station.manager_id == applicant.id and applicant.station_id == station.id


def test_staff_are_created_one_level_down_inside_their_region(tree):
    province, city, county = user(tree["henan"]), user(tree["zhengzhou"]), user(tree["zhongyuan"])
    assert (scope.staff_level(province), scope.staff_level(city), scope.staff_level(county)) == (1, 2, 3)
    for actor, region in (
        (province, "410102"),  # two levels down
        (province, "4201"),  # another province's city
        (city, "410202"),  # another city's county
        (county, "410102001"),  # townships have no association here
        (user(tree["admin"]), "4101"),  # admins create province staff only
    ):
        with pytest.raises((PermissionDenied, ValidationFailed)):
            service.create_staff(actor, region, username=f"x{region}", password=PASSWORD)
    made = service.create_staff(city, "410104", username="guancheng", password=PASSWORD)
    assert scope.staff_region(made) == "410104"
    # Changing one's own profile region changes nothing about the scope.
    county.region_code = "42"
    assert scope.staff_region(county) == "410102" and not scope.covers(county, "420102")


def test_people_of_a_station(tree, auth):
    station = recognise(tree, service.apply(manager(), application())[0])
    applicant = station.manager
    login = service.add_station_account(applicant, station, username="zhongyuan-e", password=PASSWORD)
    assert login.station_id == station.id and scope.is_station_person(login, station)
    with pytest.raises(Conflict):
        service.add_station_account(applicant, station, username="zhongyuan-e", password=PASSWORD)

    csv = (
        "username,name,phone,region_code,informant_type,password\n"
        "xxy1,信息员甲,,410102001,乡镇街道,Secret123\n"
        "xxy2,信息员乙,,410103,区县级,Secret123\n"
    )
    from cloud.accounts.service import import_informants

    assert import_informants(csv.encode()).created == 2
    service.attach_informant(applicant, station, "xxy1")
    with pytest.raises(ValidationFailed, match="本县"):
        service.attach_informant(applicant, station, "xxy2")
    with pytest.raises(ValidationFailed, match="找不到"):
        service.attach_informant(applicant, station, "zhongyuan-e")
    with pytest.raises(PermissionDenied):
        service.attach_informant(user(tree["zhengzhou"]), station, "xxy1")
    informant = db.session.scalar(select(User).where(User.username == "xxy1"))
    assert informant.station_id == station.id and not scope.is_station_person(informant, station)
    assert {p.username for p in service.people(station)} >= {"zhongyuan-e", "xxy1"}
    service.detach_person(applicant, station, informant.id)
    assert informant.station_id is None and informant.is_active
    service.detach_person(user(tree["zhongyuan"]), station, login.id)
    assert not login.is_active


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"venue": "  "}, "venue", "有场所"),
        ({"network": ""}, "network", "有网络"),
        ({"region_code": "4101"}, "region_code", "市级地区"),
        ({"region_code": "41"}, "region_code", "省级地区"),
        ({"region_code": "410102001"}, "region_code", "乡镇街道级地区"),
        ({"region_code": "999999"}, "region_code", "请选择"),
        ({"manager_phone": "13800138000\n"}, "manager_phone", "手机号"),
        ({"manager_phone": "１３８００１３８０００"}, "manager_phone", "手机号"),
        ({"terminals": []}, "terminals", "终端"),
        ({"terminals": ["fax"]}, "terminals", "终端"),
        ({"facility_type": "网吧"}, "facility_type", "依托场所"),
        ({"name": "站"}, "name", "至少"),
        ({"address": "路" * 201}, "address", "200"),
    ],
)
def test_bad_applications_are_refused_with_the_field(tree, overrides, field, message):
    before = counts()
    with pytest.raises(ValidationFailed, match=message) as caught:
        service.apply(manager(), application(**overrides))
    assert caught.value.details["field"] == field
    db.session.rollback()
    assert counts() == before


def test_one_phone_in_two_spellings_manages_one_station(tree):
    service.apply(manager(), application())
    db.session.commit()
    with pytest.raises(Conflict, match="另一个e站"):
        service.apply(user(tree["zhongyuan"]), application(phone="+86 139-0013-9000", name="另一个站"))


def _png(size=(64, 48)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _gps_jpeg():
    image = Image.new("RGB", (80, 60), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (39.0, 54.0, 27.0)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def _post_application(app, auth, client, files):
    auth.login("13900139000")
    token = csrf_token(client, "/stations/apply")
    fields = {k: v for k, v in application().items() if k != "terminals"}
    fields.update(csrf_token=token, terminals="screen")
    fields.update(files)
    return post_multipart(client, "/stations/apply", fields)


def test_the_application_page_stores_re_encoded_photos_without_location(app, tree, auth, client):
    manager()
    response = _post_application(app, auth, client, {"photos_venue": (io.BytesIO(_gps_jpeg()), "场所.jpg")})
    assert response.status_code == 302, response.get_data(as_text=True)
    station = db.session.scalars(select(Station)).one()
    (photo,) = station.condition_photos("venue")
    page = client.get(f"/stations/{station.id}")
    assert page.status_code == 200 and "中原区林山寨社区科普中国e站" in page.get_data(as_text=True)
    served = client.get(f"/stations/{station.id}/photos/{photo.id}")
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    image = Image.open(io.BytesIO(served.data))
    assert image.format == "JPEG" and image.size == (80, 60)
    assert not image.getexif() and b"PhoneMaker" not in served.data and b"GPS" not in served.data


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        ("证明.jpg", b"%PDF-1.4 not an image at all", "无法使用"),
        ("shell.php.jpg", _png(), "无法使用"),
        ("bomb.gif", "pillow_decompression_bomb.gif", "无法使用"),
        ("huge.png", "sharp_65536-uint32-limit.png", "无法使用"),
        ("cut.png", "pillow_truncated_image.png", "无法使用"),
        ("empty.jpg", b"", "无法使用"),
    ],
)
def test_bad_photos_store_nothing(app, tree, auth, client, name, payload, message):
    """Photos that are not images, are bombs or are broken: a clear message, nothing stored."""
    manager()
    if isinstance(payload, str):
        with open(f"{TESTDATA}/images/{payload}", "rb") as fh:
            payload = fh.read()
    before, stored_before = counts(), objects(app)
    good = (io.BytesIO(_png()), "网络.png")
    response = _post_application(
        app, auth, client, {"photos_network": good, "photos_terminal": (io.BytesIO(payload), name)}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and message in html and "有终端" in html
    # The form keeps what was typed, and says the photos must be chosen again.
    assert "中原区林山寨街道建设路 1 号" in html
    assert 'data-testid="photos-dropped"' in html and "请在下面重新选择照片" in html
    db.session.expire_all()
    assert counts() == before and objects(app) == stored_before


def test_an_application_over_the_photo_size_is_refused_cleanly(app, tree, auth, client):
    manager()
    big = io.BytesIO(b"\xff\xd8\xff" + b"0" * (11 * 1024 * 1024))
    response = _post_application(app, auth, client, {"photos_staff": (big, "大.jpg")})
    assert response.status_code == 200 and "10 MB" in response.get_data(as_text=True)
    db.session.expire_all()
    assert counts()["stations"] == 0


def test_the_storage_sweep_keeps_station_photos(app, tree, auth, client):
    from datetime import timedelta as delta

    from cloud.files.service import store_file, unreferenced_files

    manager()
    assert (
        _post_application(app, auth, client, {"photos_venue": (io.BytesIO(_png()), "场所.png")}).status_code
        == 302
    )
    photo = db.session.scalars(select(StationPhoto)).one()
    stray = store_file(io.BytesIO(b"nobody keeps this"), original_name="x.bin")
    db.session.commit()
    swept = unreferenced_files(delta(seconds=-60))
    assert stray.id in swept and photo.stored_file_id not in swept


def test_typed_text_is_stored_without_invisible_characters(tree):
    fields = application(name="科普\u202e站\u200b点e站", venue="活动室\x00\u2066 60 平方米\r\n二楼")
    station, _ = service.apply(manager(), fields)
    assert station.name == "科普站点e站"
    assert station.venue == "活动室 60 平方米\n二楼"
    with pytest.raises(ValidationFailed, match="站点名称"):
        service.apply(manager("13900139001"), application(phone="13900139001", name="\u200b\u202e"))


def test_a_refused_decision_keeps_what_the_county_typed(app, tree, auth, client):
    """A decision refused (here: the on-site check's date missing) comes back with its form
    open and filled as typed, not as an empty page (issue 12: forms keep what was typed)."""
    station, _ = service.apply(manager(), application())
    db.session.commit()
    auth.login("staff410102")
    token = csrf_token(client, f"/stations/{station.id}")
    response = client.post(
        f"/stations/{station.id}/decisions/county_approve",
        data={"csrf_token": token, "checked_on": "", "checkers": "李科员、王科员", "notes": "场地与照片一致"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'value="李科员、王科员"' in html and ">场地与照片一致</textarea>" in html
    db.session.expire_all()
    assert db.session.get(Station, station.id).state == "applied"


def test_a_refused_activity_says_its_photos_must_be_chosen_again(app, tree, auth, client):
    applicant = manager()
    station, _ = service.apply(applicant, application())
    service.decide(user(tree["zhongyuan"]), station, service.Decision("county_approve", field_check=CHECK))
    service.decide(user(tree["zhengzhou"]), station, service.Decision("city_recognise"))
    db.session.commit()
    auth.login("13900139000")
    token = csrf_token(client, f"/stations/{station.id}/activities")
    response = post_multipart(
        client,
        f"/stations/{station.id}/activities",
        {
            "csrf_token": token,
            "title": "科普日活动",
            "kind": "全国科普日",
            "place": "活动室",
            "photos": (io.BytesIO(_png()), "活动.png"),
        },
    )  # no date: refused
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'value="科普日活动"' in html and 'data-testid="photos-dropped"' in html
