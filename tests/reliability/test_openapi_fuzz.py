"""Schemathesis against the app's own OpenAPI document, over real HTTP on real datastores.

Every operation gets a bounded number of generated cases (valid and invalid), sent with an
admin's access token so the authenticated paths are exercised beyond the 401. Two checks:
no 5xx, and every response conforms to the schema the app publishes.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from bench import api

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

# ~35 operations × this many cases keeps the whole run to a couple of minutes on two cores.
CASES_PER_OPERATION = int(os.environ.get("STOREFRONT_FUZZ_CASES", "25"))


@pytest.fixture(scope="module")
def api_schema(live_stack):
    return schemathesis.openapi.from_url(f"{live_stack.url}/openapi.json", wait_for_schema=30)


@pytest.fixture(scope="module")
def admin_headers(live_stack) -> dict[str, str]:
    return api.bearer(live_stack.admin_token())


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=CASES_PER_OPERATION, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_responses_match_the_schema(case, admin_headers):
    case.call_and_validate(headers=admin_headers, checks=[not_a_server_error, response_schema_conformance],
                           timeout=30)
