"""Routes for the crew pages."""

from django.urls import path

from map_ui import views_crew

urlpatterns = [
    path("crew/", views_crew.crew_today, name="crew"),
]
