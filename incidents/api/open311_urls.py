"""Open311 GeoReport v2, mounted at /open311/v2/. Every resource ends in .json or .xml."""

from django.urls import re_path

from incidents.api import open311

app_name = "open311"

FMT = r"\.(?P<fmt>json|xml)$"

urlpatterns = [
    re_path(r"^discovery" + FMT, open311.DiscoveryApi.as_view(), name="discovery"),
    re_path(r"^services" + FMT, open311.ServiceListApi.as_view(), name="services"),
    re_path(r"^services/(?P<service_code>[^/]+?)" + FMT,
            open311.ServiceDefinitionApi.as_view(), name="service-definition"),
    re_path(r"^requests" + FMT, open311.ServiceRequestsApi.as_view(), name="requests"),
    re_path(r"^requests/(?P<service_request_id>[^/]+?)/updates" + FMT,
            open311.ServiceRequestUpdatesApi.as_view(), name="request-updates"),
    re_path(r"^requests/(?P<service_request_id>[^/]+?)" + FMT,
            open311.ServiceRequestDetailApi.as_view(), name="request"),
    re_path(r"^tokens/(?P<token>[^/]+?)" + FMT, open311.TokenDetailApi.as_view(),
            name="token"),
    re_path(r"^servicerequestupdates" + FMT, open311.ServiceRequestUpdatesApi.as_view(),
            name="updates"),
]
