"""Open data downloads: every incident as CSV or GeoJSON, for anyone, streamed.

The rows come from a server-side cursor a chunk at a time (incidents.opendata), and the
response is a StreamingHttpResponse over them: HTTP is served through a2wsgi (ops/asgi.py),
which iterates the body in one worker thread with a bounded queue, so memory stays flat
however many rows a download holds. A bad filter is refused before anything is read."""

from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from incidents.opendata import (
    csv_stream,
    export_language,
    geojson_stream,
    opendata_chunks,
    opendata_filters_parse,
)


class AnyAccept(BaseContentNegotiation):
    """The body is the file whatever the client accepts; errors are JSON."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


FILTER_PARAMETERS = [
    OpenApiParameter("opened_from", OpenApiTypes.DATE,
                     description="First reported on or after this date (YYYY-MM-DD, the "
                                 "city's local date)."),
    OpenApiParameter("opened_to", OpenApiTypes.DATE,
                     description="First reported on or before this date."),
    OpenApiParameter("category", str, description="Category codes, comma-separated."),
    OpenApiParameter("district", str, description="District codes, comma-separated."),
    OpenApiParameter("status", str,
                     description="Status codes, or open / closed, comma-separated."),
]


def _download(request, *, stream, content_type: str, extension: str) -> StreamingHttpResponse:
    filters = opendata_filters_parse(request.query_params)
    now = timezone.now()
    chunks = opendata_chunks(filters=filters, language=export_language(), now=now)
    response = StreamingHttpResponse(stream(chunks, now), content_type=content_type)
    name = f"rasad-incidents-{now:%Y%m%d}.{extension}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    licence_name = settings.RASAD_OPEN_DATA_LICENCE.replace('"', "'")
    response["Link"] = f'<{settings.RASAD_OPEN_DATA_LICENCE_URL}>; rel="license"; ' \
                       f'title="{licence_name}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


class OpenDataApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []  # public: no session, no CSRF
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AnyAccept


class IncidentsCsvApi(OpenDataApi):
    """Every incident (merged ones left out) as CSV, UTF-8 with a byte-order mark; the
    columns are documented at /open-data/."""

    @extend_schema(parameters=FILTER_PARAMETERS, summary="Open data: incidents as CSV",
                   responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)})
    def get(self, request):
        return _download(request, stream=lambda chunks, _now: csv_stream(chunks),
                         content_type="text/csv; charset=utf-8", extension="csv")


class IncidentsGeoJsonApi(OpenDataApi):
    """Every incident (merged ones left out) as a GeoJSON FeatureCollection, with the
    licence in its `licence` member."""

    @extend_schema(parameters=FILTER_PARAMETERS, summary="Open data: incidents as GeoJSON",
                   responses={(200, "application/geo+json"): OpenApiResponse(
                       OpenApiTypes.OBJECT)})
    def get(self, request):
        return _download(request, stream=lambda chunks, now: geojson_stream(
                             chunks, generated_at=now),
                         content_type="application/geo+json; charset=utf-8",
                         extension="geojson")
