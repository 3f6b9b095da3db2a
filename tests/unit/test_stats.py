"""Usage events and their daily roll-ups (issue 10, item 1): downloads, detail-page views and
share visits are recorded with the user's station and region at the time; counted events are
rolled up per Beijing day in the same transaction; ``flask stats rebuild`` gives the same numbers."""

import io
import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update

from cloud.accounts.models import Role, User, UserRole
from cloud.catalog.models import DownloadEvent
from cloud.extensions import db
from cloud.models_base import utcnow
from cloud.resources.models import Resource
from cloud.stations.models import Station
from cloud.stats import service
from cloud.stats.models import NO_STATION, EventKind, UsageDaily, UsageEvent, UserUsageDaily
from tests.conftest import TESTDATA, post_multipart

OWNER, REVIEWER, STATION, INFORMANT, LONER = (
    "13800138000",
    "13700137000",
    "13600136000",
    "13500135000",
    "13400134000",
)
FLOWER = f"{TESTDATA}/images/pillow_flower.jpg"
COUNTY, OTHER_COUNTY = "410102", "410103"


def make_station(name, region_code, state="recognised"):
    """A station row in ``state`` (the workflow is tested elsewhere; here only its state matters)."""
    station = Station(
        name=name,
        facility_type="学校",
        region_code=region_code,
        address="某路 1 号",
        manager_name="张三",
        manager_phone="13900139000",
        state=state,
    )
    db.session.add(station)
    db.session.flush()
    return station


@pytest.fixture
def people(app, auth):
    """The uploader, a reviewer, a station login and an informant of a recognised station in
    410102 (the user's own region is elsewhere, 430102), and an informant of no station."""
    auth.create_uploader(phone=OWNER)
    reviewer_id = auth.create(Role.STATION, phone=REVIEWER)
    station_user = auth.create(Role.STATION, phone=STATION, region_code="430102")
    informant = auth.create(Role.INFORMANT, phone=INFORMANT, region_code="430102")
    auth.create(Role.INFORMANT, phone=LONER, region_code="430103")
    with app.app_context():
        db.session.add(UserRole(user_id=reviewer_id, role=Role.REVIEWER))
        station = make_station("中原区某小学科普e站", COUNTY)
        for user_id in (station_user, informant):
            db.session.get(User, user_id).station_id = station.id
        db.session.commit()
        station_id = station.id
    tokens = {p: auth.token(p) for p in (OWNER, REVIEWER, STATION, INFORMANT, LONER)}
    return {"tokens": tokens, "station_id": station_id}


def upload_image(client, headers, title):
    with open(FLOWER, "rb") as fh:
        data = {"kind": "image", "title": title, "file": (io.BytesIO(fh.read()), "花.jpg")}
    body = post_multipart(client, "/api/v1/resources", data, headers).get_json()
    assert body["state"] == "processed", body
    return body["id"]


def publish(client, tokens, rid):
    assert client.post(f"/api/v1/resources/{rid}/submit", headers=tokens[OWNER]).status_code == 200
    client.post(f"/api/v1/review/{rid}/claim", headers=tokens[REVIEWER])
    assert client.post(f"/api/v1/review/{rid}/approve", headers=tokens[REVIEWER]).status_code == 200
    return rid


@pytest.fixture
def image(client, people):
    return publish(client, people["tokens"], upload_image(client, people["tokens"][OWNER], "春天的花"))


def usage_events(app, **where):
    with app.app_context():
        stmt = select(UsageEvent).filter_by(**where).order_by(UsageEvent.id)
        return [
            (e.kind, e.user_id, e.resource_id, e.station_id, e.region_code, e.is_counted)
            for e in db.session.scalars(stmt)
        ]


def rollup(model):
    """Every roll-up row as {key: count} (the surrogate id left out)."""
    return {
        tuple(getattr(row, name) for name in model.KEY): row.count
        for row in db.session.scalars(select(model))
    }


