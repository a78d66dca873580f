"""Map data for the dispatcher console: only what the viewport needs.

`GET /api/v1/map/incidents/?bbox=&zoom=` answers with grid clusters computed in the database
below zoom `POINTS_ZOOM`, and with the incidents themselves (at most `POINTS_CAP`, the most
urgent first, `truncated` when there are more) from it on. Either way it also carries the
side panel's list (the most urgent incidents in the box with the first report's text) and
the server's clock, which the page sends back as `since=` after a lost connection to get
only what changed meanwhile. The number of queries is the same whatever the data.
"""

from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from gis.api_fields import BBoxField
from incidents import selectors_map
from incidents.models import OPEN_STATUSES, Channel, Status
from ops.roles import Role, user_has_role

CONSOLE_ROLES = (Role.DISPATCHER, Role.INTAKE_AGENT, Role.MANAGER)


class IsConsoleUser(BasePermission):
    message = gettext_lazy("Only dispatchers, intake agents and managers may see the console.")

    def has_permission(self, request, view) -> bool:
        return user_has_role(request.user, *CONSOLE_ROLES)


def _codes(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


class MapIncidentsInput(serializers.Serializer):
    bbox = BBoxField(help_text="min_lon,min_lat,max_lon,max_lat")
    zoom = serializers.IntegerField(min_value=0, max_value=22)
    status = serializers.CharField(required=False, allow_blank=True,
                                   help_text="Comma-separated; `open` (the default) means "
                                             "every open status.")
    category = serializers.CharField(required=False, allow_blank=True)
    district = serializers.CharField(required=False, allow_blank=True)
    channel = serializers.CharField(required=False, allow_blank=True)
    min_age_h = serializers.FloatField(required=False, min_value=0, max_value=24 * 3650)
    max_age_h = serializers.FloatField(required=False, min_value=0, max_value=24 * 3650)
    sla_breached = serializers.BooleanField(required=False, default=False)
    mine = serializers.BooleanField(required=False, default=False,
                                    help_text="Only my departments' incidents.")
    since = serializers.DateTimeField(required=False,
                                      help_text="Only incidents changed since then (any "
                                                "status), as points.")


    def validate_status(self, value: str) -> tuple[str, ...]:
        statuses: list[str] = []
        for status in _codes(value) or ["open"]:
            if status == "open":
                statuses += [s for s in OPEN_STATUSES if s not in statuses]
            elif status in Status.values:
                statuses += [status] if status not in statuses else []
            else:
                raise serializers.ValidationError(
                    _("Unknown status %(bad)s; use: %(allowed)s.")
                    % {"bad": status, "allowed": ", ".join(["open", *Status.values])})
        return tuple(statuses)

    def validate_channel(self, value: str) -> tuple[str, ...]:
        channels = _codes(value)
        bad = [c for c in channels if c not in Channel.values]
        if bad:
            raise serializers.ValidationError(
                _("Unknown channel %(bad)s; use: %(allowed)s.")
                % {"bad": ", ".join(bad), "allowed": ", ".join(Channel.values)})
        return tuple(channels)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _point_feature(row: dict) -> dict:
    """What a marker needs (colour, size, outline, tooltip); details come with a click.
    Kept small: a dense viewport sends up to POINTS_CAP of these."""
    return {"type": "Feature", "id": row["pk"],
            "geometry": {"type": "Point",
                         "coordinates": [round(row["lon"], 6), round(row["lat"], 6)]},
            "properties": {"cluster": False, "id": row["pk"], "status": str(row["status"]),
                           "priority": row["priority"], "category_id": row["category_id"],
                           "report_count": row["report_count"],
                           "sla_breached": row["sla_breached"]}}


def _cluster_feature(cell: dict) -> dict:
    geometry = {"type": "Point", "coordinates": [round(cell["lon"], 6), round(cell["lat"], 6)]}
    if cell["count"] == 1:
        # A lone incident is drawn as itself; the page asks for its details on click.
        return {"type": "Feature", "id": cell["incident_id"], "geometry": geometry,
                "properties": {"cluster": False, "id": cell["incident_id"],
                               "status": str(cell["status"]),
                               "priority": cell["max_priority"],
                               "category_id": cell["category_id"],
                               "sla_breached": cell["sla_breached"],
                               "report_count": cell["reports"]}}
    return {"type": "Feature", "geometry": geometry,
            "properties": {"cluster": True, "count": cell["count"],
                           "max_priority": cell["max_priority"],
                           "sla_breached": cell["sla_breached"],
                           "status": str(cell["status"]),
                           "statuses": {str(k): v for k, v in cell["statuses"].items()},
                           "reports": cell["reports"]}}


def _list_item(row: dict) -> dict:
    return {"id": row["pk"], "status": str(row["status"]), "priority": row["priority"],
            "category_id": row["category_id"], "district_id": row["district_id"],
            "report_count": row["report_count"], "sla_breached": row["sla_breached"],
            "first_reported_at": _iso(row["first_reported_at"]),
            "updated_at": _iso(row["updated_at"]), "version": row["version"],
            "lon": round(row["lon"], 6), "lat": round(row["lat"], 6),
            "summary": row["summary"] or "", "address": row["address"] or ""}


class MapIncidentsApi(APIView):
    """The console map's incidents in a box: clusters at low zoom, points at high zoom."""

    permission_classes = [IsConsoleUser]

    @extend_schema(parameters=[MapIncidentsInput], responses=OpenApiTypes.OBJECT,
                   summary="Console map: incidents in a box (clustered GeoJSON)")
    def get(self, request):
        params = MapIncidentsInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        department_ids = None
        if data["mine"] and not request.user.is_superuser:
            department_ids = tuple(request.user.departments.values_list("pk", flat=True))
        filters = selectors_map.MapFilters(
            statuses=data.get("status") or tuple(OPEN_STATUSES),
            category_codes=tuple(_codes(data.get("category", ""))),
            district_codes=tuple(_codes(data.get("district", ""))),
            channels=data.get("channel") or (), department_ids=department_ids,
            min_age_h=data.get("min_age_h"), max_age_h=data.get("max_age_h"),
            sla_breached_only=data["sla_breached"])
        bbox, zoom = data["bbox"], data["zoom"]
        now = timezone.now()
        body = {"type": "FeatureCollection", "zoom": zoom, "server_time": now.isoformat()}
        with selectors_map.map_reads():
            if data.get("since"):
                cap = selectors_map.POINTS_CAP
                rows = selectors_map.incident_changes_since(bbox=bbox, filters=filters,
                                                            since=data["since"], now=now,
                                                            cap=cap)
                body |= {"mode": "changes", "since": data["since"].isoformat(),
                         "total": len(rows), "truncated": len(rows) >= cap,
                         "features": [_point_feature(r) for r in rows]}
            elif zoom >= selectors_map.POINTS_ZOOM:
                rows, total = selectors_map.incident_points(bbox=bbox, filters=filters, now=now,
                                                            cap=selectors_map.POINTS_CAP)
                body |= {"mode": "points", "total": total, "truncated": total > len(rows),
                         "features": [_point_feature(r) for r in rows]}
            else:
                cells = selectors_map.incident_clusters(bbox=bbox, filters=filters, zoom=zoom,
                                                        now=now)
                width, height = selectors_map.cell_size_deg(zoom=zoom, lat=bbox.centroid.y)
                body |= {"mode": "clusters", "cell_deg": [width, height],
                         "total": sum(c["count"] for c in cells), "truncated": False,
                         "features": [_cluster_feature(c) for c in cells]}
            if body["mode"] != "changes":
                body["list"] = [_list_item(r) for r in selectors_map.incident_list_panel(
                    bbox=bbox, filters=filters, now=now)]
        response = Response(body)
        response["Cache-Control"] = "no-store"
        return response
