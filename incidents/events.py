"""Events for the live map, published on commit over the Channels layer (Redis).

A broker outage must never fail or roll back the write that caused the event, and a request
must not wait for Redis: events go to a queue that one background thread per process sends,
on one event loop that keeps its Redis connections. The map catches up from the API when it
reconnects, so an event lost in a crash costs nothing but a refresh.
"""

import asyncio
import logging
import os
import threading

from django.db import transaction

logger = logging.getLogger(__name__)

LIVE_GROUP = "incidents.live"
_MAX_QUEUED = 10_000


class _Publisher:
    """An event loop on a daemon thread; callers hand it coroutines and never wait."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.pending = 0
        self.thread = threading.Thread(target=self.loop.run_forever, name="rasad-live-events",
                                       daemon=True)
        self.thread.start()

    async def _send(self, payload: dict) -> None:
        from channels.layers import get_channel_layer

        try:
            layer = get_channel_layer()
            if layer is not None:
                await layer.group_send(LIVE_GROUP, {"type": "incident.event", "event": payload})
        except Exception:
            logger.warning("live event not published: %s", payload.get("kind"), exc_info=True)
        finally:
            self.pending -= 1

    def put(self, payload: dict) -> None:
        if self.pending >= _MAX_QUEUED:
            logger.warning("live event backlog full; dropped %s", payload.get("kind"))
            return
        self.pending += 1
        asyncio.run_coroutine_threadsafe(self._send(payload), self.loop)


_publisher: _Publisher | None = None
_lock = threading.Lock()


def _publisher_get() -> _Publisher:
    global _publisher
    with _lock:
        # A forked worker inherits the object but not the thread: start its own.
        if _publisher is None or _publisher.pid != os.getpid():
            _publisher = _Publisher()
        return _publisher


def event_publish(payload: dict) -> None:
    _publisher_get().put(payload)


def event_publish_on_commit(*, kind: str, **data) -> None:
    payload = {"kind": kind, **data}
    transaction.on_commit(lambda: event_publish(payload))
