from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from gis.models import ServiceArea
from incidents.stats.rollup import stats_rebuild


class Command(BaseCommand):
    help = ("Recompute the figures (the rollup tables) of every day from --since to today, "
            "for every service area or one.")

    def add_arguments(self, parser):
        parser.add_argument("--since", help="YYYY-MM-DD (default: the area's first report)")
        parser.add_argument("--area", help="a service area's slug (default: every area)")

    def handle(self, *args, **options):
        since = None
        if options["since"]:
            try:
                since = date.fromisoformat(options["since"])
            except ValueError as exc:
                raise CommandError(f"--since {options['since']!r} is not a date like "
                                   "2026-01-31.") from exc
            if since > timezone.localdate():
                raise CommandError("--since is in the future.")
        areas = ServiceArea.objects.order_by("pk")
        if options["area"]:
            areas = areas.filter(slug=options["area"])
            if not areas.exists():
                raise CommandError(f"There is no service area {options['area']!r}.")
        for area in areas:
            result = stats_rebuild(area=area, since=since)
            self.stdout.write(f"{area.slug}: {result.days} days in {result.seconds:.1f} s")
