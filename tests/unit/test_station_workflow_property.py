"""The e站 workflow holds under any sequence of decisions by anyone (hypothesis): a move happens
exactly when the state and the actor's capacity allow it, every move leaves one audit row, nothing
is recognised without a county 审核 followed by a city 复核, and only recognised stations count."""

from datetime import timedelta
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from cloud.accounts.models import User
from cloud.errors import DomainError
from cloud.extensions import db
from cloud.stations import service
from cloud.stations.models import StationEvent
from cloud.stations.service import today
from cloud.stations.states import RECOGNISED_STATES, State
from cloud.stations.workflow import ACTIONS, TRANSITIONS, IllegalTransition
from tests.support.stations import application, make_staff_tree, manager

CHECK = {"checked_on": today().isoformat(), "checkers": "核查组", "notes": "属实"}
# Who may try: the applicant, the station's own county and city, and people who never may.
ACTORS = {
    "applicant": "applicant",
    "county": "zhongyuan",
    "city": "zhengzhou",
    "other_county": "erqi",
    "other_city": "kaifeng",
    "province": "henan",
    "other_province_city": "wuhan",
    "admin": "admin",
}
CAPACITY = {"applicant": "applicant", "county": "county", "city": "city"}
# The rules (第八条, 第十条), written out here independently of cloud.stations.workflow, so a
# mistake in its table fails this test: action -> (from states, to state, who may).
EDITABLE = {"returned", "rejected", "revoked"}
RULES = {
    "resubmit": (EDITABLE, "applied", {"applicant", "county"}),
    "county_approve": ({"applied"}, "county_approved", {"county"}),
    "county_return": ({"applied"}, "returned", {"county"}),
    "county_reject": ({"applied"}, "rejected", {"county"}),
    "city_recognise": ({"county_approved"}, "recognised", {"city"}),
    "city_return": ({"county_approved"}, "returned", {"city"}),
    "city_reject": ({"county_approved"}, "rejected", {"city"}),
    "rectify": ({"recognised"}, "rectifying", {"county", "city"}),
    "end_rectification": ({"rectifying"}, "recognised", {"county", "city"}),
    "revoke": ({"recognised", "rectifying"}, "revoked", {"county", "city"}),
}


def test_the_table_has_exactly_the_rules_actions():
    assert set(ACTIONS) == set(RULES)


PHONES = count(13600000000)


@pytest.fixture
def people(app):
    with app.app_context():
        return make_staff_tree()


def attempt(action, station, actor):
    if action == "resubmit":
        return service.edit_and_resubmit(actor, station, application(phone=station.manager_phone))
    decision = service.Decision(
        action, reason="原因", deadline=today() + timedelta(days=10), field_check=CHECK
    )
    return service.decide(actor, station, decision)


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(sorted(ACTIONS)), st.sampled_from(sorted(ACTORS))), max_size=14))
def test_random_decisions_keep_the_invariants(app, people, steps):
    with app.app_context():
        phone = str(next(PHONES))
        applicant = manager(phone)
        station, _after = service.apply(applicant, application(phone=phone))
        db.session.commit()
        moves, passed_county, ever_recognised = 1, False, False
        for action_name, who in steps:
            actor = applicant if who == "applicant" else db.session.get(User, people[ACTORS[who]])
            before = State(station.state)
            sources, target, who_may = RULES[action_name]
            allowed = before in sources and CAPACITY.get(who) in who_may
            try:
                attempt(action_name, station, actor)
            except DomainError as exc:
                db.session.rollback()
                db.session.refresh(station)
                assert not allowed, f"{who} could not {action_name} from {before}: {exc.message}"
                assert State(station.state) == before
                if isinstance(exc, IllegalTransition):
                    assert before not in sources
                continue
            db.session.commit()
            assert allowed, f"{who} did {action_name} from {before}"
            after = State(station.state)
            assert after == target and after in TRANSITIONS[before]
            moves += 1
            if action_name == "county_approve":
                passed_county = True
            if after == State.APPLIED:
                passed_county = False
            if action_name == "city_recognise":
                assert passed_county and before == State.COUNTY_APPROVED
                ever_recognised = True
            assert station.is_recognised == (after in RECOGNISED_STATES)
            assert (station.number is not None) == ever_recognised
        events = db.session.scalar(
            select(func.count()).select_from(StationEvent).where(StationEvent.station_id == station.id)
        )
        assert events == moves
        # Only what is recognised now counts, across every station the examples made.
        counted = service.recognised_count("4101")
        assert counted == sum(
            1
            for state in db.session.scalars(select(service.Station.state))
            if State(state) in RECOGNISED_STATES
        )


PATHS = {
    "applied": [],
    "county_approved": [("county_approve", "county")],
    "returned": [("county_return", "county")],
    "rejected": [("county_reject", "county")],
    "recognised": [("county_approve", "county"), ("city_recognise", "city")],
    "rectifying": [("county_approve", "county"), ("city_recognise", "city"), ("rectify", "city")],
    "revoked": [("county_approve", "county"), ("city_recognise", "city"), ("revoke", "county")],
}


def test_every_action_by_everyone_from_every_state(app, people):
    """Exhaustive: 7 states × 10 actions × 8 kinds of actor, each tried and undone in a savepoint."""
    assert set(PATHS) == {s.value for s in State}
    with app.app_context():
        for state, path in PATHS.items():
            phone = str(next(PHONES))
            applicant = manager(phone)
            station, _after = service.apply(applicant, application(phone=phone))
            for action_name, who in path:
                attempt(action_name, station, db.session.get(User, people[ACTORS[who]]))
            db.session.commit()
            assert station.state == state
            for action_name, (sources, target, who_may) in RULES.items():
                for who in ACTORS:
                    actor = applicant if who == "applicant" else db.session.get(User, people[ACTORS[who]])
                    savepoint = db.session.begin_nested()
                    try:
                        attempt(action_name, station, actor)
                        done = station.state
                    except DomainError:
                        done = None
                    savepoint.rollback()
                    expected = target if state in sources and CAPACITY.get(who) in who_may else None
                    assert done == expected, f"{who} {action_name} from {state}: got {done}"
            db.session.refresh(station)
            assert station.state == state
