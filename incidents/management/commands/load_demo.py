from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from fixtures.city import DEMO_OPEN311_KEY, demo_city_load, demo_users_load
from fixtures.generator import reports_generate
from incidents.models import Report


class Command(BaseCommand):
    help = ("Load the demo city (central Helsinki), its categories, one user per role and "
            "generated reports. Idempotent: a second run adds nothing.")

    def add_arguments(self, parser):
        parser.add_argument("--reports", type=int, default=300,
                            help="Make sure the demo area has at least this many reports.")

    def handle(self, *args, **options):
        if options["reports"] < 0:
            raise CommandError("--reports cannot be negative.")
        area = demo_city_load()
        logins = demo_users_load()
        missing = options["reports"] - Report.objects.filter(area=area).count()
        added = reports_generate(area=area, count=missing).reports if missing > 0 else 0
        total = Report.objects.filter(area=area).count()
        self.stdout.write(f"Demo city {area.slug}: {total} reports ({added} added).")
        if settings.RASAD_DEMO:
            for username, password, role in logins:
                self.stdout.write(f"  {username} / {password} ({role})")
            self.stdout.write(f"Open311 demo api_key: {DEMO_OPEN311_KEY}")
