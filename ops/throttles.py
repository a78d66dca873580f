"""Rate limits for public submissions: a fixed-window counter per client and scope.

DRF's SimpleRateThrottle keeps a list of every request time per client and rewrites it on each
request; a counter is one Redis INCR. Rates are read per request, so a changed setting
(tests, a live reconfiguration) applies at once.

Far below its limit a client's count need not be exact to the request, and a Redis round
trip per request is most of what the throttle costs. So each process may admit, on its
own, up to 1/SLACK_DIVISOR of the headroom it last saw (limit minus the count in Redis),
and adds those requests to Redis with its next round trip. Near the limit the headroom is
small and every request goes to Redis, so for one process the limit is exact (the
(limit+1)th request of a window is refused); with P processes serving one client it can get
at most P/SLACK_DIVISOR of the limit more. A public limit of a few dozen a minute is
always counted exactly."""

import threading
import time
from dataclasses import dataclass

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SLACK_DIVISOR = 20
_MAX_TRACKED = 4096  # windows tracked per process before ended ones are dropped


def parse_rate(rate: str) -> tuple[int, int]:
    count, period = rate.split("/")
    return int(count), DURATIONS[period[0]]


@dataclass
class _Window:
    seen: int  # the count in Redis at this process's last round trip
    pending: int  # admitted here since, not yet added to Redis
    ends_at: float


_windows: dict[str, _Window] = {}
_lock = threading.Lock()


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
        return self._count(f"throttle:{scope}:{ident}:{window}",
                           ends_at=(window + 1) * self.period) <= self.limit

    def _count(self, name: str, *, ends_at: float) -> int:
        """This request's place in the window's count (exact near the limit)."""
        redis_backend = getattr(cache, "_cache", None)
        if not hasattr(redis_backend, "get_client"):  # another cache backend: two calls
            if cache.add(name, 1, timeout=self.period + 1):
                return 1
            return cache.incr(name)
        key = cache.make_and_validate_key(name)
        with _lock:
            state = _windows.get(key)
            if state is not None:
                if state.pending + 1 <= (self.limit - state.seen) // SLACK_DIVISOR:
                    state.pending += 1
                    return state.seen + state.pending
                amount, state.pending = state.pending + 1, 0
            else:
                amount = 1
        # One round trip: the requests admitted here since the last one, plus this one, and
        # a lifetime set by the window's first request.
        pipe = redis_backend.get_client(key, write=True).pipeline(transaction=False)
        pipe.incrby(key, amount)
        pipe.expire(key, self.period + 1, nx=True)
        count, _set = pipe.execute()
        with _lock:
            state = _windows.get(key)
            if state is None:
                if len(_windows) >= _MAX_TRACKED:
                    _windows_drop_ended()
                _windows[key] = _Window(seen=count, pending=0, ends_at=ends_at)
            else:
                state.seen = max(state.seen, count)
        return count

    def wait(self) -> float | None:
        return getattr(self, "window_ends", None)


def _windows_drop_ended() -> None:
    now = time.time()
    for key in [key for key, state in _windows.items() if state.ends_at <= now]:
        del _windows[key]
    if len(_windows) >= _MAX_TRACKED:  # all still running: forget the oldest half
        for key in list(_windows)[: _MAX_TRACKED // 2]:
            del _windows[key]
