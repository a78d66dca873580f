"""Town-hall meetings for intake agents, dispatchers and managers: record a meeting, the
needs raised in it one line at a time, district needs' progress, photos, and the summary
sent to the residents who left a contact."""

from django.shortcuts import get_object_or_404
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from gis.models import ServiceArea
from incidents.exceptions import ValidationFailed
from incidents.models import Meeting, MeetingNeed
from incidents.selectors_meetings import (
    meeting_previous_open_needs,
    meeting_summary,
    meetings_list,
)
from incidents.services.meetings import (
    MeetingInput,
    NeedInput,
    district_need_status_set,
    meeting_create,
    meeting_need_add,
    meeting_photo_add,
    meeting_summary_send,
)
from ops.roles import Role, user_has_role

MEETING_ROLES = (Role.INTAKE_AGENT, Role.DISPATCHER, Role.MANAGER)


class CanRecordMeetings(BasePermission):
    message = _("Only intake agents, dispatchers and managers may record meetings.")

    def has_permission(self, request, view) -> bool:
        return user_has_role(request.user, *MEETING_ROLES)


def _codes(value: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in value.split(",") if c.strip())


def meeting_output(meeting: Meeting) -> dict:
    return {
        "id": meeting.pk, "token": str(meeting.token), "held_at": meeting.held_at.isoformat(),
        "place": meeting.place,
        "district": meeting.district.code if meeting.district_id else None,
        "district_name": meeting.district.name_in() if meeting.district_id else "",
        "sector": meeting.sector, "attendance": meeting.attendance, "minutes": meeting.minutes,
        "departments": [{"code": d.code, "name": d.name_in()}
                        for d in meeting.departments.order_by("code")],
        "agencies": [{"code": a.code, "name": a.name_in()}
                     for a in meeting.agencies.order_by("code")],
        "photos": [{"id": p.pk, "url": p.image.url, "width": p.width, "height": p.height}
                   for p in meeting.photos.order_by("pk")],
        "summary_sent_at": (meeting.summary_sent_at.isoformat()
                            if meeting.summary_sent_at else None),
    }


def meeting_detail_output(meeting: Meeting) -> dict:
    summary = meeting_summary(meeting=meeting)
    previous, still_open = meeting_previous_open_needs(meeting=meeting)
    return {**meeting_output(meeting), "needs": summary["needs"], "counts": summary["counts"],
            "previous": ({"id": previous.pk, "held_at": previous.held_at.isoformat(),
                          "open_needs": still_open} if previous else None)}


class MeetingListApi(APIView):
    """The meetings (newest first), and recording one."""

    permission_classes = [CanRecordMeetings]

    class InputSerializer(serializers.Serializer):
        held_at = serializers.DateTimeField(required=False)
        place = serializers.CharField(max_length=255, required=False, allow_blank=True)
        district = serializers.CharField(max_length=50, required=False, allow_blank=True)
        sector = serializers.CharField(max_length=120, required=False, allow_blank=True)
        departments = serializers.CharField(required=False, allow_blank=True,
                                            help_text="Comma-separated department codes.")
        agencies = serializers.CharField(required=False, allow_blank=True,
                                         help_text="Comma-separated outside agencies' codes.")
        attendance = serializers.IntegerField(required=False, min_value=0, max_value=100000)
        minutes = serializers.CharField(required=False, allow_blank=True, max_length=20000)

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Meetings, newest first",
                   operation_id="api_v1_meetings_list")
    def get(self, request):
        area = ServiceArea.objects.order_by("pk").first()
        meetings = meetings_list(area_id=area.pk) if area else Meeting.objects.none()
        return Response({"results": [meeting_output(m) for m in meetings[:200]]})

    @extend_schema(request=InputSerializer, responses=OpenApiTypes.OBJECT,
                   summary="Record a meeting")
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        area = ServiceArea.objects.order_by("pk").first()
        meeting = meeting_create(area=area, by=request.user, data=MeetingInput(
            held_at=data.get("held_at"), place=data.get("place", ""),
            district_code=data.get("district", ""), sector=data.get("sector", ""),
            department_codes=_codes(data.get("departments", "")),
            agency_codes=_codes(data.get("agencies", "")),
            attendance=data.get("attendance", 0), minutes=data.get("minutes", "")))
        return Response(meeting_detail_output(meeting), status=status.HTTP_201_CREATED)


