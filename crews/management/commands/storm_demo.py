"""Switch the demo city's storm mode on (a snow storm for some hours) or off."""

from django.core.management.base import BaseCommand

from fixtures.storm_demo import storm_demo_start, storm_demo_stop


class Command(BaseCommand):
    help = "Switch storm mode on over the first service area (a snow storm), or off with --off."

    def add_arguments(self, parser):
        parser.add_argument("--hours", type=float, default=6,
                            help="How long the storm mode runs (it ends by itself).")
        parser.add_argument("--off", action="store_true", help="End the running storm mode.")

    def handle(self, *args, hours: float, off: bool, **options):
        if off:
            mode = storm_demo_stop()
            self.stdout.write("Storm mode ended." if mode else "No storm mode was running.")
            return
        mode = storm_demo_start(hours=hours)
        self.stdout.write(f"Storm mode on until {mode.ends_at:%Y-%m-%d %H:%M %Z} (id {mode.pk}): "
                          f"{', '.join(c.code for c in mode.categories.all())} first; "
                          f"paused: {', '.join(c.code for c in mode.paused_categories.all())}. "
                          "CAP: /alerts/cap.xml, Atom: /alerts/feed.atom")