def grouped_raw(model):
    """The roll-up as counting the counted raw events one by one (in Python) gives it."""
    counts = {}
    for event in db.session.scalars(select(UsageEvent).where(UsageEvent.is_counted.is_(True))):
        values = {
            "month": event.day.replace(day=1),
            "event_kind": event.kind,
            **{name: getattr(event, name) for name in model.KEY if name not in ("month", "event_kind")},
        }
        key = tuple(values[name] for name in model.KEY)
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_views_by_logged_in_users_count_once_per_user_resource_and_day(app, auth, client, people, image):
    station = people["station_id"]
    assert client.get(f"/resources/{image}").status_code == 200  # anonymous: not an event
    assert usage_events(app) == []
    auth.login(INFORMANT)
    for _ in range(3):
        assert client.get(f"/resources/{image}").status_code == 200
    informant = auth.user_id(INFORMANT)
    assert usage_events(app) == [
        ("view", informant, image, station, COUNTY, True),
        ("view", informant, image, station, COUNTY, False),  # kept for audit, not counted
        ("view", informant, image, station, COUNTY, False),
    ]
    with app.app_context():
        assert rollup(UsageDaily) == {(service.today_beijing(), station, COUNTY, image, "image", "view"): 1}


def test_a_view_counts_again_on_the_next_beijing_day(app, people, image):
    with app.app_context():
        user = db.session.get(User, db.session.scalar(select(User.id).where(User.phone == INFORMANT)))
        resource = db.session.get(Resource, image)
        # 15:59 UTC is 23:59 in Beijing; 16:01 UTC is already the next day there.
        for moment in ("2026-10-31T15:59:00", "2026-10-31T16:01:00", "2026-10-31T20:00:00"):
            service.record_view(user, resource, at=datetime.fromisoformat(moment).replace(tzinfo=UTC))
        db.session.commit()
        days = {key[0]: count for key, count in rollup(UsageDaily).items()}
        assert days == {date(2026, 10, 31): 1, date(2026, 11, 1): 1}


def test_downloads_carry_the_station_at_the_time_and_repeats_are_not_counted(
    app, auth, client, people, image
):
    auth.login(STATION)
    for _ in range(2):
        assert client.get(f"/resources/{image}/download/source").status_code == 302
    with app.app_context():
        db.session.execute(update(Station).values(state="revoked"))  # no longer 纳入统计序列
        db.session.execute(update(DownloadEvent).values(created_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    assert client.get(f"/resources/{image}/download/source").status_code == 302
    user, station = auth.user_id(STATION), people["station_id"]
    assert usage_events(app, kind="download") == [
        ("download", user, image, station, COUNTY, True),
        ("download", user, image, station, COUNTY, False),
        ("download", user, image, NO_STATION, "430102", True),  # revoked: the user's own region
    ]
    with app.app_context():
        linked = db.session.scalars(select(UsageEvent.download_event_id).order_by(UsageEvent.id)).all()
        assert linked == db.session.scalars(select(DownloadEvent.id).order_by(DownloadEvent.id)).all()
        today = service.today_beijing()
        assert rollup(UsageDaily) == {
            (today, station, COUNTY, image, "image", "download"): 1,
            (today, NO_STATION, "430102", image, "image", "download"): 1,
        }


def test_an_unrecognised_station_does_not_count_its_people_as_its_own(app, auth, client, people, image):
    with app.app_context():
        db.session.execute(update(Station).values(state="county_approved"))  # applied, not recognised
        db.session.commit()
    auth.login(INFORMANT)
    client.get(f"/resources/{image}")
    assert usage_events(app) == [("view", auth.user_id(INFORMANT), image, NO_STATION, "430102", True)]


def test_an_event_and_its_roll_up_are_one_transaction(app, auth, client, people, image, monkeypatch):
    """A failure while rolling up leaves neither the raw event nor a half-counted roll-up."""

    def broken(model, values):
        if model is UserUsageDaily:
            raise RuntimeError("simulated failure of the second roll-up")
        return real(model, values)

    real = service._bump
    monkeypatch.setattr(service, "_bump", broken)
    auth.login(INFORMANT)
    assert client.get(f"/resources/{image}").status_code == 500  # the 500 handler rolls back
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UsageEvent)) == 0
        assert db.session.scalar(select(func.count()).select_from(UsageDaily)) == 0


