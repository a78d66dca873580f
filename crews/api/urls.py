from django.urls import path

from crews.api import storm
from crews.api.optimize import OptimizeApi

urlpatterns = [
    path("optimize", OptimizeApi.as_view(), name="optimize"),
    path("storm/modes/", storm.StormModeListCreateApi.as_view(), name="storm-modes"),
    path("storm/modes/<int:pk>/", storm.StormModeCancelApi.as_view(), name="storm-mode-cancel"),
    path("storm/active/", storm.StormActiveApi.as_view(), name="storm-active"),
    path("storm/dashboard/", storm.StormDashboardApi.as_view(), name="storm-dashboard"),
]
