"""Area alerts and notices: subscribe (no account needed), confirm, manage and unsubscribe by
the link's token; notices of a district (public) and their publication (staff)."""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.exceptions import NotFound, ValidationFailed
from incidents.models import AlertSubscription, Notice
from incidents.selectors_alerts import (
    alert_subscription_get_by_token,
    district_get_at,
    district_get_by_code,
    notice_list_active,
)
from incidents.services.alerts import (
    NoticeInput,
    SubscriptionInput,
    alert_subscription_confirm,
    alert_subscription_create,
    alert_subscription_unsubscribe,
    alert_subscription_update,
    notice_department_for,
    notice_may_publish,
    notice_publish,
)
from ops.throttles import SubmitRateThrottle

LANGS = ("ar", "fa", "en")


def subscription_output(subscription: AlertSubscription) -> dict:
    """What the manage page shows: never the contact (the link may be forwarded)."""
    return {
        "state": subscription.state,
        "scope": subscription.scope,
        "district": subscription.district.code if subscription.district else None,
        "district_name": subscription.district.name_in() if subscription.district else None,
        "area": subscription.area.json if subscription.area else None,
        "categories": sorted(c.code for c in subscription.categories.all()),
        "frequency": subscription.frequency,
        "language": subscription.language,
        "channel": subscription.contact.provider,
    }


def notice_output(notice: Notice, language: str) -> dict:
    title, body = notice.text_in(language)
    return {"id": notice.pk, "kind": notice.kind, "kind_label": notice.get_kind_display(),
            "title": title, "body": body, "starts_at": notice.starts_at,
            "ends_at": notice.ends_at,
            "districts": sorted(d.code for d in notice.districts.all()),
            "texts": {lang: {"title": getattr(notice, f"title_{lang}"),
                             "body": getattr(notice, f"body_{lang}")} for lang in LANGS}}


class AlertSubscribeApi(APIView):
    """Subscribe to alerts of a district, a drawn area (GeoJSON Polygon, or lon/lat with
    radius_m) or the whole city. By email, or on the channel of one of your reports (its
    tracking code). A confirmation link is sent first (double opt-in)."""

    permission_classes = [AllowAny]
    throttle_classes = [SubmitRateThrottle]
    throttle_scope = "submit"

    class InputSerializer(serializers.Serializer):
        scope = serializers.CharField(max_length=10)
        language = serializers.CharField(max_length=5, required=False, default="")
        frequency = serializers.CharField(max_length=10, required=False, default="immediate")
        email = serializers.CharField(max_length=254, required=False, allow_blank=True,
                                      default="")
        tracking_code = serializers.CharField(max_length=40, required=False, allow_blank=True,
                                              default="")
        district = serializers.CharField(max_length=50, required=False, allow_blank=True,
                                         default="")
        area = serializers.JSONField(required=False, default=None)
        lon = serializers.FloatField(required=False, default=None)
        lat = serializers.FloatField(required=False, default=None)
        radius_m = serializers.FloatField(required=False, default=None)
        categories = serializers.ListField(child=serializers.CharField(max_length=50),
                                           required=False, default=list)
        city = serializers.CharField(max_length=50, required=False, default="")

    @extend_schema(request=InputSerializer, responses={201: OpenApiTypes.OBJECT},
                   summary="Subscribe to area alerts")
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        area = data["area"]
        if area is not None and not isinstance(area, dict):
            raise ValidationFailed({"area": [_("The area must be a GeoJSON Polygon.")]})
        if isinstance(area, dict) and area.get("type") == "Feature":
            area = area.get("geometry")
        language = data["language"] or (request.LANGUAGE_CODE or "en")[:2]
        subscription = alert_subscription_create(data=SubscriptionInput(
            scope=data["scope"], language=language, frequency=data["frequency"],
            email=data["email"], tracking_code=data["tracking_code"],
            district_code=data["district"], area_geojson=area, lon=data["lon"],
            lat=data["lat"], radius_m=data["radius_m"],
            category_codes=tuple(data["categories"]), city_slug=data["city"]),
            user=request.user)
        return Response({"state": subscription.state,
                         "detail": _("Almost done: open the link we sent you to confirm.")},
                        status=status.HTTP_201_CREATED)


class AlertConfirmApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT,
                   summary="Confirm an alert subscription")
    def post(self, request, token: str):
        subscription = alert_subscription_confirm(token=token)
        return Response(subscription_output(subscription)
                        | {"detail": _("Your alerts are on.")})


class AlertSubscriptionApi(APIView):
    """GET: the subscription its link names. PATCH: frequency, language, categories."""

    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        frequency = serializers.CharField(max_length=10, required=False)
        language = serializers.CharField(max_length=5, required=False)
        categories = serializers.ListField(child=serializers.CharField(max_length=50),
                                           required=False)

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="An alert subscription")
    def get(self, request, token: str):
        subscription = alert_subscription_get_by_token(token)
        if subscription is None:
            raise NotFound(_("This alert link is unknown."))
        return Response(subscription_output(subscription))

    @extend_schema(request=InputSerializer, responses=OpenApiTypes.OBJECT,
                   summary="Change an alert subscription")
    def patch(self, request, token: str):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        alert_subscription_update(token=token, frequency=data.get("frequency"),
                                  language=data.get("language"),
                                  category_codes=data.get("categories"))
        return Response(subscription_output(alert_subscription_get_by_token(token)))


class AlertUnsubscribeApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT, summary="Unsubscribe")
    def post(self, request, token: str):
        subscription = alert_subscription_unsubscribe(token=token)
        return Response({"state": subscription.state,
                         "detail": _("You will get no more of these alerts.")})


class NoticeListApi(APIView):
    """GET (public): the notices valid now, of a district (?district=code) or the city.
    POST (dispatchers and managers for their departments, admins): publish a notice."""

    def get_permissions(self):
        return [AllowAny()] if self.request.method == "GET" else [IsAuthenticated()]

    class InputSerializer(serializers.Serializer):
        kind = serializers.CharField(max_length=14, required=False, default="other")
        districts = serializers.ListField(child=serializers.CharField(max_length=50),
                                          required=False, default=list)
        department = serializers.CharField(max_length=50, required=False, allow_blank=True,
                                           default="")
        starts_at = serializers.DateTimeField(required=False, default=None)
        ends_at = serializers.DateTimeField()
        title = serializers.DictField(child=serializers.CharField(allow_blank=True,
                                                                  max_length=200),
                                      required=False, default=dict)
        body = serializers.DictField(child=serializers.CharField(allow_blank=True),
                                     required=False, default=dict)
        city = serializers.CharField(max_length=50, required=False, default="")

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Notices valid now",
                   description="`?district=code`, or `?lon=&lat=` for the district holding "
                               "a point (the citizen map's), or neither for every notice.")
    def get(self, request):
        params = request.query_params
        code = params.get("district", "")
        district = district_get_by_code(code) if code else None
        if code and district is None:
            raise NotFound(_("Unknown district “%(code)s”.") % {"code": code})
        notices = notice_list_active(district=district)
        if not code and params.get("lon") and params.get("lat"):
            district = district_get_at(params["lon"], params["lat"])
            # Outside every district: only the notices to the whole city.
            notices = (notice_list_active(district=district) if district else
                       notices.filter(districts__isnull=True))
        language = (request.LANGUAGE_CODE or "en")[:2]
        return Response({
            "district": district.code if district else None,
            "district_name": district.name_in(language) if district else None,
            "notices": [notice_output(n, language) for n in notices]})

    @extend_schema(request=InputSerializer, responses={201: OpenApiTypes.OBJECT},
                   summary="Publish a notice")
    def post(self, request):
        from django.utils import timezone

        user = request.user
        if not notice_may_publish(user):
            raise PermissionDenied(_("Only dispatchers, managers and admins may publish "
                                     "notices."))
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        department = notice_department_for(user=user, code=data["department"])
        notice = notice_publish(data=NoticeInput(
            kind=data["kind"], starts_at=data["starts_at"] or timezone.now(),
            ends_at=data["ends_at"], titles=data["title"], bodies=data["body"],
            district_codes=tuple(data["districts"]), city_slug=data["city"],
            department_id=department.pk if department else None), by=user)
        return Response(notice_output(notice, (request.LANGUAGE_CODE or "en")[:2]),
                        status=status.HTTP_201_CREATED)