def generate_events(app, people, resources, seed=10):
    """Several hundred events over October and November: views, downloads (some repeats), share
    visits, by users of a recognised station, of a revoked one and of none."""
    from cloud.stats import sharing

    rng = random.Random(seed)
    with app.app_context():
        users = db.session.scalars(select(User).where(User.phone.in_([STATION, INFORMANT, LONER]))).all()
        revoked = make_station("已撤销的e站", OTHER_COUNTY, state="revoked")
        users[-1].station_id = revoked.id
        rows = [db.session.get(Resource, rid) for rid in resources]
        links = [sharing.link_for(user, resource) for user in users for resource in rows]
        start = datetime(2026, 9, 30, 15, 0, tzinfo=UTC)  # 23:00 on 30 Sept in Beijing
        for _ in range(400):
            at = start + timedelta(minutes=rng.randrange(0, 62 * 24 * 60))
            user, resource = rng.choice(users), rng.choice(rows)
            what = rng.random()
            if what < 0.4:
                service.record_view(user, resource, at=at)
            elif what < 0.7:
                service.record_download(user, resource, counted=rng.random() < 0.8, at=at)
            else:
                link = rng.choice(links)
                address = f"198.51.100.{rng.randrange(1, 6)}"
                service.record_share_visit(link, link.resource, remote_addr=address, user_agent="UA", at=at)
        db.session.commit()


def test_roll_ups_are_the_group_by_of_the_raw_events_and_a_rebuild_changes_nothing(
    app, client, runner, people, image
):
    second = publish(client, people["tokens"], upload_image(client, people["tokens"][OWNER], "夏天的树"))
    generate_events(app, people, [image, second])
    with app.app_context():
        before = {model: rollup(model) for model in service.ROLLUPS}
        for model in service.ROLLUPS:
            assert before[model] == grouped_raw(model)
        counted = db.session.scalar(select(func.count()).where(UsageEvent.is_counted.is_(True)))
        uncounted = db.session.scalar(select(func.count()).where(UsageEvent.is_counted.is_(False)))
        assert sum(before[UsageDaily].values()) == counted and uncounted > 0
        assert len({key[0] for key in before[UsageDaily]}) > 40  # the events do span the two months
        assert {key[5] for key in before[UsageDaily]} == {"view", "download", "share_visit"}

    result = runner.invoke(args=["stats", "rebuild", "--from", "2026-09-01", "--to", "2026-12-31"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert {model: rollup(model) for model in service.ROLLUPS} == before

        for model in service.ROLLUPS:
            db.session.execute(delete(model))
        db.session.commit()
    result = runner.invoke(args=["stats", "rebuild", "--from", "2026-09-01", "--to", "2026-12-31"])
    assert result.exit_code == 0 and "rebuilt" in result.output
    with app.app_context():
        assert {model: rollup(model) for model in service.ROLLUPS} == before


def test_a_rebuild_of_october_repairs_october_and_leaves_other_days_alone(app, client, runner, people, image):
    generate_events(app, people, [image])
    with app.app_context():
        before = rollup(UsageDaily)
        # Damage one day of October and one of November.
        for day in (date(2026, 10, 15), date(2026, 11, 15)):
            db.session.execute(
                update(UsageDaily).where(UsageDaily.day == day).values(count=UsageDaily.count + 100)
            )
        db.session.commit()
    result = runner.invoke(args=["stats", "rebuild", "--from", "2026-10-01", "--to", "2026-10-31"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        after = rollup(UsageDaily)
        for key, count in before.items():
            damaged = key[0] == date(2026, 11, 15)
            assert after[key] == count + (100 if damaged else 0), key


def test_rebuild_refuses_bad_dates(runner):
    assert (
        runner.invoke(args=["stats", "rebuild", "--from", "2026-10-32", "--to", "2026-10-31"]).exit_code != 0
    )
    assert (
        runner.invoke(args=["stats", "rebuild", "--from", "2026-10-31", "--to", "2026-10-01"]).exit_code != 0
    )


def test_totals_read_the_roll_ups_by_region_and_station(app, auth, client, people, image):
    auth.login(INFORMANT)
    client.get(f"/resources/{image}")
    client.get(f"/resources/{image}/download/source")
    auth.logout()
    auth.login(LONER)
    client.get(f"/resources/{image}")
    today = service.today_beijing()
    with app.app_context():
        assert service.totals(today, today) == {("view",): 2, ("download",): 1}
        assert service.totals(today, today, region_prefix="4101") == {("view",): 1, ("download",): 1}
        assert service.totals(today, today, region_prefix="43") == {("view",): 1}
        station = service.totals(
            today, today, station_id=people["station_id"], by=("resource_kind", "event_kind")
        )
        assert station == {("image", "view"): 1, ("image", "download"): 1}
        assert service.month_days("2026-02") == (date(2026, 2, 1), date(2026, 2, 28))
        assert EventKind.SHARE_VISIT.label == "传播"
