"""Live updates for staff maps: every incident event published on commit."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from incidents.events import LIVE_GROUP


class LiveIncidentsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or (not user.is_staff and not await self._is_staff(user)):
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(LIVE_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(LIVE_GROUP, self.channel_name)

    async def incident_event(self, message):
        await self.send_json(message["event"])

    @staticmethod
    async def _is_staff(user) -> bool:
        from channels.db import database_sync_to_async

        from ops.roles import Role, user_has_role

        return await database_sync_to_async(user_has_role)(user, *Role.STAFF)
