"""Routes for the public pages and the open data downloads (no login anywhere)."""

from django.urls import path

from incidents.api import opendata
from map_ui import views_public

urlpatterns = [
    path("public/", views_public.public_figures, name="public"),
    path("open-data/", views_public.open_data, name="open-data"),
    path("open-data/incidents.csv", opendata.IncidentsCsvApi.as_view(), name="open-data-csv"),
    path("open-data/incidents.geojson", opendata.IncidentsGeoJsonApi.as_view(),
         name="open-data-geojson"),
]
