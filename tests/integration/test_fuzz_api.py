"""API v1, fuzzed: no hostile request gets a 5xx, a refused one writes nothing, every answer fits the OpenAPI document.

Hypothesis sends each endpoint JSON of the wrong shape and types, missing and extra
fields, huge strings, bodies that are not JSON, wrong content types and methods, and
hostile query strings (the shared values of test_fuzz_forms.py). Schemathesis then
generates requests from /api/v1/openapi.json itself and checks the answers against it.
"""

import json
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import event, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from kapclinic.api.openapi import openapi_document
from kapclinic.core.timezones import instant_param, now_utc
from tests.helpers import seed_offering
from tests.integration.test_fuzz_forms import (
    FUZZ,
    Body,
    bodies,
    database_state,
    fields,
    hostile_texts,
    json_field_values,
    json_values,
    query_strings,
    raw_bodies,
    report,
    weighted,
)

pytestmark = pytest.mark.both_databases

API = "/api/v1"


@pytest.fixture
def offering(app):
    return seed_offering(app, "fuzz-api", zone="America/New_York")


@pytest.fixture
def api_schema(app):
    """The app's own OpenAPI document, loaded by schemathesis: it checks answers against it."""
    return schemathesis.openapi.from_wsgi(f"{API}/openapi.json", app)


def documented_statuses(path, method):
    return {int(status) for status in openapi_document()["paths"][path][method]["responses"]}


def check_answer(api_schema, path, method, response):
    """No 5xx; an operation's answer has a status it documents and a body that fits its schema."""
    assert response.status_code < 500, f"{response.status_code} from {method.upper()} {API}{path}"
    if method in openapi_document()["paths"][path]:
        assert response.status_code in documented_statuses(path, method), f"undocumented {response.status_code}"
        api_schema[path][method.upper()].validate_response(response)
    else:
        assert response.status_code == 405
    assert response.is_json, response.mimetype


# --- bookings ----------------------------------------------------------------------------------

JSON_CONTENT_TYPES = ("application/json", "application/json; charset=utf-8", "application/vnd.api+json")
OTHER_CONTENT_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/xml", "")
# A header's value cannot hold line breaks or NUL, or start or end with white space, on the wire.
header_values = hostile_texts.filter(lambda text: text == text.strip() and not {"\r", "\n", "\x00"} & set(text))
# Beyond MAX_CONTENT_LENGTH (256 KB): refused before it is read.
OVERSIZED = Body("raw", ("application/json", b'{"name": "' + b"a" * 300_000 + b'"}'))
# Few request keys and starts, so that valid bookings also collide (409), replay (200) and reuse a key (422).
REQUEST_KEYS = ("first-request-key", "second-request-key", "third-request-key")


def booking_bodies(offering):
    """A booking as the API takes it, each field valid, of a hostile value or type, or missing; or no object at all."""
    valid = {
        "type": offering.slug,
        "clinician_id": st.sampled_from([offering.clinician_id, None]),
        "start": st.sampled_from([instant_param(start) for start in offering.starts[:3]]),
        "name": "Ana Patient",
        "email": "ana.patient@example.com",
        "phone": "+12125550100",
        "date_of_birth": "1990-04-12",
        "tz": "America/New_York",
        "contact_consent": st.booleans(),
        "idempotency_key": st.sampled_from(REQUEST_KEYS),
    }
    objects = bodies("json", fields(valid, values=json_field_values))
    serialised = st.tuples(
        st.sampled_from(JSON_CONTENT_TYPES + OTHER_CONTENT_TYPES),
        st.one_of(fields(valid, values=json_field_values), json_values).map(lambda value: json.dumps(value).encode()),
    )
    return weighted(
        objects,
        objects,
        objects,
        objects,
        bodies("json", json_values),
        bodies("raw", serialised),
        bodies("raw", raw_bodies),
        bodies("form", fields(valid)),
        st.just(OVERSIZED),
    )


@settings(FUZZ, max_examples=50)  # the API's one write
@given(data=st.data())
def test_booking_endpoint(app, offering, api_schema, data):
    body = data.draw(booking_bodies(offering))
    headers = data.draw(
        st.dictionaries(st.just("Idempotency-Key"), st.one_of(st.sampled_from(REQUEST_KEYS), header_values))
    )
    before = database_state(app)
    response = app.test_client().post(f"{API}/bookings", headers=headers, **body.request_arguments())
    report(f"POST /bookings headers={headers!r} {body!r}", f"POST /bookings: {response.status_code}")
    check_answer(api_schema, "/bookings", "post", response)
    if response.status_code != 201:  # refused, or an earlier booking replayed: nothing new is written
        assert database_state(app) == before, f"{response.status_code} but the database changed"


def test_an_oversized_body_gets_the_documented_answer(app, api_schema):
    response = app.test_client().post(f"{API}/bookings", **OVERSIZED.request_arguments())
    assert response.status_code == 413
    check_answer(api_schema, "/bookings", "post", response)


# --- reads ---------------------------------------------------------------------------------------


