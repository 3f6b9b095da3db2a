"""The lifecycle holds under any sequence of actions (hypothesis): illegal moves are refused,
only approved resources are visible, and every state change has exactly one audit row."""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from cloud.accounts.models import Role, User, UserRole
from cloud.errors import DomainError
from cloud.extensions import db
from cloud.files.service import store_file
from cloud.resources import service as resources
from cloud.resources.lifecycle import (
    TRANSITIONS,
    IllegalTransition,
    State,
    is_visible_to_stations,
    transition,
)
from cloud.resources.models import Resource, ResourceEvent
from cloud.review import service as review
from tests.conftest import CREDIT_CODES, TESTDATA

ACTIONS = [
    "succeed",
    "fail",
    "submit",
    "approve",
    "reject",
    "withdraw",
    "edit",
    "retry",
    "replace",
    "publish_directly",
]


@pytest.fixture
def actors(app, auth):
    auth.create_uploader(phone="13800138000")
    reviewer_id = auth.create_uploader(
        phone="13700137000", institution="审核机构", credit_code=CREDIT_CODES[1]
    )
    with app.app_context():
        db.session.add(UserRole(user_id=reviewer_id, role=Role.REVIEWER))
        db.session.commit()
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        return fh.read()


def act(action, resource, owner, reviewer, source_bytes=None):
    """Do ``action`` through the services the app uses; DomainError means refused."""
    if action == "succeed":
        transition(resource, State.PROCESSED)
    elif action == "fail":
        transition(resource, State.FAILED)
    elif action == "submit":
        resources.submit(owner, resource)
    elif action == "approve":
        review.claim(reviewer, resource)
        review.approve(reviewer, resource)
    elif action == "reject":
        review.claim(reviewer, resource)
        review.reject(reviewer, resource, "需要修改")
    elif action == "withdraw":
        review.withdraw(owner, resource, "内容过时")
    elif action == "edit":
        resources.update_metadata(owner, resource, {"title": "改过的标题"})
    elif action == "retry":
        resources.retry_processing(owner, resource)
    elif action == "replace":  # a new file (e.g. after a rejection): processed and reviewed again
        resources.replace_source(
            owner, resource, store_file(io.BytesIO(source_bytes), original_name="新.jpg")
        )
    elif action == "publish_directly":  # nobody may skip review
        transition(resource, State.APPROVED)


# One app for all examples on purpose: each example works on a resource of its own.
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(ACTIONS), max_size=12))
def test_random_action_sequences_keep_the_invariants(app, actors, actions):
    with app.app_context():
        owner = db.session.scalar(select(User).where(User.phone == "13800138000"))
        reviewer = db.session.scalar(select(User).where(User.phone == "13700137000"))
        source = store_file(io.BytesIO(actors), original_name="花.jpg")
        resource, _after = resources.create_resource(owner, "image", {"title": "花"}, source=source)
        db.session.commit()
        changes = 1  # draft → processing
        for action in actions:
            before = State(resource.state)
            try:
                act(action, resource, owner, reviewer, actors)
            except DomainError as exc:
                db.session.rollback()
                db.session.refresh(resource)
                assert State(resource.state) == before
                if isinstance(exc, IllegalTransition):
                    assert State(exc.details["to"]) not in TRANSITIONS[before]
                continue
            db.session.commit()
            after = State(resource.state)
            if after != before:
                changes += 1
                assert after in TRANSITIONS[before]
            assert is_visible_to_stations(resource) == (after == State.APPROVED)
            if after == State.APPROVED:
                assert resource.published_at is not None
                assert any(e.to_state == State.PROCESSED for e in resource.events)
                # the file that is published went through processing and then review
                order = [State(e.to_state) for e in resource.events]
                last = {state: max(i for i, s in enumerate(order) if s == state) for state in set(order)}
                assert last[State.PROCESSING] < last[State.PROCESSED] < last[State.PENDING_REVIEW]
        events = db.session.scalar(
            select(func.count()).select_from(ResourceEvent).where(ResourceEvent.resource_id == resource.id)
        )
        assert events == changes
        visible = db.session.scalars(select(Resource).where(Resource.state == State.APPROVED)).all()
        assert all(any(e.to_state == State.PENDING_REVIEW for e in r.events) for r in visible)
