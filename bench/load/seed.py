"""Accounts for the load test, written straight into the deployment's database.

    python -m bench.load.seed --stations 50 --institutions 5 --reviewers 2 --out accounts.json

Run with the deployment's settings in the environment (``KEPU_DATABASE_URL`` …). Makes verified
institutions with one uploader each, reviewers and e站 station accounts, all with one password,
and writes ``{"password", "institutions": [phone…], "reviewers": [...], "stations": [...]}``.
"""

from __future__ import annotations

import argparse
import json
import random
import string

from cloud import create_app
from cloud.accounts import service as accounts
from cloud.accounts.models import Role, User, UserRole
from cloud.extensions import db
from cloud.institutions import service as institutions
from cloud.institutions.credit_code import CHARSET, check_character

PASSWORD = "Load12345"


def credit_codes(count, seed=13):
    """``count`` distinct valid 统一社会信用代码 (organisation part starting "MA": no old check)."""
    rng = random.Random(seed)
    codes = set()
    while len(codes) < count:
        body = "91350100MA" + "".join(rng.choice(string.digits + "ABCDEFGH") for _ in range(7))
        assert all(ch in CHARSET for ch in body)
        codes.add(body + check_character(body))
    return sorted(codes)


def seed(app, *, stations, institution_count, reviewers):
    made = {"password": PASSWORD, "institutions": [], "reviewers": [], "stations": []}
    with app.app_context():
        for n, code in enumerate(credit_codes(institution_count)):
            phone = f"1390000{n:04d}"
            user = accounts.create_user(Role.INSTITUTION, phone=phone, password=PASSWORD)
            institution = institutions.create_institution(f"压测机构{n + 1}", code, verified=True)
            institutions.add_member(institution, user, manager=True)
            made["institutions"].append(phone)
        for n in range(reviewers):
            phone = f"1370000{n:04d}"
            user = accounts.create_user(Role.STATION, phone=phone, password=PASSWORD)
            db.session.add(UserRole(user_id=user.id, role=Role.REVIEWER))
            made["reviewers"].append(phone)
        for n in range(stations):
            phone = f"1360000{n:04d}"
            accounts.create_user(Role.STATION, phone=phone, password=PASSWORD)
            made["stations"].append(phone)
        db.session.commit()
        assert db.session.query(User).count() >= stations + institution_count + reviewers
    return made


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--institutions", type=int, default=5)
    parser.add_argument("--reviewers", type=int, default=2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    made = seed(
        create_app(), stations=args.stations, institution_count=args.institutions, reviewers=args.reviewers
    )
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(made, fh)


if __name__ == "__main__":
    main()
