"""The crew phone API: today's plan, stop actions, GPS pings."""

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from crews.exceptions import NotCrewMember
from crews.selectors import crew_for_user, plan_current, shift_current_or_next
from crews.services.field import ACTIONS, stop_act
from crews.services.positions import Ping, positions_record
from ops.roles import Role, user_has_role


class IsCrewMember(BasePermission):
    message = gettext_lazy("Only crew members may do this.")

    def has_permission(self, request, view) -> bool:
        return user_has_role(request.user, Role.CREW)


def geo_uri(lon: float, lat: float) -> str:
    return f"geo:{lat:.6f},{lon:.6f}?q={lat:.6f},{lon:.6f}"


def plan_payload(plan, request=None) -> dict:
    stops = []
    for stop in plan.stops.all():
        incident = stop.incident
        stops.append({
            "id": stop.pk, "sequence": stop.sequence, "state": stop.state,
            "locked": stop.locked, "eta": stop.eta, "departs_at": stop.departs_at,
            "service_s": stop.service_s, "travel_s": round(stop.travel_s),
            "distance_m": round(stop.distance_m),
            "incident": {
                "id": incident.pk, "status": incident.status, "version": incident.version,
                "category": incident.category.code,
                "category_name": incident.category.name_in(),
                "priority": incident.priority, "report_count": incident.report_count,
                "photo_required_to_resolve": incident.category.photo_required_to_resolve,
                "location": {"type": "Point",
                             "coordinates": [incident.location.x, incident.location.y]},
            },
            "navigate": geo_uri(incident.location.x, incident.location.y),
        })
    return {
        "id": plan.pk, "crew": plan.crew.code if hasattr(plan, "crew") else None,
        "version": plan.version, "kind": plan.kind, "covered_m": round(plan.covered_m),
        "engine": plan.engine, "matrix_source": plan.matrix_source,
        "starts_at": plan.starts_at, "distance_m": round(plan.distance_m),
        "duration_s": round(plan.duration_s),
        "geometry": ({"type": "LineString", "coordinates": plan.geometry.coords}
                     if plan.geometry else None),
        "stops": stops,
    }


class CrewTodayApi(APIView):
    permission_classes = [IsCrewMember]

    @extend_schema(summary="Today's plan for my crew",
                   responses=OpenApiTypes.OBJECT)
    def get(self, request):
        crew = crew_for_user(request.user)
        if crew is None:
            raise NotCrewMember(_("You are not a member of an active crew."))
        plan = plan_current(crew)
        shift = shift_current_or_next(crew)
        return Response({
            "crew": {"id": crew.pk, "code": crew.code, "name": crew.name,
                     "skills": crew.skills,
                     "shift": {"starts_at": shift.starts_at, "ends_at": shift.ends_at}
                     if shift else None},
            "plan": plan_payload(plan, request) if plan else None,
            "server_time": timezone.now(),
        })


class StopActionApi(APIView):
    """en_route, on_site, resolved, cannot_fix or note on one stop of my route."""

    permission_classes = [IsCrewMember]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    class InputSerializer(serializers.Serializer):
        client_id = serializers.CharField(max_length=100)
        version = serializers.IntegerField(required=False, min_value=1)
        note = serializers.CharField(required=False, allow_blank=True, max_length=4000)
        before_photos = serializers.ListField(child=serializers.FileField(), required=False,
                                              max_length=5)
        after_photos = serializers.ListField(child=serializers.FileField(), required=False,
                                             max_length=5)

    @extend_schema(request={"multipart/form-data": InputSerializer,
                            "application/json": InputSerializer},
                   summary="Act on a stop (idempotent by client_id)",
                   responses={200: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT})
    def post(self, request, incident_id: int, action: str):
        raw = request.data
        if hasattr(raw, "getlist"):
            raw = {k: raw.get(k) for k in raw if not k.endswith("_photos")} | {
                "before_photos": request.FILES.getlist("before_photos"),
                "after_photos": request.FILES.getlist("after_photos")}
        serializer = self.InputSerializer(data=raw)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if action not in ACTIONS:
            from incidents.exceptions import NotFound

            raise NotFound(_("Unknown action “%(a)s”.") % {"a": action})
        photos = [(f.name, f.read(), "before") for f in data.get("before_photos", [])] + [
            (f.name, f.read(), "after") for f in data.get("after_photos", [])]
        result = stop_act(user=request.user, incident_id=incident_id, action=action,
                          client_id=data["client_id"], version=data.get("version"),
                          note=data.get("note", ""), photos=photos)
        response = Response(result.body, status=result.status_code)
        response["Idempotent-Replayed"] = "true" if result.replayed else "false"
        return response


class PositionsApi(APIView):
    """A batch of GPS pings with the device's timestamps."""

    permission_classes = [IsCrewMember]

    class PingSerializer(serializers.Serializer):
        lon = serializers.FloatField()
        lat = serializers.FloatField()
        recorded_at = serializers.CharField()
        accuracy_m = serializers.FloatField(required=False, allow_null=True)
        speed_mps = serializers.FloatField(required=False, allow_null=True)
        heading_deg = serializers.FloatField(required=False, allow_null=True)

        def validate_recorded_at(self, value):
            parsed = parse_datetime(value)
            if parsed is None or parsed.tzinfo is None:
                raise serializers.ValidationError(
                    _("Use an ISO 8601 time with its offset, like 2026-01-31T08:15:00+02:00."))
            return parsed

    class InputSerializer(serializers.Serializer):
        positions = serializers.ListField(min_length=1, max_length=1000)

    @extend_schema(summary="Send GPS pings", request=InputSerializer,
                   responses=inline_serializer("PingResult", {
                       "received": serializers.IntegerField(),
                       "stored": serializers.IntegerField(),
                       "last_position_at": serializers.DateTimeField()}))
    def post(self, request):
        crew = crew_for_user(request.user)
        if crew is None:
            raise NotCrewMember(_("You are not a member of an active crew."))
        envelope = self.InputSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        pings = self.PingSerializer(data=envelope.validated_data["positions"], many=True)
        pings.is_valid(raise_exception=True)
        result = positions_record(crew=crew, pings=[Ping(**p) for p in pings.validated_data])
        return Response({"received": result.received, "stored": result.stored,
                         "last_position_at": result.last_position_at})
