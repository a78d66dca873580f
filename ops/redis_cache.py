"""Django's Redis cache, with one connection pool and one client per process and server.

Django keeps a cache object per thread and per async context; under a2wsgi every request
runs in a fresh context, so the stock backend built a new pool, and with it a new
connection (TCP handshake, HELLO, CLIENT SETINFO), for every request that touched the
cache, plus a new redis-py client (it registers some 170 response callbacks) for every
call. Both are thread-safe and are shared here. redis-py's pool resets itself in a forked
child (it checks the pid)."""

import threading

import redis
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

_lock = threading.Lock()
_pools: dict[tuple[str, str], redis.ConnectionPool] = {}
_clients: dict[int, redis.Redis] = {}


class SharedRedisCacheClient(RedisCacheClient):
    def _get_connection_pool(self, write: bool) -> redis.ConnectionPool:
        url = self._servers[self._get_connection_pool_index(write)]
        key = (url, repr(sorted(self._pool_options.items())))
        pool = _pools.get(key)
        if pool is None:
            with _lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = _pools[key] = self._pool_class.from_url(url, **self._pool_options)
        return pool

    def get_client(self, key=None, *, write: bool = False) -> redis.Redis:
        pool = self._get_connection_pool(write)
        client = _clients.get(id(pool))
        if client is None:
            with _lock:
                client = _clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedRedisCacheClient
