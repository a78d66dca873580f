"""The submit throttle: exact near the limit, few Redis round trips far below it."""

import pytest
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from ops.throttles import SubmitRateThrottle


class _View:
    throttle_scope = "submit"


@pytest.fixture
def per_day(settings):
    def set_rate(limit: int) -> None:
        settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {
            "DEFAULT_THROTTLE_RATES": {"submit": f"{limit}/minute"}}

    return set_rate


def _request(address: str = "192.0.2.7") -> Request:
    from django.contrib.auth.models import AnonymousUser

    request = Request(APIRequestFactory().post("/", REMOTE_ADDR=address))
    request.user = AnonymousUser()
    return request


def _in_redis(address: str = "192.0.2.7") -> int:
    keys = cache._cache.get_client(write=True).keys(cache.make_key(f"throttle:submit:{address}:*"))
    return sum(int(cache._cache.get_client().get(key)) for key in keys)


def test_the_request_after_the_limit_is_refused_exactly(per_day):
    per_day(100)
    throttle = SubmitRateThrottle()

    decisions = [throttle.allow_request(_request(), _View) for _ in range(101)]

    assert decisions == [True] * 100 + [False]
    assert _in_redis() == 101


def test_far_below_the_limit_requests_reach_redis_in_batches(per_day):
    per_day(10_000)
    throttle = SubmitRateThrottle()

    decisions = [throttle.allow_request(_request(), _View) for _ in range(50)]

    assert decisions == [True] * 50
    assert _in_redis() == 1  # the first request; the next 49 fit in 1/20 of the headroom


def test_a_small_public_limit_counts_every_request_in_redis(per_day):
    per_day(10)
    throttle = SubmitRateThrottle()

    decisions = [throttle.allow_request(_request(), _View) for _ in range(12)]

    assert decisions == [True] * 10 + [False, False]
    assert _in_redis() == 12


def test_clients_are_counted_apart(per_day):
    per_day(2)
    throttle = SubmitRateThrottle()

    first = [throttle.allow_request(_request("192.0.2.1"), _View) for _ in range(3)]
    second = [throttle.allow_request(_request("192.0.2.2"), _View) for _ in range(2)]

    assert first == [True, True, False]
    assert second == [True, True]
