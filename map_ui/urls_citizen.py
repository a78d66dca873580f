"""Routes for the citizen pages."""

from django.urls import path, re_path

from map_ui import views_alerts, views_citizen

urlpatterns = [
    path("sw.js", views_citizen.service_worker, name="service-worker"),
    path("track/", views_citizen.track_lookup, name="track-lookup"),
    path("track/<str:code>/", views_citizen.track_detail, name="track-detail"),
    path("survey/<str:token>/", views_citizen.survey_page, name="survey"),
    path("alerts/", views_alerts.alerts_page, name="alerts"),
    path("alerts/district/<slug:district_code>/", views_alerts.alerts_page,
         name="alerts-district"),
    path("alerts/confirm/<str:token>/", views_alerts.alert_confirm_page, name="alert-confirm-page"),
    path("alerts/manage/<str:token>/", views_alerts.alert_manage_page, name="alert-manage-page"),
    # /alerts/feed.atom and /alerts/cap.xml are the storm mode's feeds, not districts.
    re_path(r"^alerts/(?P<district>(?!feed$|cap$)[-\w]+)\.atom$", views_alerts.district_feed,
            name="alerts-feed"),
]
