"""Dispatcher API: snow mode, plow routes covering a district's roads."""

from datetime import timedelta

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from crews.services.snow import (
    DEFAULT_ROAD_CLASSES,
    SnowPlanResult,
    SnowRoute,
    snow_district_get,
    snow_plan_create,
)
from gis.roads import DEFAULT_SPEED_KMH
from incidents.api.permissions import IsDispatcher


def _route_payload(route: SnowRoute) -> dict:
    plan = route.plan
    starts_at = plan.starts_at
    return {
        "plan_id": plan.pk, "version": plan.version, "kind": plan.kind,
        "crew": {"id": route.crew.pk, "code": route.crew.code, "name": route.crew.name},
        "engine": plan.engine, "starts_at": starts_at,
        "classes": [{"road_class": c.road_class, "covered_m": round(c.covered_m),
                     "starts_at": starts_at + _seconds(c.starts_s),
                     "ends_at": starts_at + _seconds(c.ends_s)} for c in route.classes],
        "required_m": round(route.required_m), "covered_m": round(route.covered_m),
        "deadhead_m": round(route.deadhead_m), "distance_m": round(plan.distance_m),
        "duration_s": round(plan.duration_s), "ends_at": starts_at + _seconds(plan.duration_s),
        "covered_edges": len(plan.covered_edges),
        "geometry": ({"type": "LineString", "coordinates": plan.geometry.coords}
                     if plan.geometry else None),
        "incidents": [{"stop_id": s.pk, "sequence": s.sequence, "incident_id": s.incident_id,
                       "category": s.incident.category.code, "eta": s.eta, "state": s.state}
                      for s in route.stops],
    }


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=round(value))


def snow_result_payload(result: SnowPlanResult) -> dict:
    return {
        "district": {"code": result.district.code, "area": result.district.area.slug,
                     "name": result.district.name},
        "road_classes": result.road_classes, "split": result.split,
        "required_m": {k: round(v) for k, v in sorted(result.required_m_by_class.items())},
        "routes": [_route_payload(route) for route in result.routes],
        "unreachable": [{"edge_id": u.edge_id, "road_class": u.road_class,
                         "length_m": round(u.length_m), "reason": u.reason}
                        for u in result.unreachable],
        "skipped_crews": [{"id": crew.pk, "code": crew.code, "reason": reason}
                          for crew, reason in result.skipped_crews],
        "seconds": {k: round(v, 3) for k, v in result.seconds.items()},
    }


class SnowPlanApi(APIView):
    """Plow routes over every road of the chosen classes in a district, primaries first,
    one published snow plan per plow; reported snow on those roads becomes their stops."""

    # Token first: an anonymous call gets 401 with a challenge, not 403.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsDispatcher]

    class InputSerializer(serializers.Serializer):
        district = serializers.SlugField(help_text=_("The district's code."))
        area = serializers.SlugField(required=False,
                                     help_text=_("Needed when several areas have the code."))
        road_classes = serializers.ListField(
            child=serializers.ChoiceField(choices=sorted(DEFAULT_SPEED_KMH)), min_length=1,
            max_length=len(DEFAULT_SPEED_KMH), default=lambda: list(DEFAULT_ROAD_CLASSES),
            help_text=_("OSM highway classes; each brings its _link roads."))
        crew_ids = serializers.ListField(
            child=serializers.IntegerField(), required=False, min_length=1, max_length=200,
            help_text=_("Plows; default: every active crew with the skill “plow” on shift."))

    @extend_schema(request=InputSerializer, summary="Plan snow plow routes for a district",
                   responses=OpenApiTypes.OBJECT)
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        district = snow_district_get(code=data["district"], area_slug=data.get("area"))
        result = snow_plan_create(district=district, road_classes=data["road_classes"],
                                  crew_ids=data.get("crew_ids"), by=request.user)
        return Response(snow_result_payload(result), status=status.HTTP_201_CREATED)
