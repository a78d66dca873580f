from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from fixtures.city import DEMO_OPEN311_KEY, demo_city_load, demo_crews_load, demo_users_load
from fixtures.generator import reports_generate, surveys_generate
from incidents.models import Report


class Command(BaseCommand):
    help = ("Load the demo city (central Helsinki), its categories, one user per role and "
            "generated reports. Idempotent: a second run adds nothing.")

    def add_arguments(self, parser):
        parser.add_argument("--reports", type=int, default=2000,
                            help="Make sure the demo area has at least this many reports.")
        parser.add_argument("--days", type=int, default=400,
                            help="Spread the generated reports over this many days, so the "
                                 "dashboard has months of history.")
        parser.add_argument("--roads", default="",
                            help="An OSM file with the demo city's roads, imported unless the "
                                 "network already comes from a file of that name.")

    def handle(self, *args, **options):
        if options["reports"] < 0:
            raise CommandError("--reports cannot be negative.")
        area = demo_city_load()
        logins = demo_users_load()
        demo_crews_load()
        if options["roads"]:
            self._roads(Path(options["roads"]))
        before = Report.objects.filter(area=area).count()
        # Outside agencies; a town-hall meeting of yesterday evening and the needs raised in
        # it (its reports count in the number asked for).
        from fixtures.meetings_demo import demo_meeting_load
        from fixtures.referrals_demo import demo_agencies_load, demo_referral_load

        demo_agencies_load()
        demo_meeting_load(area=area)
        missing = options["reports"] - Report.objects.filter(area=area).count()
        if missing > 0:
            reports_generate(area=area, count=missing, days=max(1, options["days"]))
        # One incident referred to an outside agency.
        demo_referral_load(area=area)
        # Area alerts: a subscriber and an active notice in one district.
        from fixtures.alerts_demo import demo_alerts_load

        demo_alerts_load(area=area)
        # A storm shift replayed: the plows' GPS traces of the last hours, matched to the
        # streets they cleared, so the public plow map (/public/plows/) starts shaded.
        from fixtures.plow_traces import storm_shift_replay

        replayed = storm_shift_replay()
        if replayed:
            self.stdout.write(f"Storm shift replayed: {replayed} plow GPS pings.")
        # What reporters answered to the satisfaction survey, for the history's figures.
        surveys_generate(area=area)
        # The figures (rollups) of the history, brought up to date.
        from incidents.stats.rollup import stats_refresh

        stats_refresh(area=area)
        total = Report.objects.filter(area=area).count()
        self.stdout.write(f"Demo city {area.slug}: {total} reports ({total - before} added).")
        if settings.RASAD_DEMO:
            for username, password, role in logins:
                self.stdout.write(f"  {username} / {password} ({role})")
            self.stdout.write(f"Open311 demo api_key: {DEMO_OPEN311_KEY}")

    def _roads(self, path: Path) -> None:
        from gis.models import RoadNetwork
        from gis.roads import roads_import

        if not path.exists():
            raise CommandError(f"No road file at {path}.")
        latest = RoadNetwork.objects.order_by("-pk").first()
        if latest is not None and Path(latest.source_file).name == path.name:
            return
        result = roads_import(path=path)
        self.stdout.write(f"Road network: {result.edges} edges from {path.name}.")
