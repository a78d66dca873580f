from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from map_ui import api, views

urlpatterns = [
    path("", views.home, name="home"),
    path("after-login/", views.after_login, name="after-login"),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="map_ui/login.html"),
         name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("api/v1/map/roads/", api.RoadLinesApi.as_view(), name="map-roads"),
    path("", include("map_ui.urls_citizen")),
    path("", include("map_ui.urls_console")),
    path("", include("map_ui.urls_crew")),
    path("", include("map_ui.urls_public")),
]
