"""Routes for the console pages and their map data."""

from django.urls import path

from map_ui import api_console, views_console, views_inbox

urlpatterns = [
    path("console/", views_console.console, name="console"),
    path("console/inbox/", views_inbox.inbox, name="console-inbox"),
    path("console/intake/", views_inbox.desk, name="console-intake"),
    path("api/v1/map/incidents/", api_console.MapIncidentsApi.as_view(), name="map-incidents"),
]
