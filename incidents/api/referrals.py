"""Referral of incidents to outside agencies: the agencies, the refer action, the list of
current referrals (with the overdue ones), and the link an agency answers by."""

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.api.permissions import (
    IsDispatcher,
    IsStaffMember,
    dispatch_require,
    user_department_ids,
)
from incidents.exceptions import Conflict, NotFound, ValidationFailed
from incidents.models import Agency, Incident, Referral
from incidents.selectors_referrals import (
    agency_get_by_key,
    agency_list_active,
    referral_get_by_reference,
    referral_list_open,
)
from incidents.services.referrals import (
    incident_refer,
    referral_answer_record,
    referral_lateness,
)


class AgencyOutput(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()
    categories = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    departments = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    contact = serializers.SerializerMethodField()

    class Meta:
        model = Agency
        fields = ["id", "code", "name", "name_en", "name_ar", "name_fa", "categories",
                  "departments", "contact", "answer_due_days"]

    def get_name(self, obj) -> str:
        return obj.name_in()

    def get_contact(self, obj) -> list[str]:
        # How it is reached, not the address or key: that stays in the admin.
        return [kind for kind, on in (("email", obj.email), ("open311", obj.open311_endpoint))
                if on]


class ReferralOutput(serializers.ModelSerializer):
    agency = serializers.SlugRelatedField(slug_field="code", read_only=True)
    agency_name = serializers.SerializerMethodField()
    incident = serializers.IntegerField(source="incident_id")
    state_name = serializers.CharField(source="get_state_display", read_only=True)

    class Meta:
        model = Referral
        fields = ["id", "incident", "agency", "agency_name", "method", "state", "state_name",
                  "external_id", "note", "referred_at", "sent_at", "answered_at", "last_error"]

    def get_agency_name(self, obj) -> str:
        return obj.agency.name_in()


class AgencyListApi(APIView):
    """The outside agencies incidents can be referred to (staff)."""

    permission_classes = [IsStaffMember]

    @extend_schema(responses=AgencyOutput(many=True), summary="Outside agencies")
    def get(self, request):
        return Response(AgencyOutput(agency_list_active(), many=True).data)


class IncidentReferApi(APIView):
    """Refer an incident to an outside agency: status `referred`, the reporters are told
    which agency has it, and the referral is sent by email or Open311. Dispatchers of the
    incident's department only."""

    permission_classes = [IsDispatcher]

    class InputSerializer(serializers.Serializer):
        agency = serializers.CharField(max_length=100)
        note = serializers.CharField(required=False, allow_blank=True, max_length=4000)
        version = serializers.IntegerField(required=False, min_value=1)

    @extend_schema(request=InputSerializer, responses=ReferralOutput,
                   summary="Refer an incident to an outside agency")
    def post(self, request, pk: int):
        incident = get_object_or_404(Incident, pk=pk)
        dispatch_require(request, incident)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        agency = agency_get_by_key(data["agency"])
        if agency is None:
            raise ValidationFailed({"agency": [_("No outside agency “%(agency)s”.")
                                               % {"agency": data["agency"]}]})
        referral = incident_refer(incident=incident, agency=agency, by=request.user,
                                  note=data.get("note", ""),
                                  expected_version=data.get("version"))
        return Response(ReferralOutput(referral).data, status=status.HTTP_201_CREATED)


class ReferralListApi(APIView):
    """Incidents now with an outside agency, oldest first, with when the answer is due;
    `?overdue=true` keeps the late ones, `?agency=<code>` one agency's, `?incident=<id>`
    one incident's. A dispatcher sees
    the referrals of their departments."""

    permission_classes = [IsDispatcher]

    class FilterInput(serializers.Serializer):
        overdue = serializers.BooleanField(required=False, allow_null=True, default=None)
        agency = serializers.SlugField(required=False)
        incident = serializers.IntegerField(required=False, min_value=1)

    @extend_schema(parameters=[FilterInput], summary="Current referrals",
                   responses=inline_serializer("ReferralLate", {
                       **{name: serializers.CharField() for name in ReferralOutput.Meta.fields},
                       "due_at": serializers.DateTimeField(allow_null=True),
                       "overdue": serializers.BooleanField(),
                       "chases": serializers.IntegerField()}, many=True))
    def get(self, request):
        params = self.FilterInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        f = params.validated_data
        rows, calendars, now = [], {}, timezone.now()
        for referral in referral_list_open(department_ids=user_department_ids(request.user),
                                           agency_code=f.get("agency", ""),
                                           incident_id=f.get("incident"))[:500]:
            lateness = referral_lateness(referral, now=now, calendars=calendars)
            if f.get("overdue") is not None and lateness.overdue != f["overdue"]:
                continue
            rows.append({**ReferralOutput(referral).data, "due_at": lateness.due_at,
                         "overdue": lateness.overdue,
                         "chases": referral.chase_count})
        return Response(rows)


class ReferralAnswerApi(APIView):
    """The link in a referral's email: the agency reads the referral (GET) and answers it
    (POST `status` open|closed and `description`). The reference in the link is the key."""

    permission_classes = [AllowAny]
    authentication_classes = []
    parser_classes = [JSONParser, FormParser]

    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=[("open", gettext_lazy("open")),
                                                  ("closed", gettext_lazy("closed"))])
        description = serializers.CharField(max_length=4000)

    def _referral(self, reference: str) -> Referral:
        referral = referral_get_by_reference(reference)
        if referral is None:
            raise NotFound(_("No referral has this link; check that it was copied whole."))
        return referral

    @extend_schema(summary="A referral, for the agency answering it",
                   responses=inline_serializer("ReferralForAgency", {
                       "reference": serializers.CharField(), "agency": serializers.CharField(),
                       "incident": serializers.IntegerField(),
                       "status": serializers.CharField(), "category": serializers.CharField(),
                       "location": serializers.JSONField(),
                       "referred_at": serializers.DateTimeField(),
                       "answers": serializers.IntegerField()}))
    def get(self, request, reference: str):
        referral = self._referral(reference)
        incident = referral.incident
        return Response({"reference": referral.reference, "agency": referral.agency.name_in(),
                         "incident": incident.pk, "status": incident.status,
                         "category": incident.category.name_in(),
                         "location": {"type": "Point",
                                      "coordinates": [incident.location.x,
                                                      incident.location.y]},
                         "referred_at": referral.referred_at,
                         "answers": referral.answers.count()})

    @extend_schema(request=InputSerializer, summary="An agency answers a referral",
                   responses=inline_serializer("ReferralAnswered",
                                               {"recorded": serializers.BooleanField()}))
    def post(self, request, reference: str):
        referral = self._referral(reference)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if referral.incident.status != "referred" or \
                referral.incident.referred_to_id != referral.agency_id:
            raise Conflict(_("The city has taken this incident back; thank you, no answer is "
                             "needed any more."))
        key = request.headers.get("Idempotency-Key") or \
            f"link-{referral.answers.count() + 1}"
        answer = referral_answer_record(
            referral=referral, external_update_id=key[:200], status=data["status"],
            description=data["description"], answered_at=timezone.now())
        return Response({"recorded": answer is not None},
                        status=status.HTTP_201_CREATED if answer else status.HTTP_200_OK)
