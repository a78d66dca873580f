"""The app's URLs plus the bare baseline endpoint (benchmark server only)."""

from django.urls import path

from benchmarks.bare import BarePlainInsertApi
from ops.urls import urlpatterns as app_urlpatterns

urlpatterns = [
    path("bench/bare/", BarePlainInsertApi.as_view(), name="bench-bare"),
    *app_urlpatterns,
]
