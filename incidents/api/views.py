"""REST API v1. One view per operation: validate, call one service or selector, serialize."""

import json

from django.shortcuts import get_object_or_404
from django.utils import translation
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_gis.pagination import GeoJsonPagination

from gis.api_fields import BBoxField
from gis.geo import point_from_lonlat
from incidents import selectors
from incidents.api.permissions import (
    IsDispatcher,
    IsStaffMember,
    dispatch_require,
)
from incidents.api.serializers import (
    CategoryOutput,
    IncidentFeatureOutput,
    PhotoOutput,
    ReportPublicOutput,
    StaffTimelineEntryOutput,
    TimelineEntryOutput,
    report_public_feature,
)
from incidents.exceptions import NotFound, ValidationFailed
from incidents.models import Channel, Incident, Status
from incidents.services import (
    ReportInput,
    incident_merge,
    incident_note_add,
    incident_split,
    incident_transition,
    report_submit,
)
from incidents.services.notify import report_receipt_queue
from ops.roles import Role, user_has_role
from ops.serializers import ReusedFieldsSerializer
from ops.throttles import SubmitRateThrottle

PUBLIC_CHANNELS = (Channel.WEB, Channel.APP)


def _client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR")


class CategoryListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=CategoryOutput(many=True), summary="Report categories")
    def get(self, request):
        data = CategoryOutput(selectors.category_list_active(), many=True).data
        return Response(data)


