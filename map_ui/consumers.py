"""Live updates for staff maps: every incident event published on commit.

Events are fire-and-forget (Redis pub/sub through the Channels layer): a page that was
disconnected catches up from the REST API. To know from when, it keeps the server clock it
last heard here: `hello` on connect and `pong` in answer to its `ping` both carry it. A page
that stops hearing pongs treats the socket as dead and reconnects.
"""

import asyncio
import contextlib

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from incidents.events import LIVE_GROUP

# channels_redis waits for a consumer's next message with a blocking BZPOPMIN of up to 5 s,
# and redis-py 8 gives every socket read a 5 s timeout by default: an idle consumer's read
# times out about every other time, the socket is closed (1011) and every console on the
# screen blinks "reconnecting". A message to itself more often than that keeps each wait
# short. (Not needed once CHANNEL_LAYERS sets "socket_timeout": None for its hosts.)
KEEPALIVE_S = 2.5


class LiveIncidentsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or (not user.is_staff and not await self._is_staff(user)):
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(LIVE_GROUP, self.channel_name)
        await self.accept()
        self._keepalive = asyncio.create_task(self._keep_waits_short())
        await self.send_json({"kind": "hello", "server_time": timezone.now().isoformat()})

    async def disconnect(self, code):
        task = getattr(self, "_keepalive", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.channel_layer.group_discard(LIVE_GROUP, self.channel_name)

    async def _keep_waits_short(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_S)
            with contextlib.suppress(Exception):  # a Redis hiccup must not end the loop
                await self.channel_layer.send(self.channel_name, {"type": "live.keepalive"})

    async def live_keepalive(self, message):
        """Nothing to do: its arrival is the point (see KEEPALIVE_S)."""

    @classmethod
    async def decode_json(cls, text_data):
        import json

        try:
            return json.loads(text_data)
        except ValueError:
            return None  # a garbled frame is ignored, not a reason to drop the socket

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"kind": "pong", "server_time": timezone.now().isoformat(),
                                  "t": content.get("t")})

    async def incident_event(self, message):
        await self.send_json(message["event"])

    async def incident_events(self, message):
        """A batch (incidents.events): each event goes to the page on its own, in order."""
        for event in message["events"]:
            await self.send_json(event)

    @staticmethod
    async def _is_staff(user) -> bool:
        from ops.roles import Role, user_has_role

        return await database_sync_to_async(user_has_role)(user, *Role.STAFF)
