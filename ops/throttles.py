"""Rate limits for public submissions: a fixed-window counter per client and scope.

DRF's SimpleRateThrottle keeps a list of every request time per client and rewrites it on each
request; a counter is one Redis INCR. Rates are read per request, so a changed setting
(tests, a live reconfiguration) applies at once."""

import time

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    count, period = rate.split("/")
    return int(count), DURATIONS[period[0]]


class SubmitRateThrottle(BaseThrottle):
    """Throttles views with `throttle_scope`, by user id or client address."""

    def allow_request(self, request, view) -> bool:
        scope = getattr(view, "throttle_scope", None)
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope) if scope else None
        if not rate:
            return True
        self.limit, self.period = parse_rate(rate)
        ident = (f"u{request.user.pk}" if request.user and request.user.is_authenticated
                 else self.get_ident(request))
        now = time.time()
        window = int(now // self.period)
        self.window_ends = (window + 1) * self.period - now
        return self._count(f"throttle:{scope}:{ident}:{window}") <= self.limit

    def _count(self, name: str) -> int:
        redis_backend = getattr(cache, "_cache", None)
        if not hasattr(redis_backend, "get_client"):  # another cache backend: two calls
            if cache.add(name, 1, timeout=self.period + 1):
                return 1
            return cache.incr(name)
        # Redis: one round trip, INCR plus a lifetime set by the window's first request.
        key = cache.make_and_validate_key(name)
        pipe = redis_backend.get_client(key, write=True).pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, self.period + 1, nx=True)
        count, _set = pipe.execute()
        return count

    def wait(self) -> float | None:
        return getattr(self, "window_ends", None)
