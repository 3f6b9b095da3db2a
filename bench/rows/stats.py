"""Usage statistics at a province's scale: 1,000,000 download / view / share-visit events over
10,000 recognised stations of 河南 (41) in October 2026, two informants each, 200 resources.

    .venv/bin/python -m bench.rows.stats [--stations 10000] [--events 1000000] [--rounds 20]
    (or as rows of ``make bench``; ``KEPU_BENCH_QUICK=1`` for 1,000 stations and 100,000 events)

Builds a fresh SQLite instance in a temporary directory (migrations, region codes), writes the
events as raw ``usage_event`` rows (seeded), then measures, each beside one plain SQL GROUP BY
over the raw events of the same month and region computing the same aggregate:
- the roll-ups of the month built from the raw events (``service.rebuild``: every daily and
  monthly roll-up) — beside the GROUP BY of the events by type and kind;
- the province's monthly report (``report.build`` and its XLSX) — target 5 s;
- a dashboard request (``GET /stats?month=2026-10&region=41`` as the province's staff, the whole
  page rendered) p95 — target 200 ms.
Every measured figure is checked against the GROUP BY (the totals must agree).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta

from bench.table import Row

SEED = 20261001
KINDS = ("article", "image", "video", "wallchart", "audio")
EVENTS = ("download", "view", "share_visit")


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def _timed(function, rounds):
    times, result = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - t0)
    return times, result


def measure(stations=10_000, events=1_000_000, rounds=20, log=print):
    from flask_migrate import upgrade
    from sqlalchemy import func, insert, select, text

    from cloud import create_app
    from cloud.accounts import service as accounts
    from cloud.accounts.models import Role, User, UserRole
    from cloud.accounts.sessions import WEB, open_session
    from cloud.extensions import db
    from cloud.regions.models import Region
    from cloud.regions.service import load_regions
    from cloud.resources.models import Resource
    from cloud.stations import service as stations_service
    from cloud.stations.models import Station
    from cloud.stats import report, service
    from cloud.stats.models import UsageEvent
    from config import TestConfig

    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = TestConfig.load()
        settings.update(
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp}/bench.db",
            KEPU_STORAGE_DIR=f"{tmp}/objects",
            KEPU_SMS_OUTBOX=f"{tmp}/sms.jsonl",
            KEPU_INDEX_DIR=f"{tmp}/index",
            RATELIMIT_STORAGE_URI="memory://",
        )
        app = create_app(settings)
        rng = random.Random(SEED)
        with app.app_context():
            upgrade()
            load_regions()
            db.session.commit()
            counties = db.session.scalars(
                select(Region.code).where(Region.level == 3, Region.code.like("41%")).order_by(Region.code)
            ).all()
            admin = accounts.create_user(
                Role.ADMIN, username="admin", phone="13700000000", password="Bench12345"
            )
            staff = stations_service.create_staff(admin, "41", username="staff41", password="Bench12345")
            db.session.flush()
            db.session.execute(
                insert(Station),
                [
                    {
                        "name": f"科普中国e站{n}",
                        "facility_type": "学校",
                        "region_code": counties[n % len(counties)],
                        "address": "某路 1 号",
                        "manager_name": "张三",
                        "manager_phone": "13900139000",
                        "state": "recognised",
                    }
                    for n in range(stations)
                ],
            )
            station_rows = db.session.execute(select(Station.id, Station.region_code)).all()
            db.session.execute(
                insert(User),
                [
                    {"username": f"informant{n}", "password_hash": "-", "station_id": station_rows[n // 2].id}
                    for n in range(2 * len(station_rows))
                ],
            )
            informants = db.session.execute(
                select(User.id, User.station_id).where(User.username.like("informant%"))
            ).all()
            db.session.execute(
                insert(UserRole), [{"user_id": uid, "role": Role.INFORMANT} for uid, _ in informants]
            )
            db.session.execute(
                insert(Resource),
                [
                    {"kind": KINDS[n % 5], "title": f"资源{n}", "institution_id": 1, "uploader_id": admin.id}
                    for n in range(200)
                ],
            )
            resources = db.session.execute(select(Resource.id, Resource.kind)).all()
            county_of = dict(station_rows)
            start = datetime(2026, 9, 30, 16, tzinfo=UTC)  # 1 October, 00:00 in Beijing
            batch = []
            t0 = time.perf_counter()
            for n in range(events):
                uid, sid = informants[rng.randrange(len(informants))]
                rid, kind = resources[int(rng.paretovariate(1.2)) % len(resources)]
                at = start + timedelta(seconds=rng.randrange(31 * 86400))
                batch.append(
                    {
                        "kind": EVENTS[rng.randrange(3)],
                        "day": (at + timedelta(hours=8)).date(),
                        "occurred_at": at,
                        "user_id": uid,
                        "resource_id": rid,
                        "resource_kind": kind,
                        "station_id": sid,
                        "region_code": county_of[sid],
                        "is_counted": True,
                    }
                )
                if len(batch) == 50_000 or n == events - 1:
                    db.session.execute(insert(UsageEvent), batch)
                    batch = []
            db.session.commit()
            db.session.execute(text("ANALYZE"))
            db.session.commit()
            log(
                f"{stations} stations, {len(informants)} informants, {events} events written in "
                f"{time.perf_counter() - t0:.1f} s"
            )

            def group_by():
                result = db.session.execute(
                    select(UsageEvent.resource_kind, UsageEvent.kind, func.count())
                    .where(
                        UsageEvent.is_counted.is_(True),
                        UsageEvent.day >= date(2026, 10, 1),
                        UsageEvent.day <= date(2026, 10, 31),
                        UsageEvent.region_code.like("41%"),
                    )
                    .group_by(UsageEvent.resource_kind, UsageEvent.kind)
                ).all()
                db.session.rollback()
                return result

            plain, grouped = _timed(group_by, max(3, rounds // 4))
            assert sum(n for *_key, n in grouped) == events
            figures["group_by"] = plain

            t0 = time.perf_counter()
            rows = service.rebuild(date(2026, 10, 1), date(2026, 10, 31))
            db.session.commit()
            figures["rebuild"] = time.perf_counter() - t0
            db.session.execute(text("ANALYZE"))
            db.session.commit()
            log(f"roll-ups of October rebuilt in {figures['rebuild']:.1f} s ({rows} daily rows)")

            def monthly_report():
                built = report.build("41", "2026-10")
                data = report.to_xlsx(built)
                db.session.rollback()
                return built, data

            times, (built, data) = _timed(monthly_report, 3)
            assert built.totals["downloads"] + built.totals["views"] + built.totals["share_visits"] == events
            assert len(built.stations) == stations and data[:2] == b"PK"
            figures["report"] = times

            with app.test_request_context():
                token, _row = open_session(staff, WEB, timedelta(days=1))
            db.session.commit()

        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = token
            session["_fresh"] = True

        def page():
            response = client.get("/stats?month=2026-10&region=41")
            assert response.status_code == 200 and "河南省" in response.get_data(as_text=True), (
                response.status
            )
            return response

        page()  # warm-up: templates compiled, caches filled
        gc.freeze()  # as a gunicorn worker does once it has loaded the app (scripts/gunicorn.conf.py)
        if os.environ.get("KEPU_BENCH_PROFILE"):  # where a dashboard request's time goes
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(page)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        figures["page"], _response = _timed(page, rounds)
    return figures


def rows():
    quick = os.environ.get("KEPU_BENCH_QUICK") == "1"
    figures = measure(stations=1_000 if quick else 10_000, events=100_000 if quick else 1_000_000)
    return _rows(figures)


def _rows(figures):
    group_by = percentile(figures["group_by"], 0.5)
    report_s = max(figures["report"])
    page_p95 = percentile(figures["page"], 0.95) * 1000
    return [
        Row(
            "roll-ups of a province's month from its raw events (all daily and monthly)",
            figures["rebuild"],
            "s",
            "one SQL GROUP BY over the raw events",
            group_by,
            "printed (no target)",
            True,
        ),
        Row(
            "monthly report of a province over 1M events (built + XLSX, slowest of 3)",
            report_s,
            "s",
            "one SQL GROUP BY over the raw events",
            group_by,
            "≤ 5 s",
            report_s <= 5,
        ),
        Row(
            "dashboard request (province, one month, whole page) p95",
            page_p95,
            "ms",
            "one SQL GROUP BY over the raw events",
            group_by * 1000,
            "≤ 200 ms",
            page_p95 <= 200,
        ),
    ]


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    from bench.table import format_table

    figures = measure(args.stations, args.events, args.rounds)
    print(format_table(_rows(figures)))


if __name__ == "__main__":
    sys.exit(main())
