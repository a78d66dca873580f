from django.apps import AppConfig


class MapUiConfig(AppConfig):
    name = "map_ui"
    verbose_name = "Pages"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from incidents.stats.rollup import rollups_refreshed

        rollups_refreshed.connect(_dashboard_warm, dispatch_uid="map_ui.dashboard_warm")


def _dashboard_warm(sender, *, area, **kwargs) -> None:
    from map_ui.api_dashboard import dashboard_cache_warm

    dashboard_cache_warm(area=area)
