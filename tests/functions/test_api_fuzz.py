"""Schemathesis against the served OpenAPI document: malformed input is 4xx, never 5xx.

Bounded (`max_examples` per operation) so it fits CI; runs against the real server over
HTTP with a valid all-entities token, so generated requests reach the handlers and their
validation, not only the auth check. (Driven through schemathesis' hypothesis strategies:
its pytest plugin does not load under this pytest.)
"""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from evaljobs.settings import get_settings
from evaljobs.stores.sqlite_triggers import SqliteTriggerStore
from functions.serve import build_app
from tests.support.live_server import live_server

EXAMPLES = 25


def test_no_generated_request_gets_a_server_error(home: Path) -> None:
    app = build_app(get_settings(), workers=0, scheduler_poll_s=3600)
    token = SqliteTriggerStore(get_settings().db_path).create_token("fuzz", ["*"])
    headers = {"Authorization": f"Bearer {token}"}
    with live_server(app) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 15
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(
                    base_url=url, headers=headers, checks=[not_a_server_error, response_schema_conformance]
                )

            check()
