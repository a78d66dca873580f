"""Events for the live map, published on commit over the Channels layer (Redis).

A broker outage must never fail or roll back the write that caused the event: the map
catches up from the API when it reconnects.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

LIVE_GROUP = "incidents.live"


def _send(payload: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(LIVE_GROUP, {"type": "incident.event", "event": payload})
    except Exception:
        logger.warning("live event not published: %s", payload.get("kind"), exc_info=True)


def event_publish_on_commit(*, kind: str, **data) -> None:
    payload = {"kind": kind, **data}
    transaction.on_commit(lambda: _send(payload))
