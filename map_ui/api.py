"""Map data the pages need beyond the domain APIs."""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from gis.network import road_lines_geojson


class BBoxZoomInput(serializers.Serializer):
    bbox = serializers.CharField()
    zoom = serializers.IntegerField(min_value=0, max_value=22)

    def validate_bbox(self, value: str) -> tuple[float, float, float, float]:
        try:
            x0, y0, x1, y1 = (float(v) for v in value.split(","))
        except ValueError as exc:
            raise serializers.ValidationError(
                _("bbox must be four numbers: min_lon,min_lat,max_lon,max_lat.")) from exc
        if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
            raise serializers.ValidationError(
                _("bbox must be min_lon,min_lat,max_lon,max_lat within -180..180 and -90..90."))
        return (x0, y0, x1, y1)


class RoadLinesApi(APIView):
    """The city's streets from the road network: the map's basemap when tiles cannot load."""

    permission_classes = [AllowAny]

    @extend_schema(parameters=[BBoxZoomInput], responses=OpenApiTypes.OBJECT,
                   summary="Streets in a box (GeoJSON)")
    def get(self, request):
        params = BBoxZoomInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        response = Response(road_lines_geojson(bbox=data["bbox"], zoom=data["zoom"]))
        response["Cache-Control"] = "public, max-age=3600"
        return response
