"""The API against its own contract: schemathesis reads ``/api/v1/openapi.json`` and fires
generated requests at every documented operation, anonymous and with the bearer tokens of an
uploader (a verified institution's manager), a reviewer and an admin, at the app in-process on
the test database.

Every response must: not be a 500; be in the one JSON error shape when it is an error; have a
status code, content type and body the document declares for the operation. The operations come
from the document, so a route documented later is fuzzed without being listed here. Hypothesis is
derandomized (the ``kepu`` profile in tests/conftest.py): every run sends the same requests.
"""

import base64
import itertools
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup, ServerError
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cloud.accounts.models import Role, User, UserRole
from cloud.accounts.sessions import API, open_session
from cloud.extensions import db
from cloud.institutions import service as institutions
from cloud.institutions.models import Institution
from tests.conftest import CREDIT_CODES, make_app
from tests.contract.conftest import CASES_PROPERTY

OPENAPI = "/api/v1/openapi.json"
EXAMPLES = {GenerationMode.POSITIVE: 40, GenerationMode.NEGATIVE: 20}  # per operation
UPLOADER, REVIEWER, ADMIN = "13800138000", "13700137000", "13900139000"
CALLERS = ("anonymous", UPLOADER, REVIEWER, ADMIN)


def _load_schema():
    """The document, read from an app made only for that (its URL map) while tests are collected."""
    with tempfile.TemporaryDirectory(prefix="kepu-openapi-") as tmp:
        return schemathesis.openapi.from_wsgi(OPENAPI, make_app("sqlite://", Path(tmp)))


SCHEMA = _load_schema()
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def error_shape(ctx, response, case):
    """Every error is ``{"error": {"code", "message", "details"?}}`` in JSON."""
    if response.status_code < 400:
        return None
    assert response.headers.get("content-type", [""])[0].startswith("application/json"), (
        f"{response.status_code} is not JSON"
    )
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) <= {"code", "message", "details"}, error
    assert isinstance(error.get("code"), str) and error["code"], error
    assert isinstance(error.get("message"), str) and error["message"], error
    assert isinstance(error.get("details", {}), dict), error
    return True


CHECKS = [
    not_a_server_error,
    error_shape,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _api(client, method, url, headers, **kwargs):
    response = client.open(f"/api/v1{url}", method=method, headers=headers, **kwargs)
    assert response.status_code < 300, (url, response.get_data(as_text=True))
    return response


class World:
    """The callers, and something for them to find: a published article, a processed one and a
    draft, an unfinished upload, an institution waiting for verification. ``known`` are their
    ids by path parameter name, so that generated requests reach rows that exist."""

    def __init__(self, app, auth):
        self.app = app
        auth.create_uploader(phone=UPLOADER)
        reviewer_id = auth.create(Role.STATION, phone=REVIEWER)
        auth.create(Role.ADMIN, phone=ADMIN)
        with app.app_context():
            db.session.add(UserRole(user_id=reviewer_id, role=Role.REVIEWER))
            pending = institutions.create_institution("待认证机构", CREDIT_CODES[2])
            db.session.commit()
            institution_ids = [pending.id, *db.session.scalars(db.select(Institution.id))]
        client = app.test_client()
        owner, reviewer = self.headers(UPLOADER), self.headers(REVIEWER)
        resource_ids = []
        for title in ("科普文章：地震来了怎么办", "iPhone7 电池科普"):
            body = {"kind": "article", "title": title, "summary": "简介", "body_html": "<p>正文</p>"}
            resource_ids.append(_api(client, "POST", "/resources", owner, json=body).get_json()["id"])
        published = resource_ids[0]
        _api(client, "POST", f"/resources/{published}/submit", owner)
        _api(client, "POST", f"/review/{published}/claim", reviewer)
        _api(client, "POST", f"/review/{published}/approve", reviewer, json={"comment": "好"})
        meta = {"filename": "图片.png", "filetype": "image/png", "resource_type": "image"}
        encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())
        tus = {**owner, "Tus-Resumable": "1.0.0", "Upload-Length": "100", "Upload-Metadata": encoded}
        location = _api(client, "POST", "/uploads/", tus).headers["Location"]
        self.known = {
            "resource_id": resource_ids,
            "institution_id": sorted(set(institution_ids)),
            "upload_id": [location.rstrip("/").rsplit("/", 1)[-1]],
        }

    def headers(self, caller):
        """A fresh token's headers (an operation may revoke the token it was called with)."""
        if caller == "anonymous":
            return {}
        with self.app.test_request_context():
            user = db.session.scalar(db.select(User).where(User.phone == caller))
            token, _row = open_session(user, API, timedelta(hours=1))
            db.session.commit()
        return {"Authorization": f"Bearer {token}"}

    def cases(self, operation, mode):
        """Generated cases, and as many again with the path's ids set to ones that exist."""
        names = [p.name for p in operation.path_parameters if p.name in self.known]
        if not names:
            return operation.as_strategy(generation_mode=mode)
        pinned = [
            operation.as_strategy(generation_mode=mode, path_parameters=dict(zip(names, values, strict=True)))
            for values in itertools.product(*(self.known[name] for name in names))
        ]
        return st.one_of(operation.as_strategy(generation_mode=mode), st.one_of(pinned))


def fuzz(app, world, operation, sent):
    """Send the generated cases of ``operation`` (both modes), each checked; ``sent`` collects them."""
    for mode, examples in EXAMPLES.items():

        @settings(
            max_examples=examples,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        @given(case=world.cases(operation, mode), caller=st.sampled_from(CALLERS))
        def run(case, caller):
            sent.append(case)
            response = case.call(app=app, headers=world.headers(caller))
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            # Nothing to get wrong (no parameters, no body): no negative cases exist.
            assert mode is GenerationMode.NEGATIVE


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.path}")
def test_every_operation_keeps_its_contract(app, auth, operation, record_property):
    sent = []
    try:
        fuzz(app, World(app, auth), operation, sent)
    finally:
        record_property(CASES_PROPERTY, len(sent))


def test_every_documented_operation_is_fuzzed():
    assert len(OPERATIONS) >= 26
    assert {(op.method.upper(), op.path) for op in OPERATIONS} >= {("GET", "/search"), ("POST", "/resources")}


def test_the_fuzzing_fails_on_a_500(app, auth, monkeypatch):
    """The harness can fail: a search that crashes is caught as a server error."""
    from cloud.catalog import service

    def crash(params):
        raise RuntimeError("on purpose")

    monkeypatch.setattr(service, "search", crash)
    search = next(op for op in OPERATIONS if op.method == "get" and op.path == "/search")
    with pytest.raises(FailureGroup) as caught:
        fuzz(app, World(app, auth), search, [])
    assert any(isinstance(failure, ServerError) for failure in caught.value.exceptions)
