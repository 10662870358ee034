"""A schema-driven fuzz run of the HTTP API: schemathesis reads the real server's
``/openapi.json`` and sends generated requests (valid and invalid) to every operation, with a
grant holding every scope and with none; no request may make the server answer 5xx. Bounded:
a few dozen examples per operation, no per-example deadline (tests never fail on timing)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from api_helpers import Built, bearer, build_memory, running
from hypothesis import HealthCheck, Phase, given, settings


@pytest.fixture(scope="module")
def built(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_memory(tmp_path_factory, media)


@pytest.fixture(scope="module")
def server(built: Built) -> Iterator[Any]:
    with running(built.data) as s:
        yield s


def test_generated_requests_never_make_the_server_fail(built: Built, server: Any) -> None:
    import schemathesis
    from schemathesis.checks import not_a_server_error

    from lifelog.api.grants import Grants

    _, token = Grants(built.data).add("fuzz", "all")
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations()]  # type: ignore[union-attr]
    assert {op.path for op in operations} >= {"/v1/ask", "/v1/search", "/v1/episodes/{episode_id}",
                                              "/v1/thumbnails/{thumb_id}", "/v1/people", "/v1/status"}
    statuses: dict[int, int] = {}
    def fuzz(op: Any, headers: dict[str, str]) -> None:
        @settings(max_examples=25, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def run(case: Any) -> None:
            response = case.call(base_url=server.url, headers=headers, timeout=120)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=[not_a_server_error])

        run()

    for op in operations:
        for headers in (bearer(token), {}):
            fuzz(op, headers)
    assert not any(s >= 500 for s in statuses), statuses
    assert statuses.get(200) and statuses.get(401) and statuses.get(422), statuses  # the run reached each path
