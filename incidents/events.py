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
_MAX_BATCH = 50
_BATCH_WINDOW_S = 0.025  # added to the live map's latency (its target is under 1 s)


class _Publisher:
    """An event loop on a daemon thread sending queued events in small batches (a burst must
    not open a Redis connection per event); callers never wait.

    Callers append to a list under a lock; only the first event of a batch wakes the loop
    (a cross-thread wake-up is a system call and a thread switch), which then waits
    _BATCH_WINDOW_S for the rest of the batch."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.lock = threading.Lock()
        self.pending: list[dict] = []
        self.woken = False
        self.wake: asyncio.Event | None = None
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,),
                                       name="rasad-live-events", daemon=True)
        self.thread.start()
        ready.wait(5)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.wake = asyncio.Event()
        self.loop.create_task(self._drain())
        ready.set()
        self.loop.run_forever()

    async def _drain(self) -> None:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        while True:
            await self.wake.wait()
            self.wake.clear()
            # What arrives within a short window goes as one message: a burst of reports
            # costs one group send per batch, not one per report (each send is several
            # Redis commands and a script).
            await asyncio.sleep(_BATCH_WINDOW_S)
            with self.lock:
                payloads, self.pending, self.woken = self.pending, [], False
            if layer is None:
                continue
            for start in range(0, len(payloads), _MAX_BATCH):
                await self._send(layer, payloads[start:start + _MAX_BATCH])

    @staticmethod
    async def _send(layer, payloads: list[dict]) -> None:
        message = ({"type": "incident.event", "event": payloads[0]} if len(payloads) == 1
                   else {"type": "incident.events", "events": payloads})
        try:
            await layer.group_send(LIVE_GROUP, message)
        except Exception:
            logger.warning("%s live events not published, the first: %s", len(payloads),
                           payloads[0].get("kind"), exc_info=True)

    def put(self, payload: dict) -> None:
        with self.lock:
            if len(self.pending) >= _MAX_QUEUED:
                logger.warning("live event backlog full; dropped %s", payload.get("kind"))
                return
            self.pending.append(payload)
            first, self.woken = not self.woken, True
        if first:
            self.loop.call_soon_threadsafe(self.wake.set)


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
