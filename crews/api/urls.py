from django.urls import path

from crews.api.optimize import OptimizeApi

urlpatterns = [
    path("optimize", OptimizeApi.as_view(), name="optimize"),
]
