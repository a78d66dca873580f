"""Request fields for spatial query parameters, shared by every map endpoint."""

from django.contrib.gis.geos import Polygon
from django.utils.translation import gettext as _
from rest_framework import serializers


class BBoxField(serializers.CharField):
    """`min_lon,min_lat,max_lon,max_lat` → a lon/lat rectangle (Polygon, SRID 4326)."""

    def to_internal_value(self, data) -> Polygon:
        value = super().to_internal_value(data)
        try:
            x0, y0, x1, y1 = (float(v) for v in value.split(","))
        except ValueError as exc:
            raise serializers.ValidationError(
                _("bbox must be four numbers: min_lon,min_lat,max_lon,max_lat.")) from exc
        if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
            raise serializers.ValidationError(
                _("bbox must be min_lon,min_lat,max_lon,max_lat within -180..180 and -90..90."))
        bbox = Polygon.from_bbox((x0, y0, x1, y1))
        bbox.srid = 4326
        return bbox