class ReportCreateApi(APIView):
    """File a report (JSON or multipart with up to 5 `photos`). Retry-safe with
    `Idempotency-Key`."""

    permission_classes = [AllowAny]
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    throttle_classes = [SubmitRateThrottle]
    throttle_scope = "submit"

    class InputSerializer(ReusedFieldsSerializer):
        category = serializers.CharField(max_length=50)
        lon = serializers.CharField(required=False, allow_blank=True)
        lat = serializers.CharField(required=False, allow_blank=True)
        address = serializers.CharField(required=False, allow_blank=True, max_length=300)
        description = serializers.CharField(required=False, allow_blank=True, max_length=20000,
                                            trim_whitespace=False)
        attributes = serializers.JSONField(required=False)
        channel = serializers.ChoiceField(choices=Channel.choices, required=False)
        language = serializers.CharField(required=False, allow_blank=True, max_length=10)
        name = serializers.CharField(required=False, allow_blank=True, max_length=200)
        email = serializers.CharField(required=False, allow_blank=True, max_length=254)
        phone = serializers.CharField(required=False, allow_blank=True, max_length=40)
        photos = serializers.ListField(child=serializers.FileField(), required=False,
                                       max_length=20)

    @extend_schema(
        request={"multipart/form-data": InputSerializer, "application/json": InputSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        responses={201: ReportPublicOutput},
        summary="File a report",
    )
    def post(self, request):
        raw = request.data
        if hasattr(raw, "getlist"):
            raw = {key: raw.get(key) for key in raw if key != "photos"} | {
                "photos": request.FILES.getlist("photos")}
        serializer = self.InputSerializer(data=raw)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        attributes = data.get("attributes") or {}
        if isinstance(attributes, str):
            try:
                attributes = json.loads(attributes)
            except json.JSONDecodeError as exc:
                raise ValidationFailed({"attributes": [_("attributes must be a JSON object.")]}) from exc
        is_agent = user_has_role(request.user, Role.INTAKE_AGENT)
        channel = data.get("channel") or Channel.WEB
        if channel not in PUBLIC_CHANNELS and not is_agent:
            raise ValidationFailed({"channel": [_("Only intake agents may file reports for the "
                                                  "%(channel)s channel.") % {"channel": channel}]})
        report_input = ReportInput(
            category_code=data["category"], lon=data.get("lon"), lat=data.get("lat"),
            address=data.get("address", ""), description=data.get("description", ""),
            attributes=attributes, channel=channel,
            language=data.get("language") or translation.get_language() or "en",
            reporter_name=data.get("name", ""), reporter_email=data.get("email", ""),
            reporter_phone=data.get("phone", ""),
            photos=[(f.name, f.read()) for f in data.get("photos", [])],
        )
        user = request.user if request.user.is_authenticated and not is_agent else None
        result = report_submit(
            data=report_input, user=user, submitted_by=request.user if is_agent else None,
            idempotency_key=request.headers.get("Idempotency-Key") or None,
            client_ip=_client_ip(request))
        report = result.report
        if is_agent and result.created:
            report_receipt_queue(report=report)
        body = report_public_feature(report, context={"request": request})
        body["properties"]["token"] = str(report.token)
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class ReportTrackApi(APIView):
    """Public tracking lookup by code: status and the public timeline."""

    permission_classes = [AllowAny]

    @extend_schema(summary="Track a report by its code", responses=inline_serializer(
        "ReportTrack", {"tracking_code": serializers.CharField(),
                        "status": serializers.CharField(),
                        "timeline": TimelineEntryOutput(many=True)}))
    def get(self, request, code: str):
        report = selectors.report_get_by_tracking_code(code)
        if report is None:
            raise NotFound(_("No report has the tracking code “%(code)s”.") % {"code": code})
        incident = report.incident
        return Response({
            "tracking_code": report.tracking_code,
            "status": report.status,
            "category": report.category.code,
            "category_name": report.category.name_in(),
            "created_at": report.created_at,
            "description": report.description,
            "address": report.address,
            "location": {"type": "Point", "coordinates": [report.location.x, report.location.y]},
            "incident": {"id": incident.pk, "status": incident.status,
                         "report_count": incident.report_count,
                         "location": {"type": "Point",
                                      "coordinates": [incident.location.x, incident.location.y]}},
            "rejected_reason": report.rejected_reason,
            # Which outside agency has it and since when, while it is with one.
            "referral": ({"agency": incident.referred_to.name_in(),
                          "agency_code": incident.referred_to.code,
                          "since": incident.referred_at}
                         if incident.status == Status.REFERRED and incident.referred_to_id
                         else None),
            "photos": PhotoOutput(report.photos.all(), many=True,
                                  context={"request": request}).data,
            "timeline": TimelineEntryOutput(selectors.incident_timeline_public(incident),
                                            many=True).data,
        })


class IncidentFilterInput(serializers.Serializer):
    bbox = BBoxField(required=False)
    category = serializers.CharField(required=False)
    status = serializers.CharField(required=False)
    district = serializers.CharField(required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    mine = serializers.BooleanField(required=False, default=False)


    def validate_status(self, value: str) -> list[str]:
        statuses = [s for s in value.split(",") if s]
        bad = [s for s in statuses if s not in Status.values and s != "open"]
        if bad:
            raise serializers.ValidationError(
                _("Unknown status %(bad)s; use: %(allowed)s.")
                % {"bad": ", ".join(bad), "allowed": ", ".join(["open", *Status.values])})
        return statuses


class IncidentPagination(GeoJsonPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class IncidentListApi(APIView):
    """Incidents as a GeoJSON FeatureCollection: open data, no reporter details."""

    permission_classes = [AllowAny]

    @extend_schema(parameters=[IncidentFilterInput], responses=IncidentFeatureOutput(many=True),
                   summary="List incidents (GeoJSON)")
    def get(self, request):
        params = IncidentFilterInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        f = params.validated_data
        statuses = f.get("status")
        if statuses and "open" in statuses:
            from incidents.models import OPEN_STATUSES

            statuses = [s for s in statuses if s != "open"] + list(OPEN_STATUSES)
        department_ids = None
        if f.get("mine") and request.user.is_authenticated and not request.user.is_superuser:
            department_ids = list(request.user.departments.values_list("pk", flat=True))
        queryset = selectors.incident_list(
            statuses=statuses,
            category_codes=[c for c in f.get("category", "").split(",") if c] or None,
            district_codes=[d for d in f.get("district", "").split(",") if d] or None,
            department_ids=department_ids,
            created_from=f.get("created_after"), created_to=f.get("created_before"),
            bbox=f.get("bbox"))
        paginator = IncidentPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(IncidentFeatureOutput(page, many=True).data)


class IncidentDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=IncidentFeatureOutput, summary="One incident with its timeline")
    def get(self, request, pk: int):
        incident = get_object_or_404(
            Incident.objects.select_related("category", "district", "department"), pk=pk)
        body = IncidentFeatureOutput(incident).data
        staff = user_has_role(request.user, *Role.STAFF)
        if staff:
            updates = incident.updates.select_related("by").order_by("created_at", "pk")
            body["properties"]["timeline"] = StaffTimelineEntryOutput(updates, many=True).data
        else:
            body["properties"]["timeline"] = TimelineEntryOutput(
                selectors.incident_timeline_public(incident), many=True).data
        reports = selectors.report_list_public().filter(incident=incident).order_by("created_at")
        body["properties"]["reports"] = ReportPublicOutput(
            reports, many=True, context={"request": request}).data["features"]
        from incidents.services.workflow import allowed_transitions

        body["properties"]["allowed_transitions"] = allowed_transitions(incident.status)
        return Response(body)


class IncidentTransitionApi(APIView):
    permission_classes = [IsDispatcher]

    class InputSerializer(serializers.Serializer):
        to = serializers.ChoiceField(choices=Status.choices)
        note = serializers.CharField(required=False, allow_blank=True, max_length=4000)
        public = serializers.BooleanField(required=False, default=True)
        version = serializers.IntegerField(required=False, min_value=1)

    @extend_schema(request=InputSerializer, responses=IncidentFeatureOutput,
                   summary="Change an incident's status")
    def post(self, request, pk: int):
        incident = get_object_or_404(Incident, pk=pk)
        dispatch_require(request, incident)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        incident = incident_transition(incident=incident, to=data["to"], by=request.user,
                                       note=data.get("note", ""), public=data["public"],
                                       expected_version=data.get("version"))
        return Response(IncidentFeatureOutput(incident).data)


class IncidentNoteApi(APIView):
    permission_classes = [IsStaffMember]

    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(max_length=4000)
        public = serializers.BooleanField(required=False, default=False)

    @extend_schema(request=InputSerializer, responses=StaffTimelineEntryOutput,
                   summary="Add a note")
    def post(self, request, pk: int):
        incident = get_object_or_404(Incident, pk=pk)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        update = incident_note_add(incident=incident, by=request.user,
                                   note=serializer.validated_data["note"],
                                   public=serializer.validated_data["public"])
        return Response(StaffTimelineEntryOutput(update).data, status=status.HTTP_201_CREATED)


class IncidentMergeApi(APIView):
    permission_classes = [IsDispatcher]

    class InputSerializer(serializers.Serializer):
        target = serializers.IntegerField()
        note = serializers.CharField(required=False, allow_blank=True, max_length=4000)

    @extend_schema(request=InputSerializer, responses=IncidentFeatureOutput,
                   summary="Merge this incident into another")
    def post(self, request, pk: int):
        source = get_object_or_404(Incident, pk=pk)
        dispatch_require(request, source)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target = Incident.objects.filter(pk=serializer.validated_data["target"]).first()
        if target is None:
            raise ValidationFailed({"target": [_("Incident #%(id)s does not exist.")
                                               % {"id": serializer.validated_data["target"]}]})
        dispatch_require(request, target)
        target = incident_merge(source=source, target=target, by=request.user,
                                note=serializer.validated_data.get("note", ""))
        return Response(IncidentFeatureOutput(target).data)


class IncidentSplitApi(APIView):
    permission_classes = [IsDispatcher]

    class InputSerializer(serializers.Serializer):
        report_ids = serializers.ListField(child=serializers.IntegerField(), min_length=1,
                                           max_length=1000)
        note = serializers.CharField(required=False, allow_blank=True, max_length=4000)

    @extend_schema(request=InputSerializer, responses={201: IncidentFeatureOutput},
                   summary="Split reports off into a new incident")
    def post(self, request, pk: int):
        incident = get_object_or_404(Incident, pk=pk)
        dispatch_require(request, incident)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        new = incident_split(incident=incident, report_ids=serializer.validated_data["report_ids"],
                             by=request.user, note=serializer.validated_data.get("note", ""))
        return Response(IncidentFeatureOutput(new).data, status=status.HTTP_201_CREATED)


class IncidentNearbyApi(APIView):
    """Open incidents of a category near a point, so a citizen can join one ("me too")."""

    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        category = serializers.CharField()
        lon = serializers.FloatField(min_value=-180, max_value=180)
        lat = serializers.FloatField(min_value=-90, max_value=90)
        radius = serializers.FloatField(required=False, min_value=1, max_value=5000)

    @extend_schema(parameters=[InputSerializer], responses=IncidentFeatureOutput(many=True),
                   summary="Open incidents nearby")
    def get(self, request):
        serializer = self.InputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        category = selectors.category_get(data["category"])
        if category is None:
            from incidents.exceptions import UnknownCategory

            raise UnknownCategory(_("“%(code)s” is not a known category.")
                                  % {"code": data["category"]}, field="category")
        radius = data.get("radius") or max(200.0, 4.0 * category.cluster_radius_m)
        incidents = selectors.incident_list_open_near(
            category=category, point=point_from_lonlat(data["lon"], data["lat"]),
            radius_m=radius)[:20]
        return Response(IncidentFeatureOutput(incidents, many=True).data)


class IncidentJoinApi(APIView):
    """"Me too": attach the citizen to an open incident; they get its updates."""

    permission_classes = [AllowAny]
    throttle_classes = [SubmitRateThrottle]
    throttle_scope = "submit"

    class InputSerializer(serializers.Serializer):
        description = serializers.CharField(required=False, allow_blank=True, max_length=20000)
        language = serializers.CharField(required=False, allow_blank=True, max_length=10)
        name = serializers.CharField(required=False, allow_blank=True, max_length=200)
        email = serializers.CharField(required=False, allow_blank=True, max_length=254)
        phone = serializers.CharField(required=False, allow_blank=True, max_length=40)
        channel = serializers.ChoiceField(choices=Channel.choices, required=False,
                                          help_text="web or app; intake agents may give the "
                                                    "channel they took the report on.")

    @extend_schema(request=InputSerializer, responses={201: ReportPublicOutput},
                   parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
                   summary="Join an open incident (me too)")
    def post(self, request, pk: int):
        incident = get_object_or_404(Incident.objects.select_related("category"), pk=pk)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        is_agent = user_has_role(request.user, Role.INTAKE_AGENT)
        channel = data.get("channel") or Channel.WEB
        if channel not in PUBLIC_CHANNELS and not is_agent:
            raise ValidationFailed({"channel": [_("Only intake agents may file reports for the "
                                                  "%(channel)s channel.") % {"channel": channel}]})
        report_input = ReportInput(
            category_code=incident.category.code, lon=incident.location.x,
            lat=incident.location.y, description=data.get("description", ""),
            channel=channel, language=data.get("language") or translation.get_language() or "en",
            reporter_name=data.get("name", ""), reporter_email=data.get("email", ""),
            reporter_phone=data.get("phone", ""))
        result = report_submit(
            data=report_input, join=incident,
            user=request.user if request.user.is_authenticated and not is_agent else None,
            submitted_by=request.user if is_agent else None,
            idempotency_key=request.headers.get("Idempotency-Key") or None,
            client_ip=_client_ip(request))
        if is_agent and result.created:
            report_receipt_queue(report=result.report)
        report = selectors.report_list_public().get(pk=result.report.pk)
        body = ReportPublicOutput(report, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class ReportMineApi(APIView):
    """A signed-in citizen's own reports."""

    @extend_schema(responses=ReportPublicOutput(many=True), summary="My reports")
    def get(self, request):
        reports = selectors.report_list_public().filter(user=request.user).order_by("-created_at")[:200]
        return Response(ReportPublicOutput(reports, many=True, context={"request": request}).data)


