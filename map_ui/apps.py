from django.apps import AppConfig


class MapUiConfig(AppConfig):
    name = "map_ui"
    verbose_name = "Pages"
    default_auto_field = "django.db.models.BigAutoField"
