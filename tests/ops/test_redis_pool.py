"""Django's cache objects are per thread and per context; their Redis connections are not."""

import threading

from django.core.cache import caches


def _cache_client_in_a_new_thread():
    found = {}

    def run():
        cache = caches["default"]
        cache.set("pool-probe", 1)
        found["pool"] = cache._cache._get_connection_pool(True)
        found["cache"] = cache

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return found


def test_cache_objects_of_two_threads_share_one_connection_pool():
    first, second = _cache_client_in_a_new_thread(), _cache_client_in_a_new_thread()

    assert first["cache"] is not second["cache"]
    assert first["pool"] is second["pool"]


def test_a_cache_round_trip_reuses_the_pooled_connection():
    cache = caches["default"]
    cache.set("pool-probe", 1)
    pool = cache._cache._get_connection_pool(True)
    opened = pool._created_connections

    for value in range(20):
        _cache_client_in_a_new_thread()
        cache.set("pool-probe", value)

    assert cache.get("pool-probe") == 19
    assert pool._created_connections == opened
