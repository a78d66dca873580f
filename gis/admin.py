from django.contrib.gis import admin

from gis.models import District, ServiceArea


@admin.register(ServiceArea)
class ServiceAreaAdmin(admin.GISModelAdmin):
    list_display = ["slug", "name_en", "name_ar", "name_fa", "metric_srid"]
    search_fields = ["slug", "name_en"]


@admin.register(District)
class DistrictAdmin(admin.GISModelAdmin):
    list_display = ["code", "name_en", "name_ar", "name_fa", "area"]
    list_filter = ["area"]
    search_fields = ["code", "name_en"]
