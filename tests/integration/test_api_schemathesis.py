"""schemathesis against the served OpenAPI schema: generated requests, valid and invalid, with an
admin token and with none, must never get a server error and must answer as documented."""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import ASGIClient, get_client
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.support.web import file_case

from conduct_desk.bootstrap import App
from conduct_desk.service import accounts

EXAMPLES = 45  # per operation, caller and mode: 12 operations x 2 x 2 x 45 > 2,000 requests
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def _fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, headers: dict[str, str],
          sent: Counter[int], client: ASGIClient) -> None:
    checks = CHECKS if mode is GenerationMode.POSITIVE else [not_a_server_error]

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case) -> None:
        response = case.call(session=client, headers=headers)
        sent[response.status_code] += 1
        if headers:
            case.validate_response(response, checks=checks, headers=headers)
        else:  # without a token: refused, never an error of the desk's own
            assert response.status_code in (400, 401, 404, 405, 422), response.status_code

    try:
        call()
    except Unsatisfiable:  # no invalid value exists (e.g. a path that takes any text)
        assert mode is GenerationMode.NEGATIVE
    except Exception as exc:
        exc.add_note(f"{operation.label}, {mode} data, {'admin token' if headers else 'no token'}")
        raise


def test_generated_requests_never_get_a_server_error(app: App, web: FastAPI,
                                                    request: pytest.FixtureRequest) -> None:
    for subject in ("sam", "kim"):
        file_case(app, subject=subject)
    raw = accounts.create_token(app.uow(), app.desk.clock, "fuzz", "admin")
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", web)
    sent: Counter[int] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    with get_client(web) as client:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                for headers in ({"Authorization": f"Bearer {raw}"}, {}):
                    _fuzz(operation, mode, headers, sent, client)
    total = sum(sent.values())  # the requests actually sent: counted as each one is answered
    # for the figures: --junitxml with -o junit_family=xunit1 writes it as a property
    request.node.user_properties.append(("requests_sent", total))
    assert total >= 2000, sent
    assert not any(code >= 500 for code in sent), sent