def slot_queries(offering):
    first = now_utc().date() + timedelta(days=1)
    return query_strings(
        {
            "type": offering.slug,
            "start": first.isoformat(),
            "end": st.integers(0, 70).map(lambda days: (first + timedelta(days=days)).isoformat()),
            "tz": st.sampled_from(["America/New_York", "Asia/Kolkata", "Pacific/Chatham", "UTC"]),
            "clinician": str(offering.clinician_id),
        }
    )


@FUZZ
@given(data=st.data())
def test_slots_endpoint(app, offering, api_schema, data):
    query = data.draw(slot_queries(offering))
    before = database_state(app)
    response = app.test_client().get(f"{API}/slots", query_string=query)
    report(f"GET /slots query={query!r}", f"GET /slots: {response.status_code}")
    check_answer(api_schema, "/slots", "get", response)
    assert database_state(app) == before


def day_queries(offering, path):
    """A month for /availability or a day for /times, well formed or not."""
    today = now_utc().date()
    months = st.integers(0, 14).map(lambda ahead: divmod(today.month - 1 + ahead, 12))
    asked = {
        "/availability": {
            "month": months.map(lambda years_months: f"{today.year + years_months[0]}-{years_months[1] + 1:02d}")
        },
        "/times": {"date": st.integers(-3, 90).map(lambda days: (today + timedelta(days=days)).isoformat())},
    }[path]
    return query_strings(
        {
            "type": offering.slug,
            **asked,
            "tz": st.sampled_from(["America/New_York", "Asia/Kathmandu", "Pacific/Chatham", "UTC"]),
            "clinician": str(offering.clinician_id),
        }
    )


@FUZZ
@given(path=st.sampled_from(["/availability", "/times"]), data=st.data())
def test_date_first_endpoints(app, offering, api_schema, path, data):
    query = data.draw(day_queries(offering, path))
    before = database_state(app)
    response = app.test_client().get(f"{API}{path}", query_string=query)
    report(f"GET {path} query={query!r}", f"GET {path}: {response.status_code}")
    check_answer(api_schema, path, "get", response)
    assert database_state(app) == before


API_PATHS = ("/consultation-types", "/clinicians", "/slots", "/availability", "/times", "/bookings", "/openapi.json")


@FUZZ
@given(
    path=st.sampled_from(API_PATHS),
    method=st.sampled_from(["get", "post", "put", "patch", "delete"]),
    query=query_strings({"type": "fuzz-api"}),
    body=st.one_of(st.builds(Body, st.just("json"), json_values), st.builds(Body, st.just("raw"), raw_bodies)),
)
def test_any_method_on_any_endpoint(app, offering, api_schema, path, method, query, body):
    """Whatever arrives: documented answers for the operations, 405 for other methods, and only a booking writes."""
    before = database_state(app)
    response = app.test_client().open(
        f"{API}{path}", method=method.upper(), query_string=query, **body.request_arguments()
    )
    report(f"{method.upper()} {path} query={query!r} {body!r}", f"{method.upper()} {path}: {response.status_code}")
    if path != "/openapi.json":  # the document itself is not one of its operations
        check_answer(api_schema, path, method, response)
    assert response.status_code < 500
    if response.status_code != 201:
        assert database_state(app) == before


def test_every_api_endpoint_is_fuzzed(make_app, sqlite_url):
    routes = make_app(sqlite_url).url_map.iter_rules()
    assert {rule.rule.removeprefix(API) for rule in routes if rule.rule.startswith(API)} == set(API_PATHS)


# --- schemathesis -------------------------------------------------------------------------------

# Each operation of the document, in the cases schemathesis generates from its schemas (valid
# ones, and ones that break them). The operations' own strategies drive hypothesis here:
# schemathesis.pytest.from_fixture, which @schema.parametrize needs for a per-test app, reads
# request.node._nodeid, which pytest 9.2 no longer has.
CASES = [
    (path, method, mode)
    for path, methods in openapi_document()["paths"].items()
    for method, operation in methods.items()
    # An operation that takes nothing has no invalid request to generate.
    for mode in [GenerationMode.POSITIVE]
    + ([GenerationMode.NEGATIVE] if {"parameters", "requestBody"} & set(operation) else [])
]


@pytest.fixture
def generated_cases_schema(make_app, sqlite_url):
    """The OpenAPI document of an app with one bookable consultation type (on SQLite: the document is the subject)."""
    app = make_app(sqlite_url)
    seed_offering(app, "consultation")
    return schemathesis.openapi.from_wsgi(f"{API}/openapi.json", app)


@pytest.mark.parametrize(("path", "method", "mode"), CASES)
@settings(FUZZ, max_examples=20)
@given(data=st.data())
def test_api_answers_fit_its_openapi_document(generated_cases_schema, path, method, mode, data):
    case = data.draw(generated_cases_schema[path][method.upper()].as_strategy(generation_mode=mode))
    response = case.call_and_validate(
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    )
    event(f"{response.status_code}")  # for --hypothesis-show-statistics
