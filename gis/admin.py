from django.contrib.gis import admin

from gis.models import District, RoadPass, ServiceArea


@admin.register(ServiceArea)
class ServiceAreaAdmin(admin.GISModelAdmin):
    list_display = ["slug", "name_en", "name_ar", "name_fa", "metric_srid"]
    search_fields = ["slug", "name_en"]


@admin.register(District)
class DistrictAdmin(admin.GISModelAdmin):
    list_display = ["code", "name_en", "name_ar", "name_fa", "area"]
    list_filter = ["area"]
    search_fields = ["code", "name_en"]


@admin.register(RoadPass)
class RoadPassAdmin(admin.ModelAdmin):
    """Passes come from GPS traces only (crews.services.plowmap): read here, never edited."""

    list_display = ["passed_at", "edge_id", "task", "crew_id", "forward", "network"]
    list_filter = ["task", "network"]
    search_fields = ["=edge_id", "=crew_id"]
    date_hierarchy = "passed_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
