"""The call-taker's desk (hotline and service centres): who is calling, and where. Filing
uses the report and "me too" endpoints every channel uses, with channel `phone` or
`service_centre`; nearby open incidents come from /api/v1/incidents/nearby/."""

from django.utils import translation
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from gis.areas import place_point
from gis.geo import point_from_lonlat
from gis.geocode import places_find
from gis.models import District
from incidents.api.inbox import CanReadInbox, contact_output, report_brief
from incidents.channels import selectors
from incidents.exceptions import ValidationFailed


class CallerLookupApi(APIView):
    """A caller by phone number: their channel accounts, their reports and which of those
    are still open."""

    permission_classes = [CanReadInbox]

    class InputSerializer(serializers.Serializer):
        phone = serializers.CharField(max_length=40)

    @extend_schema(parameters=[InputSerializer], responses=OpenApiTypes.OBJECT,
                   summary="Look a caller up by phone number")
    def get(self, request):
        from incidents.services.intake import phone_normalize

        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        raw = params.validated_data["phone"]
        try:
            phone = phone_normalize(raw)
        except ValueError as exc:
            raise ValidationFailed({"phone": [
                _("“%(value)s” is not a valid phone number; write it with the country code, "
                  "like +358401234567.") % {"value": raw}]}) from exc
        contacts = selectors.contacts_by_phone(phone)
        reports = list(selectors.contact_reports(contacts=contacts, phone=phone))
        last = reports[0] if reports else None
        return Response({
            "phone": phone,
            "name": next((r.reporter_name for r in reports if r.reporter_name), "") or
            next((c.display_name for c in contacts if c.display_name), ""),
            "language": (last.language if last else "") or
            next((c.language for c in contacts if c.language), ""),
            "contacts": [contact_output(c) for c in contacts],
            "reports": [report_brief(r) for r in reports],
            "open_reports": [report_brief(r) for r in selectors.reports_open(reports)],
        })


class GeocodeApi(APIView):
    """Places a typed text may mean: a map link or coordinates, streets of the road network
    by any of their names, two streets that cross, districts. Only places in the service
    area."""

    permission_classes = [CanReadInbox]

    class InputSerializer(serializers.Serializer):
        q = serializers.CharField(max_length=200)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=10, default=5)

    @extend_schema(parameters=[InputSerializer], responses=OpenApiTypes.OBJECT,
                   summary="Find a street, a crossing, a district or a map link")
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        results = []
        language = (translation.get_language() or "en")[:2]
        for place in places_find(data["q"], limit=data["limit"] + 3, language=language):
            placement = place_point(point_from_lonlat(place.lon, place.lat))
            if placement is None:
                continue
            district = (District.objects.filter(pk=placement.district_id).first()
                        if placement.district_id else None)
            results.append({"name": place.name, "kind": place.kind,
                            "lon": round(place.lon, 6), "lat": round(place.lat, 6),
                            "score": round(place.score, 1),
                            "district": district.name_in() if district else ""})
            if len(results) == data["limit"]:
                break
        return Response({"query": data["q"], "results": results})
