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
    not open a Redis connection per event); callers never wait."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.queue: asyncio.Queue | None = None
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,),
                                       name="rasad-live-events", daemon=True)
        self.thread.start()
        ready.wait(5)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.queue = asyncio.Queue(maxsize=_MAX_QUEUED)
        self.loop.create_task(self._drain())
        ready.set()
        self.loop.run_forever()

    async def _drain(self) -> None:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        while True:
            # What arrives within a short window goes as one message: a burst of reports
            # costs one group send per batch, not one per report (each send is several
            # Redis commands and a script).
            payloads = [await self.queue.get()]
            await asyncio.sleep(_BATCH_WINDOW_S)
            while len(payloads) < _MAX_BATCH and not self.queue.empty():
                payloads.append(self.queue.get_nowait())
            if layer is None:
                continue
            message = ({"type": "incident.event", "event": payloads[0]} if len(payloads) == 1
                       else {"type": "incident.events", "events": payloads})
            try:
                await layer.group_send(LIVE_GROUP, message)
            except Exception:
                logger.warning("%s live events not published, the first: %s", len(payloads),
                               payloads[0].get("kind"), exc_info=True)

    def _offer(self, payload: dict) -> None:
        try:
            self.queue.put_nowait(payload)
        except asyncio.QueueFull:
            logger.warning("live event backlog full; dropped %s", payload.get("kind"))

    def put(self, payload: dict) -> None:
        self.loop.call_soon_threadsafe(self._offer, payload)


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
