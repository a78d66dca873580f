"""Routes for the public pages and the open data downloads (no login anywhere)."""

from django.urls import path

from incidents.api import opendata
from map_ui import views_meetings, views_plows, views_public

urlpatterns = [
    path("meetings/<uuid:token>/", views_meetings.meeting_summary_page, name="meeting-summary"),
    path("public/", views_public.public_figures, name="public"),
    path("open-data/", views_public.open_data, name="open-data"),
    path("open-data/incidents.csv", opendata.IncidentsCsvApi.as_view(), name="open-data-csv"),
    path("open-data/incidents.geojson", opendata.IncidentsGeoJsonApi.as_view(),
         name="open-data-geojson"),
    path("open-data/plowed.geojson", views_plows.plowed_geojson, name="open-data-plowed"),
    path("public/plows/", views_plows.plow_map, name="plow-map"),
    path("public/plows/vehicles.geojson", views_plows.plow_vehicles_geojson,
         name="plow-vehicles"),
]
