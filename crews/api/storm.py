"""Storm mode API: managers switch it on and off; the console reads its dashboard; apps read
the active mode (public: hazard, message and category order, nothing personal)."""

from django.utils import translation
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from crews.models import EmergencyMode
from crews.selectors_storm import (
    emergency_mode_get_active,
    emergency_mode_list_feed,
    storm_dashboard,
)
from crews.services.storm import emergency_mode_cancel, emergency_mode_start
from gis.models import ServiceArea
from incidents.exceptions import NotFound, ValidationFailed
from ops.roles import Role, user_has_role

CONSOLE_ROLES = (Role.DISPATCHER, Role.INTAKE_AGENT, Role.MANAGER)


class IsManager(BasePermission):
    message = _("Only managers may switch storm mode.")

    def has_permission(self, request, view) -> bool:
        return user_has_role(request.user, Role.MANAGER)


class IsConsoleUser(BasePermission):
    message = _("Only city staff may do this.")

    def has_permission(self, request, view) -> bool:
        return user_has_role(request.user, *CONSOLE_ROLES)


def _area(slug: str | None) -> ServiceArea:
    areas = ServiceArea.objects.order_by("pk")
    area = areas.filter(slug=slug).first() if slug else areas.first()
    if area is None:
        raise ValidationFailed({"area": [_("“%(value)s” is not a service area.")
                                         % {"value": slug or ""}]})
    return area


def mode_payload(mode: EmergencyMode, *, language: str | None = None) -> dict:
    language = language or translation.get_language() or "en"
    return {
        "id": mode.pk, "area": mode.area.slug, "hazard": mode.hazard,
        "hazard_name": str(mode.get_hazard_display()),
        "starts_at": mode.starts_at, "ends_at": mode.ends_at,
        "cancelled_at": mode.cancelled_at, "ended_at": mode.ended_at,
        "message": mode.message_in(language),
        "messages": {"ar": mode.message_ar, "fa": mode.message_fa, "en": mode.message_en},
        "categories": [c.code for c in mode.categories.all()],
        "paused_categories": [c.code for c in mode.paused_categories.all()],
        "priority_bonus": mode.priority_bonus,
    }


class StormModeListCreateApi(APIView):
    """GET: live and recent storm modes. POST: switch an area into storm mode."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsManager]

    class InputSerializer(serializers.Serializer):
        area = serializers.SlugField(required=False, help_text=_("The service area's slug; the "
                                                                 "first area when left out."))
        hazard = serializers.ChoiceField(choices=EmergencyMode.Hazard.choices)
        starts_at = serializers.DateTimeField(required=False)
        ends_at = serializers.DateTimeField()
        categories = serializers.ListField(child=serializers.SlugField(), max_length=50)
        paused_categories = serializers.ListField(child=serializers.SlugField(), max_length=50,
                                                  required=False, default=list)
        message_ar = serializers.CharField(required=False, allow_blank=True, default="")
        message_fa = serializers.CharField(required=False, allow_blank=True, default="")
        message_en = serializers.CharField(required=False, allow_blank=True, default="")
        pause_message_ar = serializers.CharField(required=False, allow_blank=True, default="")
        pause_message_fa = serializers.CharField(required=False, allow_blank=True, default="")
        pause_message_en = serializers.CharField(required=False, allow_blank=True, default="")
        priority_bonus = serializers.IntegerField(required=False, default=20)

    @extend_schema(responses={200: dict})
    def get(self, request):
        return Response([mode_payload(m) for m in emergency_mode_list_feed()
                         .prefetch_related("paused_categories")])

    @extend_schema(request=InputSerializer, responses={201: dict})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        mode = emergency_mode_start(
            area=_area(data.get("area")), hazard=data["hazard"],
            starts_at=data.get("starts_at"), ends_at=data["ends_at"],
            category_codes=data["categories"], paused_codes=data["paused_categories"],
            messages={lang: data[f"message_{lang}"] for lang in ("ar", "fa", "en")},
            pause_messages={lang: data[f"pause_message_{lang}"] for lang in ("ar", "fa", "en")},
            priority_bonus=data["priority_bonus"], by=request.user)
        return Response(mode_payload(mode), status=status.HTTP_201_CREATED)


class StormModeCancelApi(APIView):
    """DELETE: end a storm mode now."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsManager]

    @extend_schema(responses={200: dict})
    def delete(self, request, pk: int):
        mode = EmergencyMode.objects.filter(pk=pk).first()
        if mode is None:
            raise NotFound(_("No such storm mode."))
        mode = emergency_mode_cancel(mode=mode, by=request.user)
        return Response(mode_payload(mode))


class StormActiveApi(APIView):
    """The active storm mode of an area, for the citizen app: hazard, message, the
    categories to list first and those paused. 204 when there is none."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: dict, 204: None})
    def get(self, request):
        mode = emergency_mode_get_active(area=_area(request.query_params.get("area")))
        if mode is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        payload = mode_payload(mode)
        public = ("id", "area", "hazard", "hazard_name", "starts_at", "ends_at", "message",
                  "categories", "paused_categories")
        return Response({key: payload[key] for key in public})


class StormDashboardApi(APIView):
    """The console's storm panel: reports per hour, backlog by district, plows out."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsConsoleUser]

    @extend_schema(responses={200: dict, 204: None})
    def get(self, request):
        mode = emergency_mode_get_active(area=_area(request.query_params.get("area")))
        if mode is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        board = storm_dashboard(mode=mode)
        return Response({"mode": mode_payload(mode),
                         "incoming_per_hour": board.incoming_per_hour,
                         "backlog_by_district": board.backlog_by_district,
                         "plows_out": board.plows_out})
