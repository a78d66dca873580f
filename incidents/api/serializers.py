"""Output shapes shared by the REST views. Public shapes carry no reporter contact."""

from django.utils import timezone
from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from incidents.models import Category, CategoryAttribute, Incident, IncidentUpdate, Photo, Report


class CategoryAttributeOutput(serializers.ModelSerializer):
    description = serializers.SerializerMethodField()
    values = serializers.SerializerMethodField()

    class Meta:
        model = CategoryAttribute
        fields = ["code", "datatype", "required", "order", "description", "values",
                  "min_value", "max_value"]

    def get_description(self, obj) -> str:
        return obj.description_in()

    def get_values(self, obj) -> list[dict]:
        from django.utils import translation

        lang = (translation.get_language() or "en")[:2]
        return [{"key": v["key"], "name": v.get(f"name_{lang}") or v.get("name_en", v["key"])}
                for v in obj.values]


class CategoryOutput(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()
    department = serializers.SerializerMethodField()
    attributes = CategoryAttributeOutput(many=True)

    class Meta:
        model = Category
        fields = ["code", "name", "group", "icon", "department", "sla_hours", "severity",
                  "cluster_radius_m", "service_minutes", "required_skills", "attributes"]

    def get_name(self, obj) -> str:
        return obj.name_in()

    def get_department(self, obj) -> str:
        return obj.department.name_in()


class PhotoOutput(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = Photo
        fields = ["id", "url", "thumbnail_url", "width", "height"]

    def _abs(self, field) -> str | None:
        if not field:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(field.url) if request else field.url

    def get_url(self, obj) -> str | None:
        return self._abs(obj.image)

    def get_thumbnail_url(self, obj) -> str | None:
        return self._abs(obj.thumbnail)


class TimelineEntryOutput(serializers.ModelSerializer):
    class Meta:
        model = IncidentUpdate
        fields = ["from_status", "to_status", "note", "created_at"]


class StaffTimelineEntryOutput(serializers.ModelSerializer):
    by = serializers.CharField(source="by.username", default=None)

    class Meta:
        model = IncidentUpdate
        fields = ["id", "from_status", "to_status", "note", "public", "by", "created_at"]


class IncidentFeatureOutput(GeoFeatureModelSerializer):
    category = serializers.CharField(source="category.code")
    category_name = serializers.SerializerMethodField()
    district = serializers.CharField(source="district.code", default=None)
    sla_breached = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        geo_field = "location"
        fields = ["id", "category", "category_name", "status", "priority", "severity",
                  "report_count", "district", "first_reported_at", "last_reported_at",
                  "sla_due_at", "sla_breached", "version", "merged_into"]

    def get_category_name(self, obj) -> str:
        return obj.category.name_in()

    def get_sla_breached(self, obj) -> bool:
        from incidents.models import OPEN_STATUSES

        return obj.status in OPEN_STATUSES and obj.sla_due_at < timezone.now()


def _iso_datetime(value) -> str:
    """As DRF's DateTimeField writes it: in the current time zone, UTC as Z."""
    text = value.astimezone(timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class ReportPublicOutput(GeoFeatureModelSerializer):
    category = serializers.CharField(source="category.code")
    district = serializers.CharField(source="district.code", default=None)
    photos = PhotoOutput(many=True)

    class Meta:
        model = Report
        geo_field = "location"
        fields = ["id", "tracking_code", "category", "incident", "status", "description",
                  "address", "attributes", "channel", "language", "district",
                  "joined_existing", "created_at", "photos"]

    def to_representation(self, instance: Report) -> dict:
        return report_public_feature(instance, context=self.context)


def report_public_feature(report: Report, *, context: dict) -> dict:
    """What ReportPublicOutput gives, written out: the feature drf-gis builds from its fields.
    It answers every filed report, and the generic path (copies of every field, a GDAL
    geometry for the JSON) cost more CPU than storing and clustering the report; the view
    that files reports calls this directly, without a serializer instance."""
    known = getattr(report, "_prefetched_objects_cache", {}).get("photos")
    photos = list(known if known is not None else report.photos.all())
    # A report just filed carries its coordinates as floats (incidents.services.intake):
    # reading them from the geometry would cost GEOS calls.
    lon, lat = getattr(report, "_lonlat", None) or (report.location.x, report.location.y)
    return {
        "id": report.pk,
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {
            "tracking_code": report.tracking_code,
            "category": report.category.code,
            "incident": report.incident_id,
            "status": report.status,
            "description": report.description,
            "address": report.address,
            "attributes": report.attributes,
            "channel": report.channel,
            "language": report.language,
            "district": report.district.code if report.district_id else None,
            "joined_existing": report.joined_existing,
            "created_at": _iso_datetime(report.created_at),
            "photos": PhotoOutput(photos, many=True, context=context).data if photos else [],
        },
    }
