from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token

from incidents.api import desk, feedback, inbox, publish, survey, views

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("categories/", views.CategoryListApi.as_view(), name="category-list"),
    path("reports/", views.ReportCreateApi.as_view(), name="report-create"),
    path("reports/mine/", views.ReportMineApi.as_view(), name="report-mine"),
    path("track/<str:code>/", views.ReportTrackApi.as_view(), name="report-track"),
    path("track/<str:code>/confirm/", feedback.ReportConfirmApi.as_view(), name="report-confirm"),
    path("track/<str:code>/reopen/", feedback.ReportReopenApi.as_view(), name="report-reopen"),
    path("survey/<str:token>/", survey.SurveyApi.as_view(), name="survey-api"),
    path("incidents/", views.IncidentListApi.as_view(), name="incident-list"),
    path("incidents/nearby/", views.IncidentNearbyApi.as_view(), name="incident-nearby"),
    path("incidents/<int:pk>/", views.IncidentDetailApi.as_view(), name="incident-detail"),
    path("incidents/<int:pk>/transition/", views.IncidentTransitionApi.as_view(),
         name="incident-transition"),
    path("incidents/<int:pk>/notes/", views.IncidentNoteApi.as_view(), name="incident-note"),
    path("incidents/<int:pk>/publish/", publish.IncidentPublishApi.as_view(),
         name="incident-publish"),
    path("incidents/<int:pk>/merge/", views.IncidentMergeApi.as_view(), name="incident-merge"),
    path("incidents/<int:pk>/split/", views.IncidentSplitApi.as_view(), name="incident-split"),
    path("incidents/<int:pk>/join/", views.IncidentJoinApi.as_view(), name="incident-join"),
    path("inbox/", inbox.InboxListApi.as_view(), name="inbox-list"),
    path("inbox/<int:pk>/", inbox.InboxItemApi.as_view(), name="inbox-item"),
    path("inbox/<int:pk>/file/", inbox.InboxItemFileApi.as_view(), name="inbox-file"),
    path("inbox/<int:pk>/close/", inbox.InboxItemCloseApi.as_view(), name="inbox-close"),
    path("inbox/media/<int:pk>/", inbox.InboundMediaApi.as_view(), name="inbox-media"),
    path("contacts/<int:pk>/block/", inbox.ContactBlockApi.as_view(), name="contact-block"),
    path("contacts/<int:pk>/unblock/", inbox.ContactUnblockApi.as_view(),
         name="contact-unblock"),
    path("desk/caller/", desk.CallerLookupApi.as_view(), name="desk-caller"),
    path("geocode/", desk.GeocodeApi.as_view(), name="geocode"),
]
