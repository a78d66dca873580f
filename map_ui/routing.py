from django.urls import path

from map_ui.consumers import LiveIncidentsConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveIncidentsConsumer.as_asgi()),
]