class MeetingDetailApi(APIView):
    """A meeting, its needs and where each stands now, and the open needs of the district's
    meeting before it."""

    permission_classes = [CanRecordMeetings]

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="A meeting and its needs",
                   operation_id="api_v1_meetings_detail")
    def get(self, request, pk: int):
        return Response(meeting_detail_output(get_object_or_404(Meeting, pk=pk)))


class MeetingNeedApi(APIView):
    """One need raised in the meeting: at a place (filed as a report, channel `meeting`) or
    a district need (`district_need: true`)."""

    permission_classes = [CanRecordMeetings]

    class InputSerializer(serializers.Serializer):
        text = serializers.CharField(max_length=4000, required=False, allow_blank=True)
        category = serializers.CharField(max_length=50, required=False, allow_blank=True)
        lon = serializers.FloatField(required=False, min_value=-180, max_value=180)
        lat = serializers.FloatField(required=False, min_value=-90, max_value=90)
        address = serializers.CharField(max_length=300, required=False, allow_blank=True)
        district_need = serializers.BooleanField(required=False, default=False)
        name = serializers.CharField(max_length=200, required=False, allow_blank=True)
        phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
        email = serializers.EmailField(required=False, allow_blank=True)
        language = serializers.ChoiceField(choices=["ar", "fa", "en"], required=False)
        answered = serializers.BooleanField(required=False, default=False)
        answer = serializers.CharField(max_length=4000, required=False, allow_blank=True)

    @extend_schema(request=InputSerializer, responses=OpenApiTypes.OBJECT,
                   summary="Record a need raised in the meeting")
    def post(self, request, pk: int):
        meeting = get_object_or_404(Meeting, pk=pk)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        need = meeting_need_add(meeting=meeting, by=request.user, data=NeedInput(
            text=data.get("text", ""), category_code=data.get("category", ""),
            lon=data.get("lon"), lat=data.get("lat"), address=data.get("address", ""),
            district_need=data["district_need"], resident_name=data.get("name", ""),
            resident_phone=data.get("phone", ""), resident_email=data.get("email", ""),
            language=data.get("language") or (translation.get_language() or "en")[:2],
            answered=data["answered"], answer=data.get("answer", "")))
        from incidents.selectors_meetings import need_row

        return Response(need_row(MeetingNeed.objects.get(pk=need.pk)),
                        status=status.HTTP_201_CREATED)


class MeetingNeedStatusApi(APIView):
    """A district need moves on: being studied, planned, done or declined."""

    permission_classes = [CanRecordMeetings]

    class InputSerializer(serializers.Serializer):
        status = serializers.CharField(max_length=10)
        answer = serializers.CharField(max_length=4000, required=False, allow_blank=True)

    @extend_schema(request=InputSerializer, responses=OpenApiTypes.OBJECT,
                   summary="Set a district need's status")
    def post(self, request, pk: int, need_id: int):
        need = get_object_or_404(MeetingNeed, pk=need_id, meeting_id=pk)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        district_need_status_set(need=need, status=serializer.validated_data["status"],
                                 answer=serializer.validated_data.get("answer", ""),
                                 by=request.user)
        from incidents.selectors_meetings import need_row

        return Response(need_row(MeetingNeed.objects.get(pk=need.pk)))


class MeetingPhotoApi(APIView):
    """A photo of the meeting (multipart, field `photo`)."""

    permission_classes = [CanRecordMeetings]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    class InputSerializer(serializers.Serializer):
        photo = serializers.FileField()

    @extend_schema(request={"multipart/form-data": InputSerializer},
                   responses=OpenApiTypes.OBJECT, summary="Add a photo of the meeting")
    def post(self, request, pk: int):
        meeting = get_object_or_404(Meeting, pk=pk)
        upload = request.FILES.get("photo")
        if upload is None:
            raise ValidationFailed({"photo": [_("Attach the photo as the field “photo”.")]})
        photo = meeting_photo_add(meeting=meeting, name=upload.name, content=upload.read())
        return Response({"id": photo.pk, "url": photo.image.url}, status=status.HTTP_201_CREATED)


class MeetingSummarySendApi(APIView):
    """The summary to every resident who left a contact, once each."""

    permission_classes = [CanRecordMeetings]

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT,
                   summary="Send the meeting's summary to the residents")
    def post(self, request, pk: int):
        meeting = get_object_or_404(Meeting, pk=pk)
        return Response({"queued": meeting_summary_send(meeting=meeting)})
