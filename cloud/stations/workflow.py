"""The e站 workflow of 《科普中国e站建设管理办法》第八条 and 第十条: states, actions and the one guarded move.

    (apply) ─► applied ──county 审核──► county_approved ──city 复核──► recognised ◄──┐
                 ▲  │                      │                            │  │        │ 整改完成
                 │  ├─► returned ◄─────────┤ (退回修改, the applicant    │  └─► rectifying
                 │  │      │ resubmit      │  edits and resubmits)      │        │
                 │  └─► rejected ◄─────────┘                            ▼        ▼
                 └──── new application ◄──────────────────────────── revoked (撤销)

A county association reviews (审核, with an on-site check) the applications of its own county; only
the city association above it re-reviews (复核) and so recognises (认定): a county can never move a
station to ``recognised``. A recognised station under rectification (整改) is still recognised and
counts in every statistic; a revoked one does not, and comes back only through a new application.
"""

import enum
from dataclasses import dataclass

from cloud.errors import Conflict, NotFound, PermissionDenied
from cloud.extensions import db
from cloud.models_base import utcnow
from cloud.stations.models import StationEvent
from cloud.stations.states import EDITABLE_STATES, RECOGNISED_STATES, State


class Capacity(enum.StrEnum):
    """In what capacity someone acts on one station."""

    APPLICANT = "applicant"  # the station's manager
    COUNTY = "county"  # staff of the station's county association
    CITY = "city"  # staff of the city association above it


@dataclass(frozen=True)
class Action:
    label: str
    sources: frozenset
    target: State
    capacities: frozenset
    needs_reason: bool = False


def _action(label, sources, target, capacities, needs_reason=False):
    return Action(label, frozenset(sources), target, frozenset(capacities), needs_reason)


APPLICANT, COUNTY, CITY = Capacity.APPLICANT, Capacity.COUNTY, Capacity.CITY
ACTIONS = {
    "resubmit": _action("重新提交", EDITABLE_STATES, State.APPLIED, {APPLICANT, COUNTY}),
    "county_approve": _action("审核通过", {State.APPLIED}, State.COUNTY_APPROVED, {COUNTY}),
    "county_return": _action("退回修改", {State.APPLIED}, State.RETURNED, {COUNTY}, True),
    "county_reject": _action("审核不通过", {State.APPLIED}, State.REJECTED, {COUNTY}, True),
    "city_recognise": _action("复核通过并认定", {State.COUNTY_APPROVED}, State.RECOGNISED, {CITY}),
    "city_return": _action("退回修改", {State.COUNTY_APPROVED}, State.RETURNED, {CITY}, True),
    "city_reject": _action("复核不通过", {State.COUNTY_APPROVED}, State.REJECTED, {CITY}, True),
    "rectify": _action("责令整改", {State.RECOGNISED}, State.RECTIFYING, {COUNTY, CITY}, True),
    "end_rectification": _action("整改完成", {State.RECTIFYING}, State.RECOGNISED, {COUNTY, CITY}),
    "revoke": _action("撤销", RECOGNISED_STATES, State.REVOKED, {COUNTY, CITY}, True),
}

#: The graph the actions draw: the only state changes that can ever happen.
TRANSITIONS = {state: {a.target for a in ACTIONS.values() if state in a.sources} for state in State}


class IllegalTransition(Conflict):
    message = "e站当前状态下不能执行此操作"


def check(station, action_name, capacities):
    """Raise unless ``action_name`` may be done now by someone acting in ``capacities``.

    NotFound for an unknown action, IllegalTransition for a wrong state, PermissionDenied for a
    capacity the action does not admit (e.g. a county trying the city's 复核).
    """
    action = ACTIONS.get(action_name)
    if action is None:
        raise NotFound("没有这种审核操作")
    current = State(station.state)
    if current not in action.sources:
        raise IllegalTransition(
            f"e站当前为“{current.label}”，不能“{action.label}”",
            details={"from": current.value, "action": action_name},
        )
    if not action.capacities & set(capacities):
        raise PermissionDenied(f"“{action.label}”须由{_who(action)}办理")
    return action


def _who(action):
    names = {"applicant": "e站管理员", "county": "县级科协", "city": "市级科协"}
    return "或".join(names[c] for c in sorted(action.capacities))


def transition(station, action_name, *, actor, capacities, reason=""):
    """Do ``action_name`` on ``station``: check it, move the state, write the audit row.

    Returns the StationEvent. Raises NotFound, IllegalTransition or PermissionDenied.
    """
    action = check(station, action_name, capacities)
    now = utcnow()
    event = StationEvent(
        station=station,
        actor_id=getattr(actor, "id", None),
        action=action_name,
        from_state=station.state,
        to_state=action.target,
        reason=(reason or "")[:1000],
        created_at=now,
    )
    station.state = action.target
    station.updated_at = now
    db.session.add(event)
    db.session.flush()
    return event


def is_recognised(station):
    """纳入统计序列: recognised, rectification included, revocation excluded."""
    return State(station.state) in RECOGNISED_STATES
