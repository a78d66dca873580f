from django.urls import path

from map_ui import views

urlpatterns = [
    path("", views.home, name="home"),
]
