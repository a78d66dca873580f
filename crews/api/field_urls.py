"""Crew phone and dispatcher routes, under /api/v1/."""

from django.urls import path

from crews.api import dispatch, field, snow

urlpatterns = [
    path("crew/today/", field.CrewTodayApi.as_view(), name="crew-today"),
    path("crew/positions/", field.PositionsApi.as_view(), name="crew-positions"),
    path("crew/stops/<int:incident_id>/<str:action>/", field.StopActionApi.as_view(),
         name="crew-stop-action"),
    path("crews/", dispatch.CrewListApi.as_view(), name="crew-list"),
    path("crews/<int:pk>/trail/", dispatch.CrewTrailApi.as_view(), name="crew-trail"),
    path("dispatch/plan/", dispatch.DispatchPlanApi.as_view(), name="dispatch-plan"),
    path("dispatch/pin/", dispatch.PinApi.as_view(), name="dispatch-pin"),
    path("dispatch/snow/", snow.SnowPlanApi.as_view(), name="dispatch-snow"),
    path("plans/", dispatch.PlanListApi.as_view(), name="plan-list"),
    path("plans/<int:pk>/reorder/", dispatch.PlanReorderApi.as_view(), name="plan-reorder"),
    path("stops/<int:pk>/lock/", dispatch.StopLockApi.as_view(), name="stop-lock"),
    path("stops/<int:pk>/remove/", dispatch.StopRemoveApi.as_view(), name="stop-remove"),
]
