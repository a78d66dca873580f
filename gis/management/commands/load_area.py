from django.core.management.base import BaseCommand, CommandError

from gis.areas import AreaFileError, area_load_geojson


class Command(BaseCommand):
    help = "Load a service area and its districts from a GeoJSON FeatureCollection."

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, **options):
        try:
            result = area_load_geojson(path=options["file"])
        except AreaFileError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Loaded area {result.area.slug} with {result.districts} districts."
        )
