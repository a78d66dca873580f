from django.apps import AppConfig


class GisConfig(AppConfig):
    # django.contrib.gis already owns the label "gis".
    name = "gis"
    label = "rasad_gis"
    verbose_name = "Areas and road network"
    default_auto_field = "django.db.models.BigAutoField"
