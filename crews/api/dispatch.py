"""Dispatcher API: plan routes, pin, lock, remove, reorder; crews and their trails."""

from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from crews.api.field import plan_payload
from crews.models import Crew, RoutePlan, RouteStop
from crews.selectors import crew_list_active, plan_list_by_ids, plan_list_current
from crews.services.dispatch import (
    dispatch_pin,
    dispatch_plan,
    dispatch_unpin,
    plan_reorder,
    stop_lock,
    stop_remove,
)
from crews.services.positions import crew_trail
from gis.models import ServiceArea
from incidents.api.permissions import IsDispatcher, IsStaffMember, user_department_ids
from incidents.models import Incident


def result_payload(result) -> dict:
    plans = plan_list_by_ids([p.pk for p in result.plans])
    return {
        "engine": result.engine, "matrix_source": result.matrix_source,
        "seconds": {k: round(v, 3) for k, v in result.seconds.items()},
        "plans": [plan_payload(p) | {"crew": p.crew.code} for p in plans],
        "unassigned": [{"incident_id": u.incident_id, "reason": u.reason}
                       for u in result.unassigned],
        "crews_not_used": [{"crew": c.crew.code, "reason": c.reason}
                           for c in result.crews_not_used],
    }


class DispatchPlanApi(APIView):
    permission_classes = [IsDispatcher]

    class InputSerializer(serializers.Serializer):
        crew_ids = serializers.ListField(child=serializers.IntegerField(), min_length=1,
                                         max_length=500)
        incident_ids = serializers.ListField(child=serializers.IntegerField(), required=False,
                                             max_length=10000)
        area = serializers.SlugField(required=False)
        budget_s = serializers.FloatField(required=False, min_value=0.1, max_value=60,
                                          default=2.0)

    @extend_schema(request=InputSerializer, summary="Plan crew routes",
                   responses=OpenApiTypes.OBJECT)
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        area = None
        if data.get("area"):
            area = ServiceArea.objects.filter(slug=data["area"]).first()
            if area is None:
                raise serializers.ValidationError({"area": [_("Unknown area.")]})
        # Dispatchers plan their departments' incidents only (admins: every department).
        department_ids = user_department_ids(request.user)
        if department_ids is not None and data.get("incident_ids"):
            foreign = sorted(Incident.objects.filter(pk__in=data["incident_ids"])
                             .exclude(department_id__in=department_ids)
                             .values_list("pk", flat=True))
            if foreign:
                raise PermissionDenied(_("Incidents %(ids)s belong to departments you do not "
                                         "dispatch for.") % {"ids": ", ".join(map(str, foreign))})
        result = dispatch_plan(crew_ids=data["crew_ids"], incident_ids=data.get("incident_ids"),
                               area=area, by=request.user, budget_s=data["budget_s"],
                               department_ids=department_ids)
        return Response(result_payload(result), status=status.HTTP_201_CREATED)


class PlanListApi(APIView):
    permission_classes = [IsStaffMember]

    @extend_schema(summary="Current route plans", responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response({"plans": [plan_payload(p) | {"crew": p.crew.code}
                                   for p in plan_list_current()]})


class PlanReorderApi(APIView):
    permission_classes = [IsDispatcher]

    class InputSerializer(serializers.Serializer):
        incident_ids = serializers.ListField(child=serializers.IntegerField(), min_length=1)

    @extend_schema(request=InputSerializer, summary="Reorder a plan's stops (locks them)",
                   responses=OpenApiTypes.OBJECT)
    def post(self, request, pk: int):
        plan = get_object_or_404(RoutePlan.objects.select_related("crew"), pk=pk,
                                 state=RoutePlan.State.PUBLISHED)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        new = plan_reorder(plan=plan, incident_ids=serializer.validated_data["incident_ids"],
                           by=request.user)
        new = plan_list_by_ids([new.pk]).get()
        return Response(plan_payload(new) | {"crew": new.crew.code})


class PinApi(APIView):
    permission_classes = [IsDispatcher]

    class InputSerializer(serializers.Serializer):
        incident = serializers.IntegerField()
        crew = serializers.IntegerField(required=False, allow_null=True)

    @extend_schema(request=InputSerializer, summary="Pin an incident to a crew (crew null "
                   "unpins)", responses=OpenApiTypes.OBJECT)
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident = get_object_or_404(Incident, pk=serializer.validated_data["incident"])
        crew_id = serializer.validated_data.get("crew")
        if crew_id is None:
            dispatch_unpin(incident=incident)
            return Response({"incident": incident.pk, "crew": None})
        crew = get_object_or_404(Crew, pk=crew_id)
        dispatch_pin(incident=incident, crew=crew, by=request.user)
        return Response({"incident": incident.pk, "crew": crew.pk})


class StopLockApi(APIView):
    permission_classes = [IsDispatcher]

    class InputSerializer(serializers.Serializer):
        locked = serializers.BooleanField()

    @extend_schema(request=InputSerializer, summary="Lock or unlock a stop's position",
                   responses=OpenApiTypes.OBJECT)
    def post(self, request, pk: int):
        stop = get_object_or_404(RouteStop, pk=pk)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        stop = stop_lock(stop=stop, locked=serializer.validated_data["locked"])
        return Response({"id": stop.pk, "locked": stop.locked})


class StopRemoveApi(APIView):
    permission_classes = [IsDispatcher]

    @extend_schema(request=None, summary="Remove a stop from its route",
                   responses=OpenApiTypes.OBJECT)
    def post(self, request, pk: int):
        stop = get_object_or_404(RouteStop, pk=pk)
        stop = stop_remove(stop=stop, by=request.user, note=request.data.get("note", ""))
        return Response({"id": stop.pk, "state": stop.state})


class CrewListApi(APIView):
    permission_classes = [IsStaffMember]

    @extend_schema(summary="Crews with their last known positions",
                   responses=OpenApiTypes.OBJECT)
    def get(self, request):
        crews = crew_list_active()
        return Response({"type": "FeatureCollection", "features": [{
            "type": "Feature", "id": c.pk,
            "geometry": ({"type": "Point", "coordinates": [c.last_position.x, c.last_position.y]}
                         if c.last_position else
                         {"type": "Point", "coordinates": [c.depot.x, c.depot.y]}),
            "properties": {"code": c.code, "name": c.name, "skills": c.skills,
                           "vehicle": c.vehicle, "capacity": c.capacity,
                           "last_position_at": c.last_position_at,
                           "at_depot": c.last_position is None},
        } for c in crews]})


class CrewTrailApi(APIView):
    permission_classes = [IsStaffMember]

    @extend_schema(summary="A crew's recent trail", responses=OpenApiTypes.OBJECT)
    def get(self, request, pk: int):
        crew = get_object_or_404(Crew, pk=pk)
        try:
            minutes = max(1, min(24 * 60, int(request.query_params.get("minutes", "30"))))
        except ValueError:
            raise serializers.ValidationError(  # noqa: B904
                {"minutes": [_("minutes must be a whole number.")]})
        trail = crew_trail(crew=crew, since=timezone.now() - timedelta(minutes=minutes))
        return Response({"type": "Feature", "geometry": {
            "type": "LineString", "coordinates": [[p.location.x, p.location.y] for p in trail]},
            "properties": {"crew": crew.code, "times": [p.recorded_at for p in trail]}})
