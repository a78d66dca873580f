from django.core.management.base import BaseCommand, CommandError

from fixtures.generator import reports_generate
from gis.models import ServiceArea


class Command(BaseCommand):
    help = ("Generate realistic reports and their incidents in a service area, fast "
            "(PostgreSQL COPY): hot spots, duplicates, every channel, ar/fa/en.")

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, required=True, help="Number of reports.")
        parser.add_argument("--area", help="Service area slug (default: the only area).")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--days", type=int, default=30,
                            help="Spread the reports over the last DAYS days.")
        parser.add_argument("--batch", type=int, default=50_000,
                            help="Reports per transaction.")

    def handle(self, *args, **options):
        if options["count"] < 1:
            raise CommandError("--count must be at least 1.")
        area = self._area(options["area"])
        try:
            result = reports_generate(area=area, count=options["count"], seed=options["seed"],
                                      days=options["days"], batch=options["batch"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        rate = result.reports / result.seconds if result.seconds else 0.0
        self.stdout.write(f"{result.reports} reports in {result.incidents} incidents in "
                          f"{area.slug}: {result.seconds:.1f} s, {rate:,.0f} reports/s")

    def _area(self, slug: str | None) -> ServiceArea:
        if slug:
            area = ServiceArea.objects.filter(slug=slug).first()
            if area is None:
                raise CommandError(f"No service area “{slug}”.")
            return area
        areas = list(ServiceArea.objects.order_by("pk")[:2])
        if len(areas) != 1:
            raise CommandError("Give --area SLUG: there is no service area or more than one "
                               "(run load_demo or load_area first).")
        return areas[0]
