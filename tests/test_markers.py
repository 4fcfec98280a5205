"""The markers that keep `make test-fast` to unit and property tests hold by themselves."""

from __future__ import annotations

import pytest

from tests import conftest


def test_a_test_using_a_server_or_process_fixture_carries_its_marker(
    request: pytest.FixtureRequest,
) -> None:
    """Whatever this run selected: nothing starts a server or a process unmarked."""
    for item in request.session.items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & conftest.SERVER_FIXTURES:
            assert item.get_closest_marker("server") is not None, item.nodeid
        if fixtures & conftest.SLOW_FIXTURES:
            assert item.get_closest_marker("slow") is not None, item.nodeid


def test_an_unmarked_test_that_starts_a_process_fails_in_a_run_without_them() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"mark it `pytest\.mark\.slow`"):
        conftest._FastRunPopen(["true"])


@pytest.mark.slow
def test_a_marked_test_may_start_a_process() -> None:
    with conftest._FastRunPopen(["true"]) as proc:
        assert proc.wait(timeout=60) == 0
