from django.apps import AppConfig


class CrewsConfig(AppConfig):
    name = "crews"
    verbose_name = "Crews and dispatch"
    default_auto_field = "django.db.models.BigAutoField"
