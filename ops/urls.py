from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ops.accounts import CitizenRegisterApi
from ops.views import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/v1/auth/register/", CitizenRegisterApi.as_view(), name="citizen-register"),
    path("api/v1/", include("incidents.api.urls")),
    path("api/v1/", include("crews.api.field_urls")),
    path("api/v1/", include("crews.api.urls")),
    path("open311/v2/", include("incidents.api.open311_urls")),
    path("alerts/", include("crews.api.alerts_urls")),  # storm mode: CAP 1.2 and Atom
    path("", include("incidents.channels.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("media/<path:path>", serve, {"document_root": settings.MEDIA_ROOT}),
    path("", include("map_ui.urls")),
]
