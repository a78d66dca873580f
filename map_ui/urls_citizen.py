"""Routes for the citizen pages."""

from django.urls import path

from map_ui import views_citizen

urlpatterns = [
    path("sw.js", views_citizen.service_worker, name="service-worker"),
    path("track/", views_citizen.track_lookup, name="track-lookup"),
    path("track/<str:code>/", views_citizen.track_detail, name="track-detail"),
    path("survey/<str:token>/", views_citizen.survey_page, name="survey"),
]
