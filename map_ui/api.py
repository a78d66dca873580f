"""Map data the pages need beyond the domain APIs."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from gis.api_fields import BBoxField
from gis.network import road_lines_geojson


class BBoxZoomInput(serializers.Serializer):
    bbox = BBoxField()
    zoom = serializers.IntegerField(min_value=0, max_value=22)


class RoadLinesApi(APIView):
    """The city's streets from the road network: the map's basemap when tiles cannot load."""

    permission_classes = [AllowAny]

    @extend_schema(parameters=[BBoxZoomInput], responses=OpenApiTypes.OBJECT,
                   summary="Streets in a box (GeoJSON)")
    def get(self, request):
        params = BBoxZoomInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        response = Response(road_lines_geojson(bbox=data["bbox"].extent, zoom=data["zoom"]))
        response["Cache-Control"] = "public, max-age=3600"
        return response
