"""Routes for the console pages and their map data."""

from django.urls import path

from map_ui import (
    api_console,
    api_dashboard,
    views_alerts,
    views_console,
    views_dashboard,
    views_inbox,
    views_report,
)

urlpatterns = [
    path("console/", views_console.console, name="console"),
    path("console/inbox/", views_inbox.inbox, name="console-inbox"),
    path("console/intake/", views_inbox.desk, name="console-intake"),
    path("console/meetings/", views_inbox.meetings, name="console-meetings"),
    path("console/dashboard/", views_dashboard.dashboard, name="console-dashboard"),
    path("console/notices/", views_alerts.notices_console, name="console-notices"),
    path("console/dashboard/report/", views_report.monthly_report_download,
         name="console-dashboard-report"),
    path("api/v1/map/incidents/", api_console.MapIncidentsApi.as_view(), name="map-incidents"),
    path("api/v1/dashboard/", api_dashboard.DashboardApi.as_view(), name="dashboard-api"),
]
