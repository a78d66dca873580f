"""Django's cache objects are per thread and per context; their Redis connections are not."""

import threading

from django.core.cache import caches


def _cache_in_a_new_thread() -> dict:
    found = {}

    def run():
        cache = caches["default"]
        cache.set("pool-probe", 1)
        found["cache"] = cache
        found["client"] = cache._cache.get_client(write=True)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return found


def test_cache_objects_of_two_threads_share_one_client_and_pool():
    first, second = _cache_in_a_new_thread(), _cache_in_a_new_thread()

    assert first["cache"] is not second["cache"]
    assert first["client"] is second["client"]
    assert first["client"].connection_pool is second["client"].connection_pool


def test_cache_round_trips_from_new_threads_reuse_the_pooled_connection():
    cache = caches["default"]
    cache.set("pool-probe", 1)
    pool = cache._cache.get_client(write=True).connection_pool
    opened = pool._created_connections

    for value in range(20):
        _cache_in_a_new_thread()
        cache.set("pool-probe", value)

    assert cache.get("pool-probe") == 19
    assert pool._created_connections == opened
