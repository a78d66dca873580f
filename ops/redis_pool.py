"""One Redis connection pool per process and URL for Django's cache.

Django keeps a cache object per thread and per async context; under a2wsgi every request
runs in a fresh context, so RedisCache built a new pool, and with it a new connection (TCP
handshake, HELLO, CLIENT SETINFO), on every request that touched the cache. This pool class
hands every cache object of the process the same thread-safe pool, so connections are
reused. redis-py's pool resets itself in a forked child (it checks the pid)."""

import threading

import redis

_lock = threading.Lock()
_pools: dict[tuple, redis.ConnectionPool] = {}


class SharedConnectionPool(redis.ConnectionPool):
    @classmethod
    def from_url(cls, url: str, **kwargs) -> redis.ConnectionPool:
        key = (url, tuple(sorted((name, repr(value)) for name, value in kwargs.items())))
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = super().from_url(url, **kwargs)
            return pool
