from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from gis.models import ServiceArea
from incidents.stats.report import FORMATS, ReportInputError, languages, monthly_report


class Command(BaseCommand):
    help = ("Write the monthly report of a service area (summary, KPIs against the month "
            "before, rankings, district map, top categories, SLA breaches, survey) as a PDF, "
            "an HTML page or a CSV, in Arabic, Persian or English. Reads the figures' rollups: "
            "run stats_rebuild first if they are not up to date.")

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM, e.g. 2026-11")
        parser.add_argument("--lang", default="en", help=f"one of {', '.join(languages())}")
        parser.add_argument("--format", default="pdf", dest="fmt",
                            help=f"one of {', '.join(FORMATS)}")
        parser.add_argument("--out", required=True, help="the file to write")
        parser.add_argument("--area", help="a service area's slug (default: the first area)")

    def handle(self, *args, **options):
        areas = ServiceArea.objects.order_by("pk")
        if options["area"]:
            areas = areas.filter(slug=options["area"])
        area = areas.first()
        if area is None:
            raise CommandError(f"There is no service area {options['area']!r}."
                               if options["area"] else "There is no service area yet.")
        out = Path(options["out"])
        if not out.parent.is_dir():
            raise CommandError(f"There is no folder {str(out.parent)!r} to write into.")
        try:
            rendered = monthly_report(area=area, month=options["month"],
                                      language=options["lang"], fmt=options["fmt"])
        except ReportInputError as exc:
            raise CommandError(f"--{exc.field}: {exc.message}") from exc
        # Written whole or not at all: a half-written report is never left behind.
        partial = out.with_name(f".{out.name}.partial")
        partial.write_bytes(rendered.content)
        partial.replace(out)
        self.stdout.write(f"{area.slug} {options['month']} ({options['lang']}, "
                          f"{options['fmt']}): {len(rendered.content):,} bytes to {out}")
