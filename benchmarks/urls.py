"""The app's URLs plus the bare baseline endpoints (benchmark server only)."""

from django.urls import path

from benchmarks.bare import BarePlainInsertApi, bare_signed_webhook, bare_signed_webhook_insert
from ops.urls import urlpatterns as app_urlpatterns

urlpatterns = [
    path("bench/bare/", BarePlainInsertApi.as_view(), name="bench-bare"),
    path("bench/bare-webhook/", bare_signed_webhook, name="bench-bare-webhook"),
    path("bench/bare-webhook-insert/", bare_signed_webhook_insert,
         name="bench-bare-webhook-insert"),
    *app_urlpatterns,
]
