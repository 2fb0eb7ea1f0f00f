"""The suite's tiers (tests/tiers.py): marks from fixtures, and what a test does when its service is missing."""
from __future__ import annotations

import socket

import pytest

from tiers import address, is_ci, marks_for, unreachable, when_missing


def test_the_tier_marks_come_from_the_fixtures_a_test_uses():
    assert marks_for(["store", "live_bot"]) == ("live",)
    assert marks_for(["page", "postgres_url", "redis_url"]) == ("browser", "postgres", "redis")
    assert marks_for(["store", "database_url"], database_param="postgresql") == ("postgres",)
    assert marks_for(["store", "database_url"], database_param="sqlite") == ()


def test_without_the_service_a_test_is_skipped_naming_the_service_and_its_address():
    action, message = when_missing("redis", "redis://10.1.2.3:6390/5", "TEST_REDIS_URL", "refused", {})
    assert action == "skip"
    assert "Redis" in message and "10.1.2.3:6390" in message and "TEST_REDIS_URL" in message


def test_under_ci_a_missing_service_fails_the_test():
    action, message = when_missing("postgres", "postgresql://postgres@127.0.0.1/test", "TEST_POSTGRES_URL",
                                   "refused", {"CI": "true"})
    assert action == "fail"
    assert "PostgreSQL" in message and "127.0.0.1:5432" in message and "CI=true" in message


@pytest.mark.parametrize("value, expected", [("true", True), ("TRUE", True), ("", False), ("false", False), ("1", False)])
def test_only_ci_true_counts_as_ci(value, expected):
    assert is_ci({"CI": value}) is expected
    assert is_ci({}) is False


def test_a_closed_port_is_unreachable_and_an_open_one_is_not():
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert unreachable("127.0.0.1", port) is None
    assert unreachable("127.0.0.1", port) is not None
    assert address("redis://127.0.0.1/5", 6379) == ("127.0.0.1", 6379)


def test_the_marks_are_set_on_the_collected_tests(request):
    assert request.node.get_closest_marker("unit") is not None
    assert request.node.get_closest_marker("postgres") is None
